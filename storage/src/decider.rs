//! The tail-sampling decision point of the store: a hook that decides, per
//! trace, whether a trace leaving the in-memory buffer is stored or dropped.
//!
//! In: the traces the flusher found due (idle, too old, or the oldest when
//! the buffer is over its bounds), decoded whole, and a [`TraceDecider`] set
//! with [`Store::set_decider`]. Out: the traces to store; dropped traces are
//! removed from the buffer (releasing their write-ahead sequences) without
//! being written, and every drop is counted in the `spoor_sampling_*`
//! metrics.
//!
//! One trace, one decision: decisions are remembered for
//! `DecisionPolicy::late_span_ttl` in a bounded map, so spans that arrive
//! after their trace was decided follow that decision (kept → stored as
//! another fragment of the trace, dropped → dropped) instead of being judged
//! again on a partial trace. Without a decider every due trace is stored, as
//! before.
//!
//! Crash safety comes from the write-ahead log: a trace is only removed from
//! the log after its decision was carried out, so a restart replays buffered
//! traces and decides them then.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::{Mutex, RwLock};
use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;

use crate::live::{FlushItem, LiveBuffer};
use crate::rocks::Store;

/// Traces kept by a tail decision, per policy.
pub const SAMPLING_TRACES_KEPT_TOTAL: &str = "spoor_sampling_traces_kept_total";
/// Traces dropped by a tail decision, per policy.
pub const SAMPLING_TRACES_DROPPED_TOTAL: &str = "spoor_sampling_traces_dropped_total";
/// Spans kept by a sampling decision, per stage and policy.
pub const SAMPLING_SPANS_KEPT_TOTAL: &str = "spoor_sampling_spans_kept_total";
/// Spans dropped by a sampling decision, per stage and policy.
pub const SAMPLING_SPANS_DROPPED_TOTAL: &str = "spoor_sampling_spans_dropped_total";
/// Traces decided before their wait was over because the buffer was full.
pub const SAMPLING_EARLY_DECISIONS_TOTAL: &str = "spoor_sampling_early_decisions_total";
/// Spans that arrived after their trace was decided, per decision followed.
pub const SAMPLING_LATE_SPANS_TOTAL: &str = "spoor_sampling_late_spans_total";
/// Time from a trace's last span to its decision, in seconds.
pub const SAMPLING_DECISION_DELAY_SECONDS: &str = "spoor_sampling_decision_delay_seconds";
/// Time to decide every due trace of one flush, in seconds.
pub const SAMPLING_DECISION_DURATION_SECONDS: &str = "spoor_sampling_decision_duration_seconds";
/// Decisions remembered for late spans.
pub const SAMPLING_DECISION_CACHE_ENTRIES: &str = "spoor_sampling_decision_cache_entries";

/// The `stage` label of the span counters for tail decisions.
pub const STAGE_TAIL: &str = "tail";

/// What a decider answers for one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Store the trace (`true`) or drop it.
    pub keep: bool,
    /// The policy that decided (the `policy` metric label).
    pub policy: Arc<str>,
}

impl Decision {
    /// Keep, decided by `policy`.
    pub fn keep(policy: impl Into<Arc<str>>) -> Decision {
        Decision {
            keep: true,
            policy: policy.into(),
        }
    }

    /// Drop, decided by `policy`.
    pub fn drop(policy: impl Into<Arc<str>>) -> Decision {
        Decision {
            keep: false,
            policy: policy.into(),
        }
    }
}

/// Decides whether a whole trace is stored. Called on the flusher thread,
/// one trace at a time; must not block.
pub trait TraceDecider: Send + Sync {
    /// Decides for `trace` (all spans of `trace_id` held in memory).
    fn decide(&self, trace_id: TraceId, trace: &TracesData) -> Decision;
}

/// When traces are decided and how long decisions are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionPolicy {
    /// A trace is decided once no span arrived for this long.
    pub decision_wait: Duration,
    /// A trace is decided at the latest this long after its first span.
    pub max_age: Duration,
    /// How long a decision is remembered for late spans.
    pub late_span_ttl: Duration,
    /// At most this many decisions are remembered (oldest forgotten first).
    pub max_remembered: usize,
}

