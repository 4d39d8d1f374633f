//! Retention drops whole partitions by age and by disk budget.

mod common;

use std::time::Duration;

use common::*;
use spoor_proto::ids::TraceId;

#[test]
fn expired_partitions_are_dropped_with_their_traces_and_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.partition_duration = Duration::from_secs(1);
    cfg.retention = Duration::from_secs(1);
    cfg.retention_check_interval = Duration::from_secs(3600);
    let store = spoor_storage::Store::open(cfg).unwrap();
    write(&store, &[SpanSpec::default()]);
    store.flush(true).unwrap();
    assert_eq!(store.stats().partitions, 1);
    std::thread::sleep(Duration::from_millis(2500));
    store.enforce_retention().unwrap();
    assert_eq!(store.stats().partitions, 0);
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert!(store.services().is_empty());
}

#[test]
fn disk_budget_drops_oldest_partitions_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.partition_duration = Duration::from_secs(1);
    cfg.max_disk_bytes = 1;
    cfg.retention_check_interval = Duration::from_secs(3600);
    let store = spoor_storage::Store::open(cfg).unwrap();
    write(
        &store,
        &[SpanSpec {
            trace: 1,
            ..Default::default()
        }],
    );
    store.flush(true).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    write(
        &store,
        &[SpanSpec {
            trace: 2,
            ..Default::default()
        }],
    );
    store.flush(true).unwrap();
    assert_eq!(store.stats().partitions, 2);
    store.enforce_retention().unwrap();
    assert_eq!(
        store.stats().partitions,
        1,
        "the newest partition is always kept"
    );
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert!(store.get_trace(TraceId(2)).unwrap().is_some());
}
