//! An idle store flushes RocksDB's memtables so RocksDB's own log files
//! (index, catalogue and aggregate writes) are deleted: the data directory
//! of an idle store is its SST files and little else.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use spoor_proto::ids::TraceId;
use spoor_storage::{StorageConfig, Store};

/// Bytes of RocksDB's log files (`*.log`) in the data directory.
fn rocksdb_log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A store (only explicit calls flush it) holding 500 one-span traces,
/// flushed once, with RocksDB's log compressed or not.
fn store_after_a_flush(dir: &Path, compression: bool) -> (Arc<Store>, StorageConfig) {
    let mut cfg = config(dir);
    cfg.flush_interval = Duration::from_secs(3600);
    cfg.rocksdb_log_compression = compression;
    let store = Store::open(cfg.clone()).unwrap();
    let specs: Vec<SpanSpec> = (1..=500u128)
        .map(|t| SpanSpec {
            trace: t,
            ..Default::default()
        })
        .collect();
    write(&store, &specs);
    assert_eq!(store.flush(true).unwrap(), 500);
    (store, cfg)
}

#[test]
fn going_idle_empties_rocksdbs_log_and_keeps_every_trace() {
    let dir = tempfile::tempdir().unwrap();
    // A plain log, so what it holds shows in its size.
    let (store, cfg) = store_after_a_flush(dir.path(), false);
    let busy = rocksdb_log_bytes(dir.path());
    assert!(
        busy > 10_000,
        "the index of 500 traces is in the log: {busy} bytes"
    );

    // Nothing left in memory, nothing due: the store is idle.
    assert_eq!(store.flush(false).unwrap(), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut idle = rocksdb_log_bytes(dir.path());
    while idle >= 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        idle = rocksdb_log_bytes(dir.path());
    }
    assert!(
        idle < 1024,
        "{idle} bytes of log left after going idle ({busy} before)"
    );

    drop(store);
    let store = Store::open(cfg).unwrap();
    for t in [1u128, 250, 500] {
        assert!(store.get_trace(TraceId(t)).unwrap().is_some(), "trace {t}");
    }
}

/// Bytes of RocksDB's log after the same 500 traces are flushed into a
/// fresh store with `compression` set as given.
fn log_bytes_after_a_flush(compression: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _) = store_after_a_flush(dir.path(), compression);
    rocksdb_log_bytes(dir.path())
}

#[test]
fn rocksdbs_log_is_compressed_when_configured() {
    let plain = log_bytes_after_a_flush(false);
    let compressed = log_bytes_after_a_flush(true);
    assert!(
        compressed * 10 < plain * 8,
        "compressed log {compressed} bytes against {plain} plain"
    );
}
