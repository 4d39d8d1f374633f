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
        let held = self.live.byte_count();
        if held > self.config.live_hard_max_bytes {
            metrics::counter!("spoor_storage_writes_refused_total").increment(1);
            return Err(StorageError::Overloaded {
                held,
                bound: self.config.live_hard_max_bytes,
            });
        }
        Ok(())
    }

    /// True while the in-memory buffer is over `storage.live_max_bytes`:
    /// the flusher is behind and takes the oldest traces first.
    pub fn over_soft_bound(&self) -> bool {
        self.live.byte_count() > self.config.live_max_bytes
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
