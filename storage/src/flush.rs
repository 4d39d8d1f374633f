//! The flush: due traces leave the in-memory buffer for the current
//! partition, encoded into blocks and written once; then the write-ahead
//! log is trimmed.
//!
//! In: the traces the buffer finds due (idle, too old, or the oldest when
//! over its bounds), after the tail-sampling decider (if any) dropped
//! some. Out: blocks in the current v2 partition (`crate::partition`), the
//! write-ahead floor in `meta`, the flushed fragments removed from the
//! buffer, and whole write-ahead segments deleted once nothing in them is
//! needed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rocksdb::WriteBatch;

use crate::block::encode_block;
use crate::error::StorageError;
use crate::keys;
use crate::recovery::WAL_FLOOR_KEY;
use crate::rocks::Store;

impl Store {
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
        let mut blocks = Vec::new();
        for chunk in items.chunks(cfg.block_max_traces) {
            blocks.push(encode_block(self.partitions.allocate_block(), chunk)?);
        }
        // Every stored fragment's sequence is below this, so sequences never repeat.
        let mut wb = WriteBatch::default();
        wb.put_cf(
            &self.cf(keys::META_CF)?,
            WAL_FLOOR_KEY,
            self.next_seq.load(Ordering::Relaxed).to_be_bytes(),
        );
        self.partitions.write(&self.db, start, &blocks, wb)?;
        for item in &items {
            self.live.remove_flushed(item);
        }
        self.trim_wal()?;
        metrics::histogram!("spoor_storage_flush_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("spoor_storage_traces_flushed_total").increment(items.len() as u64);
        Ok(items.len())
    }

    /// Deletes the write-ahead segments no live trace needs any more.
    fn trim_wal(&self) -> Result<(), StorageError> {
        // Under the write lock, so no appended batch is missing from the
        // buffer's sequence counts.
        let low = {
            let _guard = self.write_lock.lock();
            self.live
                .lowest_seq()
                .unwrap_or_else(|| self.next_seq.load(Ordering::Relaxed))
        };
        self.wal.trim(low)?;
        Ok(())
    }
}
