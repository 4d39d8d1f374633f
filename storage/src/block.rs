//! Blocks of the v2 partition format: the traces of one flush chunk,
//! encoded once in memory and written once.
//!
//! In: the traces a flush stores ([`FlushItem`]s: write-ahead fragments,
//! span summaries, tag tokens). Out: an [`EncodedBlock`]: the block's
//! dictionary of (resource, scope) groups, stored once per block; one
//! compact record per trace that names its groups by index and keeps each
//! span's bytes as they arrived, minus the trace id the key already holds;
//! the search summaries ([`BlockTraces`], [`BlockMeta`]). And the way back:
//! [`decode_trace`] turns a record and its block's groups into an encoded
//! `TracesData`.
//!
//! Trace record: `flags (1 byte: bit 0 = span trace ids stripped, bit 1 =
//! columnar) | runs (varint) | per run: group (varint), spans (varint)`,
//! then one `spoor_proto::span_columns` record holding every span of the
//! trace, whose strings refer to the block dictionary
//! ([`BlockGroups::strings`]). (Bit 1 is always set: records of the first,
//! unreleased v2 layout kept span bytes as they arrived.)

use rustc_hash::FxHashMap;

use bytes::{Buf, Bytes};
use prost::encoding::{decode_varint, encode_varint};
use prost::Message;
use spoor_proto::fragment::{split_fragment, strip_trace_id, FragmentWriter, ScopeGroup};
use spoor_proto::ids::TraceId;
use spoor_proto::span_columns::{decode_spans, BlockEncoder};
use xxhash_rust::xxh3::xxh3_64;

use crate::bloom;
use crate::error::StorageError;
use crate::live::FlushItem;
use crate::summary::{BlockMeta, BlockTraces, CompactBlockTraces, OpEntry, TraceEntry};

const FLAG_TRACE_ID_STRIPPED: u8 = 1;
const FLAG_COLUMNAR: u8 = 2;

/// One (resource, scope) group of a block, encoded as it arrived.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct GroupEntry {
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub resource: Option<Bytes>,
    #[prost(bytes = "bytes", tag = "2")]
    pub resource_schema: Bytes,
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub scope: Option<Bytes>,
    #[prost(bytes = "bytes", tag = "4")]
    pub scope_schema: Bytes,
}

/// The group dictionary and the string dictionary of a block.
#[derive(Clone, PartialEq, Message)]
pub struct BlockGroups {
    #[prost(message, repeated, tag = "1")]
    pub groups: Vec<GroupEntry>,
    /// Strings the block's columnar records refer to (empty in blocks of
    /// the first v2 version).
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub strings: Vec<Vec<u8>>,
}

/// One trace of an encoded block.
#[derive(Debug)]
pub(crate) struct EncodedTrace {
    pub trace_id: TraceId,
    /// The trace record (see the module doc).
    pub record: Vec<u8>,
    /// Write-ahead sequences of the fragments in the record.
    pub seqs: Vec<u64>,
}

/// A block ready to be written.
#[derive(Debug)]
pub(crate) struct EncodedBlock {
    pub block: u64,
    /// Encoded [`BlockGroups`].
    pub groups: Vec<u8>,
    /// Encoded [`CompactBlockTraces`].
    pub search: Vec<u8>,
    pub meta: BlockMeta,
    /// Sorted by trace id.
    pub traces: Vec<EncodedTrace>,
}

impl EncodedBlock {
    /// Bytes of the block's records.
    pub(crate) fn byte_len(&self) -> usize {
        self.groups.len()
            + self.search.len()
            + self
                .traces
                .iter()
                .map(|t| t.record.len() + 24)
                .sum::<usize>()
    }
}

/// Hash of a group's four byte strings.
fn group_hash(g: &GroupEntry) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [
        g.resource.as_deref().unwrap_or(b"\xff"),
        &g.resource_schema,
        g.scope.as_deref().unwrap_or(b"\xff"),
        &g.scope_schema,
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.digest()
}

/// Hash of a service name in [`BlockMeta::names`].
pub(crate) fn name_hash_service(service: &str) -> u64 {
    let mut v = Vec::with_capacity(service.len() + 2);
    v.extend_from_slice(b"s\0");
    v.extend_from_slice(service.as_bytes());
    xxh3_64(&v)
}

