//! Trace-by-id: from memory, from disk, and spread over both.

mod common;

use common::*;
use spoor_proto::ids::TraceId;

#[test]
fn a_written_trace_is_readable_at_once_and_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(
        &store,
        &[
            SpanSpec {
                name: "a",
                ..Default::default()
            },
            SpanSpec {
                id: 2,
                name: "b",
                ..Default::default()
            },
        ],
    );
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a", "b"]
    );
    store.flush(true).unwrap();
    assert_eq!(store.stats().live_traces, 0);
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a", "b"]
    );
}

#[test]
fn late_spans_join_the_stored_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(
        &store,
        &[SpanSpec {
            name: "early",
            ..Default::default()
        }],
    );
    store.flush(true).unwrap();
    write(
        &store,
        &[SpanSpec {
            id: 2,
            name: "late",
            ..Default::default()
        }],
    );
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["early", "late"]
    );
    store.flush(true).unwrap();
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["early", "late"]
    );
}

#[test]
fn unknown_trace_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.get_trace(TraceId(99)).unwrap().is_none());
}

#[test]
fn spans_sharing_an_id_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(
        &store,
        &[SpanSpec {
            name: "client",
            ..Default::default()
        }],
    );
    write(
        &store,
        &[SpanSpec {
            name: "server",
            ..Default::default()
        }],
    );
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["client", "server"]
    );
}

#[test]
fn idle_traces_are_flushed_by_the_background_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    write(&store, &[SpanSpec::default()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stats().live_traces > 0 {
        assert!(std::time::Instant::now() < deadline, "trace never flushed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(store.stats().blocks, 1);
    assert!(store.get_trace(TraceId(1)).unwrap().is_some());
}

/// The test config with traces that never become due on their own (no idle
/// or age flush within a test): only a full buffer or an explicit flush
/// moves them.
fn config_without_due_traces(dir: &std::path::Path) -> spoor_storage::StorageConfig {
    let mut cfg = config(dir);
    cfg.trace_idle_timeout = std::time::Duration::from_secs(3600);
    cfg.trace_max_age = std::time::Duration::from_secs(3600);
    cfg
}

#[test]
fn writes_are_refused_above_the_hard_memory_bound_until_the_flusher_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_without_due_traces(dir.path());
    cfg.live_max_bytes = 1 << 30;
    cfg.live_hard_max_bytes = 1 << 30;
    cfg.memory_budget = 2 << 30;
    let store = spoor_storage::Store::open(cfg.clone()).unwrap();
    drop(store);
    cfg.live_max_bytes = 10;
    cfg.live_hard_max_bytes = 10;
    let store = spoor_storage::Store::open(cfg).unwrap();
    // Back-to-back writes: once one is held, the next is refused (the flusher
    // runs at most every 100 ms, so within 50 immediate attempts one is refused).
    let mut refused = None;
    for i in 0..50u128 {
        let b = spoor_storage::prepare_batch(batch(&[SpanSpec {
            trace: 100 + i,
            ..Default::default()
        }]));
        match store.write_batches(&[b]) {
            Ok(()) => {}
            Err(spoor_storage::StorageError::Overloaded { .. }) => {
                refused = Some(100 + i);
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let refused = refused.expect("no write was refused above the hard bound");
    assert!(
        store.get_trace(TraceId(refused)).unwrap().is_none(),
        "a refused batch is not stored"
    );
    store.flush(true).unwrap();
    write(
        &store,
        &[SpanSpec {
            trace: 2,
            name: "after",
            ..Default::default()
        }],
    );
    assert!(store.get_trace(TraceId(2)).unwrap().is_some());
}

#[test]
fn over_its_soft_bound_the_buffer_is_flushed_without_waiting_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_without_due_traces(dir.path());
    cfg.flush_interval = std::time::Duration::from_secs(3600);
    cfg.live_max_bytes = 1;
    let store = spoor_storage::Store::open(cfg).unwrap();
    write(&store, &[SpanSpec::default()]);
    assert!(store.over_soft_bound());
    // Neither idle nor old, and the interval is an hour away: only the
    // soft bound makes the flusher take it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stats().live_traces > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a buffer over its soft bound waited for the flush interval"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(store.stats().blocks, 1);
    assert!(store.get_trace(TraceId(1)).unwrap().is_some());
}
