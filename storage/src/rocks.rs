//! The RocksDB-backed [`Store`]: write-ahead log, trace assembly, flushing to
//! time partitions, trace-by-id, search, catalogue and retention.
//!
//! In: prepared batches from the single ingest writer; queries from the query
//! side (blocking calls: run them off async threads). Out: durable, searchable
//! traces.
//!
//! Column families: `wal`, `catalog`, `meta`, and one partition per
//! `partition_duration` of ingest time (see `keys`). Two background threads
//! run per store: the flusher (moves idle traces from memory to the current
//! partition, then trims the write-ahead log) and retention (drops expired
//! partitions, enforces the disk budget).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use prost::Message;
use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, ColumnFamilyDescriptor, DBCompressionType,
    DBWithThreadMode, MultiThreaded, Options, ReadOptions, SliceTransform, WriteBatch,
    WriteOptions,
};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, TracesData};
use xxhash_rust::xxh3::xxh3_64;

use crate::bloom;
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::keys;
use crate::live::{FlushItem, LiveBuffer};
use crate::matcher;
use crate::prepare::{prepare_batch, PreparedBatch};
use crate::query::{Operation, TraceQuery};
use crate::summary::{
    BlockMeta, BlockTraces, OpEntry, SpanSummary, StoredTrace, TraceEntry, WalRecord, WalTrace,
};

pub(crate) type Db = DBWithThreadMode<MultiThreaded>;

const WAL_FLOOR_KEY: &[u8] = b"wal_floor";

/// A partition known to the store, with its blocks' search metadata.
#[derive(Debug, Default)]
struct Partition {
    name: String,
    blocks: Vec<Arc<BlockMeta>>,
}

/// Catalogue: service → (operation, kind) → start of the partition it was last seen in.
type Catalog = BTreeMap<String, BTreeMap<(String, i32), u64>>;

/// Figures about the store, for the admin metrics.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Traces being assembled in memory.
    pub live_traces: usize,
    /// Encoded bytes being assembled in memory.
    pub live_bytes: u64,
    /// Partitions on disk.
    pub partitions: usize,
    /// Search blocks on disk.
    pub blocks: usize,
    /// Bytes of SST files and memtables of all partitions.
    pub disk_bytes: u64,
    /// True while RocksDB stops or slows down writes (a write stall: too
    /// many memtables or level-0 files waiting for flush and compaction).
    pub write_stalled: bool,
}

/// The embedded trace store.
pub struct Store {
    pub(crate) db: Db,
    config: StorageConfig,
    live: LiveBuffer,
    next_seq: AtomicU64,
    next_block: AtomicU64,
    /// Serialises writers with the write-ahead trim (see `trim_wal`).
    write_lock: Mutex<()>,
    /// Serialises flushes (the flusher thread and explicit calls).
    flush_lock: Mutex<()>,
    wal_trimmed_to: AtomicU64,
    partitions: RwLock<BTreeMap<u64, Partition>>,
    catalog: RwLock<Catalog>,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    cache: Cache,
    /// Analytics aggregates not yet on disk (`crate::aggregates`).
    pub(crate) aggregates: crate::aggregates::PendingAggregates,
    /// The tail-sampling decider, if any (`crate::decider`).
    pub(crate) decider: crate::decider::DeciderSlot,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn name_hash_service(service: &str) -> u64 {
    let mut v = Vec::with_capacity(service.len() + 2);
    v.extend_from_slice(b"s\0");
    v.extend_from_slice(service.as_bytes());
    xxh3_64(&v)
}

fn name_hash_op(service: &str, op: &str) -> u64 {
    let mut v = Vec::with_capacity(service.len() + op.len() + 3);
    v.extend_from_slice(b"o\0");
    v.extend_from_slice(service.as_bytes());
    v.push(0);
    v.extend_from_slice(op.as_bytes());
    xxh3_64(&v)
}

fn partition_options(cache: &Cache) -> Options {
    let mut opts = Options::default();
    // Trace records are written once and read rarely: zstd on every level
    // (level 3, 64 KiB blocks) keeps them several times smaller than LZ4 for a
    // small CPU cost in the background flush and compaction threads.
    opts.set_compression_type(DBCompressionType::Zstd);
    opts.set_compression_options(-14, 3, 0, 0);
    opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    opts.set_level_compaction_dynamic_level_bytes(true);
    opts.set_write_buffer_size(64 << 20);
    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(keys::TRACE_PREFIX_LEN));
    opts.set_memtable_prefix_bloom_ratio(0.1);
    let mut block = BlockBasedOptions::default();
    block.set_block_size(64 << 10);
    block.set_block_cache(cache);
    block.set_bloom_filter(10.0, false);
    block.set_whole_key_filtering(false);
    block.set_format_version(5);
    opts.set_block_based_table_factory(&block);
    opts
}

