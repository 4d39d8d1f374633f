//! The low-64 index: 128-bit traces found by the low half of their id (for
//! Zipkin's lenient trace ids), from memory, from disk, and gone with their
//! partition.

mod common;

use std::time::Duration;

use common::*;
use spoor_proto::ids::TraceId;

const LOW: u64 = 0x1234_5678_9abc_def0;
const LONG: u128 = (0xaaaa_u128 << 64) | LOW as u128;
const OTHER_LONG: u128 = (0xbbbb_u128 << 64) | LOW as u128;

fn seed(store: &spoor_storage::Store) {
    for (trace, name) in [
        (LONG, "long"),
        (OTHER_LONG, "other-long"),
        (u128::from(LOW), "short"),
        ((0xaaaa_u128 << 64) | 5, "unrelated"),
    ] {
        write(
            store,
            &[SpanSpec {
                trace,
                name,
                ..Default::default()
            }],
        );
    }
}

#[test]
fn traces_sharing_a_low_half_are_found_in_memory_and_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    seed(&store);
    let check = |store: &spoor_storage::Store| {
        assert_eq!(
            store.trace_ids_with_low64(LOW).unwrap(),
            [TraceId(LONG), TraceId(OTHER_LONG)]
        );
        assert!(store.trace_ids_with_low64(LOW + 1).unwrap().is_empty());
        let merged = store.get_trace_by_low64(LOW).unwrap().unwrap();
        assert_eq!(span_names(&merged), ["long", "other-long", "short"]);
        assert!(store.get_trace_by_low64(LOW + 1).unwrap().is_none());
        // Strict lookups are unchanged.
        assert_eq!(
            span_names(&store.get_trace(TraceId(LONG)).unwrap().unwrap()),
            ["long"]
        );
    };
    check(&store);
    store.flush(true).unwrap();
    assert_eq!(store.stats().live_traces, 0);
    check(&store);
    // Half in memory, half on disk: a late span of the flushed trace.
    write(
        &store,
        &[SpanSpec {
            trace: LONG,
            id: 2,
            name: "late",
            ..Default::default()
        }],
    );
    assert_eq!(
        span_names(&store.get_trace_by_low64(LOW).unwrap().unwrap()),
        ["late", "long", "other-long", "short"]
    );
    // And after a restart.
    store.shutdown().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.trace_ids_with_low64(LOW).unwrap(),
        [TraceId(LONG), TraceId(OTHER_LONG)]
    );
}

#[test]
fn the_index_is_dropped_with_its_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.partition_duration = Duration::from_secs(1);
    cfg.retention = Duration::from_secs(1);
    cfg.retention_check_interval = Duration::from_secs(3600);
    let store = spoor_storage::Store::open(cfg).unwrap();
    seed(&store);
    store.flush(true).unwrap();
    assert_eq!(store.trace_ids_with_low64(LOW).unwrap().len(), 2);
    std::thread::sleep(Duration::from_millis(2500));
    store.enforce_retention().unwrap();
    assert_eq!(store.stats().partitions, 0);
    assert!(store.trace_ids_with_low64(LOW).unwrap().is_empty());
    assert!(store.get_trace_by_low64(LOW).unwrap().is_none());
}
