//! Retention: whole partitions are dropped when they expire or when the
//! disk budget is exceeded, oldest first; stale catalogue entries and
//! analytics buckets go with them.
//!
//! In: the clock, `storage.retention`, `storage.max_disk_bytes`. Out:
//! dropped partitions (disk freed at once), the partition and disk gauges.

use crate::error::StorageError;
use crate::rocks::{now_secs, Store};

impl Store {
    /// Drops partitions older than the retention time, then the oldest ones
    /// while the disk budget is exceeded; forgets catalogue entries not seen
    /// within the retention time.
    pub fn enforce_retention(&self) -> Result<(), StorageError> {
        let width = self.config.partition_duration.as_secs().max(1);
        let cutoff = now_secs().saturating_sub(self.config.retention.as_secs());
        for start in self.partitions.starts() {
            if start + width <= cutoff {
                self.partitions.drop_start(&self.db, start, "age")?;
            }
        }
        if self.config.max_disk_bytes > 0 {
            loop {
                let starts = self.partitions.starts();
                if starts.len() <= 1
                    || self.partitions.disk_bytes(&self.db) <= self.config.max_disk_bytes
                {
                    break;
                }
                self.partitions.drop_start(&self.db, starts[0], "size")?;
            }
        }
        self.catalog.expire(&self.db, cutoff, width)?;
        self.expire_aggregates(cutoff.saturating_mul(1000))?;
        metrics::gauge!("spoor_storage_partitions").set(self.partitions.count() as f64);
        metrics::gauge!("spoor_storage_disk_bytes")
            .set(self.partitions.disk_bytes(&self.db) as f64);
        Ok(())
    }
}
