//! The store role of a split deployment: the span topic's partitions this
//! node owns, read into the embedded store through the same pipeline as
//! all-in-one (analytics on every span, the write-ahead log), and the query
//! API over this node's data with the internal API query nodes fan out to.
//! With tail policies, traces are decided by the consumer, by each
//! partition's event time (so any node replaying a partition decides alike),
//! not by the store's flusher. Also `open_node`, the store, pipeline,
//! sampling and analytics every storing role shares.
//!
//! In: a validated [`Config`] (its `kafka` section). Out: a running store
//! node; on return, what it acknowledged to Kafka is on disk and committed.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_collector::sampling::TailSampler;
use spoor_collector::sampling::{Adaptive, StrategyProvider};
use spoor_collector::{Analytics, Pipeline};
use spoor_kafka::assembly::AssemblySettings;
use spoor_kafka::SpanConsumer;
use spoor_storage::Store;
use tokio::sync::watch;

use super::query_ports::{self, QueryPorts};
use super::Role;
use crate::config::Config;

/// The parts of a process that stores spans.
pub(super) struct LocalNode {
    pub store: Arc<Store>,
    pub pipeline: Pipeline,
    pub analytics: Option<Analytics>,
    pub strategies: StrategyProvider,
    pub adaptive: Option<Arc<Adaptive>>,
}

/// Opens the store and starts the pipeline, tail sampling and analytics;
/// `head_sampling` also installs the ingest sampler and the store's tail
/// decider (not on a store node: its collectors sampled already, and its
/// consumer decides traces).
pub(super) async fn open_node(config: &Config, head_sampling: bool) -> anyhow::Result<LocalNode> {
    let storage_config = config.storage.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(storage_config))
        .await?
        .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
    crate::admin::publish_limits(&config.storage);
    let pipeline = Pipeline::start(store.clone(), &config.collector);
    // Sampling: tail policies decide as traces leave the store's buffer, the
    // ingest rate applies after the analytics (which see every span), and
    // SDKs poll the strategies.
    if head_sampling {
        spoor_collector::sampling::tail::install(&store, &config.sampling)
            .map_err(|p| anyhow::anyhow!("invalid tail-sampling policies: {}", p.join("; ")))?;
    }
    let adaptive = Adaptive::from_config(&config.sampling, &store);
    if head_sampling {
        pipeline.set_head_sampler(
            spoor_collector::sampling::HeadSampler::new(&config.sampling)
                .observed_by(adaptive.clone()),
        );
    }
    let strategies = StrategyProvider::new(&config.sampling)?.with_adaptive(adaptive.clone());
    // RED metrics and dependency edges from every accepted batch.
    let analytics = config.analytics.enabled.then(|| {
        let analytics = Analytics::start(store.clone(), &config.analytics);
        pipeline.set_analytics(analytics.clone());
        analytics
    });
    Ok(LocalNode {
        store,
        pipeline,
        analytics,
        strategies,
        adaptive,
    })
}

/// Serves a store node until a termination signal: stops consuming,
/// commits what is durable, then drains and flushes.
pub(super) async fn serve(config: Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let LocalNode {
        store,
        pipeline,
        analytics,
        strategies: _,
        adaptive: _,
    } = open_node(&config, false).await?;
    let kafka = config.kafka.clone();
    let data_dir = config.data_dir.clone();
    let tail = tail_stage(&config)?;
    let consumer =
        tokio::task::spawn_blocking(move || SpanConsumer::connect(&kafka, &data_dir, tail))
            .await?
            .context("cannot start consuming from kafka")?;
    let state = consumer.state();

    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let ports = QueryPorts {
        source: store.clone(),
        analytics: analytics.is_some(),
        extra: Some(crate::cluster::internal_api(store.clone(), state)),
        grpc: false,
    };
    let mut addrs = query_ports::start(&config, ports, &stop_rx, &mut servers).await?;
    let admin = super::admin_state(metrics, &ready, Some(store.clone()), analytics.clone());
    addrs.push(super::start_admin(&config, admin, &stop_rx, &mut servers).await?);
    let consuming = tokio::spawn(consumer.run(pipeline.clone(), stop_rx.clone()));

    super::announce(Role::Store, &config, &ready, &addrs);
    super::serve_until_signal(&ready, stop_tx, servers).await;
    if let Err(error) = consuming.await {
        tracing::warn!(%error, "the kafka consumer task failed");
    }
    super::all_in_one::close_node(pipeline, analytics, store).await
}

/// The consumer's tail-sampling stage: the policies and the event-time
/// rules, or `None` without policies.
fn tail_stage(config: &Config) -> anyhow::Result<Option<(AssemblySettings, Arc<TailSampler>)>> {
    let sampling = &config.sampling;
    if !sampling.tail_enabled() {
        return Ok(None);
    }
    let sampler = TailSampler::new(sampling)
        .map_err(|p| anyhow::anyhow!("invalid tail-sampling policies: {}", p.join("; ")))?;
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let settings = AssemblySettings {
        decision_wait_ms: ms(sampling.tail.decision_wait),
        max_age_ms: ms(sampling.tail.max_age),
        remember_ms: ms(sampling.tail.late_span_decision_ttl),
        max_remembered: sampling.tail.decision_cache_size,
        max_open_bytes: config.kafka.consumer.open_bytes_per_partition,
    };
    Ok(Some((settings, Arc::new(sampler))))
}
