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