fn plain_options() -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::None);
    opts.set_write_buffer_size(64 << 20);
    opts
}

impl Store {
    /// Opens (or creates) the store in `config.data_dir`, replays the
    /// write-ahead log into memory, and starts the flusher and retention
    /// threads.
    pub fn open(config: StorageConfig) -> Result<Arc<Store>, StorageError> {
        config
            .validate()
            .map_err(|p| StorageError::Config(p.join("; ")))?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StorageError::Io(format!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let cache = Cache::new_lru_cache(64 << 20);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        db_opts.set_max_total_wal_size(256 << 20);
        db_opts.set_keep_log_file_num(3);

        let existing = Db::list_cf(&db_opts, &config.data_dir).unwrap_or_default();
        let mut descriptors = vec![
            ColumnFamilyDescriptor::new(keys::WAL_CF, plain_options()),
            ColumnFamilyDescriptor::new(keys::CATALOG_CF, plain_options()),
            ColumnFamilyDescriptor::new(keys::META_CF, plain_options()),
            ColumnFamilyDescriptor::new(
                keys::AGGREGATES_CF,
                crate::aggregates::aggregates_options(),
            ),
        ];
        let mut partition_names = Vec::new();
        for name in existing {
            if keys::partition_start(&name).is_some() {
                descriptors.push(ColumnFamilyDescriptor::new(
                    name.clone(),
                    partition_options(&cache),
                ));
                partition_names.push(name);
            }
        }
        let db = Db::open_cf_descriptors(&db_opts, &config.data_dir, descriptors)?;
        let store = Arc::new(Store {
            db,
            config,
            live: LiveBuffer::default(),
            next_seq: AtomicU64::new(0),
            next_block: AtomicU64::new(0),
            write_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            wal_trimmed_to: AtomicU64::new(0),
            partitions: RwLock::new(BTreeMap::new()),
            catalog: RwLock::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            cache,
            aggregates: Default::default(),
            decider: Default::default(),
        });
        store.load_partitions(&partition_names)?;
        store.load_catalog()?;
        store.replay_wal()?;
        store.enforce_retention()?;
        store.start_threads();
        Ok(store)
    }
}

// ---------------------------------------------------------------------------
// Startup

impl Store {
    fn load_partitions(&self, names: &[String]) -> Result<(), StorageError> {
        let mut max_block = None::<u64>;
        let mut partitions = self.partitions.write();
        for name in names {
            let Some(start) = keys::partition_start(name) else {
                continue;
            };
            let cf = self.cf(name)?;
            let mut blocks = Vec::new();
            let mut opts = ReadOptions::default();
            opts.set_total_order_seek(true);
            let iter = self.db.iterator_cf_opt(
                &cf,
                opts,
                rocksdb::IteratorMode::From(b"m", rocksdb::Direction::Forward),
            );
            for item in iter {
                let (key, value) = item?;
                if key.first() != Some(&b'm') {
                    break;
                }
                let meta = BlockMeta::decode(&*value)?;
                max_block = Some(max_block.map_or(meta.block, |m: u64| m.max(meta.block)));
                blocks.push(Arc::new(meta));
            }
            partitions.insert(
                start,
                Partition {
                    name: name.clone(),
                    blocks,
                },
            );
        }
        self.next_block
            .store(max_block.map_or(0, |m| m + 1), Ordering::Relaxed);
        Ok(())
    }

    fn load_catalog(&self) -> Result<(), StorageError> {
        let cf = self.cf(keys::CATALOG_CF)?;
        let mut catalog = self.catalog.write();
        for item in self.db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            let Some((service, op, kind)) = keys::parse_catalog_key(&key) else {
                continue;
            };
            let seen = value
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            catalog.entry(service).or_default().insert((op, kind), seen);
        }
        Ok(())
    }