/// Hash of a (service, operation) pair in [`BlockMeta::names`].
pub(crate) fn name_hash_op(service: &str, op: &str) -> u64 {
    let mut v = Vec::with_capacity(service.len() + op.len() + 3);
    v.extend_from_slice(b"o\0");
    v.extend_from_slice(service.as_bytes());
    v.push(0);
    v.extend_from_slice(op.as_bytes());
    xxh3_64(&v)
}

/// One trace of a block before its spans are encoded.
struct PendingTrace {
    trace_id: TraceId,
    /// (group, spans): consecutive spans of one (resource, scope) group.
    runs: Vec<(u32, Vec<Bytes>)>,
    stripped: bool,
    seqs: Vec<u64>,
}

/// Encodes the traces of one block.
pub(crate) fn encode_block(block: u64, items: &[FlushItem]) -> Result<EncodedBlock, StorageError> {
    let mut groups: Vec<GroupEntry> = Vec::new();
    let mut index: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    let mut pending = Vec::with_capacity(items.len());
    for item in items {
        let id = item.trace_id.to_bytes();
        let mut runs: Vec<(u32, Vec<Bytes>)> = Vec::new();
        let mut seqs: Vec<u64> = Vec::new();
        for (seq, fragment) in &item.trace.fragments {
            if !seqs.contains(seq) {
                seqs.push(*seq);
            }
            for g in split_fragment(fragment)? {
                let key = GroupEntry {
                    resource: g.resource,
                    resource_schema: g.resource_schema,
                    scope: g.scope,
                    scope_schema: g.scope_schema,
                };
                // By a hash of the bytes: most fragments repeat a group
                // seen before, and hashing once beats SipHash plus memcmp
                // on every probe.
                let hash = group_hash(&key);
                let same = index.entry(hash).or_default();
                let gi = match same.iter().find(|i| groups[**i as usize] == key) {
                    Some(i) => *i,
                    None => {
                        let i = groups.len() as u32;
                        groups.push(key);
                        same.push(i);
                        i
                    }
                };
                match runs.last_mut() {
                    Some((last, spans)) if *last == gi => spans.extend(g.spans),
                    _ => runs.push((gi, g.spans)),
                }
            }
        }
        let stripped: Option<Vec<(u32, Vec<Bytes>)>> = runs
            .iter()
            .map(|(g, spans)| {
                let spans: Option<Vec<Bytes>> =
                    spans.iter().map(|s| strip_trace_id(s, &id)).collect();
                spans.map(|s| (*g, s))
            })
            .collect();
        let (runs, stripped) = match stripped {
            Some(runs) => (runs, true),
            None => (runs, false),
        };
        pending.push(PendingTrace {
            trace_id: item.trace_id,
            runs,
            stripped,
            seqs,
        });
    }
    let mut columns = BlockEncoder::new();
    for t in &pending {
        columns.add_trace(
            t.runs
                .iter()
                .flat_map(|(_, spans)| spans.iter().map(|s| &s[..])),
        );
    }
    let columns = columns.finish();
    let mut traces: Vec<EncodedTrace> = pending
        .into_iter()
        .zip(columns.records)
        .map(|(t, spans)| {
            let mut record = Vec::with_capacity(spans.len() + 8);
            let stripped = if t.stripped {
                FLAG_TRACE_ID_STRIPPED
            } else {
                0
            };
            record.push(stripped | FLAG_COLUMNAR);
            encode_varint(t.runs.len() as u64, &mut record);
            for (group, spans) in &t.runs {
                encode_varint(u64::from(*group), &mut record);
                encode_varint(spans.len() as u64, &mut record);
            }
            record.extend_from_slice(&spans);
            EncodedTrace {
                trace_id: t.trace_id,
                record,
                seqs: t.seqs,
            }
        })
        .collect();
    traces.sort_unstable_by_key(|t| t.trace_id);
    let (search, meta) = build_summaries(block, items);
    Ok(EncodedBlock {
        block,
        groups: BlockGroups {
            groups,
            strings: columns.dictionary,
        }
        .encode_to_vec(),
        search: CompactBlockTraces::columnar(&search).encode_to_vec(),
        meta,
        traces,
    })
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("trace record: {what}"))
}

