//! The time partitions: their column families, their blocks' search
//! metadata (kept in memory), and every read and write of stored traces.
//!
//! In: encoded blocks from the flusher ([`Partitions::write`]); trace ids,
//! low-64 halves and block numbers from the read side. Out: the stored
//! pieces of a trace, the ids sharing a low half, a block's trace list, and
//! the blocks search may need; whole partitions dropped by retention.
//!
//! Two layouts are read (see `keys`): v1 partitions (`p<start>`, one
//! column family, trace records rewritten by leveled compaction), written
//! by earlier versions and kept until retention drops them, and v2
//! partitions, written by this version as a pair of column families:
//! `d<start>` holds the block data (group dictionary, search list, one
//! record per trace) under keys that begin with the block number, so every
//! flush covers a key range above all earlier ones; it is written once
//! (a large flush as an SST file built here and ingested, a small one
//! through the memtable) and never compacted. `i<start>` is the small index
//! that makes a flush visible: trace id, low half first → block (with the
//! write-ahead sequences stored and the record's number), which is the
//! low-64 index too, and the block metadata. Blocks written before the
//! thirteenth session keep their own index entries, still read.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use prost::Message;
use rocksdb::{
    BoundColumnFamily, Cache, ColumnFamilyDescriptor, IngestExternalFileOptions, SstFileWriter,
    WriteBatch,
};
use spoor_proto::ids::TraceId;

use crate::block::{decode_trace, BlockGroups, EncodedBlock};
use crate::bloom_cache::BloomCache;
use crate::cf_options::{data_options, index_options};
use crate::error::StorageError;
use crate::groups_cache::GroupsCache;
use crate::keys;
use crate::query::TraceQuery;
use crate::rocks::Db;
use crate::scan::{scan_prefix, scan_range};
use crate::search_list;
use crate::summary::{BlockMeta, BlockTraces, StoredTrace};

/// A flush whose encoded blocks reach this size is written as an SST file
/// and ingested; a smaller one goes through the memtable.
const INGEST_MIN_BYTES: usize = 1 << 20;

/// How a partition is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Layout {
    /// One column family `p<start>` (earlier versions).
    V1,
    /// `d<start>` (write-once data) and `i<start>` (index).
    V2,
}

/// A partition: its start (unix seconds) and layout.
pub(crate) type PartitionKey = (u64, Layout);

/// One stored piece of a trace: spans flushed together and the write-ahead
/// sequences they came from.
#[derive(Debug)]
pub(crate) struct StoredPiece {
    pub seqs: Vec<u64>,
    /// Encoded `TracesData`.
    pub spans: Bytes,
}

/// Every partition of the store.
pub(crate) struct Partitions {
    map: RwLock<BTreeMap<PartitionKey, Vec<Arc<BlockMeta>>>>,
    cache: Cache,
    next_block: AtomicU64,
    ingest_dir: PathBuf,
    groups: GroupsCache,
    /// The newest blocks' tag filters (`crate::bloom_cache`); the metas in
    /// `map` are kept without theirs.
    blooms: BloomCache,
}

fn cf<'a>(db: &'a Db, name: &str) -> Result<Arc<BoundColumnFamily<'a>>, StorageError> {
    db.cf_handle(name)
        .ok_or_else(|| StorageError::Io(format!("column family {name} is missing")))
}

/// Every block meta (`m|block` records) of a column family, their filters
/// handed to `blooms`.
fn load_metas(
    db: &Db,
    name: &str,
    blooms: &BloomCache,
) -> Result<Vec<Arc<BlockMeta>>, StorageError> {
    cf(db, name)?; // must exist: `name` was just listed
    let mut out = Vec::new();
    scan_range(db, name, b"m", b"n", |_, value| {
        let mut meta = BlockMeta::decode(value)?;
        blooms.insert(
            meta.block,
            std::mem::take(&mut meta.bloom),
            meta.bloom_hashes,
        );
        out.push(Arc::new(meta));
        Ok(())
    })?;
    Ok(out)
}

