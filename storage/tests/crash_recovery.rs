//! Durability: what was acknowledged survives a reopen, whether or not it was
//! flushed, and is never stored twice.

mod common;

use common::*;
use spoor_proto::ids::TraceId;

#[test]
fn unflushed_spans_are_replayed_from_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write(
            &store,
            &[SpanSpec {
                name: "a",
                ..Default::default()
            }],
        );
        // Dropped without shutdown: nothing was flushed.
        assert_eq!(store.stats().blocks, 0);
    }
    let store = open(dir.path());
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a"]
    );
    assert_eq!(store.services(), ["svc"]);
}

#[test]
fn flushed_and_unflushed_parts_come_back_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write(
            &store,
            &[
                SpanSpec {
                    name: "a",
                    ..Default::default()
                },
                SpanSpec {
                    trace: 2,
                    name: "other",
                    ..Default::default()
                },
            ],
        );
        store.flush(true).unwrap();
        write(
            &store,
            &[SpanSpec {
                id: 2,
                name: "b",
                ..Default::default()
            }],
        );
    }
    let store = open(dir.path());
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        span_names(&store.get_trace(TraceId(2)).unwrap().unwrap()),
        ["other"]
    );
    store.shutdown().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a", "b"]
    );
}

#[test]
fn write_ahead_sequences_never_repeat_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        write(
            &store,
            &[SpanSpec {
                name: "a",
                ..Default::default()
            }],
        );
        store.shutdown().unwrap();
    }
    {
        // A new span for the same trace after the log was emptied must not be
        // mistaken for the stored one when replayed.
        let store = open(dir.path());
        write(
            &store,
            &[SpanSpec {
                id: 2,
                name: "b",
                ..Default::default()
            }],
        );
    }
    let store = open(dir.path());
    assert_eq!(
        span_names(&store.get_trace(TraceId(1)).unwrap().unwrap()),
        ["a", "b"]
    );
}
