//! Records kept on disk besides the spans themselves: the write-ahead record,
//! the stored trace fragment, and the search summaries of a block.
//!
//! In: prepared traces and their span summaries. Out: prost-encoded records,
//! and the per-span search facts ([`SpanSummary`]) that search prunes with.

use std::sync::Arc;

use prost::Message;

use crate::error::StorageError;
use crate::search_columns;

/// One write-ahead record: the traces of one accepted batch.
#[derive(Clone, PartialEq, Message)]
pub struct WalRecord {
    #[prost(message, repeated, tag = "1")]
    pub traces: Vec<WalTrace>,
}

/// One trace's part of a write-ahead record.
#[derive(Clone, PartialEq, Message)]
pub struct WalTrace {
    #[prost(bytes = "bytes", tag = "1")]
    pub trace_id: bytes::Bytes,
    /// Encoded `TracesData` holding only this trace's spans.
    #[prost(bytes = "bytes", tag = "2")]
    pub fragment: bytes::Bytes,
}

/// A stored piece of a trace: the spans flushed together, and the write-ahead
/// sequence numbers they came from (so a replay never stores them twice).
#[derive(Clone, PartialEq, Message)]
pub struct StoredTrace {
    #[prost(fixed64, repeated, tag = "1")]
    pub wal_seqs: Vec<u64>,
    /// Encoded `TracesData` (concatenated fragments).
    #[prost(bytes = "bytes", tag = "2")]
    pub spans: bytes::Bytes,
    /// In a v2 index entry: the number of the trace's record in its block
    /// (its data key). Absent in entries written before records were
    /// numbered, whose data key holds the trace id.
    #[prost(uint32, optional, tag = "3")]
    pub ordinal: Option<u32>,
}

/// Search facts of one span, computed once at ingest (kept in memory only).
/// The names are shared: every span of a batch with the same service or
/// operation holds the same string, so copying a summary copies no text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanSummary {
    /// The span's service.
    pub service: Arc<str>,
    /// The span's name.
    pub operation: Arc<str>,
    /// The span's kind (OTLP's numbering).
    pub kind: i32,
    /// Start, Unix nanoseconds.
    pub start_ns: u64,
    /// Duration, nanoseconds.
    pub duration_ns: u64,
    /// Whether the span's status is ERROR.
    pub error: bool,
}

/// Per (service, operation) facts of one trace within a block.
#[derive(Clone, PartialEq, Message)]
pub struct OpEntry {
    #[prost(uint32, tag = "1")]
    pub service: u32,
    #[prost(uint32, tag = "2")]
    pub operation: u32,
    #[prost(fixed64, tag = "3")]
    pub min_start_ns: u64,
    #[prost(fixed64, tag = "4")]
    pub max_start_ns: u64,
    #[prost(fixed64, tag = "5")]
    pub min_duration_ns: u64,
    #[prost(fixed64, tag = "6")]
    pub max_duration_ns: u64,
}

/// One trace of a block.
#[derive(Clone, PartialEq, Message)]
pub struct TraceEntry {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub ops: Vec<OpEntry>,
}

/// The trace list of a block, with its string table.
#[derive(Clone, PartialEq, Message)]
pub struct BlockTraces {
    #[prost(string, repeated, tag = "1")]
    pub strings: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub traces: Vec<TraceEntry>,
}

/// What search needs to decide whether to open a block; kept in memory.
#[derive(Clone, PartialEq, Message)]
pub struct BlockMeta {
    #[prost(uint64, tag = "1")]
    pub block: u64,
    #[prost(fixed64, tag = "2")]
    pub min_start_ns: u64,
    #[prost(fixed64, tag = "3")]
    pub max_start_ns: u64,
    #[prost(uint32, tag = "4")]
    pub trace_count: u32,
    /// Hashes of service names and of (service, operation) pairs, sorted.
    #[prost(fixed64, repeated, tag = "5")]
    pub names: Vec<u64>,
    /// Bloom filter over tag tokens (see `matcher::token`).
    #[prost(fixed64, repeated, tag = "6")]
    pub bloom: Vec<u64>,
    #[prost(uint32, tag = "7")]
    pub bloom_hashes: u32,
    /// Per entry of `names`: `max_start_ns` minus the latest start of a
    /// span with that name. Empty in blocks written before it existed.
    #[prost(uint64, repeated, tag = "8")]
    pub name_start_lag_ns: Vec<u64>,
    /// Per entry of `names`: the longest duration of a span with that
    /// name, ns. Empty in blocks written before it existed.
    #[prost(uint64, repeated, tag = "9")]
    pub name_max_duration_ns: Vec<u64>,
}

