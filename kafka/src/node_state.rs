//! What a store node knows of its partitions: which it owns now, which it
//! has ever stored data of (kept across restarts in the data directory),
//! and how far behind the end of each it is.
//!
//! In: rebalance events and librdkafka's statistics (from
//! [`crate::consumer`]). Out: a [`NodeReport`] for query nodes, which ask
//! only the stores that held a trace's partition and mark answers partial
//! when a partition lags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::assembly::Progress;

/// The file under the data directory listing the partitions ever held.
pub const HELD_FILE: &str = "kafka-held-partitions.json";
/// The file under the data directory with, per partition, the last offset
/// this node made durable.
pub const APPLIED_FILE: &str = "kafka-applied-offsets.json";
/// The file under the data directory with, per partition, the progress of
/// this node's tail sampling as far as it is durable here (written after
/// every step; the progress topic gets it less often).
pub const PROGRESS_FILE: &str = "kafka-progress.json";

/// A store node's partitions, as reported to query nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// The node's name.
    pub node: String,
    /// Partitions of the topic.
    pub partition_count: u32,
    /// Partitions the node consumes now.
    pub assigned: Vec<u32>,
    /// Every partition the node has stored data of.
    pub held: Vec<u32>,
    /// Assigned partitions with records not yet durable here: (partition,
    /// records behind).
    pub lagging: Vec<(u32, u64)>,
}

/// Shared between the consumer's callbacks and the report.
#[derive(Debug)]
pub struct NodeState {
    node: String,
    partition_count: AtomicU32,
    assigned: Mutex<BTreeSet<u32>>,
    held: Mutex<BTreeSet<u32>>,
    lag: Mutex<BTreeMap<u32, u64>>,
    held_path: PathBuf,
    applied: Mutex<BTreeMap<u32, i64>>,
    applied_path: PathBuf,
    progress: Mutex<BTreeMap<u32, Progress>>,
    progress_path: PathBuf,
}

impl NodeState {
    /// State of node `node`, with the partitions held before read from
    /// `data_dir` (a missing or unreadable file is an empty list, logged).
    pub fn load(node: String, data_dir: &Path, partition_count: u32) -> NodeState {
        let held_path = data_dir.join(HELD_FILE);
        let held: BTreeSet<u32> = read_json(&held_path).unwrap_or_default();
        let applied_path = data_dir.join(APPLIED_FILE);
        let applied = read_json(&applied_path).unwrap_or_default();
        let progress_path = data_dir.join(PROGRESS_FILE);
        let progress = read_json(&progress_path).unwrap_or_default();
        NodeState {
            node,
            partition_count: AtomicU32::new(partition_count),
            assigned: Mutex::new(BTreeSet::new()),
            held: Mutex::new(held),
            lag: Mutex::new(BTreeMap::new()),
            held_path,
            applied: Mutex::new(applied),
            applied_path,
            progress: Mutex::new(progress),
            progress_path,
        }
    }

    /// Records the tail-sampling progress of partitions, durable here.
    pub fn record_progress(&self, progress: &BTreeMap<u32, Progress>) {
        if progress.is_empty() {
            return;
        }
        let mut all = self.progress.lock();
        all.extend(progress.iter().map(|(p, v)| (*p, *v)));
        write_json(&self.progress_path, &*all);
    }

    /// The tail-sampling progress this node last recorded for `partition`.
    pub fn local_progress(&self, partition: u32) -> Option<Progress> {
        self.progress.lock().get(&partition).copied()
    }

    /// Whether the record at `offset` of `partition` is already durable
    /// here (read again after this node's own restart): it is skipped, so a
    /// node that gets its partitions back stores and counts nothing twice.
    pub fn already_applied(&self, partition: u32, offset: i64) -> bool {
        self.applied
            .lock()
            .get(&partition)
            .is_some_and(|last| offset <= *last)
    }

    /// Records that everything up to `offset` of each partition is durable
    /// here (after the batch's write; kept across restarts).
    pub fn applied_up_to(&self, offsets: &BTreeMap<u32, i64>) {
        let mut applied = self.applied.lock();
        for (partition, offset) in offsets {
            let last = applied.entry(*partition).or_insert(*offset);
            *last = (*last).max(*offset);
        }
        write_json(&self.applied_path, &*applied);
    }

