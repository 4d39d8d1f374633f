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

/// The file under the data directory listing the partitions ever held.
pub const HELD_FILE: &str = "kafka-held-partitions.json";

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
}

impl NodeState {
    /// State of node `node`, with the partitions held before read from
    /// `data_dir` (a missing or unreadable file is an empty list, logged).
    pub fn load(node: String, data_dir: &Path, partition_count: u32) -> NodeState {
        let held_path = data_dir.join(HELD_FILE);
        let held = match std::fs::read(&held_path) {
            Ok(bytes) => serde_json::from_slice::<BTreeSet<u32>>(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %held_path.display(), %error, "ignoring an unreadable list of held partitions");
                BTreeSet::new()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(error) => {
                tracing::warn!(path = %held_path.display(), %error, "cannot read the list of held partitions");
                BTreeSet::new()
            }
        };
        NodeState {
            node,
            partition_count: AtomicU32::new(partition_count),
            assigned: Mutex::new(BTreeSet::new()),
            held: Mutex::new(held),
            lag: Mutex::new(BTreeMap::new()),
            held_path,
        }
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

    /// Writes the held list beside the store (temp file, then rename).
    fn persist(&self, held: &BTreeSet<u32>) {
        let tmp = self.held_path.with_extension("json.tmp");
        let written = serde_json::to_vec(held)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.held_path));
        if let Err(error) = written {
            tracing::warn!(path = %self.held_path.display(), %error, "cannot record the held partitions");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_damaged_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HELD_FILE), b"not json").unwrap();
        let state = NodeState::load("n".into(), dir.path(), 4);
        assert!(state.report().held.is_empty());
    }
}