fn names(key: PartitionKey) -> (String, Option<String>) {
    match key.1 {
        Layout::V1 => (keys::partition_name(key.0), None),
        Layout::V2 => (
            keys::data_partition_name(key.0),
            Some(keys::index_partition_name(key.0)),
        ),
    }
}

impl Partitions {
    /// No partitions yet; SST files for ingestion are built in `ingest_dir`.
    pub(crate) fn new(
        cache: Cache,
        ingest_dir: &Path,
        dictionary_blocks: usize,
        bloom_cache_bytes: u64,
    ) -> Partitions {
        Partitions {
            map: RwLock::new(BTreeMap::new()),
            cache,
            next_block: AtomicU64::new(0),
            ingest_dir: ingest_dir.to_path_buf(),
            groups: GroupsCache::new(dictionary_blocks),
            blooms: BloomCache::new(bloom_cache_bytes),
        }
    }

    /// Descriptors for the partition column families among `existing`.
    pub(crate) fn descriptors(&self, existing: &[String]) -> Vec<ColumnFamilyDescriptor> {
        existing
            .iter()
            .filter_map(|name| {
                let opts = if keys::partition_start(name).is_some()
                    || keys::index_partition_start(name).is_some()
                {
                    index_options(&self.cache)
                } else if keys::data_partition_start(name).is_some() {
                    data_options(&self.cache)
                } else {
                    return None;
                };
                Some(ColumnFamilyDescriptor::new(name.clone(), opts))
            })
            .collect()
    }

    /// Loads the block metadata of every partition among `existing` (the
    /// column families of the opened database).
    pub(crate) fn load(&self, db: &Db, existing: &[String]) -> Result<(), StorageError> {
        let _ = std::fs::remove_dir_all(&self.ingest_dir);
        std::fs::create_dir_all(&self.ingest_dir).map_err(|e| {
            StorageError::Io(format!("cannot create {}: {e}", self.ingest_dir.display()))
        })?;
        let mut next = 0u64;
        let mut map = self.map.write();
        for name in existing {
            if let Some(start) = keys::partition_start(name) {
                let metas = load_metas(db, name, &self.blooms)?;
                next = metas.iter().map(|m| m.block + 1).fold(next, u64::max);
                map.insert((start, Layout::V1), metas);
            }
            let start = keys::data_partition_start(name).or(keys::index_partition_start(name));
            if let Some(start) = start {
                if map.contains_key(&(start, Layout::V2)) {
                    continue;
                }
                self.create_missing(db, start)?;
                let (data, index) = names((start, Layout::V2));
                let metas = load_metas(db, index.as_deref().expect("v2 index"), &self.blooms)?;
                next = metas.iter().map(|m| m.block + 1).fold(next, u64::max);
                // A flush that wrote its data but crashed before its index
                // left blocks above every meta: never reuse their numbers.
                let data_cf = cf(db, &data)?;
                let mut iter = db.raw_iterator_cf(&data_cf);
                iter.seek_to_last();
                if let Some(block) = iter.key().and_then(keys::data_key_block) {
                    next = next.max(block + 1);
                }
                map.insert((start, Layout::V2), metas);
            }
        }
        self.next_block.store(next, Ordering::Relaxed);
        Ok(())
    }

    fn create_missing(&self, db: &Db, start: u64) -> Result<(), StorageError> {
        let (data, index) = names((start, Layout::V2));
        if db.cf_handle(&data).is_none() {
            db.create_cf(&data, &data_options(&self.cache))?;
        }
        let index = index.expect("v2 index");
        if db.cf_handle(&index).is_none() {
            db.create_cf(&index, &index_options(&self.cache))?;
        }
        Ok(())
    }

