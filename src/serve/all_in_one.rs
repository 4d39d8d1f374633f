//! The all-in-one role: receivers, the embedded store, sampling, analytics
//! and the query API in one process.
//!
//! In: a validated [`Config`]. Out: a running server; on return, every
//! accepted span is on disk.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_collector::Pipeline;
use spoor_storage::Store;
use tokio::sync::watch;

use super::query_ports::{self, QueryPorts};
use super::{receivers, Role};
use crate::config::Config;

/// Serves every part until a termination signal, then drains and flushes.
pub(super) async fn serve(config: Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let node = super::store::open_node(&config, true).await?;
    let super::store::LocalNode {
        store,
        pipeline,
        analytics,
        strategies,
        adaptive,
    } = node;

    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let zipkin_read = spoor_query::zipkin_read_router(store.clone(), config.query.zipkin.clone());
    let mut addrs = receivers::start(
        &config,
        &pipeline,
        &strategies,
        Some(zipkin_read),
        &stop_rx,
        &mut servers,
    )
    .await?;
    let ports = QueryPorts {
        source: store.clone(),
        analytics: analytics.is_some(),
        extra: None,
        grpc: true,
    };
    addrs.extend(query_ports::start(&config, ports, &stop_rx, &mut servers).await?);
    if let Some(adaptive) = adaptive {
        tokio::spawn(adaptive.run(stop_rx.clone()));
    }
    let admin = super::admin_state(metrics, &ready, Some(store.clone()), analytics.clone());
    addrs.push(super::start_admin(&config, admin, &stop_rx, &mut servers).await?);

    super::announce(Role::AllInOne, &config, &ready, &addrs);
    super::serve_until_signal(&ready, stop_tx, servers).await;
    close_node(pipeline, analytics, store).await
}

/// Drains the pipeline, stops the analytics and flushes the store.
pub(super) async fn close_node(
    pipeline: Pipeline,
    analytics: Option<spoor_collector::Analytics>,
    store: Arc<Store>,
) -> anyhow::Result<()> {
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
