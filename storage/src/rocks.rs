//! The RocksDB-backed [`Store`]: opening it, its background threads, and
//! the state each part of it owns.
//!
//! In: a [`StorageConfig`]. Out: an open store whose jobs live in their own
//! modules: the write path (`write`), the flush from memory to partitions
//! (`flush`), trace by id (`read`), search (`search`), the catalogue
//! (`catalog`), retention (`retention`) and recovery on open (`recovery`).
//! Every piece of state has one owner: the write-ahead log (`wal`), the
//! in-memory buffer (`live`), the partitions and their block metadata
//! (`partition`), the catalogue, the aggregates and the decider.
//!
//! Column families: `catalog`, `meta`, `aggregates`, and two per partition
//! of `partition_duration` of ingest time (see `keys`; v1 partitions of
//! earlier versions stay readable until retention drops them). Two
//! background threads run per store: the flusher (moves due traces from
//! memory to the current partition, then trims the write-ahead log) and
//! retention (drops expired partitions, enforces the disk budget).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rocksdb::{
    BoundColumnFamily, Cache, ColumnFamilyDescriptor, DBCompressionType, DBWithThreadMode,
    MultiThreaded, Options, WriteBufferManager,
};

use crate::catalog::Catalog;
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::keys;
use crate::live::LiveBuffer;
use crate::partition::Partitions;
use crate::wal::SegmentLog;

pub(crate) type Db = DBWithThreadMode<MultiThreaded>;

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
    /// Bytes of write-ahead log segments.
    pub wal_bytes: u64,
    /// True while RocksDB stops or slows down writes (a write stall: too
    /// many memtables or level-0 files waiting for flush and compaction).
    pub write_stalled: bool,
    /// Bytes of RocksDB's memtables, all column families.
    pub memtable_bytes: u64,
    /// Bytes RocksDB holds for its open SST files (indexes, filters).
    pub table_reader_bytes: u64,
    /// Bytes in RocksDB's block cache.
    pub block_cache_bytes: u64,
    /// Bytes of blocks' tag filters held in memory.
    pub bloom_cache_bytes: u64,
}

/// The embedded trace store.
pub struct Store {
    pub(crate) db: Db,
    pub(crate) config: StorageConfig,
    /// Traces being assembled (`crate::live`).
    pub(crate) live: LiveBuffer,
    /// The write-ahead log (`crate::wal`).
    pub(crate) wal: SegmentLog,
    /// The next write-ahead sequence.
    pub(crate) next_seq: AtomicU64,
    /// Serialises writers with the write-ahead trim (see `flush`).
    pub(crate) write_lock: Mutex<()>,
    /// Serialises flushes (the flusher thread and explicit calls).
    pub(crate) flush_lock: Mutex<()>,
    /// The partitions and their blocks (`crate::partition`).
    pub(crate) partitions: Partitions,
    /// Services and operations (`crate::catalog`).
    pub(crate) catalog: Catalog,
    /// True once every memtable has been flushed since the last block
    /// write (`crate::flush`: done once each time the store goes idle).
    pub(crate) memtables_flushed: AtomicBool,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
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

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn plain_options() -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::None);
    opts.set_write_buffer_size(16 << 20);
    opts
}

