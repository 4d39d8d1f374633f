//! The store node's consumer loop when it tail-samples: records go through
//! the [`TailStage`] (decided by each partition's event time), the decided
//! spans through the pipeline, and each partition's [`Progress`] is
//! published once they are durable.
//!
//! In: the consumer, the stage, the node's pipeline. Out: kept spans
//! durable in the node's store, every decided span counted by the
//! analytics, and per partition: the committed offset (= where a replay
//! starts, so Kafka holds every record of every undecided trace) and the
//! progress record (where that is, and what this node already wrote).
//!
//! A partition this node starts is read from its last progress record: the
//! consumer seeks to the replay point when the committed offset differs,
//! and what the last owner wrote is not written again. A partition that
//! goes is forgotten here (its next owner replays it) after its progress is
//! published.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::topic_partition_list::Offset;
use spoor_collector::{Pipeline, Receiver};
use tokio::sync::watch;

use super::{retry_until_taken, SpanConsumer};
use crate::assembly::Progress;
use crate::batch::ConsumedRecord;
use crate::metrics;
use crate::progress::{ProgressError, ProgressLog};
use crate::tail_stage::{StageOutput, TailStage};

/// A partition that got no record for this long is idle: its event time
/// follows the wall clock (minus `kafka.consumer.max_record_delay`).
const IDLE_AFTER: Duration = Duration::from_secs(1);
/// How often idle partitions are looked at.
const IDLE_TICK: Duration = Duration::from_millis(250);
/// How long a seek may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// The progress of each partition as far as it is durable here, and what
/// was published of it.
pub struct SharedProgress {
    log: ProgressLog,
    durable: Mutex<HashMap<u32, Progress>>,
    published: Mutex<HashMap<u32, Progress>>,
    /// Partitions revoked since the loop last looked (even when assigned
    /// again meanwhile: their state here is stale).
    revoked: Mutex<BTreeSet<u32>>,
}

impl SharedProgress {
    pub(super) fn new(log: ProgressLog) -> SharedProgress {
        SharedProgress {
            log,
            durable: Mutex::new(HashMap::new()),
            published: Mutex::new(HashMap::new()),
            revoked: Mutex::new(BTreeSet::new()),
        }
    }

    /// Publishes `progress`, waiting for the brokers when `wait`.
    fn publish(&self, partition: u32, progress: Progress, wait: bool) {
        let sent = if wait {
            self.log.publish(partition, progress)
        } else {
            self.log.send(partition, progress)
        };
        match sent {
            Ok(()) => {
                self.published.lock().insert(partition, progress);
            }
            Err(error) => {
                metrics::progress_failed();
                tracing::warn!(%error, "cannot publish a partition's progress");
            }
        }
    }

    /// Sends the progress that changed since it was last sent, right after
    /// the step that made it durable, without waiting for the brokers: a
    /// node killed now leaves at most the records in flight for the next
    /// owner to hand on again.
    fn send_changed(&self) {
        let due: Vec<(u32, Progress)> = {
            let durable = self.durable.lock();
            let published = self.published.lock();
            durable
                .iter()
                .filter(|(p, progress)| published.get(p) != Some(*progress))
                .map(|(p, progress)| (*p, *progress))
                .collect()
        };
        for (partition, progress) in due {
            self.publish(partition, progress, false);
        }
    }

    /// Sends what changed and waits until the brokers have it all. Blocks.
    fn flush(&self) {
        self.send_changed();
        if let Err(error) = self.log.flush(0) {
            metrics::progress_failed();
            tracing::warn!(%error, "cannot publish the partitions' progress");
        }
    }

