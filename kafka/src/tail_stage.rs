//! Tail sampling on a store node, by each partition's event time: records
//! are held per partition in an [`PartitionAssembly`] until their trace
//! closes, decided by the configured policies, and handed on once.
//!
//! In: consumed records (partition, offset, timestamp, key, value) of the
//! partitions this node started ([`TailStage::start`], with the progress
//! the partition's last owner published), and idle advances of an idle
//! partition's event time. Out: a [`StageOutput`]: the spans to store and
//! the spans dropped (the analytics count both), and per partition the
//! [`Progress`] to publish once the kept ones are durable.
//! What the partition's last owner already handed on is not handed on
//! again ([`Progress::is_done`]).
//!
//! Decisions use the trace's last record timestamp as "now" (rate budgets
//! are per second of event time), so a replay decides the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use spoor_collector::sampling::TailSampler;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use spoor_proto::validate::drop_invalid_spans;
use spoor_storage::decider::{
    SAMPLING_LATE_SPANS_TOTAL, SAMPLING_SPANS_DROPPED_TOTAL, SAMPLING_SPANS_KEPT_TOTAL,
    SAMPLING_TRACES_DROPPED_TOTAL, SAMPLING_TRACES_KEPT_TOTAL, STAGE_TAIL,
};

use crate::assembly::{Arrival, AssemblySettings, Output, PartitionAssembly, Progress};
use crate::batch::ConsumedRecord;
use crate::metrics;
use crate::record::decode_value;

/// A held record: what is needed to decode it at its trace's close.
pub struct Piece {
    encoding: Option<String>,
    value: Vec<u8>,
}

impl Piece {
    fn decode(&self) -> Option<TracesData> {
        let mut data = decode_value(self.encoding.as_deref(), &self.value).ok()?;
        drop_invalid_spans(&mut data);
        Some(data)
    }
}

/// What one step of the stage hands on.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// The spans to store (shared, so a retried write copies nothing).
    pub kept: Arc<TracesData>,
    /// The spans decided or following a decision that are dropped (the
    /// analytics count them with the kept ones).
    pub dropped: TracesData,
    /// Records that did not decode.
    pub invalid: usize,
    /// Per partition, the progress once `kept` is durable.
    pub progress: BTreeMap<u32, Progress>,
}

struct PartitionStage {
    assembly: PartitionAssembly<Piece>,
    /// What the partition's last owner handed on.
    done: Progress,
    last_record: Instant,
}

/// The tail-sampling stage of a store node.
pub struct TailStage {
    settings: AssemblySettings,
    sampler: Arc<TailSampler>,
    partitions: HashMap<u32, PartitionStage>,
}

impl TailStage {
    /// A stage deciding by `sampler` under `settings`.
    pub fn new(settings: AssemblySettings, sampler: Arc<TailSampler>) -> TailStage {
        TailStage {
            settings,
            sampler,
            partitions: HashMap::new(),
        }
    }

    /// Whether `partition` was started.
    pub fn has(&self, partition: u32) -> bool {
        self.partitions.contains_key(&partition)
    }

    /// The partitions started.
    pub fn partitions(&self) -> Vec<u32> {
        self.partitions.keys().copied().collect()
    }

    /// The offset `partition` reads next, if started.
    pub fn next_offset(&self, partition: u32) -> Option<i64> {
        self.partitions
            .get(&partition)
            .map(|p| p.assembly.next_offset())
    }

    /// Starts `partition` from `progress` (its last owner's).
    pub fn start(&mut self, partition: u32, progress: Progress) {
        self.partitions.insert(
            partition,
            PartitionStage {
                assembly: PartitionAssembly::new(self.settings, &progress),
                done: progress,
                last_record: Instant::now(),
            },
        );
    }

    /// Forgets `partition` (it moved to another node, which replays it).
    pub fn stop(&mut self, partition: u32) {
        self.partitions.remove(&partition);
    }

