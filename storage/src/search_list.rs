//! A v2 block's trace list read for one search, in place: the encoded
//! [`CompactBlockTraces`] is walked field by field (its columns, see
//! `crate::search_columns`, entry by entry) and only the traces a query
//! may match come out, with no trace entry or string decoded into memory
//! of its own.
//!
//! In: the encoded list and the query's span-level predicates. Out: each
//! candidate's trace id and the latest span start its (service, operation)
//! entries allow for a matching span (an upper bound, as the entries are
//! rounded outwards). Decoding the whole list with prost and converting it
//! cost more than the rest of a search; the answers are the same, which a
//! test below checks against that decoding.

use crate::error::StorageError;
use crate::query::TraceQuery;
use crate::search_columns::ColumnWalk;
use crate::summary::{BlockTraces, CompactOpEntry, OpEntry, TimeUnits};

/// What is wrong with a damaged list (small, so the walk's results stay
/// small; it becomes a [`StorageError`] at the edge).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bad(pub &'static str);

impl From<Bad> for StorageError {
    fn from(bad: Bad) -> StorageError {
        StorageError::Corrupt(format!("block trace list: {}", bad.0))
    }
}

/// A base-128 varint; one-byte values (most of a list) take the short way.
#[inline(always)]
pub(crate) fn decode_varint(buf: &mut &[u8]) -> Result<u64, Bad> {
    match buf.first() {
        Some(&byte) if byte < 0x80 => {
            *buf = &buf[1..];
            Ok(u64::from(byte))
        }
        _ => decode_long_varint(buf),
    }
}

#[inline]
fn decode_long_varint(buf: &mut &[u8]) -> Result<u64, Bad> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                break;
            }
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(Bad("invalid varint"))
}

/// One protobuf field: its number and value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// The fields of a protobuf message, in order.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    #[inline(always)]
    fn next_field(&mut self) -> Result<Option<(u32, Field<'a>)>, Bad> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = decode_varint(&mut self.buf)?;
        let tag = u32::try_from(key >> 3).map_err(|_| Bad("field number"))?;
        let field = match key & 7 {
            0 => Field::Varint(decode_varint(&mut self.buf)?),
            2 => {
                let len = decode_varint(&mut self.buf)?;
                let len = usize::try_from(len).map_err(|_| Bad("length"))?;
                if len > self.buf.len() {
                    return Err(Bad("length past the end"));
                }
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(bytes)
            }
            1 => self.skip(8)?,
            5 => self.skip(4)?,
            _ => return Err(Bad("unsupported wire type")),
        };
        Ok(Some((tag, field)))
    }

    #[cold]
    fn skip(&mut self, n: usize) -> Result<Field<'a>, Bad> {
        if self.buf.len() < n {
            return Err(Bad("fixed field past the end"));
        }
        self.buf = &self.buf[n..];
        Ok(Field::Other)
    }
}