/// The decider of a store and its memory of recent decisions.
#[derive(Default)]
pub(crate) struct DeciderSlot {
    active: RwLock<Option<(Arc<dyn TraceDecider>, DecisionPolicy)>>,
    remembered: Mutex<DecisionCache>,
}

impl DeciderSlot {
    /// The wait and maximum age that replace the storage ones while a
    /// decider is set.
    pub(crate) fn timing(&self) -> Option<(Duration, Duration)> {
        self.active
            .read()
            .as_ref()
            .map(|(_, p)| (p.decision_wait, p.max_age))
    }
}

impl Store {
    /// Makes every trace leaving the buffer pass `decider` first (tail
    /// sampling); `policy` replaces the storage idle timeout and maximum age
    /// and sets how long decisions are remembered for late spans.
    pub fn set_decider(&self, decider: Arc<dyn TraceDecider>, policy: DecisionPolicy) {
        *self.decider.active.write() = Some((decider, policy));
    }

    /// The decision remembered for a trace, if any (`Some(true)` = kept).
    pub fn remembered_decision(&self, trace_id: TraceId) -> Option<bool> {
        self.decider.remembered.lock().get(trace_id, Instant::now())
    }
}

/// Why a due trace is decided now (for the early-decision counter).
fn decided_early(item: &FlushItem, now: Instant, policy: &DecisionPolicy) -> bool {
    now.duration_since(item.trace.last_seen) < policy.decision_wait
        && now.duration_since(item.trace.first_seen) < policy.max_age
}