    /// A fresh block number.
    pub(crate) fn allocate_block(&self) -> u64 {
        self.next_block.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes encoded blocks into the v2 partition starting at `start`
    /// (created if needed): first the data, once, then the index together
    /// with `wb` (the caller's bookkeeping), which makes them visible.
    pub(crate) fn write(
        &self,
        db: &Db,
        start: u64,
        blocks: &[EncodedBlock],
        mut wb: WriteBatch,
    ) -> Result<(), StorageError> {
        if !self.map.read().contains_key(&(start, Layout::V2)) {
            let mut map = self.map.write();
            if let std::collections::btree_map::Entry::Vacant(e) = map.entry((start, Layout::V2)) {
                self.create_missing(db, start)?;
                e.insert(Vec::new());
            }
        }
        let (data_name, index_name) = names((start, Layout::V2));
        let data = cf(db, &data_name)?;
        let index = cf(db, index_name.as_deref().expect("v2 index"))?;
        let bytes: usize = blocks.iter().map(EncodedBlock::byte_len).sum();
        let records = blocks.iter().flat_map(|b| {
            [
                (keys::data_key(b.block, keys::DATA_GROUPS, None), &b.groups),
                (keys::data_key(b.block, keys::DATA_SEARCH, None), &b.search),
            ]
            .into_iter()
            .chain(
                (0u32..)
                    .zip(&b.traces)
                    .map(|(ordinal, t)| (keys::data_record_key(b.block, ordinal), &t.record)),
            )
        });
        if bytes >= INGEST_MIN_BYTES {
            let path = self
                .ingest_dir
                .join(format!("{}.sst", blocks.first().map_or(0, |b| b.block)));
            let opts = data_options(&self.cache);
            let mut writer = SstFileWriter::create(&opts);
            writer.open(&path)?;
            for (key, value) in records {
                writer.put(key, value)?;
            }
            writer.finish()?;
            let mut ingest = IngestExternalFileOptions::default();
            ingest.set_move_files(true);
            let result = db.ingest_external_file_cf_opts(&data, &ingest, vec![&path]);
            let _ = std::fs::remove_file(&path);
            result?;
        } else {
            let mut dwb = WriteBatch::default();
            for (key, value) in records {
                dwb.put_cf(&data, key, value);
            }
            db.write(dwb)?;
        }
        for b in blocks {
            for (ordinal, t) in (0u32..).zip(&b.traces) {
                let seqs = StoredTrace {
                    wal_seqs: t.seqs.clone(),
                    spans: Bytes::new(),
                    ordinal: Some(ordinal),
                };
                // Low half first: this entry is the low-64 index too.
                wb.put_cf(
                    &index,
                    keys::indexed_trace_key(t.trace_id, b.block),
                    seqs.encode_to_vec(),
                );
            }
            wb.put_cf(
                &index,
                keys::block_meta_key(b.block),
                b.meta.encode_to_vec(),
            );
        }
        db.write(wb)?;
        let metas = blocks.iter().map(|b| {
            let mut meta = b.meta.clone();
            self.blooms
                .insert(b.block, std::mem::take(&mut meta.bloom), meta.bloom_hashes);
            Arc::new(meta)
        });
        if let Some(stored) = self.map.write().get_mut(&(start, Layout::V2)) {
            stored.extend(metas);
        }
        Ok(())
    }

    /// Partitions, newest first.
    fn keys_newest_first(&self) -> Vec<PartitionKey> {
        self.map.read().keys().rev().copied().collect()
    }

    /// Every stored piece of a trace, newest partition first.
    pub(crate) fn stored(&self, db: &Db, id: TraceId) -> Result<Vec<StoredPiece>, StorageError> {
        let mut out = Vec::new();
        for key in self.keys_newest_first() {
            let (data, index) = names(key);
            match index {
                None => scan_prefix(db, &data, &keys::trace_prefix(id), |_, value| {
                    let r = StoredTrace::decode(value)?;
                    out.push(StoredPiece {
                        seqs: r.wal_seqs,
                        spans: r.spans,
                    });
                    Ok(())
                })?,
                Some(index) => {
                    let mut found = Vec::new();
                    scan_prefix(db, &index, &keys::indexed_trace_prefix(id), |k, value| {
                        let block = keys::indexed_trace(k).map(|(_, block)| block);
                        found.push((block, StoredTrace::decode(value)?));
                        Ok(())
                    })?;
                    // Blocks written before the low-half-first entries.
                    scan_prefix(db, &index, &keys::trace_prefix(id), |k, value| {
                        found.push((keys::trace_key_block(k), StoredTrace::decode(value)?));
                        Ok(())
                    })?;
                    for (block, r) in found {
                        let Some(block) = block else { continue };
                        let Some(spans) = self.read_record(db, &data, block, id, r.ordinal)? else {
                            continue; // dropped meanwhile
                        };
                        out.push(StoredPiece {
                            seqs: r.wal_seqs,
                            spans,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The spans of one trace of a v2 block, `None` if the partition is gone.
    fn read_record(
        &self,
        db: &Db,
        data: &str,
        block: u64,
        id: TraceId,
        ordinal: Option<u32>,
    ) -> Result<Option<Bytes>, StorageError> {
        let Some(cf) = db.cf_handle(data) else {
            return Ok(None);
        };
        let lacks = |what: &str| {
            StorageError::Corrupt(format!(
                "block {block} of {data} lacks the {what} of trace {}",
                id.to_hex32()
            ))
        };
        let record = db
            .get_cf(
                &cf,
                match ordinal {
                    Some(ordinal) => keys::data_record_key(block, ordinal),
                    None => keys::data_key(block, keys::DATA_TRACE, Some(id)),
                },
            )?
            .ok_or_else(|| lacks("record"))?;
        let groups = self.groups.get_or_load(block, || {
            let raw = db
                .get_pinned_cf(&cf, keys::data_key(block, keys::DATA_GROUPS, None))?
                .ok_or_else(|| lacks("block dictionary"))?;
            Ok(BlockGroups::decode(&*raw)?)
        })?;
        decode_trace(&groups, id, Bytes::from(record)).map(Some)
    }

    /// Write-ahead sequences already stored for a trace.
    pub(crate) fn stored_seqs(&self, db: &Db, id: TraceId) -> Result<HashSet<u64>, StorageError> {
        let mut out = HashSet::new();
        for key in self.keys_newest_first() {
            let (data, index) = names(key);
            let mut seqs = |_: &[u8], value: &[u8]| {
                out.extend(StoredTrace::decode(value)?.wal_seqs);
                Ok(())
            };
            if let Some(index) = &index {
                scan_prefix(db, index, &keys::indexed_trace_prefix(id), &mut seqs)?;
            }
            let name = index.unwrap_or(data);
            scan_prefix(db, &name, &keys::trace_prefix(id), &mut seqs)?;
        }
        Ok(out)
    }

    /// Adds the ids in every partition's low-64 index with low half `low`.
    pub(crate) fn low64_ids(
        &self,
        db: &Db,
        low: u64,
        out: &mut Vec<TraceId>,
    ) -> Result<(), StorageError> {
        for key in self.keys_newest_first() {
            let (data, index) = names(key);
            if let Some(index) = &index {
                let (start, end) = keys::indexed_low64_range(low);
                scan_range(db, index, &start, &end, |k, _| {
                    // A 64-bit id is read directly, not listed.
                    out.extend(
                        keys::indexed_trace(k)
                            .map(|(id, _)| id)
                            .filter(|id| id.high() != 0),
                    );
                    Ok(())
                })?;
            }
            let name = index.unwrap_or(data);
            scan_prefix(db, &name, &keys::low64_prefix(low), |k, _| {
                out.extend(keys::low64_key_id(k));
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The blocks `keep` accepts, newest first by latest span start.
    pub(crate) fn blocks(
        &self,
        keep: impl Fn(&BlockMeta) -> bool,
    ) -> Vec<(PartitionKey, Arc<BlockMeta>)> {
        let mut out: Vec<(PartitionKey, Arc<BlockMeta>)> = Vec::new();
        for (key, metas) in self.map.read().iter() {
            out.extend(metas.iter().filter(|m| keep(m)).map(|m| (*key, m.clone())));
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.1.max_start_ns));
        out
    }

    /// Whether the block may hold every tag token of `tokens` (its filter,
    /// from memory or its stored meta); `false` if its partition is gone.
    pub(crate) fn may_contain_all(
        &self,
        db: &Db,
        key: PartitionKey,
        block: u64,
        tokens: &[u64],
    ) -> Result<bool, StorageError> {
        self.blooms.may_contain_all(block, tokens, || {
            let (data, index) = names(key);
            let Some(cf) = db.cf_handle(index.as_deref().unwrap_or(&data)) else {
                return Ok(None);
            };
            match db.get_pinned_cf(&cf, keys::block_meta_key(block))? {
                Some(v) => Ok(Some(BlockMeta::decode(&*v)?)),
                None => Ok(None),
            }
        })
    }

    /// Calls `candidate(trace id, bound)` for every trace of a block that
    /// may match `q` (see `search_list`); `false` if its partition is gone.
    pub(crate) fn block_candidates(
        &self,
        db: &Db,
        key: PartitionKey,
        block: u64,
        q: &TraceQuery,
        candidate: impl FnMut(&[u8], u64) -> Result<(), StorageError>,
    ) -> Result<bool, StorageError> {
        let (data, _) = names(key);
        let Some(cf) = db.cf_handle(&data) else {
            return Ok(false);
        };
        match key.1 {
            Layout::V1 => match db.get_pinned_cf(&cf, keys::block_traces_key(block))? {
                Some(r) => {
                    search_list::decoded_candidates(&BlockTraces::decode(&*r)?, q, candidate)?
                }
                None => return Ok(false),
            },
            Layout::V2 => {
                match db.get_pinned_cf(&cf, keys::data_key(block, keys::DATA_SEARCH, None))? {
                    Some(r) => search_list::candidates(&r, q, candidate)?,
                    None => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// Distinct partition starts, oldest first.
    pub(crate) fn starts(&self) -> Vec<u64> {
        let mut starts: Vec<u64> = self.map.read().keys().map(|k| k.0).collect();
        starts.dedup();
        starts
    }

    /// Drops every partition starting at `start`, index before data.
    pub(crate) fn drop_start(
        &self,
        db: &Db,
        start: u64,
        reason: &'static str,
    ) -> Result<(), StorageError> {
        for layout in [Layout::V1, Layout::V2] {
            let key = (start, layout);
            if self.map.write().remove(&key).is_none() {
                continue;
            }
            let (data, index) = names(key);
            for name in index.iter().chain([&data]) {
                if db.cf_handle(name).is_some() {
                    db.drop_cf(name)?;
                }
            }
            tracing::info!(partition = %data, reason, "dropped partition");
            metrics::counter!("spoor_storage_partitions_dropped_total", "reason" => reason)
                .increment(1);
        }
        Ok(())
    }

    /// Number of partitions (a v1 and a v2 partition of the same hour
    /// count as one).
    pub(crate) fn count(&self) -> usize {
        self.starts().len()
    }

    /// Names of every partition's column families.
    pub(crate) fn column_families(&self) -> Vec<String> {
        let mut out = Vec::new();
        for key in self.map.read().keys() {
            let (data, index) = names(*key);
            out.extend(index);
            out.push(data);
        }
        out
    }

    /// RocksDB's block cache, shared by every partition.
    pub(crate) fn block_cache(&self) -> &Cache {
        &self.cache
    }

    /// Bytes of tag filters held in memory.
    pub(crate) fn bloom_cache_bytes(&self) -> u64 {
        self.blooms.bytes() as u64
    }

    /// Number of blocks.
    pub(crate) fn block_count(&self) -> usize {
        self.map.read().values().map(Vec::len).sum()
    }

    /// Bytes of SST files and memtables of every partition column family.
    pub(crate) fn disk_bytes(&self, db: &Db) -> u64 {
        let mut total = 0;
        for key in self.map.read().keys() {
            let (data, index) = names(*key);
            for name in index.iter().chain([&data]) {
                let Some(cf) = db.cf_handle(name) else {
                    continue;
                };
                for prop in [
                    "rocksdb.total-sst-files-size",
                    "rocksdb.cur-size-all-mem-tables",
                ] {
                    total += db
                        .property_int_value_cf(&cf, prop)
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                }
            }
        }
        total
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
