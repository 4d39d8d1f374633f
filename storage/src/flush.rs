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

use crate::block::{encode_block, EncodedBlock};
use crate::error::StorageError;
use crate::keys;
use crate::live::FlushItem;
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
        let mut items = crate::decider::decide_due(&self.decider, &self.live, items, now, all);
        // Blocks cut from traces in time order cover time ranges of their
        // own, so a search for the newest matches reads the newest blocks
        // only (`crate::search`); cut in arrival order, every block of a
        // flush spans the whole flush and a search reads them all.
        items.sort_by_cached_key(latest_start);
        metrics::gauge!("spoor_storage_live_traces").set(self.live.trace_count() as f64);
        metrics::gauge!("spoor_storage_live_bytes").set(self.live.byte_count() as f64);
        if items.is_empty() {
            self.trim_wal()?;
            if self.live.trace_count() == 0 {
                self.flush_memtables_once_idle()?;
            }
            return Ok(0);
        }
        let started = Instant::now();
        let start = self.current_partition_start();
        let chunks: Vec<(u64, &[FlushItem])> = items
            .chunks(cfg.block_max_traces)
            .map(|chunk| (self.partitions.allocate_block(), chunk))
            .collect();
        let blocks = encode_blocks(&chunks, flush_threads(cfg.flush_threads))?;
        // Every stored fragment's sequence is below this, so sequences never repeat.
        let mut wb = WriteBatch::default();
        wb.put_cf(
            &self.cf(keys::META_CF)?,
            WAL_FLOOR_KEY,
            self.next_seq.load(Ordering::Relaxed).to_be_bytes(),
        );
        self.partitions.write(&self.db, start, &blocks, wb)?;
        self.memtables_flushed.store(false, Ordering::Release);
        for item in &items {
            self.live.remove_flushed(item);
        }
        self.trim_wal()?;
        metrics::histogram!("spoor_storage_flush_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("spoor_storage_traces_flushed_total").increment(items.len() as u64);
        Ok(items.len())
    }

    /// Flushes every memtable holding entries, once per stretch of idleness
    /// (nothing in the live buffer, nothing due): RocksDB's own log files
    /// are then no longer needed and deleted, so an idle store's data
    /// directory holds its SST files and little else. Under load the log is
    /// bounded by `storage.rocksdb_log_max_bytes` instead.
    fn flush_memtables_once_idle(&self) -> Result<(), StorageError> {
        if self.memtables_flushed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut names: Vec<String> = [keys::CATALOG_CF, keys::META_CF, keys::AGGREGATES_CF]
            .map(String::from)
            .into();
        names.extend(self.partitions.column_families());
        for name in names {
            let cf = self.cf(&name)?;
            let entries = self
                .db
                .property_int_value_cf(&cf, "rocksdb.num-entries-active-mem-table")?
                .unwrap_or(0);
            if entries > 0 {
                self.db.flush_cf(&cf)?;
            }
        }
        Ok(())
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

/// Start of the trace's latest span, ns (0 for a trace without spans).
fn latest_start(item: &FlushItem) -> u64 {
    item.trace
        .spans
        .iter()
        .map(|s| s.start_ns)
        .max()
        .unwrap_or(0)
}

/// The threads a flush encodes with (`storage.flush_threads`, 0 = cores).
fn flush_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Encodes the chunks of a flush, in order, on up to `threads` threads.
fn encode_blocks(
    chunks: &[(u64, &[FlushItem])],
    threads: usize,
) -> Result<Vec<EncodedBlock>, StorageError> {
    let threads = threads.clamp(1, chunks.len().max(1));
    if threads == 1 {
        return chunks.iter().map(|(b, c)| encode_block(*b, c)).collect();
    }
    // Chunk i goes to thread i % threads; results are put back in order.
    let mut parts: Vec<Vec<Result<EncodedBlock, StorageError>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    chunks
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .map(|(b, c)| encode_block(*b, c))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a block encoder thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(chunks.len());
    let mut iters: Vec<_> = parts.iter_mut().map(|p| p.drain(..)).collect();
    for i in 0..chunks.len() {
        out.push(
            iters[i % threads]
                .next()
                .expect("every chunk was encoded")?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_means_one_per_core() {
        assert!(flush_threads(0) >= 1);
        assert_eq!(flush_threads(3), 3);
    }

    #[test]
    fn no_chunks_encode_to_no_blocks() {
        assert!(encode_blocks(&[], 4).unwrap().is_empty());
    }

    #[test]
    fn blocks_encoded_on_several_threads_come_out_as_on_one() {
        use crate::test_fixtures::{batch, flush_items, span};

        let spans = (1..=50u128)
            .map(|t| {
                span(
                    t,
                    t as u64,
                    &format!("op-{}", t % 7),
                    1_000 + t as u64,
                    2_000 + t as u64,
                )
            })
            .collect();
        let items = flush_items(&[batch(None, spans)], 1);
        let chunks: Vec<(u64, &[FlushItem])> = items
            .chunks(7)
            .enumerate()
            .map(|(i, c)| (i as u64 + 10, c))
            .collect();
        let one = encode_blocks(&chunks, 1).unwrap();
        let three = encode_blocks(&chunks, 3).unwrap();
        assert_eq!(one.len(), 8);
        assert_eq!(three.len(), one.len());
        for (a, b) in one.iter().zip(&three) {
            assert_eq!(a.block, b.block);
            assert_eq!(a.groups, b.groups);
            assert_eq!(a.search, b.search);
            let records = |x: &EncodedBlock| {
                x.traces
                    .iter()
                    .map(|t| t.record.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(records(a), records(b));
        }
    }
}