/// The encoded `TracesData` of a trace record, with the groups of its block.
pub(crate) fn decode_trace(
    groups: &BlockGroups,
    trace_id: TraceId,
    record: Bytes,
) -> Result<Bytes, StorageError> {
    let mut buf = record;
    if !buf.has_remaining() {
        return Err(corrupt("empty"));
    }
    let flags = buf.get_u8();
    let id = trace_id.to_bytes();
    let id = ((flags & FLAG_TRACE_ID_STRIPPED) != 0).then_some(&id);
    let varint = |buf: &mut Bytes| decode_varint(buf).map_err(|e| corrupt(&e.to_string()));
    if (flags & FLAG_COLUMNAR) == 0 {
        return Err(corrupt("not a columnar record"));
    }
    let runs = varint(&mut buf)?;
    // Every run takes at least two bytes.
    if runs > buf.remaining() as u64 {
        return Err(corrupt("more runs than bytes"));
    }
    let mut layout = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        layout.push((varint(&mut buf)? as usize, varint(&mut buf)? as usize));
    }
    let spans = decode_spans(&groups.strings, &buf).map_err(|e| corrupt(&e.to_string()))?;
    if layout.iter().map(|(_, n)| *n).sum::<usize>() != spans.len() {
        return Err(corrupt("run lengths do not match the spans"));
    }
    let mut spans = spans.into_iter().map(Bytes::from);
    let mut out = FragmentWriter::new();
    for (group, count) in layout {
        let g = groups
            .groups
            .get(group)
            .ok_or_else(|| corrupt("group index out of range"))?;
        let run: Vec<Bytes> = spans.by_ref().take(count).collect();
        push_run(&mut out, g, &run, id);
    }
    Ok(out.finish())
}

fn push_run(out: &mut FragmentWriter, g: &GroupEntry, spans: &[Bytes], id: Option<&[u8; 16]>) {
    out.push_resource_with(
        g.resource.as_deref(),
        &g.resource_schema,
        &[ScopeGroup {
            scope: g.scope.as_deref(),
            schema_url: &g.scope_schema,
            spans,
        }],
        id,
    );
}

