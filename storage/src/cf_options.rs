//! RocksDB options of the partitions' column families.
//!
//! In: the shared block cache. Out: the options of v1 partitions and v2
//! index column families (compacted as usual, prefix bloom filters) and of
//! v2 data column families (written once, never compacted).

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, SliceTransform};

use crate::keys;

/// The zstd level of block data: it is compressed once, never again.
/// Level 2 took about 0.6 B more per span in a 10M-span run (about 1 %)
/// for some 0.2 µs less of one core per span; the bytes won. Stores
/// written at other levels read as they are.
const DATA_ZSTD_LEVEL: i32 = 3;

/// Size of the SST data blocks of block data (the unit compressed and read).
/// A trace read decompresses one such block when it is not cached: 64 KiB
/// costs 2.6x fewer instructions per lookup than 256 KiB, for about 1 %
/// more bytes on disk (records are dictionary-coded columns already,
/// so a longer zstd window finds little more). SST files written with
/// another size stay readable (the size is recorded per file).
const DATA_BLOCK_BYTES: usize = 64 << 10;

/// Options of v1 partitions and of v2 index column families: prefix bloom
/// filters on `t|trace id` make trace-by-id misses cheap.
pub(crate) fn index_options(cache: &Cache) -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Zstd);
    opts.set_compression_options(-14, 3, 0, 0);
    opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    opts.set_level_compaction_dynamic_level_bytes(true);
    opts.set_write_buffer_size(16 << 20);
    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(keys::TRACE_PREFIX_LEN));
    opts.set_memtable_prefix_bloom_ratio(0.1);
    let mut block = BlockBasedOptions::default();
    block.set_block_size(16 << 10);
    block.set_block_cache(cache);
    block.set_bloom_filter(10.0, false);
    block.set_whole_key_filtering(false);
    block.set_format_version(5);
    opts.set_block_based_table_factory(&block);
    opts
}

/// Options of v2 data column families: never compacted (every flush lands
/// in a key range of its own), zstd over large blocks (many similar trace
/// records share one compression window; no per-file dictionary, whose
/// training cost more flush time than it saved bytes).
pub(crate) fn data_options(cache: &Cache) -> Options {
    let mut opts = Options::default();
    opts.set_disable_auto_compactions(true);
    opts.set_compression_type(DBCompressionType::Zstd);
    opts.set_bottommost_compression_type(DBCompressionType::Zstd);
    opts.set_compression_options(-14, DATA_ZSTD_LEVEL, 0, 0);
    opts.set_bottommost_compression_options(-14, DATA_ZSTD_LEVEL, 0, 0, true);
    opts.set_write_buffer_size(8 << 20);
    let mut block = BlockBasedOptions::default();
    block.set_block_size(DATA_BLOCK_BYTES);
    block.set_block_cache(cache);
    block.set_format_version(5);
    opts.set_block_based_table_factory(&block);
    opts
}
