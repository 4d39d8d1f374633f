//! The in-memory trace buffer: traces being assembled before they are
//! flushed to a partition.
//!
//! In: prepared traces tagged with the write-ahead sequence number they were
//! logged under. Out: traces due for flushing (idle, too old, or the oldest
//! when the buffer is over its bounds), the lowest write-ahead sequence still
//! needed, and read access for trace-by-id, search, and the lookup of
//! 128-bit trace ids by their low 64 bits (lenient Zipkin ids).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use rustc_hash::FxBuildHasher;
use spoor_proto::ids::TraceId;

use crate::prepare::PreparedTrace;
use crate::summary::SpanSummary;

/// Memory of one span's search summary (the struct and its two strings),
/// counted against the buffer's bounds beside the encoded bytes, so the
/// bounds measure memory, not just span bytes. The names are shared by the
/// spans of a batch but counted for each span: an upper bound.
pub fn summary_bytes(s: &SpanSummary) -> usize {
    std::mem::size_of::<SpanSummary>() + s.service.len() + s.operation.len()
}

/// One trace being assembled.
#[derive(Debug, Clone)]
pub struct LiveTrace {
    /// (write-ahead sequence, encoded fragment) in arrival order.
    pub fragments: Vec<(u64, Bytes)>,
    /// Span summaries, in fragment order.
    pub spans: Vec<SpanSummary>,
    /// Sorted, de-duplicated tag tokens.
    pub tokens: Vec<u64>,
    /// When the first span arrived.
    pub first_seen: Instant,
    /// When the last span arrived.
    pub last_seen: Instant,
    /// Memory held: encoded bytes and [`summary_bytes`] of every span.
    pub bytes: usize,
}

/// A snapshot of a trace taken for flushing.
#[derive(Debug, Clone)]
pub struct FlushItem {
    /// The trace.
    pub trace_id: TraceId,
    /// Its state at the time of the snapshot.
    pub trace: LiveTrace,
}

/// The buffer of traces being assembled.
#[derive(Debug, Default)]
pub struct LiveBuffer {
    /// Fx hashing: trace ids are random already.
    traces: DashMap<TraceId, LiveTrace, FxBuildHasher>,
    bytes: AtomicU64,
    /// Write-ahead sequence → number of live traces holding spans from it.
    seq_refs: Mutex<BTreeMap<u64, usize>>,
    /// (low 64 bits, high 64 bits) of every held trace whose high half is
    /// non-zero: the live side of the low-64 index. A 64-bit id is its own
    /// low half, so it needs no entry.
    by_low64: Mutex<BTreeSet<(u64, u64)>>,
}

