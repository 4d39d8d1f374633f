//! The query role of a split deployment: the Jaeger HTTP and gRPC APIs, the
//! UI, SPM, dependencies and the Zipkin read API, answered by fanning out
//! to the store nodes (`cluster.query.stores`) and merging. Stateless.
//!
//! In: a validated [`Config`] (its `cluster.query` section, checked here).
//! Out: a running query node.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_query::FanOut;
use spoor_storage::source::TraceSource;
use tokio::sync::watch;

use super::query_ports::{self, QueryPorts};
use super::{bind, http, Role};
use crate::config::Config;

/// Serves the read APIs over the store nodes until a termination signal.
pub(super) async fn serve(config: Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    config.cluster.query.validate().map_err(|problems| {
        anyhow::anyhow!(
            "invalid configuration for a query node:\n  - {}",
            problems.join("\n  - ")
        )
    })?;
    let fan_out = FanOut::new(config.cluster.query.clone())
        .context("cannot set up the client for the store nodes")?;
    let source: Arc<dyn TraceSource> = Arc::new(fan_out);
    tracing::info!(stores = ?config.cluster.query.stores, "reading from store nodes");

    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    // The Zipkin read API on the Zipkin port, as all-in-one serves it.
    let zipkin = bind(config.listen.zipkin, "the Zipkin read API").await?;
    let mut addrs = vec![("zipkin", zipkin.local_addr()?)];
    servers.push(http(
        zipkin,
        spoor_query::zipkin_read_router(source.clone(), config.query.zipkin.clone()),
        stop_rx.clone(),
        "Zipkin read",
    ));
    let ports = QueryPorts {
        source,
        // The stores run the analytics; their series answer SPM here.
        analytics: config.analytics.enabled,
        extra: None,
        grpc: true,
    };
    addrs.extend(query_ports::start(&config, ports, &stop_rx, &mut servers).await?);
    let admin = super::admin_state(metrics, &ready, None, None);
    addrs.push(super::start_admin(&config, admin, &stop_rx, &mut servers).await?);

    super::announce(Role::Query, &config, &ready, &addrs);
    super::serve_until_signal(&ready, stop_tx, servers).await;
    tracing::info!("stopped");
    Ok(())
}