    /// Puts every logged batch whose spans were not yet flushed back into memory.
    fn replay_wal(&self) -> Result<(), StorageError> {
        let wal = self.cf(keys::WAL_CF)?;
        let meta = self.cf(keys::META_CF)?;
        let floor = self
            .db
            .get_cf(&meta, WAL_FLOOR_KEY)?
            .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let mut next = floor;
        let mut stored_seqs: HashMap<TraceId, HashSet<u64>> = HashMap::new();
        let now = Instant::now();
        let mut replayed = 0usize;
        for item in self.db.iterator_cf(&wal, rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            let Some(seq) = keys::wal_seq(&key) else {
                continue;
            };
            next = next.max(seq + 1);
            let record = WalRecord::decode(&*value)?;
            for wt in record.traces {
                let trace_id = TraceId::from_bytes(&wt.trace_id)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                let seqs = match stored_seqs.entry(trace_id) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(
                        self.stored_records(trace_id)?
                            .into_iter()
                            .flat_map(|r| r.wal_seqs)
                            .collect(),
                    ),
                };
                if seqs.contains(&seq) {
                    continue;
                }
                let data = TracesData::decode(wt.fragment.clone())?;
                let prepared = prepare_batch(data);
                for trace in &prepared.traces {
                    replayed += trace.spans.len();
                    self.live.insert(seq, trace, now);
                }
            }
        }
        self.next_seq.store(next, Ordering::Relaxed);
        if replayed > 0 {
            tracing::info!(
                spans = replayed,
                "replayed unflushed spans from the write-ahead log"
            );
        }
        Ok(())
    }

    fn start_threads(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let flusher = std::thread::Builder::new()
            .name("spoor-flusher".into())
            .spawn(move || {
                background_loop(weak, Duration::from_millis(100), |s| {
                    s.flush(false).map(|_| ())
                })
            })
            .expect("spawn flusher thread");
        let weak = Arc::downgrade(self);
        let interval = self.config.retention_check_interval;
        let retention = std::thread::Builder::new()
            .name("spoor-retention".into())
            .spawn(move || background_loop(weak, interval, |s| s.enforce_retention()))
            .expect("spawn retention thread");
        self.threads.lock().extend([flusher, retention]);
    }

    /// Flushes everything held in memory and stops the background threads.
    /// Writes after this fail with [`StorageError::ShuttingDown`].
    pub fn shutdown(&self) -> Result<(), StorageError> {
        self.stop.store(true, Ordering::SeqCst);
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        self.flush(true)?;
        self.flush_aggregates()?;
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// The database, for sibling modules (`archive`).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn cf(&self, name: &str) -> Result<Arc<BoundColumnFamily<'_>>, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Io(format!("column family {name} is missing")))
    }
}

fn background_loop(
    weak: Weak<Store>,
    interval: Duration,
    work: impl Fn(&Store) -> Result<(), StorageError>,
) {
    let tick = Duration::from_millis(50).min(interval);
    let mut last = Instant::now();
    loop {
        std::thread::sleep(tick);
        let Some(store) = weak.upgrade() else { return };
        if store.stop.load(Ordering::SeqCst) {
            return;
        }
        if last.elapsed() < interval {
            continue;
        }
        last = Instant::now();
        if let Err(e) = work(&store) {
            tracing::error!(error = %e, "storage background task failed; retrying");
        }
    }
}

// ---------------------------------------------------------------------------
// Writes