impl LiveBuffer {
    /// Adds a prepared trace logged under `seq`.
    pub fn insert(&self, seq: u64, prepared: &PreparedTrace, now: Instant) {
        let bytes =
            prepared.fragment.len() + prepared.spans.iter().map(summary_bytes).sum::<usize>();
        let mut new_ref = false;
        self.traces
            .entry(prepared.trace_id)
            .and_modify(|t| {
                if t.fragments.last().map(|(s, _)| *s) != Some(seq) {
                    new_ref = true;
                }
                t.fragments.push((seq, prepared.fragment.clone()));
                t.spans.extend(prepared.spans.iter().cloned());
                merge_sorted(&mut t.tokens, &prepared.tokens);
                t.last_seen = now;
                t.bytes += bytes;
            })
            .or_insert_with(|| {
                new_ref = true;
                LiveTrace {
                    fragments: vec![(seq, prepared.fragment.clone())],
                    spans: prepared.spans.clone(),
                    tokens: prepared.tokens.clone(),
                    first_seen: now,
                    last_seen: now,
                    bytes,
                }
            });
        if new_ref {
            *self.seq_refs.lock().entry(seq).or_insert(0) += 1;
        }
        let id = prepared.trace_id;
        if id.high() != 0 {
            // After the trace is in the map (see `forget_low64`).
            self.by_low64.lock().insert((id.low(), id.high()));
        }
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Drops the low-64 entry of a trace no longer held. The check runs under
    /// the index lock and `insert` adds its entry only after the trace is in
    /// the map, so a trace re-created meanwhile keeps its entry.
    fn forget_low64(&self, id: TraceId) {
        if id.high() == 0 {
            return;
        }
        let mut index = self.by_low64.lock();
        if !self.traces.contains_key(&id) {
            index.remove(&(id.low(), id.high()));
        }
    }

    /// Ids of the held traces with a non-zero high half whose low 64 bits
    /// are `low`, ascending.
    pub fn ids_with_low64(&self, low: u64) -> Vec<TraceId> {
        self.by_low64
            .lock()
            .range((low, 0)..=(low, u64::MAX))
            .map(|(low, high)| TraceId::from_halves(*high, *low))
            .collect()
    }

    /// Number of traces held.
    pub fn trace_count(&self) -> usize {
        self.traces.len()
    }

    /// Memory held: encoded bytes and span summaries.
    pub fn byte_count(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Lowest write-ahead sequence still referenced, if any.
    pub fn lowest_seq(&self) -> Option<u64> {
        self.seq_refs.lock().keys().next().copied()
    }

    /// A copy of one trace, if held.
    pub fn get(&self, id: TraceId) -> Option<LiveTrace> {
        self.traces.get(&id).map(|t| t.clone())
    }

    /// Calls `f` for every trace held (under a shard read lock: keep `f` short).
    pub fn for_each(&self, mut f: impl FnMut(TraceId, &LiveTrace)) {
        for entry in self.traces.iter() {
            f(*entry.key(), entry.value());
        }
    }

    /// Snapshots the traces that are due: idle longer than `idle`, older than
    /// `max_age`, or (oldest first) enough of them to bring the buffer under
    /// `max_bytes` and `max_traces`. With `all`, every trace is due.
    pub fn due(
        &self,
        now: Instant,
        idle: Duration,
        max_age: Duration,
        max_bytes: u64,
        max_traces: usize,
        all: bool,
    ) -> Vec<FlushItem> {
        let mut due = Vec::new();
        let mut rest: Vec<(Instant, TraceId, usize)> = Vec::new();
        for entry in self.traces.iter() {
            let t = entry.value();
            if all
                || now.duration_since(t.last_seen) >= idle
                || now.duration_since(t.first_seen) >= max_age
            {
                due.push(FlushItem {
                    trace_id: *entry.key(),
                    trace: t.clone(),
                });
            } else {
                rest.push((t.first_seen, *entry.key(), t.bytes));
            }
        }
        let due_bytes: u64 = due.iter().map(|d| d.trace.bytes as u64).sum();
        let mut bytes_left = self.byte_count().saturating_sub(due_bytes);
        let mut traces_left = rest.len();
        if bytes_left > max_bytes || traces_left > max_traces {
            rest.sort_unstable_by_key(|(first, _, _)| *first);
            for (_, id, bytes) in rest {
                if bytes_left <= max_bytes && traces_left <= max_traces {
                    break;
                }
                if let Some(t) = self.traces.get(&id) {
                    due.push(FlushItem {
                        trace_id: id,
                        trace: t.clone(),
                    });
                }
                bytes_left = bytes_left.saturating_sub(bytes as u64);
                traces_left -= 1;
            }
        }
        due
    }

    /// Removes what a flush stored: the first `item.trace.fragments.len()`
    /// fragments of the trace. Fragments that arrived during the flush stay.
    pub fn remove_flushed(&self, item: &FlushItem) {
        let flushed = item.trace.fragments.len();
        let mut released: Vec<u64> = Vec::new();
        let mut freed = 0usize;
        let remove = match self.traces.get_mut(&item.trace_id) {
            None => false,
            Some(mut t) => {
                let n = flushed.min(t.fragments.len());
                let gone: Vec<(u64, Bytes)> = t.fragments.drain(..n).collect();
                let span_count: usize = item.trace.spans.len().min(t.spans.len());
                freed += t
                    .spans
                    .drain(..span_count)
                    .map(|s| summary_bytes(&s))
                    .sum::<usize>();
                for (seq, b) in &gone {
                    freed += b.len();
                    if !t.fragments.iter().any(|(s, _)| s == seq) && !released.contains(seq) {
                        released.push(*seq);
                    }
                }
                t.bytes -= freed.min(t.bytes);
                if !t.fragments.is_empty() {
                    // Late spans arrived while flushing: keep them as a new live trace.
                    t.first_seen = t.last_seen;
                }
                t.fragments.is_empty()
            }
        };
        if remove {
            self.traces
                .remove_if(&item.trace_id, |_, t| t.fragments.is_empty());
            self.forget_low64(item.trace_id);
        }
        self.bytes.fetch_sub(freed as u64, Ordering::Relaxed);
        let mut refs = self.seq_refs.lock();
        for seq in released {
            if let Some(count) = refs.get_mut(&seq) {
                *count -= 1;
                if *count == 0 {
                    refs.remove(&seq);
                }
            }
        }
    }
}

fn merge_sorted(into: &mut Vec<u64>, add: &[u64]) {
    into.extend_from_slice(add);
    into.sort_unstable();
    into.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(id: u128, bytes: &'static [u8]) -> PreparedTrace {
        PreparedTrace {
            trace_id: TraceId(id),
            fragment: Bytes::from_static(bytes),
            spans: vec![SpanSummary::default()],
            tokens: vec![id as u64],
        }
    }

    #[test]
    fn idle_traces_are_due_and_release_their_sequence() {
        let buf = LiveBuffer::default();
        let t0 = Instant::now();
        buf.insert(1, &prepared(1, b"abc"), t0);
        buf.insert(2, &prepared(2, b"de"), t0);
        assert_eq!(buf.lowest_seq(), Some(1));
        let later = t0 + Duration::from_secs(3);
        let due = buf.due(
            later,
            Duration::from_secs(2),
            Duration::from_secs(10),
            u64::MAX,
            usize::MAX,
            false,
        );
        assert_eq!(due.len(), 2);
        for d in &due {
            buf.remove_flushed(d);
        }
        assert_eq!(buf.trace_count(), 0);
        assert_eq!(buf.byte_count(), 0);
        assert_eq!(buf.lowest_seq(), None);
    }

    #[test]
    fn spans_arriving_during_a_flush_are_kept() {
        let buf = LiveBuffer::default();
        let t0 = Instant::now();
        buf.insert(1, &prepared(1, b"abc"), t0);
        let due = buf.due(
            t0,
            Duration::ZERO,
            Duration::from_secs(10),
            u64::MAX,
            usize::MAX,
            false,
        );
        buf.insert(2, &prepared(1, b"late"), t0);
        buf.remove_flushed(&due[0]);
        let t = buf.get(TraceId(1)).unwrap();
        assert_eq!(t.fragments.len(), 1);
        assert_eq!(t.fragments[0].0, 2);
        assert_eq!(buf.lowest_seq(), Some(2));
        assert_eq!(
            buf.byte_count(),
            (4 + summary_bytes(&SpanSummary::default())) as u64
        );
    }

    #[test]
    fn held_128_bit_traces_are_found_by_their_low_half_until_flushed() {
        let buf = LiveBuffer::default();
        let t0 = Instant::now();
        let long = (5u128 << 64) | 9;
        buf.insert(1, &prepared(long, b"abc"), t0);
        buf.insert(2, &prepared(9, b"de"), t0);
        buf.insert(3, &prepared((6u128 << 64) | 10, b"f"), t0);
        assert_eq!(buf.ids_with_low64(9), [TraceId(long)]);
        assert!(buf.ids_with_low64(5).is_empty());
        let due = buf.due(
            t0,
            Duration::ZERO,
            Duration::from_secs(10),
            u64::MAX,
            usize::MAX,
            true,
        );
        let first = due.iter().find(|d| d.trace_id == TraceId(long)).unwrap();
        // A late fragment keeps the trace (and its entry) in the buffer.
        buf.insert(4, &prepared(long, b"late"), t0);
        buf.remove_flushed(first);
        assert_eq!(buf.ids_with_low64(9), [TraceId(long)]);
        for d in due.iter().filter(|d| d.trace_id != TraceId(long)) {
            buf.remove_flushed(d);
        }
        assert_eq!(buf.trace_count(), 1);
        let rest = buf.due(
            t0,
            Duration::ZERO,
            Duration::from_secs(10),
            u64::MAX,
            usize::MAX,
            true,
        );
        for d in &rest {
            buf.remove_flushed(d);
        }
        assert_eq!(buf.trace_count(), 0);
        assert!(buf.ids_with_low64(9).is_empty());
        assert!(buf.ids_with_low64(10).is_empty());
    }

    #[test]
    fn oldest_traces_are_flushed_early_when_over_bounds() {
        let buf = LiveBuffer::default();
        let t0 = Instant::now();
        for i in 0..10u128 {
            buf.insert(
                i as u64,
                &prepared(i, b"0123456789"),
                t0 + Duration::from_millis(i as u64),
            );
        }
        let due = buf.due(
            t0 + Duration::from_millis(20),
            Duration::from_secs(60),
            Duration::from_secs(60),
            5 * (10 + summary_bytes(&SpanSummary::default())) as u64,
            usize::MAX,
            false,
        );
        assert_eq!(due.len(), 5);
        let mut ids: Vec<_> = due.iter().map(|d| d.trace_id.0).collect();
        ids.sort();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
    }
}
