//! Decoded block dictionaries, kept for the blocks read most recently.
//!
//! In: block numbers and, on a miss, the encoded [`BlockGroups`] record of
//! the block. Out: the decoded dictionary, shared. Every trace read from a
//! block needs its group and string dictionaries; decoding them (thousands
//! of strings) cost more than reading the trace itself, and search reads
//! many traces of the same few blocks. Block numbers are never reused, so
//! an entry never goes stale; retention only makes some unreachable until
//! they are evicted (oldest inserted first).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::block::BlockGroups;
use crate::error::StorageError;

/// A bounded map from block number to its decoded dictionaries.
#[derive(Debug)]
pub(crate) struct GroupsCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

/// The cached blocks and their insertion order.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<u64, Arc<BlockGroups>>,
    order: VecDeque<u64>,
}

impl GroupsCache {
    /// A cache of at most `capacity` blocks (0: no caching).
    pub(crate) fn new(capacity: usize) -> GroupsCache {
        GroupsCache {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The dictionaries of `block`, decoded by `load` on a miss.
    pub(crate) fn get_or_load(
        &self,
        block: u64,
        load: impl FnOnce() -> Result<BlockGroups, StorageError>,
    ) -> Result<Arc<BlockGroups>, StorageError> {
        if let Some(hit) = self.inner.lock().map.get(&block) {
            return Ok(hit.clone());
        }
        // Decoded outside the lock; two readers may both decode a block.
        let groups = Arc::new(load()?);
        if self.capacity > 0 {
            let mut inner = self.inner.lock();
            if inner.map.insert(block, groups.clone()).is_none() {
                inner.order.push_back(block);
            }
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.map.remove(&old);
                }
            }
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(n: usize) -> BlockGroups {
        BlockGroups {
            groups: Vec::new(),
            strings: vec![vec![b'x'; n]],
        }
    }

    #[test]
    fn a_hit_does_not_load_and_the_oldest_block_is_evicted() {
        let cache = GroupsCache::new(2);
        assert_eq!(
            cache.get_or_load(1, || Ok(groups(1))).unwrap().strings[0].len(),
            1
        );
        let hit = cache
            .get_or_load(1, || panic!("block 1 is cached"))
            .unwrap();
        assert_eq!(hit.strings[0].len(), 1);
        cache.get_or_load(2, || Ok(groups(2))).unwrap();
        cache.get_or_load(3, || Ok(groups(3))).unwrap();
        // Block 1 was the oldest: it is loaded again.
        let again = cache.get_or_load(1, || Ok(groups(9))).unwrap();
        assert_eq!(again.strings[0].len(), 9);
    }

    #[test]
    fn errors_are_not_cached_and_zero_capacity_caches_nothing() {
        let cache = GroupsCache::new(0);
        assert!(cache
            .get_or_load(1, || Err(StorageError::Corrupt("bad".into())))
            .is_err());
        cache.get_or_load(1, || Ok(groups(1))).unwrap();
        assert_eq!(
            cache.get_or_load(1, || Ok(groups(5))).unwrap().strings[0].len(),
            5
        );
    }
}
