//! Trace close by a partition's event time: the store role's tail-sampling
//! buffer for one partition, a pure state machine over the partition's
//! records, so that any node replaying the partition from the same point
//! decides the same traces the same way.
//!
//! In: the partition's records in offset order (offset, event time = the
//! record's timestamp, trace id, a payload and its size), and "idle"
//! advances of the event time when the partition has been read to its end.
//! Out: [`Output`]s: a trace closed (its payloads, decided by the caller's
//! function) or a late record of a trace already decided (it follows the
//! remembered decision); and [`Progress`], the point from which a node must
//! replay to rebuild this state, with what was already handed on.
//!
//! The rules, all in event time (the partition's watermark is the largest
//! record timestamp seen):
//! - a trace closes once the watermark reaches `min(last + decision_wait,
//!   first + max_age)`, where first and last are its records' timestamps;
//! - a closed trace's decision is remembered until the watermark reaches
//!   its last record's timestamp plus `remember` (at least `decision_wait`);
//!   its records meanwhile are late and follow the decision;
//! - on each record the watermark moves first, due traces close and
//!   expired decisions go, and only then the record is applied.
//!
//! Replay: a node that starts at [`Progress::resume_offset`] with
//! [`Progress::resume_watermark_ms`] sees every record of every trace still
//! open or remembered, so it rebuilds the same state; it hands on only what
//! the last owner did not ([`Progress::is_done`]). Idle advances must stay
//! at or below the timestamps of records still to come (the consumer keeps
//! a margin for that). Two bounds are safety valves that can break the
//! replay guarantee when reached, and are counted: the bytes of open traces
//! (the oldest close early) and the count of remembered decisions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use spoor_proto::ids::TraceId;

/// The event-time rules and memory bounds of an assembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblySettings {
    /// A trace closes this long after its last record.
    pub decision_wait_ms: i64,
    /// A trace closes at the latest this long after its first record.
    pub max_age_ms: i64,
    /// A decision is remembered this long after the trace's last record.
    pub remember_ms: i64,
    /// Decisions remembered at most (the oldest are forgotten first).
    pub max_remembered: usize,
    /// Payload bytes of open traces at most (the oldest close early).
    pub max_open_bytes: usize,
}

/// Where a replay of the partition starts and what it must not hand on
/// again. Serialised into the progress record of the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The first offset a replay must read.
    pub resume_offset: i64,
    /// The watermark just before that offset.
    pub resume_watermark_ms: i64,
    /// The last offset whose outputs were handed on (-1: none).
    pub applied_offset: i64,
    /// The watermark when they were: closes due by then were handed on.
    pub applied_watermark_ms: i64,
}

impl Progress {
    /// The progress of a partition nobody has read: from `offset`, with
    /// nothing handed on.
    pub fn start(offset: i64) -> Progress {
        Progress {
            resume_offset: offset,
            resume_watermark_ms: i64::MIN,
            applied_offset: offset - 1,
            applied_watermark_ms: i64::MIN,
        }
    }

    /// Whether `output` was already handed on by whoever wrote this
    /// progress.
    pub fn is_done<D, T>(&self, output: &Output<D, T>) -> bool {
        match output {
            Output::Closed {
                close_at_ms,
                last_offset,
                ..
            } => *close_at_ms <= self.applied_watermark_ms && *last_offset <= self.applied_offset,
            Output::Late { offset, .. } => *offset <= self.applied_offset,
        }
    }
}

/// A record as the assembly takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival<T> {
    /// Its offset.
    pub offset: i64,
    /// Its event time.
    pub timestamp_ms: i64,
    /// Its trace.
    pub trace: TraceId,
    /// What is held of it until its trace closes.
    pub payload: T,
    /// The payload's size, counted against the open-bytes bound.
    pub bytes: usize,
}

/// What an assembly hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<D, T> {
    /// A trace closed and decided.
    Closed {
        /// The trace.
        trace: TraceId,
        /// Kept or dropped.
        keep: bool,
        /// The event time it closed at (a function of its records only).
        close_at_ms: i64,
        /// The offset of its newest record.
        last_offset: i64,
        /// Whether it closed early (the open-bytes bound was reached).
        early: bool,
        /// What the decision function made of its payloads.
        decided: D,
    },
    /// A record of a trace already decided.
    Late {
        /// The trace.
        trace: TraceId,
        /// The remembered decision.
        keep: bool,
        /// The record's offset.
        offset: i64,
        /// Its payload.
        payload: T,
    },
}

