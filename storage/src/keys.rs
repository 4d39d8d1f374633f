//! Key layout of every column family. Only this module builds or reads keys.
//!
//! - `wal` CF (v1 only; migrated to the segment log on open and dropped):
//!   `seq (u64 BE)` → [`crate::summary::WalRecord`].
//! - v2 data CFs (`d<unix start secs>`): `block (u64 BE) | g` → the block's
//!   group dictionary; `block | s` → the block's trace list (search);
//!   `block | t | ordinal (u32 BE)` → the trace record (see `crate::block`),
//!   records numbered in trace id order, the number kept in the trace's
//!   index entry (blocks written before the thirteenth session have `block
//!   | t | trace_id (16)` instead, and index entries without a number).
//!   Keys begin with the block, so every flush covers a range of its own.
//! - v2 index CFs (`i<unix start secs>`): `u | low64 (u64 BE) | high64
//!   (u64 BE) | block (u64 BE)` → the stored write-ahead sequences
//!   ([`crate::summary::StoredTrace`] without spans), low half first, so
//!   the entries of a trace are one 17-byte prefix and those sharing a low
//!   half (Zipkin's lenient ids) one 9-byte range, and no separate low-64
//!   index is written; `m | block` → block meta. Blocks written before the
//!   thirteenth session have `t | trace_id (16) | block` and `l | …` (as
//!   in v1, below) instead; both stay readable.
//! - v1 partition CFs (`p<unix start secs>`): `t | trace_id (16) | block (u64 BE)` →
//!   [`crate::summary::StoredTrace`]; `b | block (u64 BE)` → block trace list;
//!   `m | block (u64 BE)` → block meta; `l | low64 (u64 BE) | 0 (u64) |
//!   high64 (u64 BE)` → empty, one per 128-bit trace (high half non-zero)
//!   with a record in the partition: the low-64 index of lenient trace-id
//!   lookups. The zero word makes `l | low64 | 0` exactly the 17-byte prefix
//!   the partition's prefix bloom filters hash, so a miss stays cheap.
//! - `catalog` CF: `service \0 operation \0 kind` → last-seen partition start (u64 BE).
//! - `meta` CF: small named values (next block id).
//! - `aggregates` CF: `bucket start ms (u64 BE)` → one bucket of analytics
//!   aggregates (see `crate::aggregates`).

use spoor_proto::ids::TraceId;

/// Name of the write-ahead column family.
pub const WAL_CF: &str = "wal";
/// Name of the catalogue column family.
pub const CATALOG_CF: &str = "catalog";
/// Name of the bookkeeping column family.
pub const META_CF: &str = "meta";
/// Name of the analytics aggregates column family.
pub const AGGREGATES_CF: &str = "aggregates";
/// Prefix of partition column family names.
pub const PARTITION_PREFIX: &str = "p";

/// Length of the fixed prefix (`t` + trace id) used by prefix bloom filters.
pub const TRACE_PREFIX_LEN: usize = 17;

