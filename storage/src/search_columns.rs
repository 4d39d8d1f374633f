//! A block's trace list in columns, as v2 blocks store it since the
//! thirteenth session (field `columns` of [`CompactBlockTraces`]; older
//! blocks keep their entries in `traces` and stay readable).
//!
//! In: a block's [`BlockTraces`] (names as string-table indexes, times in
//! nanoseconds). Out: one byte string, and the way back, entry by entry,
//! for search ([`ColumnWalk`]).
//!
//! Layout: `traces (varint) | trace ids (16 bytes each) | 7 columns`, each
//! column `length in bytes (varint) | varints`: the number of (service,
//! operation) entries of each trace, then for every entry in trace order
//! its service, its operation, its start, its start spread, its duration
//! code and its duration code spread. Like values sit side by side, so
//! the compression of the block finds them.
//!
//! Times are coarse and never narrow an entry (search verifies every
//! candidate on its spans): a start is `(ns - base) >> start_shift` of the
//! earliest and of the latest start, the spread their difference; a
//! duration is a [`duration_code`], 8 steps per power of two (at most
//! 12.5 % wide), of the shortest and of the longest.

use prost::encoding::encode_varint;

use crate::search_list::{decode_varint, Bad};
use crate::summary::{BlockTraces, CompactBlockTraces, OpEntry, TraceEntry};

/// Start units of columnar lists: 2^22 ns (about 4.2 ms).
pub(crate) const START_SHIFT: u32 = 22;

/// Steps per power of two of a duration code.
const STEPS_BITS: u32 = 3;
const STEPS: u64 = 1 << STEPS_BITS;

/// The code of a duration: durations below 8 ns are their own code; above,
/// a code counts 8 steps per power of two. Codes grow with durations.
pub(crate) fn duration_code(ns: u64) -> u64 {
    if ns < STEPS {
        return ns;
    }
    let exp = u64::from(63 - ns.leading_zeros());
    let step = (ns >> (exp - u64::from(STEPS_BITS))) & (STEPS - 1);
    (exp - u64::from(STEPS_BITS) + 1) * STEPS + step
}

/// The shortest duration with `code`; `None` past the longest code.
fn code_floor(code: u64) -> Option<u64> {
    if code < STEPS {
        return Some(code);
    }
    let exp = code / STEPS + u64::from(STEPS_BITS) - 1;
    let step = code % STEPS;
    let shift = u32::try_from(exp - u64::from(STEPS_BITS)).ok()?;
    if exp > 63 {
        return None;
    }
    Some((STEPS + step) << shift)
}

/// The longest duration with `code`.
fn code_ceiling(code: u64) -> u64 {
    code.checked_add(1)
        .and_then(code_floor)
        .map_or(u64::MAX, |next| next - 1)
}

/// Encodes the traces of `list` as columns, starts measured from `base`.
pub(crate) fn encode(list: &BlockTraces, base: u64) -> Vec<u8> {
    let mut ids = Vec::with_capacity(list.traces.len() * 16);
    let mut columns: [Vec<u8>; 7] = Default::default();
    for t in &list.traces {
        let mut id = [0u8; 16];
        let n = t.trace_id.len().min(16);
        id[16 - n..].copy_from_slice(&t.trace_id[t.trace_id.len() - n..]);
        ids.extend_from_slice(&id);
        encode_varint(t.ops.len() as u64, &mut columns[0]);
        for o in &t.ops {
            let first = o.min_start_ns.saturating_sub(base) >> START_SHIFT;
            let last = o.max_start_ns.saturating_sub(base) >> START_SHIFT;
            let shortest = duration_code(o.min_duration_ns);
            let longest = duration_code(o.max_duration_ns);
            let values = [
                u64::from(o.service),
                u64::from(o.operation),
                first,
                last.saturating_sub(first),
                shortest,
                longest.saturating_sub(shortest),
            ];
            for (column, value) in columns[1..].iter_mut().zip(values) {
                encode_varint(value, column);
            }
        }
    }
    let mut out = Vec::with_capacity(ids.len() + columns.iter().map(Vec::len).sum::<usize>() + 40);
    encode_varint(list.traces.len() as u64, &mut out);
    out.extend_from_slice(&ids);
    for column in &columns {
        encode_varint(column.len() as u64, &mut out);
        out.extend_from_slice(column);
    }
    out
}