/// Decides every due trace; returns those to store. Dropped traces are
/// removed from `live` here. `all` is set on shutdown: nothing is early then.
pub(crate) fn decide_due(
    slot: &DeciderSlot,
    live: &LiveBuffer,
    items: Vec<FlushItem>,
    now: Instant,
    all: bool,
) -> Vec<FlushItem> {
    let active = slot.active.read().clone();
    let Some((decider, policy)) = active else {
        return items;
    };
    if items.is_empty() {
        return items;
    }
    let started = Instant::now();
    let mut kept = Vec::with_capacity(items.len());
    let mut remembered = slot.remembered.lock();
    for item in items {
        let spans = item.trace.spans.len() as u64;
        if let Some(keep) = remembered.get(item.trace_id, now) {
            // Counted after the buffer changed, so a reader of the metric
            // sees the outcome.
            if keep {
                kept.push(item);
            } else {
                live.remove_flushed(&item);
            }
            let decision = if keep { "kept" } else { "dropped" };
            metrics::counter!(SAMPLING_LATE_SPANS_TOTAL, "decision" => decision).increment(spans);
            continue;
        }
        let decision = match decode_whole(&item) {
            Ok(data) => decider.decide(item.trace_id, &data),
            Err(error) => {
                // Keep what cannot be judged: dropping it would lose data silently.
                tracing::warn!(trace_id = %item.trace_id.to_hex32(), %error,
                    "cannot decode a buffered trace for sampling; keeping it");
                Decision::keep("undecodable")
            }
        };
        if !all && decided_early(&item, now, &policy) {
            metrics::counter!(SAMPLING_EARLY_DECISIONS_TOTAL).increment(1);
        }
        metrics::histogram!(SAMPLING_DECISION_DELAY_SECONDS)
            .record(now.duration_since(item.trace.last_seen).as_secs_f64());
        remembered.insert(item.trace_id, decision.keep, now, &policy);
        let label = decision.policy.to_string();
        if decision.keep {
            metrics::counter!(SAMPLING_TRACES_KEPT_TOTAL, "policy" => label.clone()).increment(1);
            metrics::counter!(SAMPLING_SPANS_KEPT_TOTAL, "stage" => STAGE_TAIL, "policy" => label)
                .increment(spans);
            kept.push(item);
        } else {
            live.remove_flushed(&item);
            metrics::counter!(SAMPLING_TRACES_DROPPED_TOTAL, "policy" => label.clone())
                .increment(1);
            metrics::counter!(SAMPLING_SPANS_DROPPED_TOTAL, "stage" => STAGE_TAIL, "policy" => label)
                .increment(spans);
        }
    }
    metrics::gauge!(SAMPLING_DECISION_CACHE_ENTRIES).set(remembered.len() as f64);
    metrics::histogram!(SAMPLING_DECISION_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
    kept
}

/// Every span of a buffered trace as one batch.
fn decode_whole(item: &FlushItem) -> Result<TracesData, prost::DecodeError> {
    let mut bytes = BytesMut::with_capacity(item.trace.bytes);
    for (_, fragment) in &item.trace.fragments {
        bytes.extend_from_slice(fragment);
    }
    TracesData::decode(bytes.freeze())
}

/// Recent decisions, bounded by count and age.
#[derive(Debug, Default)]
struct DecisionCache {
    decisions: HashMap<TraceId, (bool, Instant)>,
    /// Insertion order, for expiry; an entry is stale when the map holds a
    /// newer time for its trace.
    order: VecDeque<(TraceId, Instant)>,
    ttl: Duration,
}

impl DecisionCache {
    fn get(&mut self, trace_id: TraceId, now: Instant) -> Option<bool> {
        self.expire(now, usize::MAX);
        self.decisions.get(&trace_id).map(|(keep, _)| *keep)
    }

    fn insert(&mut self, trace_id: TraceId, keep: bool, now: Instant, policy: &DecisionPolicy) {
        self.ttl = policy.late_span_ttl;
        if policy.late_span_ttl.is_zero() || policy.max_remembered == 0 {
            return;
        }
        self.decisions.insert(trace_id, (keep, now));
        self.order.push_back((trace_id, now));
        self.expire(now, policy.max_remembered);
    }

    fn expire(&mut self, now: Instant, max: usize) {
        while let Some((id, at)) = self.order.front().copied() {
            let over = self.decisions.len() > max;
            if !over && now.duration_since(at) < self.ttl {
                break;
            }
            self.order.pop_front();
            if self.decisions.get(&id).is_some_and(|(_, t)| *t == at) {
                self.decisions.remove(&id);
            }
        }
    }

    fn len(&self) -> usize {
        self.decisions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ttl: Duration, max: usize) -> DecisionPolicy {
        DecisionPolicy {
            decision_wait: Duration::from_secs(1),
            max_age: Duration::from_secs(5),
            late_span_ttl: ttl,
            max_remembered: max,
        }
    }

    #[test]
    fn decisions_are_forgotten_after_their_ttl() {
        let mut cache = DecisionCache::default();
        let t0 = Instant::now();
        let p = policy(Duration::from_secs(10), 100);
        cache.insert(TraceId(1), true, t0, &p);
        cache.insert(TraceId(2), false, t0 + Duration::from_secs(5), &p);
        assert_eq!(
            cache.get(TraceId(1), t0 + Duration::from_secs(9)),
            Some(true)
        );
        assert_eq!(
            cache.get(TraceId(2), t0 + Duration::from_secs(9)),
            Some(false)
        );
        assert_eq!(cache.get(TraceId(1), t0 + Duration::from_secs(11)), None);
        assert_eq!(
            cache.get(TraceId(2), t0 + Duration::from_secs(11)),
            Some(false)
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_oldest_decisions_are_forgotten_first_when_full() {
        let mut cache = DecisionCache::default();
        let t0 = Instant::now();
        let p = policy(Duration::from_secs(60), 3);
        for i in 0..5u128 {
            cache.insert(TraceId(i), true, t0, &p);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(TraceId(0), t0), None);
        assert_eq!(cache.get(TraceId(1), t0), None);
        assert_eq!(cache.get(TraceId(4), t0), Some(true));
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let mut cache = DecisionCache::default();
        let t0 = Instant::now();
        cache.insert(TraceId(1), true, t0, &policy(Duration::ZERO, 10));
        assert_eq!(cache.get(TraceId(1), t0), None);
    }
}