struct OpenTrace<T> {
    first_offset: i64,
    last_offset: i64,
    first_ms: i64,
    last_ms: i64,
    bytes: usize,
    payloads: Vec<T>,
}

impl<T> OpenTrace<T> {
    fn close_at(&self, settings: &AssemblySettings) -> i64 {
        (self.last_ms.saturating_add(settings.decision_wait_ms))
            .min(self.first_ms.saturating_add(settings.max_age_ms))
    }
}

struct Remembered {
    keep: bool,
    first_offset: i64,
    last_ms: i64,
}

/// The open and decided traces of one partition.
pub struct PartitionAssembly<T> {
    settings: AssemblySettings,
    watermark_ms: i64,
    next_offset: i64,
    open: HashMap<TraceId, OpenTrace<T>>,
    open_bytes: usize,
    /// Open traces by (close time, first offset).
    closing: BTreeSet<(i64, i64, TraceId)>,
    remembered: HashMap<TraceId, Remembered>,
    /// Remembered decisions by (forget time, first offset).
    forgetting: BTreeSet<(i64, i64, TraceId)>,
    /// Open and remembered traces by first offset: (trace, watermark before).
    by_first_offset: BTreeMap<i64, (TraceId, i64)>,
    early_closes: u64,
    forgotten_early: u64,
}

impl<T> PartitionAssembly<T> {
    /// An assembly that starts reading at `progress.resume_offset`.
    pub fn new(settings: AssemblySettings, progress: &Progress) -> PartitionAssembly<T> {
        PartitionAssembly {
            settings: AssemblySettings {
                remember_ms: settings.remember_ms.max(settings.decision_wait_ms),
                ..settings
            },
            watermark_ms: progress.resume_watermark_ms,
            next_offset: progress.resume_offset,
            open: HashMap::new(),
            open_bytes: 0,
            closing: BTreeSet::new(),
            remembered: HashMap::new(),
            forgetting: BTreeSet::new(),
            by_first_offset: BTreeMap::new(),
            early_closes: 0,
            forgotten_early: 0,
        }
    }

    /// The partition's watermark.
    pub fn watermark_ms(&self) -> i64 {
        self.watermark_ms
    }

    /// The offset after the last record applied.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Traces open now.
    pub fn open_traces(&self) -> usize {
        self.open.len()
    }

    /// Payload bytes of the open traces.
    pub fn open_bytes(&self) -> usize {
        self.open_bytes
    }

    /// Traces closed early and decisions forgotten early so far.
    pub fn overflows(&self) -> (u64, u64) {
        (self.early_closes, self.forgotten_early)
    }

    /// The progress to record once every output so far is handed on.
    pub fn progress(&self) -> Progress {
        let (resume_offset, resume_watermark_ms) = match self.by_first_offset.first_key_value() {
            Some((offset, (_, watermark))) => (*offset, *watermark),
            None => (self.next_offset, self.watermark_ms),
        };
        Progress {
            resume_offset,
            resume_watermark_ms,
            applied_offset: self.next_offset - 1,
            applied_watermark_ms: self.watermark_ms,
        }
    }