impl Store {
    /// Logs the batches durably (one write-ahead record each, in one RocksDB
    /// write), records new catalogue entries, and adds the spans to the
    /// in-memory buffer. When this returns `Ok`, the spans survive a crash and
    /// are visible to reads.
    pub fn write_batches(&self, batches: &[PreparedBatch]) -> Result<(), StorageError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(StorageError::ShuttingDown);
        }
        let held = self.live.byte_count();
        if held > self.config.live_hard_max_bytes {
            metrics::counter!("spoor_storage_writes_refused_total").increment(1);
            return Err(StorageError::Overloaded {
                held,
                bound: self.config.live_hard_max_bytes,
            });
        }
        let started = Instant::now();
        let wal = self.cf(keys::WAL_CF)?;
        let catalog_cf = self.cf(keys::CATALOG_CF)?;
        let partition = self.current_partition_start();
        let _guard = self.write_lock.lock();
        let first_seq = self.next_seq.load(Ordering::Relaxed);
        let mut wb = WriteBatch::default();
        let mut catalog_updates = Vec::new();
        {
            let catalog = self.catalog.read();
            for (i, batch) in batches.iter().enumerate() {
                let record = WalRecord {
                    traces: batch
                        .traces
                        .iter()
                        .map(|t| WalTrace {
                            trace_id: Bytes::copy_from_slice(&t.trace_id.to_bytes()),
                            fragment: t.fragment.clone(),
                        })
                        .collect(),
                };
                wb.put_cf(
                    &wal,
                    keys::wal_key(first_seq + i as u64),
                    record.encode_to_vec(),
                );
                for (service, op, kind) in &batch.catalog {
                    let seen = catalog
                        .get(service)
                        .and_then(|ops| ops.get(&(op.clone(), *kind)));
                    if seen.is_none_or(|s| *s < partition)
                        && !catalog_updates
                            .iter()
                            .any(|(s, o, k)| s == service && o == op && k == kind)
                    {
                        wb.put_cf(
                            &catalog_cf,
                            keys::catalog_key(service, op, *kind),
                            partition.to_be_bytes(),
                        );
                        catalog_updates.push((service.clone(), op.clone(), *kind));
                    }
                }
            }
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(false);
        self.db.write_opt(wb, &opts)?;
        self.next_seq
            .store(first_seq + batches.len() as u64, Ordering::Relaxed);
        if !catalog_updates.is_empty() {
            let mut catalog = self.catalog.write();
            for (service, op, kind) in catalog_updates {
                catalog
                    .entry(service)
                    .or_default()
                    .insert((op, kind), partition);
            }
        }
        let now = Instant::now();
        for (i, batch) in batches.iter().enumerate() {
            for trace in &batch.traces {
                self.live.insert(first_seq + i as u64, trace, now);
            }
        }
        metrics::histogram!("spoor_storage_write_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    fn current_partition_start(&self) -> u64 {
        let width = self.config.partition_duration.as_secs().max(1);
        now_secs() / width * width
    }

    /// Creates the partition column family if needed; returns its name.
    fn ensure_partition(&self, start: u64) -> Result<String, StorageError> {
        if let Some(p) = self.partitions.read().get(&start) {
            return Ok(p.name.clone());
        }
        let mut partitions = self.partitions.write();
        if let Some(p) = partitions.get(&start) {
            return Ok(p.name.clone());
        }
        let name = keys::partition_name(start);
        self.db.create_cf(&name, &partition_options(&self.cache))?;
        partitions.insert(
            start,
            Partition {
                name: name.clone(),
                blocks: Vec::new(),
            },
        );
        Ok(name)
    }

    /// Moves due traces (or, with `all`, every trace) from memory to the
    /// current partition, then trims the write-ahead log. Returns the number
    /// of traces flushed.
    pub fn flush(&self, all: bool) -> Result<usize, StorageError> {
        let _flush = self.flush_lock.lock();
        let cfg = &self.config;
        let now = Instant::now();
        // A tail-sampling decider sets its own wait (`crate::decider`).
        let (idle, max_age) = self
            .decider
            .timing()
            .unwrap_or((cfg.trace_idle_timeout, cfg.trace_max_age));
        let items = self.live.due(
            now,
            idle,
            max_age,
            cfg.live_max_bytes,
            cfg.live_max_traces,
            all,
        );
        // Tail sampling: dropped traces leave the buffer here, unwritten.
        let items = crate::decider::decide_due(&self.decider, &self.live, items, now, all);
        metrics::gauge!("spoor_storage_live_traces").set(self.live.trace_count() as f64);
        metrics::gauge!("spoor_storage_live_bytes").set(self.live.byte_count() as f64);
        if items.is_empty() {
            self.trim_wal()?;
            return Ok(0);
        }
        let started = Instant::now();
        let start = self.current_partition_start();
        let name = self.ensure_partition(start)?;
        let cf = self.cf(&name)?;
        let meta_cf = self.cf(keys::META_CF)?;
        let mut wb = WriteBatch::default();
        let mut metas = Vec::new();
        for chunk in items.chunks(cfg.block_max_traces) {
            let block = self.next_block.fetch_add(1, Ordering::Relaxed);
            let (traces, meta) = build_block(block, chunk);
            for item in chunk {
                let mut spans = BytesMut::with_capacity(item.trace.bytes);
                let mut seqs: Vec<u64> = Vec::new();
                for (seq, fragment) in &item.trace.fragments {
                    spans.extend_from_slice(fragment);
                    if !seqs.contains(seq) {
                        seqs.push(*seq);
                    }
                }
                let record = StoredTrace {
                    wal_seqs: seqs,
                    spans: spans.freeze(),
                };
                wb.put_cf(
                    &cf,
                    keys::trace_key(item.trace_id, block),
                    record.encode_to_vec(),
                );
                // The low-64 index lives and dies with the record's partition.
                if let Some(key) = keys::low64_key(item.trace_id) {
                    wb.put_cf(&cf, key, []);
                }
            }
            wb.put_cf(&cf, keys::block_traces_key(block), traces.encode_to_vec());
            wb.put_cf(&cf, keys::block_meta_key(block), meta.encode_to_vec());
            metas.push(Arc::new(meta));
        }
        // Every stored fragment's sequence is below this, so sequences never repeat.
        wb.put_cf(
            &meta_cf,
            WAL_FLOOR_KEY,
            self.next_seq.load(Ordering::Relaxed).to_be_bytes(),
        );
        self.db.write(wb)?;
        if let Some(p) = self.partitions.write().get_mut(&start) {
            p.blocks.extend(metas);
        }
        for item in &items {
            self.live.remove_flushed(item);
        }
        self.trim_wal()?;
        metrics::histogram!("spoor_storage_flush_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("spoor_storage_traces_flushed_total").increment(items.len() as u64);
        Ok(items.len())
    }

    /// Deletes write-ahead records no live trace needs any more.
    fn trim_wal(&self) -> Result<(), StorageError> {
        let low = {
            let _guard = self.write_lock.lock();
            self.live
                .lowest_seq()
                .unwrap_or_else(|| self.next_seq.load(Ordering::Relaxed))
        };
        if low > self.wal_trimmed_to.load(Ordering::Relaxed) {
            let wal = self.cf(keys::WAL_CF)?;
            self.db
                .delete_range_cf(&wal, keys::wal_key(0), keys::wal_key(low))?;
            self.wal_trimmed_to.store(low, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Builds the search summaries of one block of flushed traces.
fn build_block(block: u64, items: &[FlushItem]) -> (BlockTraces, BlockMeta) {
    let mut strings: Vec<String> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: &str, strings: &mut Vec<String>| -> u32 {
        if let Some(i) = index.get(s) {
            return *i;
        }
        let i = strings.len() as u32;
        strings.push(s.to_string());
        index.insert(s.to_string(), i);
        i
    };
    let mut names: Vec<u64> = Vec::new();
    let mut tokens: Vec<u64> = Vec::new();
    let mut min_start = u64::MAX;
    let mut max_start = 0u64;
    let mut traces = Vec::with_capacity(items.len());
    for item in items {
        let mut ops: Vec<OpEntry> = Vec::new();
        for s in &item.trace.spans {
            min_start = min_start.min(s.start_ns);
            max_start = max_start.max(s.start_ns);
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
                    names.push(name_hash_service(&s.service));
                    names.push(name_hash_op(&s.service, &s.operation));
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
    names.sort_unstable();
    names.dedup();
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
        names,
        bloom: bloom::build(&tokens),
        bloom_hashes: bloom::HASHES,
    };
    (BlockTraces { strings, traces }, meta)
}

// ---------------------------------------------------------------------------
// Reads

/// A position in a newest-first search (see [`Store::find_traces_page`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    /// Start of the trace's latest span that matches the query, ns.
    pub latest_match_ns: u64,
    /// The trace.
    pub trace_id: TraceId,
}

/// One trace of a search page.
#[derive(Debug, Clone)]
pub struct FoundTrace {
    /// Where the trace stands in the search order; pass the last one of a
    /// page to get the next page.
    pub cursor: SearchCursor,
    /// All its spans.
    pub data: TracesData,
}

/// A verified search hit.
struct Hit {
    latest_match_ns: u64,
    trace_id: TraceId,
    data: TracesData,
}

impl Store {
    /// Names of the partitions, newest first.
    fn partition_names(&self) -> Vec<String> {
        self.partitions
            .read()
            .values()
            .rev()
            .map(|p| p.name.clone())
            .collect()
    }

    /// Every stored fragment record of a trace, newest partition first.
    fn stored_records(&self, id: TraceId) -> Result<Vec<StoredTrace>, StorageError> {
        let mut out = Vec::new();
        self.scan_partitions(&keys::trace_prefix(id), |_, value| {
            out.push(StoredTrace::decode(value)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with every record under `prefix` in every partition,
    /// newest partition first (a partition dropped meanwhile is skipped).
    fn scan_partitions(
        &self,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        for name in self.partition_names() {
            let Some(cf) = self.db.cf_handle(&name) else {
                continue;
            };
            let mut opts = ReadOptions::default();
            opts.set_prefix_same_as_start(true);
            let iter = self.db.iterator_cf_opt(
                &cf,
                opts,
                rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
            );
            for item in iter {
                let (key, value) = item?;
                if !key.starts_with(prefix) {
                    break;
                }
                visit(&key, &value)?;
            }
        }
        Ok(())
    }

    /// All spans of a trace, from memory and disk; `None` when unknown.
    pub fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        let started = Instant::now();
        // Memory first, then disk: a flush that runs in between can only make a
        // fragment appear twice (removed below by sequence), never vanish.
        let live = self.live.get(id);
        let stored = self.stored_records(id)?;
        if live.is_none() && stored.is_empty() {
            return Ok(None);
        }
        let stored_seqs: HashSet<u64> = stored
            .iter()
            .flat_map(|r| r.wal_seqs.iter().copied())
            .collect();
        let mut bytes = BytesMut::new();
        for r in stored.iter().rev() {
            bytes.extend_from_slice(&r.spans);
        }
        if let Some(t) = live {
            for (seq, fragment) in &t.fragments {
                if !stored_seqs.contains(seq) {
                    bytes.extend_from_slice(fragment);
                }
            }
        }
        let data = TracesData::decode(bytes.freeze())?;
        metrics::histogram!("spoor_storage_query_duration_seconds", "operation" => "get_trace")
            .record(started.elapsed().as_secs_f64());
        Ok(Some(data))
    }

    /// Ids of the stored traces with a non-zero high half whose low 64 bits
    /// are `low` (from memory and from every partition's low-64 index),
    /// ascending. The 64-bit id `TraceId(low)` itself is not listed.
    pub fn trace_ids_with_low64(&self, low: u64) -> Result<Vec<TraceId>, StorageError> {
        // Memory first, then disk: a flush in between writes the index entry
        // before the trace leaves memory, so no id is missed.
        let mut ids = self.live.ids_with_low64(low);
        self.scan_partitions(&keys::low64_prefix(low), |key, _| {
            ids.extend(keys::low64_key_id(key));
            Ok(())
        })?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// All spans of every trace whose low 64 bits are `low` — the 64-bit id
    /// and any 128-bit ones sharing its low half — as one trace (Zipkin's
    /// lenient trace ids); `None` when there are none.
    pub fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, StorageError> {
        let mut merged: Option<TracesData> = None;
        let ids = std::iter::once(TraceId(u128::from(low))).chain(self.trace_ids_with_low64(low)?);
        for id in ids {
            if let Some(data) = self.get_trace(id)? {
                match &mut merged {
                    None => merged = Some(data),
                    Some(all) => all.resource_spans.extend(data.resource_spans),
                }
            }
        }
        Ok(merged)
    }

    /// Whole traces matching the query, newest matching span first, at most
    /// `query.limit`.
    pub fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TracesData>, StorageError> {
        Ok(self
            .search(query, None)?
            .into_iter()
            .map(|h| h.data)
            .collect())
    }

    /// Ids of the traces [`Store::find_traces`] would return.
    pub fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        Ok(self
            .search(query, None)?
            .into_iter()
            .map(|h| h.trace_id)
            .collect())
    }

    /// One page of a search that walks every match, newest first: at most
    /// `query.limit` matching traces that come after `after` in the order
    /// (latest matching span start, trace id), both descending. Pass the
    /// last trace's [`FoundTrace::cursor`] to get the next page; a page
    /// shorter than the limit is the last. Memory stays bounded by the page.
    pub fn find_traces_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError> {
        Ok(self
            .search(query, after)?
            .into_iter()
            .map(|h| FoundTrace {
                cursor: SearchCursor {
                    latest_match_ns: h.latest_match_ns,
                    trace_id: h.trace_id,
                },
                data: h.data,
            })
            .collect())
    }

    fn search(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<Hit>, StorageError> {
        let started = Instant::now();
        let limit = query.limit.max(1);
        let mut hits: Vec<Hit> = Vec::new();
        let mut seen: HashSet<TraceId> = HashSet::new();
        let prunable: Vec<u64> = query
            .tags
            .iter()
            .filter(|(k, v)| matcher::tag_is_prunable(k, v))
            .map(|(k, v)| matcher::token(k, v))
            .collect();
        // Candidates are pruned by a window ending at the cursor (a trace
        // after it has a matching span no later than it), but verified over
        // the whole window, so a trace of an earlier page is recognised by
        // its latest match and skipped.
        let pruning = match after {
            None => query.clone(),
            Some(c) => TraceQuery {
                start_max_ns: Some(
                    query
                        .start_max_ns
                        .map_or(c.latest_match_ns, |max| max.min(c.latest_match_ns)),
                ),
                ..query.clone()
            },
        };
        let is_after = |hit: &Hit| {
            after.is_none_or(|c| {
                (hit.latest_match_ns, hit.trace_id) < (c.latest_match_ns, c.trace_id)
            })
        };
        // Keeps at most twice the limit of decoded traces in memory.
        let push = |hits: &mut Vec<Hit>, hit: Hit| {
            hits.push(hit);
            if hits.len() >= limit.saturating_mul(2) {
                sort_hits(hits);
                hits.truncate(limit);
            }
        };
        let whole = query;
        let query = &pruning;

        // 1. Traces still in memory.
        let mut candidates = Vec::new();
        self.live.for_each(|id, t| {
            if t.spans.iter().any(|s| summary_may_match(s, query))
                && prunable
                    .iter()
                    .all(|tok| t.tokens.binary_search(tok).is_ok())
            {
                candidates.push(id);
            }
        });
        for id in candidates {
            if seen.insert(id) {
                if let Some(hit) = self.verify(id, whole)?.filter(is_after) {
                    push(&mut hits, hit);
                }
            }
        }

        // 2. Blocks on disk, newest first, skipped by their summaries.
        let service_hash = query.service.as_deref().map(name_hash_service);
        let op_hash = match (&query.service, &query.operation) {
            (Some(s), Some(o)) => Some(name_hash_op(s, o)),
            _ => None,
        };
        let mut blocks: Vec<(String, Arc<BlockMeta>)> = Vec::new();
        for p in self.partitions.read().values() {
            for b in &p.blocks {
                if query.start_min_ns.is_some_and(|min| b.max_start_ns < min)
                    || query.start_max_ns.is_some_and(|max| b.min_start_ns > max)
                {
                    continue;
                }
                if service_hash.is_some_and(|h| b.names.binary_search(&h).is_err())
                    || op_hash.is_some_and(|h| b.names.binary_search(&h).is_err())
                {
                    continue;
                }
                if !prunable
                    .iter()
                    .all(|t| bloom::may_contain(&b.bloom, b.bloom_hashes, *t))
                {
                    continue;
                }
                blocks.push((p.name.clone(), b.clone()));
            }
        }
        blocks.sort_by_key(|b| std::cmp::Reverse(b.1.max_start_ns));
        for (partition, meta) in blocks {
            if hits.len() >= limit {
                sort_hits(&mut hits);
                hits.truncate(limit);
                if meta.max_start_ns < hits[limit - 1].latest_match_ns {
                    break;
                }
            }
            let Some(cf) = self.db.cf_handle(&partition) else {
                continue;
            };
            let Some(raw) = self.db.get_cf(&cf, keys::block_traces_key(meta.block))? else {
                continue;
            };
            let block = BlockTraces::decode(raw.as_slice())?;
            for entry in &block.traces {
                if !entry
                    .ops
                    .iter()
                    .any(|op| op_may_match(op, &block.strings, query))
                {
                    continue;
                }
                let id = TraceId::from_bytes(&entry.trace_id)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                if seen.insert(id) {
                    if let Some(hit) = self.verify(id, whole)?.filter(is_after) {
                        push(&mut hits, hit);
                    }
                }
            }
        }
        sort_hits(&mut hits);
        hits.truncate(limit);
        metrics::histogram!("spoor_storage_query_duration_seconds", "operation" => "find_traces")
            .record(started.elapsed().as_secs_f64());
        Ok(hits)
    }

    /// Loads a candidate trace and checks the query on each of its spans.
    fn verify(&self, id: TraceId, query: &TraceQuery) -> Result<Option<Hit>, StorageError> {
        let Some(data) = self.get_trace(id)? else {
            return Ok(None);
        };
        let mut latest = None::<u64>;
        for rs in &data.resource_spans {
            let resource = rs.resource.clone().unwrap_or_default();
            for ss in &rs.scope_spans {
                let scope = ss.scope.clone().unwrap_or_default();
                for span in &ss.spans {
                    if matcher::span_matches(&resource, &scope, span, query) {
                        latest = Some(latest.map_or(span.start_time_unix_nano, |l| {
                            l.max(span.start_time_unix_nano)
                        }));
                    }
                }
            }
        }
        Ok(latest.map(|latest_match_ns| Hit {
            latest_match_ns,
            trace_id: id,
            data,
        }))
    }

    /// Service names, sorted.
    pub fn services(&self) -> Vec<String> {
        self.catalog.read().keys().cloned().collect()
    }

    /// Operations of a service (optionally of one kind), sorted by name then kind.
    pub fn operations(&self, service: &str, kind: Option<SpanKind>) -> Vec<Operation> {
        let catalog = self.catalog.read();
        let Some(ops) = catalog.get(service) else {
            return Vec::new();
        };
        let mut out: Vec<Operation> = ops
            .keys()
            .filter(|(_, k)| kind.is_none_or(|want| want as i32 == *k))
            .map(|(name, k)| Operation {
                name: name.clone(),
                kind: SpanKind::try_from(*k).unwrap_or(SpanKind::Unspecified),
            })
            .collect();
        out.sort();
        out
    }

    /// Figures for the admin metrics.
    pub fn stats(&self) -> StoreStats {
        let partitions = self.partitions.read();
        let mut disk_bytes = 0;
        for p in partitions.values() {
            if let Some(cf) = self.db.cf_handle(&p.name) {
                for prop in [
                    "rocksdb.total-sst-files-size",
                    "rocksdb.cur-size-all-mem-tables",
                ] {
                    disk_bytes += self
                        .db
                        .property_int_value_cf(&cf, prop)
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                }
            }
        }
        let db_property = |name: &str| self.db.property_int_value(name).ok().flatten();
        let write_stalled = db_property("rocksdb.is-write-stopped").unwrap_or(0) > 0
            || db_property("rocksdb.actual-delayed-write-rate").unwrap_or(0) > 0;
        StoreStats {
            live_traces: self.live.trace_count(),
            live_bytes: self.live.byte_count(),
            partitions: partitions.len(),
            blocks: partitions.values().map(|p| p.blocks.len()).sum(),
            disk_bytes,
            write_stalled,
        }
    }
}

/// Newest first: by latest matching span start, then by trace id, both
/// descending (the order [`Store::find_traces_page`] walks).
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by_key(|h| std::cmp::Reverse((h.latest_match_ns, h.trace_id)));
}

fn summary_may_match(s: &SpanSummary, q: &TraceQuery) -> bool {
    q.service.as_ref().is_none_or(|svc| &s.service == svc)
        && q.operation.as_ref().is_none_or(|op| &s.operation == op)
        && q.start_min_ns.is_none_or(|min| s.start_ns >= min)
        && q.start_max_ns.is_none_or(|max| s.start_ns <= max)
        && q.duration_min_ns.is_none_or(|min| s.duration_ns >= min)
        && q.duration_max_ns.is_none_or(|max| s.duration_ns <= max)
}

fn op_may_match(op: &OpEntry, strings: &[String], q: &TraceQuery) -> bool {
    let text = |i: u32| strings.get(i as usize).map(String::as_str).unwrap_or("");
    q.service
        .as_deref()
        .is_none_or(|svc| text(op.service) == svc)
        && q.operation
            .as_deref()
            .is_none_or(|o| text(op.operation) == o)
        && q.start_min_ns.is_none_or(|min| op.max_start_ns >= min)
        && q.start_max_ns.is_none_or(|max| op.min_start_ns <= max)
        && q.duration_min_ns
            .is_none_or(|min| op.max_duration_ns >= min)
        && q.duration_max_ns
            .is_none_or(|max| op.min_duration_ns <= max)
}

// ---------------------------------------------------------------------------
// Retention

impl Store {
    /// Drops partitions older than the retention time, then the oldest ones
    /// while the disk budget is exceeded; forgets catalogue entries not seen
    /// within the retention time.
    pub fn enforce_retention(&self) -> Result<(), StorageError> {
        let width = self.config.partition_duration.as_secs().max(1);
        let cutoff = now_secs().saturating_sub(self.config.retention.as_secs());
        let expired: Vec<u64> = self
            .partitions
            .read()
            .keys()
            .copied()
            .filter(|start| start + width <= cutoff)
            .collect();
        for start in expired {
            self.drop_partition(start, "age")?;
        }
        if self.config.max_disk_bytes > 0 {
            loop {
                let stats = self.stats();
                if stats.disk_bytes <= self.config.max_disk_bytes || stats.partitions <= 1 {
                    break;
                }
                let Some(oldest) = self.partitions.read().keys().next().copied() else {
                    break;
                };
                self.drop_partition(oldest, "size")?;
            }
        }
        // Catalogue entries last seen in a partition that has expired.
        let catalog_cf = self.cf(keys::CATALOG_CF)?;
        let mut stale = Vec::new();
        {
            let catalog = self.catalog.read();
            for (service, ops) in catalog.iter() {
                for ((op, kind), seen) in ops {
                    if seen + width <= cutoff {
                        stale.push((service.clone(), op.clone(), *kind));
                    }
                }
            }
        }
        if !stale.is_empty() {
            let mut wb = WriteBatch::default();
            let mut catalog = self.catalog.write();
            for (service, op, kind) in stale {
                wb.delete_cf(&catalog_cf, keys::catalog_key(&service, &op, kind));
                if let Some(ops) = catalog.get_mut(&service) {
                    ops.remove(&(op, kind));
                    if ops.is_empty() {
                        catalog.remove(&service);
                    }
                }
            }
            self.db.write(wb)?;
        }
        self.expire_aggregates(cutoff.saturating_mul(1000))?;
        let stats = self.stats();
        metrics::gauge!("spoor_storage_partitions").set(stats.partitions as f64);
        metrics::gauge!("spoor_storage_disk_bytes").set(stats.disk_bytes as f64);
        Ok(())
    }

    fn drop_partition(&self, start: u64, reason: &'static str) -> Result<(), StorageError> {
        let Some(p) = self.partitions.write().remove(&start) else {
            return Ok(());
        };
        self.db.drop_cf(&p.name)?;
        tracing::info!(partition = %p.name, reason, "dropped partition");
        metrics::counter!("spoor_storage_partitions_dropped_total", "reason" => reason)
            .increment(1);
        Ok(())
    }
}