fn split<'a>(buf: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8], Bad> {
    if len > buf.len() {
        return Err(Bad(what));
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

/// One (service, operation) entry as the columns hold it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub service: u32,
    pub operation: u32,
    first: u64,
    spread: u64,
    shortest: u64,
    duration_spread: u64,
}

impl RawEntry {
    /// The entry in nanoseconds, widened to whole units.
    pub(crate) fn expand(&self, base: u64, start_shift: u32) -> OpEntry {
        let shift = start_shift.min(63);
        let at = |units: u64| -> Option<u64> {
            let ns = units.checked_shl(shift).filter(|v| v >> shift == units)?;
            base.checked_add(ns)
        };
        let last = self.first.saturating_add(self.spread);
        OpEntry {
            service: self.service,
            operation: self.operation,
            min_start_ns: at(self.first).unwrap_or(u64::MAX),
            max_start_ns: last
                .checked_add(1)
                .and_then(at)
                .map_or(u64::MAX, |next| next - 1),
            min_duration_ns: code_floor(self.shortest).unwrap_or(u64::MAX),
            max_duration_ns: code_ceiling(self.shortest.saturating_add(self.duration_spread)),
        }
    }
}

/// The traces of encoded columns, in order.
pub(crate) struct ColumnWalk<'a> {
    traces: usize,
    ids: &'a [u8],
    columns: [&'a [u8]; 7],
}

