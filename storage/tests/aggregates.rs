//! Persisted analytics aggregates against real RocksDB: deltas are readable
//! at once, survive a reopen, merge with later deltas of the same bucket, and
//! expire with retention.
//!
//! In: hand-built `AggregateDelta`s. Out: assertions on
//! `Store::aggregate_buckets` and `Store::dependencies`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoor_storage::aggregates::{EdgeStats, SeriesKey};
use spoor_storage::{AggregateDelta, DependencyLink, StorageConfig, Store};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn delta(time_ms: u64, calls: u64, edge: (&str, &str, u64, u64)) -> AggregateDelta {
    let mut delta = AggregateDelta::default();
    let bucket = delta.bucket_at(time_ms, 60_000);
    let key = SeriesKey {
        service: "front".into(),
        operation: "GET /".into(),
        kind: 2,
        status: 0,
    };
    let stats = bucket.series.entry(key).or_default();
    for _ in 0..calls {
        stats.record(10_000, false);
    }
    bucket.edges.insert(
        (edge.0.into(), edge.1.into()),
        EdgeStats {
            calls: edge.2,
            errors: edge.3,
        },
    );
    delta
}

fn link(parent: &str, child: &str, calls: u64, errors: u64) -> DependencyLink {
    DependencyLink {
        parent: parent.into(),
        child: child.into(),
        call_count: calls,
        error_count: errors,
    }
}

#[test]
fn aggregates_are_visible_at_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let store = common::open(dir.path());
    store.record_aggregates(delta(now, 3, ("front", "back", 2, 1)));
    assert_eq!(
        store.dependencies(now - 60_000, now + 1).unwrap(),
        vec![link("front", "back", 2, 1)]
    );
    store.flush_aggregates().unwrap();
    // A later delta of the same bucket adds to the stored record.
    store.record_aggregates(delta(now, 2, ("front", "back", 1, 0)));
    store.shutdown().unwrap();
    drop(store);

    let store = common::open(dir.path());
    assert_eq!(
        store.dependencies(now - 60_000, now + 1).unwrap(),
        vec![link("front", "back", 3, 1)]
    );
    let buckets = store
        .aggregate_buckets(now - 60_000, now + 1, |_| true)
        .unwrap();
    let calls: u64 = buckets
        .iter()
        .flat_map(|(_, b)| b.series.values())
        .map(|s| s.calls)
        .sum();
    assert_eq!(calls, 5);
    assert!(store
        .dependencies(now - 7_200_000, now - 3_600_000)
        .unwrap()
        .is_empty());
    store.shutdown().unwrap();
}

#[test]
fn retention_deletes_old_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        data_dir: dir.path().to_path_buf(),
        retention: Duration::from_secs(3600),
        ..common::config(dir.path())
    };
    let store = Store::open(config).unwrap();
    let now = now_ms();
    store.record_aggregates(delta(now - 2 * 3_600_000, 1, ("old", "x", 1, 0)));
    store.record_aggregates(delta(now, 1, ("new", "x", 1, 0)));
    store.flush_aggregates().unwrap();
    store.enforce_retention().unwrap();
    assert_eq!(
        store.dependencies(0, now + 1).unwrap(),
        vec![link("new", "x", 1, 0)]
    );
    store.shutdown().unwrap();
}
