//! Storage settings: one serde section of Spoor's configuration tree.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the embedded store. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory holding the RocksDB database.
    pub data_dir: PathBuf,
    /// Age after which data is deleted (whole partitions at a time).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Upper bound on the bytes of stored traces on disk; the oldest partitions
    /// are dropped to stay below it. 0 means no size limit.
    #[serde(with = "crate::byte_size")]
    pub max_disk_bytes: u64,
    /// Time span of one partition (one RocksDB column family). Retention frees
    /// disk at this granularity.
    #[serde(with = "humantime_serde")]
    pub partition_duration: Duration,
    /// A trace with no new span for this long is flushed from memory to disk.
    #[serde(with = "humantime_serde")]
    pub trace_idle_timeout: Duration,
    /// A trace is flushed at the latest this long after its first span arrived;
    /// later spans are stored as fragments of the same trace.
    #[serde(with = "humantime_serde")]
    pub trace_max_age: Duration,
    /// Bytes of encoded spans held in memory before the oldest traces are
    /// flushed early; above it the flusher runs without waiting for
    /// `flush_interval`, and each flush takes the buffer back under it. The
    /// room between it and `live_hard_max_bytes` is what requests fill
    /// while a flush runs: with 32 of 96 MiB a sustained OTLP load ran
    /// 8-12 % faster than with 64 (the buffer reached its hard bound and
    /// requests waited for room while the flusher wrote), with less memory.
    #[serde(with = "crate::byte_size")]
    pub live_max_bytes: u64,
    /// Hard bound on the bytes of encoded spans held in memory: above it new
    /// batches are refused (receivers answer "slow down") until the flusher
    /// catches up, so memory stays bounded even when flushing falls behind.
    #[serde(with = "crate::byte_size")]
    pub live_hard_max_bytes: u64,
    /// Traces held in memory before the oldest are flushed early.
    pub live_max_traces: usize,
    /// Traces per search block (the unit that search summaries describe).
    pub block_max_traces: usize,
    /// Threads that encode the blocks of one flush side by side (0: one
    /// per core). Encoding is most of a flush's CPU; more threads let the
    /// flush keep its share of the machine under load.
    pub flush_threads: usize,
    /// How often retention runs.
    #[serde(with = "humantime_serde")]
    pub retention_check_interval: Duration,
    /// How often the flusher writes due traces to disk; each flush writes
    /// one file per partition, so a longer interval means fewer, larger
    /// files and more traces held in memory.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Size at which a write-ahead log segment file is closed and a new one
    /// started; whole segments are deleted once every span in them is stored.
    #[serde(with = "crate::byte_size")]
    pub wal_segment_bytes: u64,
    /// zstd level each write-ahead record is compressed at (-7 to 19, the
    /// negative levels zstd's fastest; 0 = stored as it is). The log holds
    /// every span not yet in a block, so under load it is a large part of
    /// the data dir, and nearly nothing once the load ends; -1 (the
    /// default) takes about a tenth less CPU per span to write than 1, for
    /// an 11 % larger log.
    pub wal_compression_level: i32,
    /// Blocks whose decoded dictionaries are kept in memory for reads
    /// (each a few hundred KiB; trace by id and search read many traces of
    /// the same recent blocks).
    pub dictionary_cache_blocks: usize,
    /// Candidate traces a search holds waiting to be verified; above it the
    /// best is verified before another block's list is read (a search that
    /// verifies more than needed, never a different answer).
    pub search_max_candidates: usize,
    /// Bytes of RocksDB's block cache (shared by every partition).
    #[serde(with = "crate::byte_size")]
    pub block_cache_bytes: u64,
    /// Bytes of blocks' tag filters kept in memory, for the newest blocks
    /// (a tag search reads an older block's filter from disk).
    #[serde(with = "crate::byte_size")]
    pub bloom_cache_bytes: u64,
    /// Bytes of RocksDB's memtables, all column families together (the
    /// largest is flushed when they reach it).
    #[serde(with = "crate::byte_size")]
    pub memtable_bytes: u64,
    /// Bytes of RocksDB's own log (the index, catalogue and aggregate
    /// writes; spans have their own write-ahead log) kept at most: above
    /// it, the column families holding its oldest entries are flushed so
    /// its old files can be deleted. When the store goes idle every
    /// memtable is flushed and the log emptied.
    #[serde(with = "crate::byte_size")]
    pub rocksdb_log_max_bytes: u64,
    /// Whether RocksDB's own log is written zstd-compressed (its records are
    /// index entries, tag filters and small block writes; compressing them
    /// shrinks the log a store keeps under load).
    pub rocksdb_log_compression: bool,
    /// The store's memory budget: the live buffer's hard bound, the block
    /// cache, the bloom cache and the memtables must fit in it together
    /// (checked at start).
    /// With the defaults, the process stays under about this much resident
    /// memory plus the receivers' in-flight requests (bounded by the
    /// collector's queue and body limits) at any load.
    #[serde(with = "crate::byte_size")]
    pub memory_budget: u64,
    /// Files RocksDB keeps open at most (-1: all).
    pub max_open_files: i32,
}

