//! The store role's way in: the span topic's partitions this node owns,
//! read in a consumer group and written through the same durable path as
//! all-in-one.
//!
//! In: records from the brokers (consumer group `kafka.group_id`,
//! cooperative-sticky assignment), the node's ingest [`Pipeline`]. Out:
//! every record's spans through [`spoor_collector::ingest_batch`] (analytics
//! on every span, the write-ahead log, tail sampling at the flush), then the
//! records' offsets stored, and so committed, only once that write is
//! durable; the [`NodeState`] the query nodes read.
//!
//! A batch the pipeline refuses as overloaded is retried until it is taken:
//! the partition waits (its lag grows) rather than lose a record. A record
//! that does not decode is counted, logged and skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use spoor_collector::{Pipeline, Receiver, SubmitError};
use tokio::sync::watch;

use crate::assembly::AssemblySettings;
use crate::batch::{decode_batch, ConsumedRecord};
use crate::client::{client_config, KafkaClientError};
use crate::config::{ConsumerConfig, KafkaConfig};
use crate::node_state::NodeState;
use crate::progress::ProgressLog;
use crate::tail_stage::TailStage;
use spoor_collector::sampling::TailSampler;
use tail_loop::SharedProgress;

mod tail_loop;
use crate::record::ENCODING_HEADER;
use crate::{metrics, topic};

/// How long to wait before retrying a batch the store could not take.
const RETRY_OVERLOADED: Duration = Duration::from_millis(100);
/// How long to wait before retrying after a storage failure.
const RETRY_FAILED: Duration = Duration::from_secs(1);

/// Rebalance and statistics callbacks, kept in the node's state.
pub struct StoreContext {
    state: Arc<NodeState>,
    topic: String,
    /// With tail sampling: the progress to publish when a partition goes.
    progress: Option<Arc<SharedProgress>>,
}

impl ClientContext for StoreContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            if *partition < 0 || stats.hi_offset < 0 {
                continue;
            }
            let behind = records_behind(
                stats.consumer_lag,
                stats.consumer_lag_stored,
                self.progress.is_some(),
            );
            self.state.set_lag(*partition as u32, behind);
        }
        metrics::lag(self.state.total_lag());
    }
}

impl ConsumerContext for StoreContext {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(list) => {
                let partitions = partitions_of(list, &self.topic);
                tracing::info!(?partitions, "partitions assigned");
                self.state.assign(partitions);
            }
            Rebalance::Revoke(list) => {
                let partitions = partitions_of(list, &self.topic);
                tracing::info!(?partitions, "partitions revoked");
                if let Some(progress) = &self.progress {
                    // The next owner replays from here and writes nothing
                    // this node wrote.
                    progress.publish_final(&partitions);
                }
                self.state.revoke(partitions);
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
    }
}

/// Records of a partition not yet durable here, from librdkafka's lag by
/// read position and by stored offset (-1 when unknown): the end minus the
/// stored offset (or the read position before anything was stored). When
/// the node tail-samples, its stored offset is the replay point, behind on
/// purpose, so the read position counts.
fn records_behind(by_position: i64, by_stored: i64, tail_sampling: bool) -> u64 {
    let behind = if !tail_sampling && by_stored >= 0 {
        by_stored
    } else {
        by_position
    };
    behind.max(0) as u64
}

fn partitions_of(list: &TopicPartitionList, topic: &str) -> Vec<u32> {
    list.elements_for_topic(topic)
        .iter()
        .filter_map(|e| u32::try_from(e.partition()).ok())
        .collect()
}

/// A store node's consumer.
pub struct SpanConsumer {
    consumer: StreamConsumer<StoreContext>,
    state: Arc<NodeState>,
    topic: String,
    settings: ConsumerConfig,
    /// Tail sampling by event time, when the node samples.
    tail: Option<(TailStage, Arc<SharedProgress>)>,
}

