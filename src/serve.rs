//! Wiring of the all-in-one process: opens the store, starts the ingest
//! pipeline, binds every listener (failing fast with the address that could
//! not be bound), serves until SIGINT/SIGTERM, then drains and flushes.
//!
//! In: a validated [`Config`]. Out: a running server; on return, every
//! accepted span is on disk.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use spoor_collector::grpc_refusal::{ByService, RefusalLayer};
use spoor_collector::Pipeline;
use spoor_storage::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::config::Config;
use crate::lenient_http::LenientListener;

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

/// Runs Spoor all-in-one until a termination signal.
pub fn run_all_in_one(config: Config) -> anyhow::Result<()> {
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
    runtime.block_on(serve(config, metrics))
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
) -> tokio::task::JoinHandle<anyhow::Result<()>>
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

async fn serve(
    config: Config,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<()> {
    let storage_config = config.storage.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(storage_config))
        .await?
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    crate::admin::publish_limits(&config.storage);
    let pipeline = Pipeline::start(store.clone(), &config.collector);
    // Sampling: tail policies decide as traces leave the store's buffer, the
    // ingest rate applies after the analytics (which see every span), and
    // SDKs poll the strategies.
    spoor_collector::sampling::tail::install(&store, &config.sampling)
        .map_err(|p| anyhow::anyhow!("invalid tail-sampling policies: {}", p.join("; ")))?;
    let adaptive = spoor_collector::sampling::Adaptive::from_config(&config.sampling, &store);
    pipeline.set_head_sampler(
        spoor_collector::sampling::HeadSampler::new(&config.sampling).observed_by(adaptive.clone()),
    );
    let strategies = spoor_collector::sampling::StrategyProvider::new(&config.sampling)?
        .with_adaptive(adaptive.clone());
    // RED metrics and dependency edges from every accepted batch.
    let analytics = config.analytics.enabled.then(|| {
        let analytics = spoor_collector::Analytics::start(store.clone(), &config.analytics);
        pipeline.set_analytics(analytics.clone());
        analytics
    });

    let l = &config.listen;
    let otlp_grpc = bind(l.otlp_grpc, "OTLP gRPC").await?;
    let otlp_http = bind(l.otlp_http, "OTLP HTTP").await?;
    let zipkin = bind(l.zipkin, "Zipkin").await?;
    let query_http = bind(l.query_http, "the Jaeger query API").await?;
    let query_grpc = bind(l.query_grpc, "the Jaeger query gRPC API").await?;
    let admin_listener = bind(l.admin, "admin").await?;
    let sampling_http = bind(l.sampling_http, "sampling strategies over HTTP").await?;
    let sampling_grpc = bind(l.sampling_grpc, "sampling strategies over gRPC").await?;
    let jaeger_grpc = bind(l.jaeger_grpc, "Jaeger gRPC").await?;
    let jaeger_thrift_http = bind(l.jaeger_thrift_http, "Jaeger Thrift HTTP").await?;
    let agent_compact = bind_udp(l.agent_compact, "the Jaeger agent (compact)").await?;
    let agent_binary = bind_udp(l.agent_binary, "the Jaeger agent (binary)").await?;

    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);

    let addrs = [
        ("otlp_grpc", otlp_grpc.local_addr()?),
        ("otlp_http", otlp_http.local_addr()?),
        ("zipkin", zipkin.local_addr()?),
        ("query_http", query_http.local_addr()?),
        ("query_grpc", query_grpc.local_addr()?),
        ("admin", admin_listener.local_addr()?),
        ("sampling_http", sampling_http.local_addr()?),
        ("sampling_grpc", sampling_grpc.local_addr()?),
        ("jaeger_grpc", jaeger_grpc.local_addr()?),
        ("jaeger_thrift_http", jaeger_thrift_http.local_addr()?),
        ("agent_compact", agent_compact.local_addr()?),
        ("agent_binary", agent_binary.local_addr()?),
    ];

    let mut servers = Vec::new();
    let grpc_service = spoor_collector::otlp_grpc_service(pipeline.clone(), &config.collector);
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(grpc_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(otlp_grpc),
                stopped(rx),
            )
            .await
            .context("OTLP gRPC server failed")
    }));
    servers.push(http(
        otlp_http,
        spoor_collector::otlp_http_router(pipeline.clone(), &config.collector),
        stop_rx.clone(),
        "OTLP HTTP",
    ));
    servers.push(http(
        zipkin,
        spoor_collector::zipkin_router(pipeline.clone(), &config.collector).merge(
            spoor_query::zipkin_read_router(store.clone(), config.query.zipkin.clone()),
        ),
        stop_rx.clone(),
        "Zipkin",
    ));
    let jaeger_grpc_service =
        spoor_collector::jaeger_grpc_service(pipeline.clone(), &config.collector);
    // Jaeger's collector ports also answer SDKs' strategy requests.
    let jaeger_sampling_service =
        spoor_collector::sampling::sampling_grpc_service(strategies.clone());
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(jaeger_grpc_service)
            .add_service(jaeger_sampling_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(jaeger_grpc),
                stopped(rx),
            )
            .await
            .context("Jaeger gRPC server failed")
    }));
    servers.push(http(
        jaeger_thrift_http,
        spoor_collector::jaeger_thrift_http_router(pipeline.clone(), &config.collector).merge(
            spoor_collector::sampling::sampling_http_router(strategies.clone()),
        ),
        stop_rx.clone(),
        "Jaeger Thrift HTTP",
    ));
    for (socket, protocol) in [
        (agent_compact, spoor_collector::ThriftProtocol::Compact),
        (agent_binary, spoor_collector::ThriftProtocol::Binary),
    ] {
        let agent =
            spoor_collector::AgentUdpReceiver::new(pipeline.clone(), &config.collector, protocol);
        let rx = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            agent.serve(socket, stopped(rx)).await;
            Ok(())
        }));
    }
    let ui = match &config.query.http.ui_dir {
        Some(dir) => spoor_query::jaeger_ui_router(&config.query.http, dir, analytics.is_some())?,
        None => spoor_query::builtin_ui_router(&config.query.http),
    };
    let query_router = spoor_query::jaeger_http_router(store.clone(), config.query.http.clone())
        .merge(spoor_query::metrics_api::metrics_router(
            store.clone(),
            config.query.http.normalized_base_path(),
            analytics.is_some(),
        ))
        .merge(ui)
        .route_layer(axum::middleware::from_fn(crate::http_metrics::record));
    // Jaeger's query port takes raw `"` in query strings (scripts send them).
    servers.push(http(
        LenientListener(query_http),
        query_router,
        stop_rx.clone(),
        "query",
    ));
    let query_grpc_routes =
        spoor_query::query_grpc_routes(store.clone(), config.query.http.clone())
            .await
            .context("building the gRPC query services")?;
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        // Undecodable requests to any service on the port (query api_v2 and
        // api_v3, health, reflection) are INVALID_ARGUMENT and counted.
        tonic::transport::Server::builder()
            .layer(RefusalLayer::new(ByService))
            .add_routes(query_grpc_routes)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(query_grpc),
                stopped(rx),
            )
            .await
            .context("query gRPC server failed")
    }));
    servers.push(http(
        sampling_http,
        spoor_collector::sampling::sampling_agent_router(strategies.clone()),
        stop_rx.clone(),
        "sampling HTTP",
    ));
    let sampling_service = spoor_collector::sampling::sampling_grpc_service(strategies.clone());
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(sampling_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(sampling_grpc),
                stopped(rx),
            )
            .await
            .context("sampling gRPC server failed")
    }));
    tokio::spawn(strategies.clone().watch(stop_rx.clone()));
    if let Some(adaptive) = adaptive {
        tokio::spawn(adaptive.run(stop_rx.clone()));
    }
    let admin_state = AdminState {
        ready: ready.clone(),
        up_since: chrono::Utc::now(),
        started: Instant::now(),
        metrics,
        store: store.clone(),
        analytics: analytics.clone(),
    };
    servers.push(http(
        admin_listener,
        admin::router(admin_state),
        stop_rx.clone(),
        "admin",
    ));

    ready.store(true, Ordering::SeqCst);
    let listening: Vec<String> = addrs.iter().map(|(n, a)| format!("{n}={a}")).collect();
    tracing::info!(data_dir = %config.data_dir.display(), "spoor all-in-one started");
    // One machine-readable line on stdout, for scripts and tests that use port 0.
    println!("spoor: listening on {}", listening.join(" "));

    wait_for_signal().await;
    tracing::info!("shutting down: draining receivers and flushing the store");
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
    pipeline.shutdown().await;
    if let Some(analytics) = analytics {
        tokio::task::spawn_blocking(move || analytics.shutdown()).await?;
    }
    tokio::task::spawn_blocking(move || store.shutdown())
        .await?
        .context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
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
