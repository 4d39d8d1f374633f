//! Blocks' tag-token bloom filters in memory, for the newest blocks only.
//!
//! In: each block's filter as its block is written (and, at open, as the
//! stored block metas are loaded, oldest first); on a miss, the block's
//! meta record read from disk by the caller's loader. Out: whether a block
//! may hold every token a search asks for.
//!
//! A filter is most of a block meta (some 40 KB for a block of 1,000
//! traces whose spans carry random ids), so keeping every block's in memory
//! grew the process with the store. The cache keeps the filters most
//! recently inserted, up to `storage.bloom_cache_bytes`; searches read the
//! newest blocks first, and an older block's filter is read from its meta
//! record when a search reaches it (without displacing the newest).
//! Block numbers are never reused, so an entry never goes stale.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::bloom;
use crate::error::StorageError;
use crate::summary::BlockMeta;

/// One block's filter.
#[derive(Debug)]
struct Filter {
    words: Vec<u64>,
    hashes: u32,
}

impl Filter {
    fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    fn may_contain_all(&self, tokens: &[u64]) -> bool {
        tokens
            .iter()
            .all(|t| bloom::may_contain(&self.words, self.hashes, *t))
    }
}

/// A byte-bounded map from block number to its filter, oldest inserted
/// evicted first.
#[derive(Debug)]
pub(crate) struct BloomCache {
    max_bytes: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<u64, Arc<Filter>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl BloomCache {
    /// A cache of at most `max_bytes` of filters (0: none kept).
    pub(crate) fn new(max_bytes: u64) -> BloomCache {
        BloomCache {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            inner: Mutex::new(Entries::default()),
        }
    }

    /// Keeps `block`'s filter, evicting the oldest inserted past the bound.
    pub(crate) fn insert(&self, block: u64, words: Vec<u64>, hashes: u32) {
        let filter = Arc::new(Filter { words, hashes });
        if filter.bytes() > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock();
        inner.bytes += filter.bytes();
        match inner.map.insert(block, filter) {
            Some(old) => inner.bytes -= old.bytes(),
            None => inner.order.push_back(block),
        }
        while inner.bytes > self.max_bytes {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(f) = inner.map.remove(&old) {
                inner.bytes -= f.bytes();
            }
        }
    }

    /// Whether `block` may hold every token of `tokens`. On a miss, `load`
    /// reads the block's meta (`None`: the block is gone, so it holds
    /// nothing); what it reads is not kept.
    pub(crate) fn may_contain_all(
        &self,
        block: u64,
        tokens: &[u64],
        load: impl FnOnce() -> Result<Option<BlockMeta>, StorageError>,
    ) -> Result<bool, StorageError> {
        if tokens.is_empty() {
            return Ok(true);
        }
        let hit = self.inner.lock().map.get(&block).cloned();
        if let Some(filter) = hit {
            return Ok(filter.may_contain_all(tokens));
        }
        metrics::counter!("spoor_storage_bloom_cache_misses_total").increment(1);
        Ok(match load()? {
            Some(meta) => Filter {
                words: meta.bloom,
                hashes: meta.bloom_hashes,
            }
            .may_contain_all(tokens),
            None => false,
        })
    }

    /// Bytes of filters held.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_with(tokens: &[u64]) -> BlockMeta {
        BlockMeta {
            bloom: bloom::build(tokens),
            bloom_hashes: bloom::HASHES,
            ..BlockMeta::default()
        }
    }

    #[test]
    fn a_cached_filter_answers_without_loading() {
        let cache = BloomCache::new(1 << 20);
        cache.insert(7, bloom::build(&[1, 2, 3]), bloom::HASHES);
        let never = || -> Result<Option<BlockMeta>, StorageError> { panic!("loaded on a hit") };
        assert!(cache.may_contain_all(7, &[1, 3], never).unwrap());
        assert!(!cache.may_contain_all(7, &[1, 99], never).unwrap());
        assert!(cache.may_contain_all(8, &[], never).unwrap());
    }

    #[test]
    fn the_oldest_filters_leave_past_the_bound_and_are_read_on_a_miss() {
        // Each filter of a few tokens is 16 words (128 bytes).
        let cache = BloomCache::new(300);
        for block in 0..3u64 {
            cache.insert(block, bloom::build(&[block + 100]), bloom::HASHES);
        }
        assert_eq!(cache.bytes(), 256);
        let mut loads = 0;
        let mut load = |tokens: &[u64]| {
            loads += 1;
            Ok(Some(meta_with(tokens)))
        };
        // Block 0 was evicted: its meta is read, and answers as before.
        assert!(cache.may_contain_all(0, &[100], || load(&[100])).unwrap());
        assert!(!cache.may_contain_all(0, &[101], || load(&[100])).unwrap());
        assert!(cache.may_contain_all(2, &[102], || load(&[])).unwrap());
        assert_eq!(loads, 2);
        // A read on a miss is not kept.
        assert_eq!(cache.bytes(), 256);
    }

    #[test]
    fn a_block_gone_from_disk_holds_nothing() {
        let cache = BloomCache::new(0);
        cache.insert(1, bloom::build(&[5]), bloom::HASHES);
        assert_eq!(cache.bytes(), 0);
        assert!(!cache.may_contain_all(1, &[5], || Ok(None)).unwrap());
    }
}