impl SpanConsumer {
    /// Connects, creates the topic when asked to and it is missing, and
    /// subscribes. Blocks (call it off the async workers).
    /// With `tail`, traces are decided here by the partitions' event time
    /// (the node's store must then have no decider of its own).
    pub fn connect(
        config: &KafkaConfig,
        data_dir: &Path,
        tail: Option<(AssemblySettings, Arc<TailSampler>)>,
    ) -> Result<SpanConsumer, KafkaClientError> {
        if config.create_topic {
            topic::ensure(config)?;
        }
        let mut properties = config.consumer_properties();
        properties.insert("statistics.interval.ms".into(), "1000".into());
        // The partition count, from a plain client with the user's
        // connection settings (security included) and no group.
        use rdkafka::producer::Producer as _;
        let probe: rdkafka::producer::BaseProducer = client_config(&config.common_properties())
            .create()
            .map_err(|e| KafkaClientError::Create(e.to_string()))?;
        let partitions = topic::partition_count(probe.client(), &config.topic)?;
        drop(probe);
        let tail = match tail {
            Some((mut settings, sampler)) => {
                // The decision memory is shared out over the topic's
                // partitions: every node bounds a partition alike.
                settings.max_remembered = (settings.max_remembered / partitions as usize).max(1);
                if config.create_topic {
                    topic::ensure_progress(config, partitions)?;
                }
                let log = ProgressLog::connect(config)?;
                Some((
                    TailStage::new(settings, sampler),
                    Arc::new(SharedProgress::new(log)),
                ))
            }
            None => None,
        };
        let state = Arc::new(NodeState::load(config.node(), data_dir, partitions));
        let context = StoreContext {
            state: Arc::clone(&state),
            topic: config.topic.clone(),
            progress: tail.as_ref().map(|(_, shared)| Arc::clone(shared)),
        };
        let consumer: StreamConsumer<StoreContext> = client_config(&properties)
            .create_with_context(context)
            .map_err(|e| KafkaClientError::Create(e.to_string()))?;
        consumer
            .subscribe(&[&config.topic])
            .map_err(|e| KafkaClientError::Subscribe {
                topic: config.topic.clone(),
                reason: e.to_string(),
            })?;
        tracing::info!(
            topic = %config.topic,
            group = %config.group_id,
            node = %config.node(),
            partitions,
            "consuming spans from kafka"
        );
        Ok(SpanConsumer {
            consumer,
            state,
            topic: config.topic.clone(),
            settings: config.consumer.clone(),
            tail,
        })
    }

    /// The node's partition state (for the report query nodes read).
    pub fn state(&self) -> Arc<NodeState> {
        Arc::clone(&self.state)
    }

    /// Reads, stores and acknowledges records until `stop` says so, then
    /// commits what is durable and leaves the group.
    pub async fn run(mut self, pipeline: Pipeline, mut stop: watch::Receiver<bool>) {
        if let Some((stage, shared)) = self.tail.take() {
            return tail_loop::run(self, stage, shared, pipeline, stop).await;
        }
        loop {
            let first = tokio::select! {
                message = self.consumer.recv() => message,
                _ = stop.wait_for(|v| *v) => break,
            };
            let Some(mut records) = self.fill_batch(first).await else {
                continue;
            };
            // Records this node made durable before a restart are skipped
            // (their offsets are still stored).
            let skipped: BTreeMap<u32, i64> = records
                .iter()
                .filter(|r| self.state.already_applied(r.partition, r.offset))
                .fold(BTreeMap::new(), |mut last, r| {
                    let entry = last.entry(r.partition).or_insert(r.offset);
                    *entry = (*entry).max(r.offset);
                    last
                });
            if !skipped.is_empty() {
                records.retain(|r| !self.state.already_applied(r.partition, r.offset));
            }
            let decoded = tokio::task::spawn_blocking(move || (decode_batch(&records), records));
            let (batch, records) = match decoded.await {
                Ok(decoded) => decoded,
                Err(error) => {
                    tracing::error!(%error, "decoding consumed records failed");
                    continue;
                }
            };
            if let Some((partition, offset, error)) = &batch.first_error {
                tracing::warn!(
                    partition,
                    offset,
                    %error,
                    invalid = batch.invalid,
                    "skipping records that do not decode"
                );
            }
            let mut last_offsets = batch.last_offsets.clone();
            let (valid, invalid) = (batch.valid, batch.invalid);
            if batch.data.span_count() > 0
                && !self
                    .write_durably(&pipeline, batch.data, &records, &mut stop)
                    .await
            {
                break;
            }
            metrics::consumed(valid, invalid);
            self.state.applied_up_to(&last_offsets);
            for (partition, offset) in skipped {
                let last = last_offsets.entry(partition).or_insert(offset);
                *last = (*last).max(offset);
            }
            for (partition, offset) in last_offsets {
                if let Err(error) =
                    self.consumer
                        .store_offset(&self.topic, partition as i32, offset)
                {
                    // The partition moved to another node meanwhile; it
                    // reads these records again from the committed offset.
                    tracing::debug!(partition, offset, %error, "offset not stored");
                }
            }
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(%error, "final commit");
        }
        self.consumer.unsubscribe();
        tracing::info!("stopped consuming spans");
    }