    /// Publishes the durable progress of `partitions` (they are going) and
    /// forgets them. Blocks.
    pub(super) fn publish_final(&self, partitions: &[u32]) {
        self.revoked.lock().extend(partitions.iter().copied());
        for partition in partitions {
            let durable = self.durable.lock().remove(partition);
            let published = self.published.lock().remove(partition);
            if let Some(progress) = durable {
                if published != Some(progress) {
                    self.publish(*partition, progress, true);
                } else if let Err(error) = self.log.flush(*partition) {
                    metrics::progress_failed();
                    tracing::warn!(%error, "cannot publish a partition's progress");
                }
            }
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs the loop until `stop`.
pub(super) async fn run(
    consumer: SpanConsumer,
    mut stage: TailStage,
    shared: Arc<SharedProgress>,
    pipeline: Pipeline,
    mut stop: watch::Receiver<bool>,
) {
    let mut idle = tokio::time::interval(IDLE_TICK);
    idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max_delay_ms = i64::try_from(consumer.settings.max_record_delay.as_millis()).unwrap_or(0);
    loop {
        let first = tokio::select! {
            message = consumer.consumer.recv() => Some(message),
            _ = idle.tick() => None,
            _ = stop.wait_for(|v| *v) => break,
        };
        stage = forget_revoked(&consumer, &shared, stage);
        let step = match first {
            None => {
                let watermark = wall_ms().saturating_sub(max_delay_ms);
                let (back, step) = tokio::task::spawn_blocking(move || {
                    let step = stage.advance_idle(IDLE_AFTER, watermark);
                    (stage, step)
                })
                .await
                .expect("the tail stage does not panic");
                stage = back;
                step
            }
            Some(first) => {
                let Some(records) = consumer.fill_batch(first).await else {
                    continue;
                };
                // Rebalances happen inside `recv`.
                stage = forget_revoked(&consumer, &shared, stage);
                let records = start_partitions(&consumer, &mut stage, &shared, records).await;
                let count = records.len();
                let (back, step) = tokio::task::spawn_blocking(move || {
                    let step = stage.push(records);
                    (stage, step)
                })
                .await
                .expect("the tail stage does not panic");
                stage = back;
                metrics::consumed(count.saturating_sub(step.invalid), step.invalid);
                step
            }
        };
        if !write_durably(&pipeline, &step, &mut stop).await {
            break;
        }
        mark_durable(&consumer, &shared, step.progress);
        shared.send_changed();
    }
    let publisher = Arc::clone(&shared);
    let _ = tokio::task::spawn_blocking(move || publisher.flush()).await;
    if let Err(error) = consumer.consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(%error, "final commit");
    }
    consumer.consumer.unsubscribe();
    tracing::info!("stopped consuming spans");
}

/// Drops the stage's partitions this node no longer owns, or lost since
/// the last step.
fn forget_revoked(
    consumer: &SpanConsumer,
    shared: &SharedProgress,
    mut stage: TailStage,
) -> TailStage {
    let assigned: BTreeSet<u32> = consumer.state.assigned().into_iter().collect();
    let revoked = std::mem::take(&mut *shared.revoked.lock());
    for partition in stage.partitions() {
        if !assigned.contains(&partition) || revoked.contains(&partition) {
            stage.stop(partition);
        }
    }
    stage
}

/// Starts the partitions `records` are the first of (from their progress
/// records), seeking where the replay must start; returns the records the
/// stage takes now.
async fn start_partitions(
    consumer: &SpanConsumer,
    stage: &mut TailStage,
    shared: &Arc<SharedProgress>,
    mut records: Vec<ConsumedRecord>,
) -> Vec<ConsumedRecord> {
    let assigned: BTreeSet<u32> = consumer.state.assigned().into_iter().collect();
    records.retain(|r| assigned.contains(&r.partition));
    let mut firsts: BTreeMap<u32, i64> = BTreeMap::new();
    for record in &records {
        if !stage.has(record.partition) {
            firsts.entry(record.partition).or_insert(record.offset);
        }
    }
    let mut hold = BTreeSet::new();
    for (partition, first) in firsts {
        let reader = Arc::clone(shared);
        let latest = match tokio::task::spawn_blocking(move || reader.log.latest(partition)).await {
            Ok(latest) => latest,
            Err(error) => Err(ProgressError::Kafka {
                topic: String::new(),
                partition,
                reason: error.to_string(),
            }),
        };
        // This node's own record is newer when it wrote more than it
        // published before it stopped.
        let local = consumer.state.local_progress(partition);
        let newest = |published: Option<Progress>| {
            [published, local]
                .into_iter()
                .flatten()
                .max_by_key(|p| p.applied_offset)
        };
        let (progress, seek_to) = match latest.map(newest) {
            Ok(Some(progress)) => (Some(progress), progress.resume_offset),
            Ok(None) => (Some(Progress::start(first)), first),
            Err(error) => {
                // Not started: read these records again and try again.
                tracing::warn!(%error, partition, "cannot read the partition's progress; retrying");
                (None, first)
            }
        };
        if let Some(progress) = progress {
            tracing::info!(partition, ?progress, "partition started");
            stage.start(partition, progress);
        }
        if progress.is_none() || seek_to != first {
            hold.insert(partition);
            if let Err(error) = consumer.consumer.seek(
                &consumer.topic,
                partition as i32,
                Offset::Offset(seek_to),
                SEEK_TIMEOUT,
            ) {
                // Where the partition reads from is unknown now: start it
                // again with its next records.
                tracing::warn!(%error, partition, offset = seek_to, "seek failed; retrying");
                stage.stop(partition);
            }
        }
    }
    records.retain(|r| !hold.contains(&r.partition));
    records
}

/// Writes the step's kept spans and counts them and its dropped ones, retrying
/// while the store is overloaded or failing. False when stopping.
async fn write_durably(
    pipeline: &Pipeline,
    step: &StageOutput,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    if step.kept.resource_spans.is_empty() && step.dropped.resource_spans.is_empty() {
        return true;
    }
    retry_until_taken(stop, "cannot store decided spans; retrying", || {
        spoor_collector::ingest_decided(
            pipeline,
            Receiver::Kafka,
            Arc::clone(&step.kept),
            &step.dropped,
        )
    })
    .await
}

/// Records that the step's outputs are durable: the progress to publish,
/// and the offset to commit (the replay point).
fn mark_durable(
    consumer: &SpanConsumer,
    shared: &SharedProgress,
    progress: BTreeMap<u32, Progress>,
) {
    let assigned: BTreeSet<u32> = consumer.state.assigned().into_iter().collect();
    let progress: BTreeMap<u32, Progress> = progress
        .into_iter()
        .filter(|(p, _)| assigned.contains(p))
        .collect();
    consumer.state.record_progress(&progress);
    for (partition, progress) in progress {
        shared.durable.lock().insert(partition, progress);
        if progress.resume_offset > 0 {
            // rdkafka stores the offset after the one given.
            if let Err(error) = consumer.consumer.store_offset(
                &consumer.topic,
                partition as i32,
                progress.resume_offset - 1,
            ) {
                tracing::debug!(partition, %error, "offset not stored");
            }
        }
    }
}