/// Reads a WAL key.
pub fn wal_seq(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// Key of the aggregates bucket starting at `start_ms`.
pub fn aggregate_key(start_ms: u64) -> [u8; 8] {
    start_ms.to_be_bytes()
}

/// Reads an aggregates key.
pub fn aggregate_start(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// The prefix under which every stored fragment of a trace lives.
pub fn trace_prefix(id: TraceId) -> [u8; TRACE_PREFIX_LEN] {
    let mut k = [0u8; TRACE_PREFIX_LEN];
    k[0] = b't';
    k[1..].copy_from_slice(&id.to_bytes());
    k
}

/// Key of one stored fragment of a trace, written by block `block` (v1,
/// and v2 blocks written before the `u` entries; tests write them).
#[cfg(test)]
pub fn trace_key(id: TraceId, block: u64) -> [u8; TRACE_PREFIX_LEN + 8] {
    let mut k = [0u8; TRACE_PREFIX_LEN + 8];
    k[..TRACE_PREFIX_LEN].copy_from_slice(&trace_prefix(id));
    k[TRACE_PREFIX_LEN..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Key kind of v2 index entries, low half of the trace id first.
const INDEXED_TRACE: u8 = b'u';

/// The prefix under which every v2 index entry (`u`) of a trace lives.
pub fn indexed_trace_prefix(id: TraceId) -> [u8; TRACE_PREFIX_LEN] {
    let mut k = [0u8; TRACE_PREFIX_LEN];
    k[0] = INDEXED_TRACE;
    k[1..9].copy_from_slice(&id.low().to_be_bytes());
    k[9..].copy_from_slice(&id.high().to_be_bytes());
    k
}

/// Key of the v2 index entry of a trace's record in block `block`.
pub fn indexed_trace_key(id: TraceId, block: u64) -> [u8; TRACE_PREFIX_LEN + 8] {
    let mut k = [0u8; TRACE_PREFIX_LEN + 8];
    k[..TRACE_PREFIX_LEN].copy_from_slice(&indexed_trace_prefix(id));
    k[TRACE_PREFIX_LEN..].copy_from_slice(&block.to_be_bytes());
    k
}

/// The range `[start, end)` of the v2 index entries of every trace whose
/// low half is `low` (shorter than the prefix the filters hash: read it in
/// total order).
pub fn indexed_low64_range(low: u64) -> ([u8; 9], [u8; 9]) {
    let mut start = [0u8; 9];
    start[0] = INDEXED_TRACE;
    start[1..].copy_from_slice(&low.to_be_bytes());
    let mut end = [0u8; 9];
    match low.checked_add(1) {
        Some(next) => {
            end[0] = INDEXED_TRACE;
            end[1..].copy_from_slice(&next.to_be_bytes());
        }
        None => end[0] = INDEXED_TRACE + 1,
    }
    (start, end)
}

/// The trace id and block of a v2 index entry key (`u`).
pub fn indexed_trace(key: &[u8]) -> Option<(TraceId, u64)> {
    if key.len() != TRACE_PREFIX_LEN + 8 || key[0] != INDEXED_TRACE {
        return None;
    }
    let low = u64::from_be_bytes(key[1..9].try_into().ok()?);
    let high = u64::from_be_bytes(key[9..TRACE_PREFIX_LEN].try_into().ok()?);
    let block = u64::from_be_bytes(key[TRACE_PREFIX_LEN..].try_into().ok()?);
    Some((TraceId::from_halves(high, low), block))
}

/// The prefix under which every low-64 index entry with low half `low` lives.
pub fn low64_prefix(low: u64) -> [u8; TRACE_PREFIX_LEN] {
    let mut k = [0u8; TRACE_PREFIX_LEN];
    k[0] = b'l';
    k[1..9].copy_from_slice(&low.to_be_bytes());
    k
}

/// Low-64 index key of a trace; `None` for a 64-bit id (high half zero),
/// which a lenient lookup reads directly and so is not indexed (written
/// before the `u` entries; tests write them).
#[cfg(test)]
pub fn low64_key(id: TraceId) -> Option<[u8; TRACE_PREFIX_LEN + 8]> {
    if id.high() == 0 {
        return None;
    }
    let mut k = [0u8; TRACE_PREFIX_LEN + 8];
    k[..TRACE_PREFIX_LEN].copy_from_slice(&low64_prefix(id.low()));
    k[TRACE_PREFIX_LEN..].copy_from_slice(&id.high().to_be_bytes());
    Some(k)
}

/// The trace id of a low-64 index key.
pub fn low64_key_id(key: &[u8]) -> Option<TraceId> {
    if key.len() != TRACE_PREFIX_LEN + 8 || key[0] != b'l' {
        return None;
    }
    let low = u64::from_be_bytes(key[1..9].try_into().ok()?);
    let high = u64::from_be_bytes(key[TRACE_PREFIX_LEN..].try_into().ok()?);
    Some(TraceId::from_halves(high, low))
}

/// Key of a block's trace list.
pub fn block_traces_key(block: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'b';
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Key of a block's meta record.
pub fn block_meta_key(block: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'm';
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Prefix of v2 data column family names.
pub const DATA_PREFIX: &str = "d";
/// Prefix of v2 index column family names.
pub const INDEX_PREFIX: &str = "i";

/// Data key kind: the block's group dictionary.
pub const DATA_GROUPS: u8 = b'g';
/// Data key kind: the block's trace list.
pub const DATA_SEARCH: u8 = b's';
/// Data key kind: one trace record.
pub const DATA_TRACE: u8 = b't';

/// Key of a record of block `block` in a v2 data column family.
pub fn data_key(block: u64, kind: u8, trace: Option<TraceId>) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.extend_from_slice(&block.to_be_bytes());
    k.push(kind);
    if let Some(id) = trace {
        k.extend_from_slice(&id.to_bytes());
    }
    k
}

/// Key of the trace record numbered `ordinal` in block `block`.
pub fn data_record_key(block: u64, ordinal: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(13);
    k.extend_from_slice(&block.to_be_bytes());
    k.push(DATA_TRACE);
    k.extend_from_slice(&ordinal.to_be_bytes());
    k
}

/// The block of a v2 data key.
pub fn data_key_block(key: &[u8]) -> Option<u64> {
    key.get(..8)?.try_into().ok().map(u64::from_be_bytes)
}

/// The block of a trace key (`t | trace id | block`).
pub fn trace_key_block(key: &[u8]) -> Option<u64> {
    key.get(TRACE_PREFIX_LEN..TRACE_PREFIX_LEN + 8)?
        .try_into()
        .ok()
        .map(u64::from_be_bytes)
}

/// Column family name of the v2 data of the partition starting at `start_secs`.
pub fn data_partition_name(start_secs: u64) -> String {
    format!("{DATA_PREFIX}{start_secs:012}")
}

/// Column family name of the v2 index of the partition starting at `start_secs`.
pub fn index_partition_name(start_secs: u64) -> String {
    format!("{INDEX_PREFIX}{start_secs:012}")
}

/// Start of a v2 partition from its data column family name.
pub fn data_partition_start(name: &str) -> Option<u64> {
    digits(name.strip_prefix(DATA_PREFIX)?)
}

/// Start of a v2 partition from its index column family name.
pub fn index_partition_start(name: &str) -> Option<u64> {
    digits(name.strip_prefix(INDEX_PREFIX)?)
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Column family name of the (v1) partition starting at `start_secs`.
pub fn partition_name(start_secs: u64) -> String {
    format!("{PARTITION_PREFIX}{start_secs:012}")
}

/// Start (unix seconds) of a v1 partition from its column family name.
pub fn partition_start(name: &str) -> Option<u64> {
    digits(name.strip_prefix(PARTITION_PREFIX)?)
}

/// Catalogue key of a (service, operation, kind) triple.
pub fn catalog_key(service: &str, operation: &str, kind: i32) -> Vec<u8> {
    let mut k = Vec::with_capacity(service.len() + operation.len() + 3);
    k.extend_from_slice(service.as_bytes());
    k.push(0);
    k.extend_from_slice(operation.as_bytes());
    k.push(0);
    k.push(kind as u8);
    k
}

/// Reads a catalogue key.
pub fn parse_catalog_key(key: &[u8]) -> Option<(String, String, i32)> {
    let (kind, rest) = key.split_last()?;
    let rest = rest.strip_suffix(&[0])?;
    let pos = rest.iter().position(|b| *b == 0)?;
    let service = std::str::from_utf8(&rest[..pos]).ok()?.to_string();
    let operation = std::str::from_utf8(&rest[pos + 1..]).ok()?.to_string();
    Some((service, operation, i32::from(*kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_keys_round_trip() {
        let k = catalog_key("svc", "GET /a", 2);
        assert_eq!(
            parse_catalog_key(&k),
            Some(("svc".into(), "GET /a".into(), 2))
        );
        let k = catalog_key("svc", "", 0);
        assert_eq!(parse_catalog_key(&k), Some(("svc".into(), "".into(), 0)));
    }

    #[test]
    fn trace_keys_share_the_trace_prefix_and_sort_by_block() {
        let id = TraceId(42);
        assert!(trace_key(id, 1).starts_with(&trace_prefix(id)));
        assert!(trace_key(id, 1) < trace_key(id, 2));
    }

    #[test]
    fn low64_keys_index_only_128_bit_ids_and_round_trip() {
        assert_eq!(low64_key(TraceId(7)), None);
        let id = TraceId::from_halves(0xabc, 7);
        let key = low64_key(id).unwrap();
        assert!(key.starts_with(&low64_prefix(7)));
        assert!(!key.starts_with(&low64_prefix(8)));
        assert_eq!(low64_key_id(&key), Some(id));
        assert_eq!(low64_key_id(&trace_key(id, 1)), None);
    }

    #[test]
    fn indexed_trace_keys_group_a_trace_and_its_low_half() {
        let id = TraceId::from_halves(0xabc, 7);
        let key = indexed_trace_key(id, 3);
        assert!(key.starts_with(&indexed_trace_prefix(id)));
        assert!(indexed_trace_key(id, 3) < indexed_trace_key(id, 4));
        assert_eq!(indexed_trace(&key), Some((id, 3)));
        assert_eq!(indexed_trace(&trace_key(id, 3)), None);
        assert_eq!(indexed_trace(&key[..24]), None);
        // Every id with low half 7, and no other, is in the range.
        let (start, end) = indexed_low64_range(7);
        for other in [TraceId(7), id, TraceId::from_halves(u64::MAX, 7)] {
            let k = indexed_trace_key(other, u64::MAX);
            assert!(k[..] >= start[..] && k[..] < end[..], "{other:?}");
        }
        for other in [TraceId(6), TraceId(8), TraceId::from_halves(1, 8)] {
            let k = indexed_trace_key(other, 0);
            assert!(!(k[..] >= start[..] && k[..] < end[..]), "{other:?}");
        }
        // The last low half ends where the next key kind starts.
        let (start, end) = indexed_low64_range(u64::MAX);
        let k = indexed_trace_key(TraceId::from_halves(u64::MAX, u64::MAX), u64::MAX);
        assert!(k[..] >= start[..] && k[..] < end[..]);
    }

    #[test]
    fn data_keys_sort_by_block_first() {
        let id = TraceId(u128::MAX);
        assert!(data_key(1, DATA_TRACE, Some(id)) < data_key(2, DATA_GROUPS, None));
        assert!(data_key(2, DATA_GROUPS, None) < data_key(2, DATA_SEARCH, None));
        assert!(data_key(2, DATA_SEARCH, None) < data_key(2, DATA_TRACE, Some(TraceId(0))));
        assert_eq!(data_key_block(&data_key(9, DATA_TRACE, Some(id))), Some(9));
        assert!(data_key(2, DATA_SEARCH, None) < data_record_key(2, 0));
        assert!(data_record_key(2, 255) < data_record_key(2, 256));
        assert!(data_record_key(2, u32::MAX) < data_key(3, DATA_GROUPS, None));
        assert_eq!(data_key_block(&data_record_key(9, 1)), Some(9));
        assert_eq!(trace_key_block(&trace_key(id, 5)), Some(5));
    }

    #[test]
    fn partition_names_of_each_layout_are_told_apart() {
        assert_eq!(data_partition_start(&data_partition_name(7200)), Some(7200));
        assert_eq!(
            index_partition_start(&index_partition_name(7200)),
            Some(7200)
        );
        assert_eq!(data_partition_start("default"), None);
        assert_eq!(partition_start(&data_partition_name(7200)), None);
        assert_eq!(index_partition_start(&partition_name(7200)), None);
    }

    #[test]
    fn partition_names_sort_by_time() {
        assert!(partition_name(999) < partition_name(1000));
        assert_eq!(partition_start(&partition_name(3600)), Some(3600));
    }
}