impl BlockMeta {
    /// The latest start and the longest duration of the block's spans
    /// named `hash` (see `names`); `None` when the name is absent or the
    /// block predates these figures.
    pub fn name_extent(&self, hash: u64) -> Option<(u64, u64)> {
        let i = self.names.binary_search(&hash).ok()?;
        let lag = self.name_start_lag_ns.get(i)?;
        let duration = self.name_max_duration_ns.get(i)?;
        Some((self.max_start_ns.saturating_sub(*lag), *duration))
    }
}

/// [`OpEntry`] as v2 blocks store it: times as varints in coarse units
/// (see [`CompactBlockTraces`]), rounded outwards, so a summary never
/// prunes a trace that matches; search verifies every candidate on its
/// spans anyway.
#[derive(Clone, PartialEq, Message)]
pub struct CompactOpEntry {
    #[prost(uint32, tag = "1")]
    pub service: u32,
    #[prost(uint32, tag = "2")]
    pub operation: u32,
    /// `min_start_ns - base_start_ns`, in start units, rounded down.
    #[prost(uint64, tag = "3")]
    pub min_start: u64,
    /// `max_start_ns - base_start_ns` in start units, rounded up, minus
    /// `min_start`.
    #[prost(uint64, tag = "4")]
    pub start_spread: u64,
    /// `min_duration_ns` in duration units, rounded down.
    #[prost(uint64, tag = "5")]
    pub min_duration: u64,
    /// `max_duration_ns` in duration units, rounded up, minus
    /// `min_duration`.
    #[prost(uint64, tag = "6")]
    pub duration_spread: u64,
}

/// [`TraceEntry`] as v2 blocks store it.
#[derive(Clone, PartialEq, Message)]
pub struct CompactTraceEntry {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub ops: Vec<CompactOpEntry>,
}

/// [`BlockTraces`] as v2 blocks store it: about half the bytes (no
/// fixed-width nanosecond timestamps).
#[derive(Clone, PartialEq, Message)]
pub struct CompactBlockTraces {
    #[prost(string, repeated, tag = "1")]
    pub strings: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub traces: Vec<CompactTraceEntry>,
    /// The smallest `min_start_ns` of the block.
    #[prost(uint64, tag = "3")]
    pub base_start_ns: u64,
    /// A start unit is `1 << start_shift` nanoseconds.
    #[prost(uint32, tag = "4")]
    pub start_shift: u32,
    /// A duration unit is `1 << duration_shift` nanoseconds (not used by
    /// `columns`).
    #[prost(uint32, tag = "5")]
    pub duration_shift: u32,
    /// The traces as columns (see `crate::search_columns`); when set,
    /// `traces` is empty. Blocks written before it have `traces` only.
    #[prost(bytes = "vec", tag = "6")]
    pub columns: Vec<u8>,
}

/// Start times in units of 2^20 ns (about 1 ms).
const START_SHIFT: u32 = 20;
/// Durations in units of 2^16 ns (about 66 µs).
const DURATION_SHIFT: u32 = 16;

fn units_down(v: u64, shift: u32) -> u64 {
    v >> shift
}

fn units_up(v: u64, shift: u32) -> u64 {
    (v >> shift) + u64::from(v & ((1u64 << shift) - 1) != 0)
}

fn from_units(units: u64, shift: u32) -> u64 {
    units
        .checked_shl(shift)
        .filter(|v| v >> shift == units)
        .unwrap_or(u64::MAX)
}

/// The earliest start of a list's entries.
fn base_start(b: &BlockTraces) -> u64 {
    b.traces
        .iter()
        .flat_map(|t| t.ops.iter().map(|o| o.min_start_ns))
        .min()
        .unwrap_or(0)
}

impl CompactBlockTraces {
    /// The list as blocks store it now: its traces in columns.
    pub(crate) fn columnar(b: &BlockTraces) -> CompactBlockTraces {
        let base = base_start(b);
        CompactBlockTraces {
            strings: b.strings.clone(),
            traces: Vec::new(),
            base_start_ns: base,
            start_shift: search_columns::START_SHIFT,
            duration_shift: 0,
            columns: search_columns::encode(b, base),
        }
    }
}

/// The entry-per-message form, as blocks stored it before columns.
impl From<&BlockTraces> for CompactBlockTraces {
    fn from(b: &BlockTraces) -> CompactBlockTraces {
        let base = base_start(b);
        let op = |o: &OpEntry| {
            let min_start = units_down(o.min_start_ns - base, START_SHIFT);
            let max_start = units_up(o.max_start_ns - base, START_SHIFT);
            let min_duration = units_down(o.min_duration_ns, DURATION_SHIFT);
            let max_duration = units_up(o.max_duration_ns, DURATION_SHIFT);
            CompactOpEntry {
                service: o.service,
                operation: o.operation,
                min_start,
                start_spread: max_start - min_start,
                min_duration,
                duration_spread: max_duration - min_duration,
            }
        };
        CompactBlockTraces {
            strings: b.strings.clone(),
            base_start_ns: base,
            start_shift: START_SHIFT,
            duration_shift: DURATION_SHIFT,
            traces: b
                .traces
                .iter()
                .map(|t| CompactTraceEntry {
                    trace_id: t.trace_id.clone(),
                    ops: t.ops.iter().map(op).collect(),
                })
                .collect(),
            columns: Vec::new(),
        }
    }
}