/// Where the write-ahead log segments live.
pub(crate) fn wal_dir(config: &StorageConfig) -> PathBuf {
    config.data_dir.join("wal")
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
        let cache = Cache::new_lru_cache(config.block_cache_bytes as usize);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        db_opts.set_max_total_wal_size(config.rocksdb_log_max_bytes);
        if config.rocksdb_log_compression {
            db_opts.set_wal_compression_type(rocksdb::DBCompressionType::Zstd);
        }
        db_opts.set_keep_log_file_num(3);
        db_opts.set_max_open_files(config.max_open_files);
        db_opts.set_write_buffer_manager(&WriteBufferManager::new_write_buffer_manager(
            config.memtable_bytes as usize,
            false,
        ));

        let existing = Db::list_cf(&db_opts, &config.data_dir).unwrap_or_default();
        let mut descriptors = vec![
            ColumnFamilyDescriptor::new(keys::CATALOG_CF, plain_options()),
            ColumnFamilyDescriptor::new(keys::META_CF, plain_options()),
            ColumnFamilyDescriptor::new(
                keys::AGGREGATES_CF,
                crate::aggregates::aggregates_options(),
            ),
        ];
        if existing.iter().any(|n| n == keys::WAL_CF) {
            // The v1 write-ahead column family, migrated below.
            descriptors.push(ColumnFamilyDescriptor::new(keys::WAL_CF, plain_options()));
        }
        let partitions = Partitions::new(
            cache,
            &config.data_dir.join("ingest"),
            config.dictionary_cache_blocks,
            config.bloom_cache_bytes,
        );
        descriptors.extend(partitions.descriptors(&existing));
        let db = Db::open_cf_descriptors(&db_opts, &config.data_dir, descriptors)?;
        partitions.load(&db, &existing)?;
        let catalog = Catalog::default();
        catalog.load(&db)?;
        let live = LiveBuffer::default();
        let (wal, next_seq) = crate::recovery::recover(&db, &config, &partitions, &catalog, &live)?;
        let store = Arc::new(Store {
            db,
            config,
            live,
            wal,
            next_seq: AtomicU64::new(next_seq),
            write_lock: Mutex::new(()),
            flush_lock: Mutex::new(()),
            partitions,
            catalog,
            memtables_flushed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            aggregates: Default::default(),
            decider: Default::default(),
        });
        store.enforce_retention()?;
        store.start_threads();
        Ok(store)
    }

    fn start_threads(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let interval = self.config.flush_interval;
        let flusher = std::thread::Builder::new()
            .name("spoor-flusher".into())
            .spawn(move || {
                // Over the soft bound the flusher does not wait for the
                // interval: the buffer would reach its hard bound meanwhile.
                background_loop(weak, interval, Store::over_soft_bound, |s| {
                    s.flush(false).map(|_| ())
                })
            })
            .expect("spawn flusher thread");
        let weak = Arc::downgrade(self);
        let interval = self.config.retention_check_interval;
        let retention = std::thread::Builder::new()
            .name("spoor-retention".into())
            .spawn(move || background_loop(weak, interval, |_| false, Store::enforce_retention))
            .expect("spawn retention thread");
        self.threads.lock().extend([flusher, retention]);
    }

    /// Whether the store takes no more writes.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
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
        self.wal.sync()?;
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

    /// Start of the partition that ingest writes to now.
    pub(crate) fn current_partition_start(&self) -> u64 {
        let width = self.config.partition_duration.as_secs().max(1);
        now_secs() / width * width
    }

    /// Service names, sorted.
    pub fn services(&self) -> Vec<String> {
        self.catalog.services()
    }

    /// Operations of a service (optionally of one kind), sorted by name then kind.
    pub fn operations(
        &self,
        service: &str,
        kind: Option<spoor_proto::model::SpanKind>,
    ) -> Vec<crate::query::Operation> {
        self.catalog.operations(service, kind)
    }

    /// Figures for the admin metrics.
    pub fn stats(&self) -> StoreStats {
        let db_property = |name: &str| self.db.property_int_value(name).ok().flatten();
        let write_stalled = db_property("rocksdb.is-write-stopped").unwrap_or(0) > 0
            || db_property("rocksdb.actual-delayed-write-rate").unwrap_or(0) > 0;
        let memory = rocksdb::perf::get_memory_usage_stats(
            Some(&[&self.db]),
            Some(&[self.partitions.block_cache()]),
        )
        .ok();
        StoreStats {
            memtable_bytes: memory.as_ref().map_or(0, |m| m.mem_table_total),
            table_reader_bytes: memory.as_ref().map_or(0, |m| m.mem_table_readers_total),
            block_cache_bytes: memory.as_ref().map_or(0, |m| m.cache_total),
            bloom_cache_bytes: self.partitions.bloom_cache_bytes(),
            live_traces: self.live.trace_count(),
            live_bytes: self.live.byte_count(),
            partitions: self.partitions.count(),
            blocks: self.partitions.block_count(),
            disk_bytes: self.partitions.disk_bytes(&self.db),
            wal_bytes: self.wal.disk_bytes(),
            write_stalled,
        }
    }
}

/// Runs `work` every `interval` (looking every 50 ms), and sooner while
/// `early` says so, until the store stops or is dropped.
fn background_loop(
    weak: Weak<Store>,
    interval: Duration,
    early: impl Fn(&Store) -> bool,
    work: impl Fn(&Store) -> Result<(), StorageError>,
) {
    let tick = Duration::from_millis(50).min(interval);
    let mut last = Instant::now();
    loop {
        std::thread::sleep(tick);
        let Some(store) = weak.upgrade() else { return };
        if store.stopping() {
            return;
        }
        if last.elapsed() < interval && !early(&store) {
            continue;
        }
        last = Instant::now();
        if let Err(e) = work(&store) {
            tracing::error!(error = %e, "storage background task failed; retrying");
        }
    }
}