    /// Applies `record`; `decide` decides each trace that closes.
    pub fn push<D>(
        &mut self,
        record: Arrival<T>,
        decide: &mut impl FnMut(TraceId, Vec<T>, i64) -> (bool, D),
        out: &mut Vec<Output<D, T>>,
    ) {
        let Arrival {
            offset,
            timestamp_ms,
            trace,
            payload,
            bytes,
        } = record;
        self.advance(timestamp_ms, decide, out);
        self.next_offset = offset + 1;
        if let Some(decided) = self.remembered.get_mut(&trace) {
            if timestamp_ms > decided.last_ms {
                let old = (
                    decided.last_ms + self.settings.remember_ms,
                    decided.first_offset,
                );
                self.forgetting.remove(&(old.0, old.1, trace));
                decided.last_ms = timestamp_ms;
                self.forgetting.insert((
                    timestamp_ms + self.settings.remember_ms,
                    decided.first_offset,
                    trace,
                ));
            }
            out.push(Output::Late {
                trace,
                keep: decided.keep,
                offset,
                payload,
            });
            return;
        }
        let settings = self.settings;
        match self.open.get_mut(&trace) {
            Some(open) => {
                let before = open.close_at(&settings);
                open.last_ms = open.last_ms.max(timestamp_ms);
                open.last_offset = offset;
                open.bytes += bytes;
                open.payloads.push(payload);
                let after = open.close_at(&settings);
                if after != before {
                    self.closing.remove(&(before, open.first_offset, trace));
                    self.closing.insert((after, open.first_offset, trace));
                }
            }
            None => {
                let open = OpenTrace {
                    first_offset: offset,
                    last_offset: offset,
                    first_ms: timestamp_ms,
                    last_ms: timestamp_ms,
                    bytes,
                    payloads: vec![payload],
                };
                self.closing
                    .insert((open.close_at(&settings), offset, trace));
                self.by_first_offset
                    .insert(offset, (trace, self.watermark_ms));
                self.open.insert(trace, open);
            }
        }
        self.open_bytes += bytes;
        // A record older than the watermark by more than the wait closes
        // its trace at once: no open trace is ever due.
        self.advance(self.watermark_ms, decide, out);
        while self.open_bytes > self.settings.max_open_bytes && self.open.len() > 1 {
            let Some((_, (oldest, _))) = self
                .by_first_offset
                .iter()
                .find(|(_, (id, _))| self.open.contains_key(id))
            else {
                break;
            };
            let oldest = *oldest;
            self.early_closes += 1;
            self.close(oldest, true, decide, out);
        }
    }

    /// Moves the watermark to `watermark_ms` (if later), closing due traces
    /// and forgetting expired decisions.
    pub fn advance<D>(
        &mut self,
        watermark_ms: i64,
        decide: &mut impl FnMut(TraceId, Vec<T>, i64) -> (bool, D),
        out: &mut Vec<Output<D, T>>,
    ) {
        self.watermark_ms = self.watermark_ms.max(watermark_ms);
        while let Some(&(close_at, _, trace)) = self.closing.first() {
            if close_at > self.watermark_ms {
                break;
            }
            self.close(trace, false, decide, out);
        }
        while let Some(&(forget_at, first_offset, trace)) = self.forgetting.first() {
            if forget_at > self.watermark_ms {
                break;
            }
            self.forgetting.pop_first();
            self.remembered.remove(&trace);
            self.by_first_offset.remove(&first_offset);
        }
    }

    fn close<D>(
        &mut self,
        trace: TraceId,
        early: bool,
        decide: &mut impl FnMut(TraceId, Vec<T>, i64) -> (bool, D),
        out: &mut Vec<Output<D, T>>,
    ) {
        let Some(open) = self.open.remove(&trace) else {
            return;
        };
        let close_at_ms = open.close_at(&self.settings);
        self.closing
            .remove(&(close_at_ms, open.first_offset, trace));
        self.open_bytes -= open.bytes;
        let (keep, decided) = decide(trace, open.payloads, open.last_ms);
        self.remembered.insert(
            trace,
            Remembered {
                keep,
                first_offset: open.first_offset,
                last_ms: open.last_ms,
            },
        );
        self.forgetting.insert((
            open.last_ms + self.settings.remember_ms,
            open.first_offset,
            trace,
        ));
        while self.remembered.len() > self.settings.max_remembered {
            let Some((_, first_offset, oldest)) = self.forgetting.pop_first() else {
                break;
            };
            self.remembered.remove(&oldest);
            self.by_first_offset.remove(&first_offset);
            self.forgotten_early += 1;
        }
        out.push(Output::Closed {
            trace,
            keep,
            // An early close happens before its time: it counts as due
            // at the watermark it happened at.
            close_at_ms: if early {
                self.watermark_ms
            } else {
                close_at_ms
            },
            last_offset: open.last_offset,
            early,
            decided,
        });
    }
}

#[cfg(test)]
mod tests;
