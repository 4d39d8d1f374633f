//! Tests of the partitions against real RocksDB: both write paths, reads
//! of every kind, reopening, block numbering after a crash, dropping.
//!
//! In: blocks encoded from prepared batches. Out: assertions.

use prost::Message;
use rocksdb::{Options, WriteBatch};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{string_kv, TracesData};

use super::*;
use crate::block::encode_block;
use crate::live::FlushItem;
use crate::test_fixtures;

fn open(dir: &Path) -> (Db, Partitions) {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    let existing = Db::list_cf(&opts, dir).unwrap_or_default();
    let partitions = Partitions::new(
        Cache::new_lru_cache(1 << 20),
        &dir.join("ingest"),
        4,
        1 << 20,
    );
    let mut descriptors = vec![ColumnFamilyDescriptor::new("default", Options::default())];
    descriptors.extend(partitions.descriptors(&existing));
    let db = Db::open_cf_descriptors(&opts, dir, descriptors).unwrap();
    partitions.load(&db, &existing).unwrap();
    (db, partitions)
}

/// Flush items for traces `ids`, each with `spans` spans of `pad` bytes of
/// attribute value (to reach either write path).
fn items(ids: std::ops::Range<u128>, spans: usize, pad: usize) -> Vec<FlushItem> {
    let mut list = Vec::new();
    for id in ids {
        for s in 0..spans {
            let span_id = (id as u64) << 8 | s as u64 | 1;
            let mut span =
                test_fixtures::span(id, span_id, &format!("op-{s}"), 1_000 + s as u64, 2_000);
            span.attributes = vec![string_kv("pad", format!("{id:x}-{s}{}", "x".repeat(pad)))];
            list.push(span);
        }
    }
    test_fixtures::flush_items(&[test_fixtures::batch(Some("svc"), list)], 7)
}

fn write(db: &Db, partitions: &Partitions, start: u64, items: &[FlushItem]) -> u64 {
    let block = partitions.allocate_block();
    let encoded = encode_block(block, items).unwrap();
    partitions
        .write(db, start, &[encoded], WriteBatch::default())
        .unwrap();
    block
}

fn sst_bytes(db: &Db, name: &str) -> u64 {
    let cf = db.cf_handle(name).unwrap();
    db.property_int_value_cf(&cf, "rocksdb.total-sst-files-size")
        .unwrap()
        .unwrap()
}

fn span_count(pieces: &[StoredPiece]) -> usize {
    pieces
        .iter()
        .map(|p| TracesData::decode(p.spans.clone()).unwrap().span_count())
        .sum()
}

#[test]
fn large_flushes_are_ingested_as_files_and_small_ones_go_through_the_memtable() {
    let dir = tempfile::tempdir().unwrap();
    let (db, partitions) = open(dir.path());
    let data = keys::data_partition_name(3600);
    write(&db, &partitions, 3600, &items(1..3, 2, 10));
    assert_eq!(sst_bytes(&db, &data), 0, "a small flush is not a file");
    write(&db, &partitions, 3600, &items(100..400, 10, 400));
    assert!(sst_bytes(&db, &data) > 0, "a large flush is a file");
    for id in [1u128, 2, 100, 399] {
        let pieces = partitions.stored(&db, TraceId(id)).unwrap();
        assert_eq!(pieces.len(), 1, "trace {id}");
        assert_eq!(pieces[0].seqs, [7]);
        assert_eq!(
            span_count(&pieces),
            if id < 100 { 2 } else { 10 },
            "trace {id}"
        );
    }
    assert!(partitions.stored(&db, TraceId(5)).unwrap().is_empty());
    assert_eq!(
        partitions.stored_seqs(&db, TraceId(150)).unwrap(),
        HashSet::from([7])
    );
    let blocks = partitions.blocks(|_| true);
    assert_eq!(blocks.len(), 2);
    let mut listed = 0;
    let read = partitions
        .block_candidates(
            &db,
            blocks[0].0,
            blocks[0].1.block,
            &crate::TraceQuery::default(),
            |_, _| {
                listed += 1;
                Ok(())
            },
        )
        .unwrap();
    assert!(read && listed > 0);
}

#[test]
fn partitions_and_block_numbers_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let (db, partitions) = open(dir.path());
        write(&db, &partitions, 0, &items(1..2, 1, 0));
        write(&db, &partitions, 3600, &items(2..3, 1, 0));
        // A flush that wrote its data but not its index (a crash between
        // the two) used block 40.
        let cf = db.cf_handle(&keys::data_partition_name(3600)).unwrap();
        db.put_cf(&cf, keys::data_key(40, keys::DATA_GROUPS, None), b"")
            .unwrap();
        db.flush_cf(&cf).unwrap();
        partitions.allocate_block()
    };
    let (db, partitions) = open(dir.path());
    assert_eq!(partitions.starts(), [0, 3600]);
    assert_eq!(partitions.block_count(), 2);
    assert!(partitions.allocate_block() > 40.max(last));
    assert_eq!(span_count(&partitions.stored(&db, TraceId(2)).unwrap()), 1);
}

#[test]
fn low64_entries_and_dropping_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    let (db, partitions) = open(dir.path());
    let long = (9u128 << 64) | 5;
    write(&db, &partitions, 0, &items(long..long + 1, 1, 0));
    write(&db, &partitions, 3600, &items(3..4, 1, 0));
    let mut ids = Vec::new();
    partitions.low64_ids(&db, 5, &mut ids).unwrap();
    assert_eq!(ids, [TraceId(long)]);
    partitions.drop_start(&db, 0, "age").unwrap();
    assert_eq!(partitions.starts(), [3600]);
    assert!(db.cf_handle(&keys::data_partition_name(0)).is_none());
    assert!(db.cf_handle(&keys::index_partition_name(0)).is_none());
    assert!(partitions.stored(&db, TraceId(long)).unwrap().is_empty());
    assert_eq!(span_count(&partitions.stored(&db, TraceId(3)).unwrap()), 1);
}

#[test]
fn index_entries_of_both_layouts_are_read_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let (db, partitions) = open(dir.path());
    let low = 5u64;
    let new = TraceId::from_halves(9, low);
    write(&db, &partitions, 0, &items(new.0..new.0 + 1, 1, 0));
    // A trace indexed as blocks did before the low-half-first entries.
    let old = TraceId::from_halves(3, low);
    let index = db.cf_handle(&keys::index_partition_name(0)).unwrap();
    let seqs = StoredTrace {
        wal_seqs: vec![77],
        spans: Bytes::new(),
        ordinal: None,
    };
    db.put_cf(&index, keys::trace_key(old, 1), seqs.encode_to_vec())
        .unwrap();
    db.put_cf(&index, keys::low64_key(old).unwrap(), [])
        .unwrap();
    // And a 64-bit id with the same low half, which is never listed.
    write(
        &db,
        &partitions,
        0,
        &items(u128::from(low)..u128::from(low) + 1, 1, 0),
    );
    let mut ids = Vec::new();
    partitions.low64_ids(&db, low, &mut ids).unwrap();
    ids.sort();
    assert_eq!(ids, [old, new]);
    ids.clear();
    partitions.low64_ids(&db, low + 1, &mut ids).unwrap();
    assert!(ids.is_empty());
    assert_eq!(
        partitions.stored_seqs(&db, old).unwrap(),
        HashSet::from([77])
    );
    assert_eq!(partitions.stored_seqs(&db, new).unwrap().len(), 1);
    assert_eq!(span_count(&partitions.stored(&db, new).unwrap()), 1);
}