    /// Writes `data` (the spans of `records`) through the pipeline,
    /// retrying while the store is overloaded or failing: a retry decodes
    /// `records` again rather than keeping a copy of every batch (the
    /// analytics count a retried batch once: they recognise spans seen
    /// again). False when the node is stopping (nothing of the batch is
    /// acknowledged then).
    async fn write_durably(
        &self,
        pipeline: &Pipeline,
        data: spoor_proto::model::TracesData,
        records: &[ConsumedRecord],
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut data = Some(data);
        retry_until_taken(stop, "cannot store consumed spans; retrying", || {
            let attempt = match data.take() {
                Some(data) => data,
                None => decode_batch(records).data,
            };
            spoor_collector::ingest_batch(pipeline, Receiver::Kafka, attempt)
        })
        .await
    }

    /// The batch `first` starts: more records until
    /// `kafka.consumer.max_batch_records` or `batch_wait`; `None` when
    /// `first` is an error (logged).
    async fn fill_batch(
        &self,
        first: Result<rdkafka::message::BorrowedMessage<'_>, KafkaError>,
    ) -> Option<Vec<ConsumedRecord>> {
        let mut records = match first {
            Ok(message) => vec![owned(&message)],
            Err(error) => {
                log_consume_error(&error);
                return None;
            }
        };
        let deadline = tokio::time::Instant::now() + self.settings.batch_wait;
        while records.len() < self.settings.max_batch_records {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => records.push(owned(&message)),
                Ok(Err(error)) => log_consume_error(&error),
                Err(_) => break,
            }
        }
        Some(records)
    }
}

/// Runs `attempt` until the pipeline takes what it submits: waits and tries
/// again while the store is overloaded or failing (logging `failing` then).
/// False when the node is stopping (nothing is acknowledged then).
async fn retry_until_taken<F, Fut>(
    stop: &mut watch::Receiver<bool>,
    failing: &str,
    mut attempt: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, SubmitError>>,
{
    loop {
        let wait = match attempt().await {
            Ok(_) => return true,
            Err(SubmitError::ShuttingDown) => return false,
            Err(SubmitError::Overloaded) => RETRY_OVERLOADED,
            Err(SubmitError::Storage(error)) => {
                tracing::error!(%error, "{failing}");
                RETRY_FAILED
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|v| *v) => return false,
        }
    }
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> ConsumedRecord {
    let timestamp_ms = message.timestamp().to_millis().unwrap_or(0);
    let key = message.key().map(<[u8]>::to_vec);
    let encoding = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == ENCODING_HEADER)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    });
    ConsumedRecord {
        partition: message.partition().max(0) as u32,
        offset: message.offset(),
        timestamp_ms,
        key,
        encoding,
        value: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

fn log_consume_error(error: &KafkaError) {
    tracing::warn!(%error, "reading from kafka failed");
}

#[cfg(test)]
mod lag_tests {
    use super::records_behind;

    #[test]
    fn lag_counts_from_the_stored_offset_unless_the_node_tail_samples() {
        // Stored offset known: it counts, since only durable records are stored.
        assert_eq!(records_behind(3, 40, false), 40);
        // Nothing stored yet: the read position.
        assert_eq!(records_behind(3, -1, false), 3);
        // Tail sampling: the stored offset is the replay point; the read
        // position counts.
        assert_eq!(records_behind(3, 40, true), 3);
        assert_eq!(records_behind(-1, -1, true), 0);
    }
}