    /// Partitions were assigned: owned now, and held from now on.
    pub fn assign(&self, partitions: impl IntoIterator<Item = u32>) {
        let partitions: Vec<u32> = partitions.into_iter().collect();
        self.assigned.lock().extend(partitions.iter().copied());
        let mut held = self.held.lock();
        let before = held.len();
        held.extend(partitions.iter().copied());
        if held.len() != before {
            self.persist(&held);
        }
        crate::metrics::assigned(self.assigned.lock().len());
    }

    /// Partitions were revoked (or lost).
    pub fn revoke(&self, partitions: impl IntoIterator<Item = u32>) {
        let mut assigned = self.assigned.lock();
        let mut lag = self.lag.lock();
        for p in partitions {
            assigned.remove(&p);
            lag.remove(&p);
        }
        crate::metrics::assigned(assigned.len());
    }

    /// Records not yet durable in `partition`.
    pub fn set_lag(&self, partition: u32, records: u64) {
        if self.assigned.lock().contains(&partition) {
            self.lag.lock().insert(partition, records);
        }
    }

    /// Total records behind over the assigned partitions.
    pub fn total_lag(&self) -> u64 {
        self.lag.lock().values().sum()
    }

    /// Partitions owned now.
    pub fn assigned(&self) -> Vec<u32> {
        self.assigned.lock().iter().copied().collect()
    }

    /// The report for query nodes.
    pub fn report(&self) -> NodeReport {
        NodeReport {
            node: self.node.clone(),
            partition_count: self.partition_count.load(Ordering::Relaxed),
            assigned: self.assigned(),
            held: self.held.lock().iter().copied().collect(),
            lagging: self
                .lag
                .lock()
                .iter()
                .filter(|(_, behind)| **behind > 0)
                .map(|(p, behind)| (*p, *behind))
                .collect(),
        }
    }

    /// Writes the held list beside the store.
    fn persist(&self, held: &BTreeSet<u32>) {
        write_json(&self.held_path, held);
    }
}

/// Reads a JSON file; a missing one is `None`, an unreadable one is logged.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read");
            return None;
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(
            |error| tracing::warn!(path = %path.display(), %error, "ignoring an unreadable file"),
        )
        .ok()
}

/// Writes a JSON file whole (temp file, then rename).
fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) {
    let tmp = path.with_extension("json.tmp");
    let written = serde_json::to_vec(value)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "cannot record the kafka partition state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_progress_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = NodeState::load("store-1".into(), dir.path(), 8);
        assert_eq!(state.local_progress(3), None);
        let progress = Progress {
            resume_offset: 10,
            resume_watermark_ms: 5,
            applied_offset: 20,
            applied_watermark_ms: 7,
        };
        state.record_progress(&BTreeMap::from([(3, progress)]));
        let again = NodeState::load("store-1".into(), dir.path(), 8);
        assert_eq!(again.local_progress(3), Some(progress));
        assert_eq!(again.local_progress(4), None);
    }

    #[test]
    fn held_partitions_survive_a_restart_and_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let state = NodeState::load("store-1".into(), dir.path(), 8);
        state.assign([1, 5]);
        state.set_lag(5, 12);
        state.set_lag(7, 3); // not assigned: ignored
        state.revoke([1]);
        let report = state.report();
        assert_eq!(report.assigned, [5]);
        assert_eq!(report.held, [1, 5]);
        assert_eq!(report.lagging, [(5, 12)]);
        assert_eq!(state.total_lag(), 12);

        let again = NodeState::load("store-1".into(), dir.path(), 8);
        let report = again.report();
        assert!(report.assigned.is_empty());
        assert_eq!(report.held, [1, 5]);
        assert_eq!(report.partition_count, 8);
    }

    #[test]
    fn applied_offsets_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = NodeState::load("n".into(), dir.path(), 4);
        assert!(!state.already_applied(2, 0));
        state.applied_up_to(&BTreeMap::from([(2, 41), (3, 7)]));
        state.applied_up_to(&BTreeMap::from([(2, 40)]));
        let again = NodeState::load("n".into(), dir.path(), 4);
        assert!(again.already_applied(2, 41));
        assert!(!again.already_applied(2, 42));
        assert!(again.already_applied(3, 0));
        assert!(!again.already_applied(1, 0));
    }

    #[test]
    fn a_damaged_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HELD_FILE), b"not json").unwrap();
        let state = NodeState::load("n".into(), dir.path(), 4);
        assert!(state.report().held.is_empty());
    }
}