/// The time units of a [`CompactBlockTraces`], which turn its entries
/// back into nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimeUnits {
    pub base_start_ns: u64,
    pub start_shift: u32,
    pub duration_shift: u32,
}

impl TimeUnits {
    /// The entry in nanoseconds, rounded outwards as it was stored.
    pub(crate) fn expand(&self, o: &CompactOpEntry) -> OpEntry {
        let (ss, ds) = (self.start_shift.min(63), self.duration_shift.min(63));
        let start = |units: u64| self.base_start_ns.saturating_add(from_units(units, ss));
        OpEntry {
            service: o.service,
            operation: o.operation,
            min_start_ns: start(o.min_start),
            max_start_ns: start(o.min_start.saturating_add(o.start_spread)),
            min_duration_ns: from_units(o.min_duration, ds),
            max_duration_ns: from_units(o.min_duration.saturating_add(o.duration_spread), ds),
        }
    }
}

impl TryFrom<CompactBlockTraces> for BlockTraces {
    type Error = StorageError;

    fn try_from(c: CompactBlockTraces) -> Result<BlockTraces, StorageError> {
        if !c.columns.is_empty() {
            let traces = search_columns::decode(&c)?;
            return Ok(BlockTraces {
                strings: c.strings,
                traces,
            });
        }
        let units = TimeUnits {
            base_start_ns: c.base_start_ns,
            start_shift: c.start_shift,
            duration_shift: c.duration_shift,
        };
        Ok(BlockTraces {
            strings: c.strings,
            traces: c
                .traces
                .into_iter()
                .map(|t| TraceEntry {
                    trace_id: t.trace_id,
                    ops: t.ops.iter().map(|o| units.expand(o)).collect(),
                })
                .collect(),
        })
    }
}

/// Test check: `wide` has the names of `exact` and its times widened,
/// never narrowed.
#[cfg(test)]
pub(crate) fn assert_widened(wide: &OpEntry, exact: &OpEntry) {
    assert_eq!(
        (wide.service, wide.operation),
        (exact.service, exact.operation)
    );
    assert!(
        wide.min_start_ns <= exact.min_start_ns && wide.max_start_ns >= exact.max_start_ns,
        "{wide:?} narrows the starts of {exact:?}"
    );
    assert!(
        wide.min_duration_ns <= exact.min_duration_ns
            && wide.max_duration_ns >= exact.max_duration_ns,
        "{wide:?} narrows the durations of {exact:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_block_traces_never_narrow_a_summary() {
        let op = |s, min, max, dmin, dmax| OpEntry {
            service: s,
            operation: s + 1,
            min_start_ns: min,
            max_start_ns: max,
            min_duration_ns: dmin,
            max_duration_ns: dmax,
        };
        let traces = BlockTraces {
            strings: vec!["a".into(), "b".into()],
            traces: vec![
                TraceEntry {
                    trace_id: vec![1; 16],
                    ops: vec![op(
                        0,
                        1_700_000_000_000_000_500,
                        1_700_000_000_900_000_001,
                        7,
                        90_000_000,
                    )],
                },
                TraceEntry {
                    trace_id: vec![2; 16],
                    ops: vec![
                        op(
                            0,
                            1_700_000_000_000_000_000,
                            1_700_000_000_000_000_000,
                            0,
                            0,
                        ),
                        op(1, u64::MAX - 5, u64::MAX, 1, u64::MAX),
                    ],
                },
            ],
        };
        let wire = CompactBlockTraces::from(&traces).encode_to_vec();
        assert!(wire.len() < traces.encode_to_vec().len());
        let back =
            BlockTraces::try_from(CompactBlockTraces::decode(wire.as_slice()).unwrap()).unwrap();
        assert_eq!(back.strings, traces.strings);
        for (b, t) in back.traces.iter().zip(&traces.traces) {
            assert_eq!(b.trace_id, t.trace_id);
            for (b, t) in b.ops.iter().zip(&t.ops) {
                assert_widened(b, t);
                // Coarse, not wrong: within one unit.
                assert!(t.min_start_ns - b.min_start_ns < 1 << START_SHIFT);
                assert!(t.min_duration_ns - b.min_duration_ns < 1 << DURATION_SHIFT);
            }
        }
    }
}
