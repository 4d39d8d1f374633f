//! Writes the v1 store fixture with the v1 storage code (run once, at the
//! last v1 commit, then removed): `cargo run -p spoor-storage --example
//! write_v1_fixture -- DIR`.
//!
//! In: the deterministic traces of `tests/common/v1_data.rs`. Out: a RocksDB
//! store in DIR with those traces flushed into a partition, plus one batch
//! left only in the write-ahead column family (the store is dropped without
//! a shutdown, as a crash would leave it).

#[path = "../tests/common/v1_data.rs"]
mod v1_data;

use std::time::Duration;

use spoor_storage::{prepare_batch, StorageConfig, Store};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: write_v1_fixture DIR");
    let config = StorageConfig {
        data_dir: dir.into(),
        trace_idle_timeout: Duration::from_secs(3600),
        trace_max_age: Duration::from_secs(3600),
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
        block_max_traces: 16,
        ..StorageConfig::default()
    };
    let store = Store::open(config).expect("open");
    for data in v1_data::flushed_batches() {
        store.write_batches(&[prepare_batch(data)]).expect("write");
    }
    store.flush(true).expect("flush");
    store
        .archive_trace(v1_data::trace_id(3))
        .expect("archive");
    for data in v1_data::unflushed_batches() {
        store.write_batches(&[prepare_batch(data)]).expect("write");
    }
    println!("{:?}", store.stats());
    // Dropped without shutdown: the last batch stays in the `wal` CF only.
}
