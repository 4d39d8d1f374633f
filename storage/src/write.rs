//! The write path: one append to the write-ahead log per group of batches,
//! then the spans join the in-memory buffer.
//!
//! In: [`PreparedBatch`]es from the single ingest writer. Out: write-ahead
//! records (the acknowledgement point), catalogue entries new to the
//! current partition, and the traces in the buffer, where reads see them.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use prost::Message;

use crate::error::StorageError;
use crate::prepare::PreparedBatch;
use crate::rocks::Store;
use crate::summary::{WalRecord, WalTrace};

impl Store {
    /// Refuses new batches (as [`StorageError::Overloaded`]) while the
    /// in-memory buffer is over `storage.live_hard_max_bytes`, until the
    /// flusher catches up. Receivers ask before a request's CPU stage, so a
    /// batch that would be refused is not prepared; [`Store::write_batches`]
    /// asks again.
    pub fn check_room(&self) -> Result<(), StorageError> {
        if self.has_room() {
            return Ok(());
        }
        metrics::counter!("spoor_storage_writes_refused_total").increment(1);
        Err(StorageError::Overloaded {
            held: self.live.byte_count(),
            bound: self.config.live_hard_max_bytes,
        })
    }

    /// True while [`Store::check_room`] would let a batch in; asking counts
    /// nothing (for callers that wait for room).
    pub fn has_room(&self) -> bool {
        self.live.byte_count() <= self.config.live_hard_max_bytes
    }

    /// True while the in-memory buffer is over `storage.live_max_bytes`:
    /// the flusher takes the oldest traces first, and flushes without
    /// waiting for its interval.
    pub fn over_soft_bound(&self) -> bool {
        self.live.byte_count() > self.config.live_max_bytes
    }

    /// True while the buffer is more than half way from its soft bound to
    /// its hard bound: flushing without pause has not kept it near the soft
    /// bound, so the flusher is behind and ingest should give it cores
    /// before the hard bound has requests wait.
    pub fn flusher_behind(&self) -> bool {
        past_half_way(
            self.live.byte_count(),
            self.config.live_max_bytes,
            self.config.live_hard_max_bytes,
        )
    }

    /// Logs the batches durably (one write-ahead record each, in one
    /// append), records new catalogue entries, and adds the spans to the
    /// in-memory buffer. When this returns `Ok`, the spans survive a crash
    /// and are visible to reads.
    pub fn write_batches(&self, batches: &[PreparedBatch]) -> Result<(), StorageError> {
        if self.stopping() {
            return Err(StorageError::ShuttingDown);
        }
        self.check_room()?;
        let started = Instant::now();
        let partition = self.current_partition_start();
        let _guard = self.write_lock.lock();
        let first_seq = self.next_seq.load(Ordering::Relaxed);
        self.wal.append_with(first_seq, batches.len(), |i, buf| {
            let record = WalRecord {
                traces: batches[i]
                    .traces
                    .iter()
                    .map(|t| WalTrace {
                        trace_id: Bytes::copy_from_slice(&t.trace_id.to_bytes()),
                        fragment: t.fragment.clone(),
                    })
                    .collect(),
            };
            buf.reserve(record.encoded_len());
            record.encode(buf).expect("a Vec grows to take any record");
        })?;
        self.next_seq
            .store(first_seq + batches.len() as u64, Ordering::Relaxed);
        self.catalog.record(
            &self.db,
            batches.iter().flat_map(|b| b.catalog.iter()),
            partition,
        )?;
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
}

/// True when `held` is more than half way from `soft` to `hard` (past
/// `hard` itself when the bounds are the wrong way round).
fn past_half_way(held: u64, soft: u64, hard: u64) -> bool {
    let hard = hard.max(soft);
    held > soft + (hard - soft) / 2
}

#[cfg(test)]
mod tests {
    use super::past_half_way;

    #[test]
    fn the_flusher_is_behind_past_half_way_from_the_soft_to_the_hard_bound() {
        assert!(!past_half_way(64, 64, 96));
        assert!(!past_half_way(80, 64, 96));
        assert!(past_half_way(81, 64, 96));
        assert!(past_half_way(200, 64, 96));
        // Equal bounds: behind once over both.
        assert!(!past_half_way(10, 10, 10));
        assert!(past_half_way(11, 10, 10));
        assert!(past_half_way(11, 10, 5));
    }
}