impl<'a> ColumnWalk<'a> {
    /// Reads the head of the columns.
    pub(crate) fn new(mut buf: &'a [u8]) -> Result<ColumnWalk<'a>, Bad> {
        let traces = usize::try_from(decode_varint(&mut buf)?).map_err(|_| Bad("trace count"))?;
        let id_bytes = traces.checked_mul(16).ok_or(Bad("trace count"))?;
        let ids = split(&mut buf, id_bytes, "trace ids past the end")?;
        let mut columns: [&[u8]; 7] = [&[]; 7];
        for column in &mut columns {
            let len =
                usize::try_from(decode_varint(&mut buf)?).map_err(|_| Bad("column length"))?;
            *column = split(&mut buf, len, "column past the end")?;
        }
        Ok(ColumnWalk {
            traces,
            ids,
            columns,
        })
    }

    /// The next trace: its id and number of entries, whose entries
    /// [`ColumnWalk::entry`] then reads, each exactly once.
    #[inline]
    pub(crate) fn next_trace(&mut self) -> Result<Option<(&'a [u8], u64)>, Bad> {
        if self.traces == 0 {
            return Ok(None);
        }
        self.traces -= 1;
        let id = split(&mut self.ids, 16, "trace ids past the end")?;
        let entries = decode_varint(&mut self.columns[0])?;
        Ok(Some((id, entries)))
    }

    /// The next entry of the current trace.
    #[inline(always)]
    pub(crate) fn entry(&mut self) -> Result<RawEntry, Bad> {
        let [_, service, operation, first, spread, shortest, duration_spread] = &mut self.columns;
        Ok(RawEntry {
            service: u32::try_from(decode_varint(service)?).map_err(|_| Bad("service index"))?,
            operation: u32::try_from(decode_varint(operation)?)
                .map_err(|_| Bad("operation index"))?,
            first: decode_varint(first)?,
            spread: decode_varint(spread)?,
            shortest: decode_varint(shortest)?,
            duration_spread: decode_varint(duration_spread)?,
        })
    }
}

/// Every trace of columnar `list`, times in nanoseconds (widened).
pub(crate) fn decode(list: &CompactBlockTraces) -> Result<Vec<TraceEntry>, Bad> {
    let mut walk = ColumnWalk::new(&list.columns)?;
    let mut out = Vec::new();
    while let Some((id, entries)) = walk.next_trace()? {
        let mut ops = Vec::new();
        for _ in 0..entries {
            ops.push(walk.entry()?.expand(list.base_start_ns, list.start_shift));
        }
        out.push(TraceEntry {
            trace_id: id.to_vec(),
            ops,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_codes_grow_with_durations_and_bound_them() {
        let mut last = 0;
        for ns in (0..5000u64).chain([1 << 20, 999_999_999, u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let code = duration_code(ns);
            assert!(code >= last, "{ns}");
            last = code;
            let (floor, ceiling) = (code_floor(code).unwrap(), code_ceiling(code));
            assert!(floor <= ns && ns <= ceiling, "{ns}: {floor}..={ceiling}");
            // A code is exact below 16 ns and at most 12.5 % wide above.
            assert!(ceiling - floor <= floor / 8, "{ns}: {floor}..={ceiling}");
        }
        assert_eq!(code_ceiling(duration_code(u64::MAX)), u64::MAX);
        assert_eq!(code_floor(duration_code(u64::MAX) + 1), None);
        assert_eq!(code_floor(u64::MAX), None);
        assert_eq!(code_ceiling(u64::MAX), u64::MAX);
    }

    fn entry(service: u32, min_start: u64, max_start: u64, min_dur: u64, max_dur: u64) -> OpEntry {
        OpEntry {
            service,
            operation: service + 1,
            min_start_ns: min_start,
            max_start_ns: max_start,
            min_duration_ns: min_dur,
            max_duration_ns: max_dur,
        }
    }

    #[test]
    fn columns_give_back_every_trace_never_narrowed() {
        let base = 1_700_000_000_000_000_000u64;
        let list = BlockTraces {
            strings: vec!["a".into(), "b".into(), "c".into()],
            traces: vec![
                TraceEntry {
                    trace_id: vec![7; 16],
                    ops: vec![
                        entry(0, base, base, 0, 0),
                        entry(
                            1,
                            base + 5_000_123,
                            base + 900_000_000,
                            1_234_567,
                            1_300_000,
                        ),
                    ],
                },
                TraceEntry {
                    trace_id: vec![],
                    ops: vec![],
                },
                TraceEntry {
                    // A shorter id comes back padded to 16 bytes.
                    trace_id: vec![0, 0, 0, 0, 0, 0, 0, 9],
                    ops: vec![entry(2, u64::MAX - 5, u64::MAX, 1, u64::MAX)],
                },
            ],
        };
        let compact = CompactBlockTraces::columnar(&list);
        assert!(compact.traces.is_empty());
        let back = decode(&compact).unwrap();
        assert_eq!(back.len(), list.traces.len());
        for (b, t) in back.iter().zip(&list.traces) {
            let mut id = vec![0u8; 16 - t.trace_id.len()];
            id.extend_from_slice(&t.trace_id);
            assert_eq!(b.trace_id, id);
            assert_eq!(b.ops.len(), t.ops.len());
            for (b, t) in b.ops.iter().zip(&t.ops) {
                crate::summary::assert_widened(b, t);
                // Coarse, not wrong: within one unit or code.
                assert!(t.min_start_ns - b.min_start_ns < 1 << START_SHIFT);
                assert!(b.max_start_ns - t.max_start_ns < 1 << START_SHIFT);
                assert!(t.min_duration_ns - b.min_duration_ns <= t.min_duration_ns / 8);
            }
        }
    }

    #[test]
    fn damaged_columns_are_refused() {
        let list = BlockTraces {
            strings: vec!["a".into()],
            traces: (0..5u8)
                .map(|i| TraceEntry {
                    trace_id: vec![i; 16],
                    ops: vec![entry(0, 100, 200, 300, 400_000_000)],
                })
                .collect(),
        };
        let mut compact = CompactBlockTraces::columnar(&list);
        let whole = compact.columns.clone();
        for cut in [0, 1, 17, whole.len() / 2, whole.len() - 1] {
            compact.columns = whole[..cut].to_vec();
            assert!(decode(&compact).is_err(), "cut at {cut}");
        }
        // A trace count past the ids.
        let mut wrong = whole.clone();
        wrong[0] = 6;
        compact.columns = wrong;
        assert!(decode(&compact).is_err());
    }
}