/// Calls `candidate(trace id, bound)` for every trace of the encoded list
/// with a (service, operation) entry that may match `q`.
pub(crate) fn candidates(
    list: &[u8],
    q: &TraceQuery,
    mut candidate: impl FnMut(&[u8], u64) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    // Pass 1: the strings the query names, and the units (encoded after
    // the traces).
    let mut service_is = Vec::new();
    let mut operation_is = Vec::new();
    let mut units = TimeUnits::default();
    let mut columns: &[u8] = &[];
    let mut fields = Fields { buf: list };
    while let Some((tag, field)) = fields.next_field()? {
        match (tag, field) {
            (1, Field::Bytes(s)) => {
                service_is.push(q.service.as_deref().is_none_or(|v| v.as_bytes() == s));
                operation_is.push(q.operation.as_deref().is_none_or(|v| v.as_bytes() == s));
            }
            (3, Field::Varint(v)) => units.base_start_ns = v,
            (4, Field::Varint(v)) => units.start_shift = v as u32,
            (5, Field::Varint(v)) => units.duration_shift = v as u32,
            (6, Field::Bytes(c)) => columns = c,
            (1..=6, Field::Other) => return Err(Bad("unexpected wire type").into()),
            _ => {}
        }
    }
    // A reference past the string table reads as "" (as `op_may_match`).
    let named = |table: &[bool], i: u32, name: Option<&str>| {
        table
            .get(i as usize)
            .copied()
            .unwrap_or_else(|| name.is_none_or(str::is_empty))
    };
    let named_op = |service: u32, operation: u32| {
        named(&service_is, service, q.service.as_deref())
            && named(&operation_is, operation, q.operation.as_deref())
    };
    if !columns.is_empty() {
        return column_candidates(columns, units, named_op, q, candidate);
    }
    // Pass 2: the traces.
    let mut fields = Fields { buf: list };
    while let Some((tag, field)) = fields.next_field()? {
        let (2, Field::Bytes(entry)) = (tag, field) else {
            continue;
        };
        let mut trace_id: &[u8] = &[];
        let mut bound = None::<u64>;
        let mut entry_fields = Fields { buf: entry };
        while let Some((tag, field)) = entry_fields.next_field()? {
            match (tag, field) {
                (1, Field::Bytes(id)) => trace_id = id,
                (2, Field::Bytes(op)) => {
                    if let Some(op) = compact_op(op, named_op)? {
                        let op = units.expand(&op);
                        if times_may_match(&op, q) {
                            bound = Some(bound.map_or(op.max_start_ns, |b| b.max(op.max_start_ns)));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(bound) = bound {
            candidate(trace_id, bound)?;
        }
    }
    Ok(())
}

/// [`candidates`] over a list in columns (see `crate::search_columns`).
fn column_candidates(
    columns: &[u8],
    units: TimeUnits,
    named_op: impl Fn(u32, u32) -> bool,
    q: &TraceQuery,
    mut candidate: impl FnMut(&[u8], u64) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut walk = ColumnWalk::new(columns)?;
    while let Some((trace_id, entries)) = walk.next_trace()? {
        let mut bound = None::<u64>;
        for _ in 0..entries {
            let entry = walk.entry()?;
            if !named_op(entry.service, entry.operation) {
                continue;
            }
            let op = entry.expand(units.base_start_ns, units.start_shift);
            if times_may_match(&op, q) {
                bound = Some(bound.map_or(op.max_start_ns, |b| b.max(op.max_start_ns)));
            }
        }
        if let Some(bound) = bound {
            candidate(trace_id, bound)?;
        }
    }
    Ok(())
}

/// [`candidates`] over a decoded list (v1 blocks).
pub(crate) fn decoded_candidates(
    list: &BlockTraces,
    q: &TraceQuery,
    mut candidate: impl FnMut(&[u8], u64) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let text = |i: u32| {
        list.strings
            .get(i as usize)
            .map(String::as_str)
            .unwrap_or("")
    };
    for t in &list.traces {
        let bound = t
            .ops
            .iter()
            .filter(|op| {
                q.service.as_deref().is_none_or(|s| text(op.service) == s)
                    && q.operation
                        .as_deref()
                        .is_none_or(|o| text(op.operation) == o)
                    && times_may_match(op, q)
            })
            .map(|op| op.max_start_ns)
            .max();
        if let Some(bound) = bound {
            candidate(&t.trace_id, bound)?;
        }
    }
    Ok(())
}

/// The entry, or `None` as soon as its names show `named` refuses it (most
/// entries of a list are refused, and their times are never read).
#[inline(always)]
fn compact_op(
    bytes: &[u8],
    named: impl Fn(u32, u32) -> bool,
) -> Result<Option<CompactOpEntry>, Bad> {
    let mut op = CompactOpEntry::default();
    let mut checked = false;
    let mut fields = Fields { buf: bytes };
    while let Some((tag, field)) = fields.next_field()? {
        if tag > 2 && !checked {
            if !named(op.service, op.operation) {
                return Ok(None);
            }
            checked = true;
        }
        if let Field::Varint(v) = field {
            match tag {
                1 => op.service = v as u32,
                2 => op.operation = v as u32,
                3 => op.min_start = v,
                4 => op.start_spread = v,
                5 => op.min_duration = v,
                6 => op.duration_spread = v,
                _ => {}
            }
        }
    }
    Ok((checked || named(op.service, op.operation)).then_some(op))
}

/// The time and duration predicates of `q` on a (service, operation) entry.
pub(crate) fn times_may_match(op: &OpEntry, q: &TraceQuery) -> bool {
    q.start_min_ns.is_none_or(|min| op.max_start_ns >= min)
        && q.start_max_ns.is_none_or(|max| op.min_start_ns <= max)
        && q.duration_min_ns
            .is_none_or(|min| op.max_duration_ns >= min)
        && q.duration_max_ns
            .is_none_or(|max| op.min_duration_ns <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{CompactBlockTraces, TraceEntry};
    use prost::Message;

    fn list() -> BlockTraces {
        let op = |s, o, start: u64, dur: u64| OpEntry {
            service: s,
            operation: o,
            min_start_ns: start,
            max_start_ns: start + 5_000_000,
            min_duration_ns: dur,
            max_duration_ns: dur * 3,
        };
        let base = 1_700_000_000_000_000_000u64;
        BlockTraces {
            strings: vec!["api".into(), "GET /a".into(), "db".into(), "query".into()],
            traces: (0..40u8)
                .map(|i| TraceEntry {
                    trace_id: vec![i; 16],
                    ops: vec![
                        op(
                            0,
                            1,
                            base + u64::from(i) * 7_000_000,
                            u64::from(i) * 1_000_000,
                        ),
                        op(2, 3, base + u64::from(i) * 3_000_000, 2_000_000),
                        // A name past the string table.
                        op(9, 9, base, 1),
                    ],
                })
                .collect(),
        }
    }

    /// What search did before: decode, convert, check each entry.
    fn by_decoding(wire: &[u8], q: &TraceQuery) -> Vec<(Vec<u8>, u64)> {
        let list = BlockTraces::try_from(CompactBlockTraces::decode(wire).unwrap()).unwrap();
        exact(&list, q)
    }

    fn exact(list: &BlockTraces, q: &TraceQuery) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        decoded_candidates(list, q, |id, b| {
            out.push((id.to_vec(), b));
            Ok(())
        })
        .unwrap();
        out
    }

    /// Both layouts a block may hold: entries, and columns.
    fn wires() -> [Vec<u8>; 2] {
        [
            CompactBlockTraces::from(&list()).encode_to_vec(),
            CompactBlockTraces::columnar(&list()).encode_to_vec(),
        ]
    }

    #[test]
    fn the_walk_finds_what_decoding_finds() {
        for wire in wires() {
            walk_finds_what_decoding_finds(&wire);
        }
    }

    fn walk_finds_what_decoding_finds(wire: &[u8]) {
        let base = 1_700_000_000_000_000_000u64;
        let queries = [
            TraceQuery::default(),
            TraceQuery {
                service: Some("api".into()),
                operation: Some("GET /a".into()),
                ..Default::default()
            },
            TraceQuery {
                service: Some("db".into()),
                duration_min_ns: Some(2_500_000),
                ..Default::default()
            },
            TraceQuery {
                service: Some("api".into()),
                duration_min_ns: Some(30_000_000),
                duration_max_ns: Some(60_000_000),
                start_min_ns: Some(base + 100_000_000),
                start_max_ns: Some(base + 200_000_000),
                ..Default::default()
            },
            TraceQuery {
                service: Some("nobody".into()),
                ..Default::default()
            },
            TraceQuery {
                service: Some(String::new()),
                ..Default::default()
            },
        ];
        for q in &queries {
            let mut walked = Vec::new();
            candidates(wire, q, |id, b| {
                walked.push((id.to_vec(), b));
                Ok(())
            })
            .unwrap();
            assert_eq!(walked, by_decoding(wire, q), "{q:?}");
            // Coarse times never drop a trace or lower its bound.
            for (id, bound) in exact(&list(), q) {
                let walked = walked.iter().find(|(w, _)| *w == id);
                assert!(walked.is_some_and(|(_, b)| *b >= bound), "{q:?}");
            }
        }
        let some = |q: &TraceQuery| by_decoding(wire, q).len();
        assert_eq!(some(&queries[0]), 40);
        assert!((1..40).contains(&some(&queries[3])));
        assert_eq!(some(&queries[4]), 0);
    }

    #[test]
    fn damaged_lists_are_reported_as_corrupt() {
        for wire in wires() {
            for cut in [1, wire.len() / 2, wire.len() - 1] {
                let r = candidates(&wire[..cut], &TraceQuery::default(), |_, _| Ok(()));
                assert!(matches!(r, Err(StorageError::Corrupt(_))), "cut at {cut}");
            }
        }
    }
}