/// Builds the search summaries of one block of flushed traces.
pub(crate) fn build_summaries(block: u64, items: &[FlushItem]) -> (BlockTraces, BlockMeta) {
    let mut strings: Vec<String> = Vec::new();
    let mut index: FxHashMap<String, u32> = FxHashMap::default();
    let mut intern = |s: &str, strings: &mut Vec<String>| -> u32 {
        if let Some(i) = index.get(s) {
            return *i;
        }
        let i = strings.len() as u32;
        strings.push(s.to_string());
        index.insert(s.to_string(), i);
        i
    };
    // Name hash → (latest start, longest duration) of its spans.
    let mut extents: FxHashMap<u64, (u64, u64)> = FxHashMap::default();
    let mut tokens: Vec<u64> = Vec::new();
    let mut min_start = u64::MAX;
    let mut max_start = 0u64;
    let mut traces = Vec::with_capacity(items.len());
    for item in items {
        let mut ops: Vec<OpEntry> = Vec::new();
        for s in &item.trace.spans {
            min_start = min_start.min(s.start_ns);
            max_start = max_start.max(s.start_ns);
            for name in [
                name_hash_service(&s.service),
                name_hash_op(&s.service, &s.operation),
            ] {
                let e = extents.entry(name).or_insert((s.start_ns, s.duration_ns));
                e.0 = e.0.max(s.start_ns);
                e.1 = e.1.max(s.duration_ns);
            }
            let service = intern(&s.service, &mut strings);
            let operation = intern(&s.operation, &mut strings);
            match ops
                .iter_mut()
                .find(|o| o.service == service && o.operation == operation)
            {
                Some(o) => {
                    o.min_start_ns = o.min_start_ns.min(s.start_ns);
                    o.max_start_ns = o.max_start_ns.max(s.start_ns);
                    o.min_duration_ns = o.min_duration_ns.min(s.duration_ns);
                    o.max_duration_ns = o.max_duration_ns.max(s.duration_ns);
                }
                None => {
                    ops.push(OpEntry {
                        service,
                        operation,
                        min_start_ns: s.start_ns,
                        max_start_ns: s.start_ns,
                        min_duration_ns: s.duration_ns,
                        max_duration_ns: s.duration_ns,
                    });
                }
            }
        }
        tokens.extend_from_slice(&item.trace.tokens);
        traces.push(TraceEntry {
            trace_id: item.trace_id.to_bytes().to_vec(),
            ops,
        });
    }
    let mut names: Vec<(u64, (u64, u64))> = extents.into_iter().collect();
    names.sort_unstable_by_key(|(name, _)| *name);
    tokens.sort_unstable();
    tokens.dedup();
    if min_start == u64::MAX {
        min_start = 0;
    }
    let meta = BlockMeta {
        block,
        min_start_ns: min_start,
        max_start_ns: max_start,
        trace_count: items.len() as u32,
        name_start_lag_ns: names.iter().map(|(_, (s, _))| max_start - s).collect(),
        name_max_duration_ns: names.iter().map(|(_, (_, d))| *d).collect(),
        names: names.into_iter().map(|(name, _)| name).collect(),
        bloom: bloom::build(&tokens),
        bloom_hashes: bloom::HASHES,
    };
    (BlockTraces { strings, traces }, meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures;
    use spoor_proto::model::{InstrumentationScope, TracesData};

    fn batch(traces: &[u128], service: &str) -> TracesData {
        let spans = traces
            .iter()
            .map(|t| test_fixtures::span(*t, *t as u64 + 1, &format!("op-{t}"), 100, 200))
            .collect();
        let mut b = test_fixtures::batch(Some(service), spans);
        b.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
            name: "lib".into(),
            ..Default::default()
        });
        b
    }

    fn items(batches: &[TracesData]) -> Vec<FlushItem> {
        test_fixtures::flush_items(batches, 0)
    }

    fn spans_of(data: &TracesData) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = data
            .spans_with_service()
            .map(|(service, s)| (service.to_string(), s.name.clone()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_block_stores_each_group_once_and_gives_every_trace_back() {
        let items = items(&[
            batch(&[1, 2, 3], "a"),
            batch(&[1, 2], "b"),
            batch(&[3], "a"),
        ]);
        let block = encode_block(7, &items).unwrap();
        let groups = BlockGroups::decode(block.groups.as_slice()).unwrap();
        assert_eq!(groups.groups.len(), 2);
        assert_eq!(block.meta.block, 7);
        assert_eq!(block.meta.trace_count, 3);
        let ids: Vec<u128> = block.traces.iter().map(|t| t.trace_id.0).collect();
        assert_eq!(ids, [1, 2, 3]);
        for t in &block.traces {
            let item = items.iter().find(|i| i.trace_id == t.trace_id).unwrap();
            let mut want = bytes::BytesMut::new();
            for (_, f) in &item.trace.fragments {
                want.extend_from_slice(f);
            }
            let want = TracesData::decode(want.freeze()).unwrap();
            let got = TracesData::decode(
                decode_trace(&groups, t.trace_id, Bytes::from(t.record.clone())).unwrap(),
            )
            .unwrap();
            assert_eq!(spans_of(&got), spans_of(&want));
            assert_eq!(got.span_count(), want.span_count());
            // Every span has its trace id back.
            for rs in &got.resource_spans {
                for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    assert_eq!(s.trace_id(), t.trace_id);
                }
            }
            assert_eq!(t.record[0], FLAG_TRACE_ID_STRIPPED | FLAG_COLUMNAR);
        }
        let t3 = block.traces.iter().find(|t| t.trace_id.0 == 3).unwrap();
        assert_eq!(t3.seqs, [0, 2]);
    }

    #[test]
    fn damaged_records_are_reported_as_corrupt() {
        let items = items(&[batch(&[1], "a")]);
        let block = encode_block(1, &items).unwrap();
        let groups = BlockGroups::decode(block.groups.as_slice()).unwrap();
        let record = &block.traces[0].record;
        let cut = Bytes::copy_from_slice(&record[..record.len() - 4]);
        assert!(matches!(
            decode_trace(&groups, TraceId(1), cut),
            Err(StorageError::Corrupt(_))
        ));
        let empty = BlockGroups::default();
        assert!(decode_trace(&empty, TraceId(1), Bytes::from(record.clone())).is_err());
    }
}