    /// Applies `records` (of started partitions, in offset order per
    /// partition; records before a partition's next offset are skipped).
    pub fn push(&mut self, records: Vec<ConsumedRecord>) -> StageOutput {
        let mut step = StageOutput::default();
        let mut touched = std::collections::BTreeSet::new();
        let sampler = Arc::clone(&self.sampler);
        for record in records {
            let Some(stage) = self.partitions.get_mut(&record.partition) else {
                continue;
            };
            if record.offset < stage.assembly.next_offset() {
                continue;
            }
            stage.last_record = Instant::now();
            let piece = Piece {
                encoding: record.encoding,
                value: record.value,
            };
            let trace = match record.key.as_deref().map(TraceId::from_bytes) {
                Some(Ok(trace)) => trace,
                _ => match piece.decode().and_then(|d| first_trace(&d)) {
                    Some(trace) => trace,
                    None => {
                        step.invalid += 1;
                        continue;
                    }
                },
            };
            let bytes = piece.value.len();
            let mut out = Vec::new();
            stage.assembly.push(
                Arrival {
                    offset: record.offset,
                    timestamp_ms: record.timestamp_ms,
                    trace,
                    payload: piece,
                    bytes,
                },
                &mut |id, pieces, last_ms| decide(&sampler, id, &pieces, last_ms),
                &mut out,
            );
            hand_on(&stage.done, out, &mut step);
            touched.insert(record.partition);
        }
        for partition in touched {
            if let Some(stage) = self.partitions.get(&partition) {
                step.progress.insert(partition, stage.assembly.progress());
            }
        }
        self.observe_bounds();
        step
    }

    /// Moves the event time of every partition that got no record for
    /// `idle_after` to `watermark_ms`.
    pub fn advance_idle(
        &mut self,
        idle_after: std::time::Duration,
        watermark_ms: i64,
    ) -> StageOutput {
        let mut step = StageOutput::default();
        let sampler = Arc::clone(&self.sampler);
        for (partition, stage) in &mut self.partitions {
            if stage.last_record.elapsed() < idle_after
                || stage.assembly.watermark_ms() >= watermark_ms
            {
                continue;
            }
            let mut out = Vec::new();
            stage.assembly.advance(
                watermark_ms,
                &mut |id, pieces, last_ms| decide(&sampler, id, &pieces, last_ms),
                &mut out,
            );
            hand_on(&stage.done, out, &mut step);
            step.progress.insert(*partition, stage.assembly.progress());
        }
        self.observe_bounds();
        step
    }

    fn observe_bounds(&self) {
        let (mut early, mut forgotten, mut open) = (0, 0, 0);
        for stage in self.partitions.values() {
            let (e, f) = stage.assembly.overflows();
            early += e;
            forgotten += f;
            open += stage.assembly.open_bytes();
        }
        metrics::tail_stage(open, early, forgotten);
    }
}

fn first_trace(data: &TracesData) -> Option<TraceId> {
    data.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.trace_id())
        .next()
}

/// Decides a closed trace: (keep, its spans).
fn decide(
    sampler: &TailSampler,
    trace: TraceId,
    pieces: &[Piece],
    last_ms: i64,
) -> (bool, TracesData) {
    let mut data = TracesData::default();
    for piece in pieces {
        match piece.decode() {
            Some(part) => data.resource_spans.extend(part.resource_spans),
            // Held by its key, but its value does not decode.
            None => metrics::consumed(0, 1),
        }
    }
    let second = u64::try_from(last_ms.max(0) / 1000).unwrap_or(0);
    let decision = sampler.decide_at(trace, &data, second);
    let spans = data.span_count() as u64;
    let label = decision.policy.to_string();
    if decision.keep {
        ::metrics::counter!(SAMPLING_TRACES_KEPT_TOTAL, "policy" => label.clone()).increment(1);
        ::metrics::counter!(SAMPLING_SPANS_KEPT_TOTAL, "stage" => STAGE_TAIL, "policy" => label)
            .increment(spans);
    } else {
        ::metrics::counter!(SAMPLING_TRACES_DROPPED_TOTAL, "policy" => label.clone()).increment(1);
        ::metrics::counter!(SAMPLING_SPANS_DROPPED_TOTAL, "stage" => STAGE_TAIL, "policy" => label)
            .increment(spans);
    }
    (decision.keep, data)
}

/// Adds what the last owner did not hand on to `step`.
fn hand_on(done: &Progress, out: Vec<Output<TracesData, Piece>>, step: &mut StageOutput) {
    for output in out {
        if done.is_done(&output) {
            continue;
        }
        let (keep, data) = match output {
            Output::Closed { keep, decided, .. } => (keep, decided),
            Output::Late { keep, payload, .. } => {
                let Some(data) = payload.decode() else {
                    step.invalid += 1;
                    continue;
                };
                let decision = if keep { "kept" } else { "dropped" };
                ::metrics::counter!(SAMPLING_LATE_SPANS_TOTAL, "decision" => decision)
                    .increment(data.span_count() as u64);
                (keep, data)
            }
        };
        let into = if keep {
            Arc::make_mut(&mut step.kept)
        } else {
            &mut step.dropped
        };
        into.resource_spans.extend(data.resource_spans);
    }
}

#[cfg(test)]
mod tests;
