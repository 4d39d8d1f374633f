//! The collector role of a split deployment: every receiver, as in
//! all-in-one, with Kafka in place of the store. A client is answered once
//! the brokers acknowledged its spans; a full producer queue answers with
//! the protocol's "slow down".
//!
//! In: a validated [`Config`] (its `kafka` section). Out: a running
//! collector; on return, every acknowledged span is in Kafka.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_collector::sampling::{HeadSampler, StrategyProvider};
use spoor_collector::Pipeline;
use spoor_kafka::{KafkaForwarder, SpanProducer};
use tokio::sync::watch;

use super::{receivers, Role};
use crate::config::Config;

/// How long shutdown waits for the brokers to acknowledge what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the receivers until a termination signal.
pub(super) async fn serve(config: Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let kafka = config.kafka.clone();
    let producer = tokio::task::spawn_blocking(move || SpanProducer::connect(&kafka))
        .await?
        .context("cannot start producing to kafka")?;
    let producer = Arc::new(producer);
    let pipeline = Pipeline::forwarding(Arc::new(KafkaForwarder(producer.clone())));
    // Probabilistic sampling by trace id is the same on every collector;
    // tail sampling happens on the store nodes, which see whole traces.
    pipeline.set_head_sampler(HeadSampler::new(&config.sampling));
    let strategies = StrategyProvider::new(&config.sampling)?;

    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let mut addrs = receivers::start(
        &config,
        &pipeline,
        &strategies,
        None,
        &stop_rx,
        &mut servers,
    )
    .await?;
    let admin = super::admin_state(metrics, &ready, None, None);
    addrs.push(super::start_admin(&config, admin, &stop_rx, &mut servers).await?);

    super::announce(Role::Collector, &config, &ready, &addrs);
    super::serve_until_signal(&ready, stop_tx, servers).await;
    tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT)).await?;
    tracing::info!("stopped");
    Ok(())
}