/// The fastest write-ahead compression level accepted (zstd's negative
/// levels trade ratio for speed).
pub const WAL_FASTEST_LEVEL: i32 = -7;

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./spoor-data"),
            retention: Duration::from_secs(72 * 3600),
            max_disk_bytes: 0,
            partition_duration: Duration::from_secs(3600),
            trace_idle_timeout: Duration::from_secs(2),
            trace_max_age: Duration::from_secs(10),
            live_max_bytes: 32 << 20,
            live_hard_max_bytes: 96 << 20,
            live_max_traces: 200_000,
            block_max_traces: 1000,
            flush_threads: 0,
            retention_check_interval: Duration::from_secs(60),
            flush_interval: Duration::from_millis(500),
            wal_segment_bytes: 4 << 20,
            wal_compression_level: -1,
            dictionary_cache_blocks: 64,
            search_max_candidates: 100_000,
            block_cache_bytes: 32 << 20,
            bloom_cache_bytes: 8 << 20,
            memtable_bytes: 32 << 20,
            rocksdb_log_max_bytes: 8 << 20,
            rocksdb_log_compression: true,
            memory_budget: 256 << 20,
            max_open_files: 1024,
        }
    }
}

impl StorageConfig {
    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.retention.is_zero() {
            problems.push("storage.retention must be greater than 0".to_string());
        }
        if self.partition_duration < Duration::from_secs(1) {
            problems.push("storage.partition_duration must be at least 1s".to_string());
        }
        if self.trace_idle_timeout.is_zero() {
            problems.push("storage.trace_idle_timeout must be greater than 0".to_string());
        }
        if self.trace_max_age < self.trace_idle_timeout {
            problems.push(
                "storage.trace_max_age must not be shorter than storage.trace_idle_timeout"
                    .to_string(),
            );
        }
        if self.live_max_bytes == 0 {
            problems.push("storage.live_max_bytes must be greater than 0".to_string());
        }
        if self.live_hard_max_bytes < self.live_max_bytes {
            problems.push(
                "storage.live_hard_max_bytes must not be below storage.live_max_bytes".to_string(),
            );
        }
        let parts = self
            .live_hard_max_bytes
            .saturating_add(self.block_cache_bytes)
            .saturating_add(self.bloom_cache_bytes)
            .saturating_add(self.memtable_bytes);
        if parts > self.memory_budget {
            problems.push(format!(
                "storage.memory_budget ({} bytes) is below storage.live_hard_max_bytes + \
                 storage.block_cache_bytes + storage.bloom_cache_bytes + \
                 storage.memtable_bytes ({parts} bytes); raise the budget or lower its parts",
                self.memory_budget
            ));
        }
        if self.memtable_bytes < 1 << 20 {
            problems.push("storage.memtable_bytes must be at least 1MiB".to_string());
        }
        if self.rocksdb_log_max_bytes < 1 << 20 {
            problems.push("storage.rocksdb_log_max_bytes must be at least 1MiB".to_string());
        }
        if self.live_max_traces == 0 {
            problems.push("storage.live_max_traces must be greater than 0".to_string());
        }
        if self.search_max_candidates == 0 {
            problems.push("storage.search_max_candidates must be greater than 0".to_string());
        }
        if self.block_max_traces == 0 {
            problems.push("storage.block_max_traces must be greater than 0".to_string());
        }
        if self.retention_check_interval.is_zero() {
            problems.push("storage.retention_check_interval must be greater than 0".to_string());
        }
        if self.flush_interval.is_zero() {
            problems.push("storage.flush_interval must be greater than 0".to_string());
        }
        if self.wal_segment_bytes < 4096 {
            problems.push("storage.wal_segment_bytes must be at least 4KiB".to_string());
        }
        if !(WAL_FASTEST_LEVEL..=19).contains(&self.wal_compression_level) {
            problems.push(format!(
                "storage.wal_compression_level must be between {WAL_FASTEST_LEVEL} and 19 (0 = not compressed), got {}",
                self.wal_compression_level
            ));
        }
        if self.max_open_files == 0 || self.max_open_files < -1 {
            problems.push("storage.max_open_files must be -1 (no limit) or positive".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_the_memory_budget() {
        assert_eq!(StorageConfig::default().validate(), Ok(()));
    }

    #[test]
    fn parts_above_the_memory_budget_are_refused_by_name() {
        let config = StorageConfig {
            live_max_bytes: 100 << 20,
            live_hard_max_bytes: 200 << 20,
            block_cache_bytes: 40 << 20,
            memtable_bytes: 32 << 20,
            memory_budget: 256 << 20,
            ..StorageConfig::default()
        };
        let problems = config.validate().unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        for name in [
            "storage.memory_budget",
            "storage.live_hard_max_bytes",
            "storage.block_cache_bytes",
            "storage.bloom_cache_bytes",
            "storage.memtable_bytes",
        ] {
            assert!(problems[0].contains(name), "{}", problems[0]);
        }
        let raised = StorageConfig {
            memory_budget: 288 << 20,
            ..config
        };
        assert_eq!(raised.validate(), Ok(()));
    }

    #[test]
    fn a_search_needs_room_for_a_candidate() {
        let config = StorageConfig {
            search_max_candidates: 0,
            ..StorageConfig::default()
        };
        let problems = config.validate().unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("storage.search_max_candidates")));
    }

    #[test]
    fn tiny_memtables_are_refused() {
        let config = StorageConfig {
            memtable_bytes: 1000,
            ..StorageConfig::default()
        };
        let problems = config.validate().unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("storage.memtable_bytes")));
    }

    #[test]
    fn a_tiny_rocksdb_log_bound_is_refused() {
        let config = StorageConfig {
            rocksdb_log_max_bytes: 4096,
            ..StorageConfig::default()
        };
        let problems = config.validate().unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("storage.rocksdb_log_max_bytes")));
    }

    #[test]
    fn a_write_ahead_compression_level_out_of_zstd_range_is_refused() {
        for level in [WAL_FASTEST_LEVEL - 1, 20] {
            let config = StorageConfig {
                wal_compression_level: level,
                ..StorageConfig::default()
            };
            let problems = config.validate().unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("storage.wal_compression_level")),
                "{problems:?}"
            );
        }
        for level in [WAL_FASTEST_LEVEL, -1, 0, 1, 19] {
            let config = StorageConfig {
                wal_compression_level: level,
                ..StorageConfig::default()
            };
            assert_eq!(config.validate(), Ok(()));
        }
    }
}
