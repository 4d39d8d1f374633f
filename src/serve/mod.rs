//! Wiring of a Spoor process in one of its roles: all-in-one (the
//! default), or a collector, store or query node of a split deployment on
//! Kafka. Each role binds its listeners (failing fast with the address that
//! could not be bound), serves until SIGINT/SIGTERM, then drains.
//!
//! In: a validated [`Config`] and the [`Role`]. Out: a running server; on
//! return, every accepted span is durable (on disk, or acknowledged by
//! Kafka).
//!
//! Layout: `receivers` (the ingest listeners), `query_ports` (the read
//! listeners), one module per role, and here what they share: the metrics
//! recorder, the runtime, listener helpers and the stop signal.

mod all_in_one;
mod collector;
mod query;
mod query_ports;
mod receivers;
mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::config::Config;

/// Seconds buckets for request and storage latency histograms.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds buckets for the tail-sampling decision delay, which is at least
/// the decision wait (30 s by default) and at most the trace's maximum age.
const DECISION_DELAY_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 31.0, 32.0, 35.0, 40.0, 60.0, 120.0, 300.0, 600.0,
];
/// Buckets for spans-per-batch histograms.
const SIZE_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0,
];

/// What a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every part in one process, with the embedded store.
    AllInOne,
    /// Receivers only; spans go to Kafka.
    Collector,
    /// Kafka partitions into the embedded store; the query API over them.
    Store,
    /// The read APIs over every store node; no state.
    Query,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::AllInOne => "all-in-one",
            Role::Collector => "collector",
            Role::Store => "store",
            Role::Query => "query",
        }
    }
}

/// The server tasks of a process.
type Servers = Vec<JoinHandle<anyhow::Result<()>>>;

/// Runs Spoor in `role` until a termination signal.
pub fn run(role: Role, config: Config) -> anyhow::Result<()> {
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(spoor_storage::decider::SAMPLING_DECISION_DELAY_SECONDS.into()),
            DECISION_DELAY_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_spans".into()), SIZE_BUCKETS)?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor-worker")
        .build()?;
    runtime.block_on(async move {
        match role {
            Role::AllInOne => all_in_one::serve(config, metrics).await,
            Role::Collector => collector::serve(config, metrics).await,
            Role::Store => store::serve(config, metrics).await,
            Role::Query => query::serve(config, metrics).await,
        }
    })
}

/// The admin listener's state for a process without analytics or store
/// unless given.
fn admin_state(
    metrics: PrometheusHandle,
    ready: &Arc<AtomicBool>,
    store: Option<Arc<spoor_storage::Store>>,
    analytics: Option<spoor_collector::Analytics>,
) -> AdminState {
    AdminState {
        ready: ready.clone(),
        up_since: chrono::Utc::now(),
        started: Instant::now(),
        metrics,
        store,
        analytics,
    }
}

/// Binds the admin port and serves it.
async fn start_admin(
    config: &Config,
    state: AdminState,
    stop_rx: &watch::Receiver<bool>,
    servers: &mut Servers,
) -> anyhow::Result<(&'static str, SocketAddr)> {
    let listener = bind(config.listen.admin, "admin").await?;
    let addr = listener.local_addr()?;
    servers.push(http(
        listener,
        admin::router(state),
        stop_rx.clone(),
        "admin",
    ));
    Ok(("admin", addr))
}

/// Marks the process ready and prints the one machine-readable line
/// scripts and tests read (they use port 0).
fn announce(role: Role, config: &Config, ready: &AtomicBool, addrs: &[(&'static str, SocketAddr)]) {
    ready.store(true, Ordering::SeqCst);
    let listening: Vec<String> = addrs.iter().map(|(n, a)| format!("{n}={a}")).collect();
    tracing::info!(data_dir = %config.data_dir.display(), "spoor {} started", role.name());
    println!("spoor: listening on {}", listening.join(" "));
}

/// Waits for SIGINT/SIGTERM, then stops every server (each within 10 s).
async fn serve_until_signal(ready: &AtomicBool, stop_tx: watch::Sender<bool>, servers: Servers) {
    wait_for_signal().await;
    tracing::info!("shutting down: draining receivers and flushing");
    ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    for server in servers {
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Err(e))) => tracing::warn!("{e:#}"),
            Ok(Err(e)) => tracing::warn!("server task failed: {e}"),
            Err(_) => tracing::warn!("a server did not stop within 10s"),
            Ok(Ok(Ok(()))) => {}
        }
    }
}

/// Resolves once the stop signal is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Serves `router` on `listener` until `rx` says stop.
fn http<L>(
    listener: L,
    router: axum::Router,
    rx: watch::Receiver<bool>,
    what: &'static str,
) -> JoinHandle<anyhow::Result<()>>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stopped(rx))
            .await
            .with_context(|| format!("{what} server failed"))
    })
}

async fn bind_udp(addr: SocketAddr, what: &str) -> anyhow::Result<tokio::net::UdpSocket> {
    tokio::net::UdpSocket::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on udp {addr}"))
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
