//! The tail-sampling hook: traces leaving the buffer are stored or dropped by
//! the store's decider, late spans follow the decision already taken, and a
//! reopen decides what the write-ahead log replays.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use spoor_storage::{Decision, DecisionPolicy, TraceDecider};

/// Keeps traces whose id is even; counts the decisions it made.
#[derive(Default)]
struct EvenIds {
    decisions: AtomicUsize,
}

impl TraceDecider for EvenIds {
    fn decide(&self, trace_id: TraceId, _trace: &TracesData) -> Decision {
        self.decisions.fetch_add(1, Ordering::SeqCst);
        if trace_id.0 % 2 == 0 {
            Decision::keep("even")
        } else {
            Decision::drop("even")
        }
    }
}

fn policy() -> DecisionPolicy {
    DecisionPolicy {
        decision_wait: Duration::from_millis(100),
        max_age: Duration::from_secs(1),
        late_span_ttl: Duration::from_secs(600),
        max_remembered: 1000,
    }
}

#[test]
fn dropped_traces_are_not_stored_and_release_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let decider = Arc::new(EvenIds::default());
    store.set_decider(decider.clone(), policy());
    for trace in 1..=4u128 {
        write(
            &store,
            &[SpanSpec {
                trace,
                name: "a",
                ..Default::default()
            }],
        );
    }
    store.flush(true).unwrap();
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 4);
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert!(store.get_trace(TraceId(3)).unwrap().is_none());
    assert!(store.get_trace(TraceId(2)).unwrap().is_some());
    assert!(store.get_trace(TraceId(4)).unwrap().is_some());
    assert_eq!(store.stats().live_traces, 0);
    drop(store);
    // Nothing comes back from the log: the drops were final.
    let store = open(dir.path());
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert_eq!(store.stats().live_traces, 0);
}

#[test]
fn late_spans_follow_the_decision_already_taken() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let decider = Arc::new(EvenIds::default());
    store.set_decider(decider.clone(), policy());
    for trace in [1u128, 2] {
        write(
            &store,
            &[SpanSpec {
                trace,
                name: "first",
                ..Default::default()
            }],
        );
    }
    store.flush(true).unwrap();
    for trace in [1u128, 2] {
        write(
            &store,
            &[SpanSpec {
                trace,
                id: 2,
                name: "late",
                ..Default::default()
            }],
        );
    }
    store.flush(true).unwrap();
    // Two decisions only: the late spans were not judged again.
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 2);
    assert_eq!(store.remembered_decision(TraceId(1)), Some(false));
    assert_eq!(store.remembered_decision(TraceId(2)), Some(true));
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert_eq!(
        span_names(&store.get_trace(TraceId(2)).unwrap().unwrap()),
        ["first", "late"]
    );
}

#[test]
fn traces_replayed_after_a_crash_are_decided() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.set_decider(Arc::new(EvenIds::default()), policy());
        for trace in 1..=4u128 {
            write(
                &store,
                &[SpanSpec {
                    trace,
                    name: "a",
                    ..Default::default()
                }],
            );
        }
        // Dropped without shutdown, as a crash: nothing was decided.
    }
    let store = open(dir.path());
    let decider = Arc::new(EvenIds::default());
    store.set_decider(decider.clone(), policy());
    assert_eq!(store.stats().live_traces, 4);
    store.flush(true).unwrap();
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 4);
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
    assert!(store.get_trace(TraceId(4)).unwrap().is_some());
}

#[test]
fn the_decider_waits_for_its_own_decision_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let decider = Arc::new(EvenIds::default());
    store.set_decider(
        decider.clone(),
        DecisionPolicy {
            decision_wait: Duration::from_secs(3600),
            max_age: Duration::from_secs(7200),
            ..policy()
        },
    );
    write(
        &store,
        &[SpanSpec {
            trace: 2,
            name: "a",
            ..Default::default()
        }],
    );
    // The storage idle timeout (200 ms) no longer applies.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(store.flush(false).unwrap(), 0);
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 0);
    assert_eq!(store.stats().live_traces, 1);
}

#[test]
fn a_full_buffer_decides_its_oldest_traces_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = spoor_storage::Store::open(spoor_storage::StorageConfig {
        live_max_traces: 3,
        ..config(dir.path())
    })
    .unwrap();
    let decider = Arc::new(EvenIds::default());
    store.set_decider(
        decider.clone(),
        DecisionPolicy {
            decision_wait: Duration::from_secs(3600),
            max_age: Duration::from_secs(7200),
            ..policy()
        },
    );
    for trace in 1..=10u128 {
        write(
            &store,
            &[SpanSpec {
                trace,
                name: "a",
                ..Default::default()
            }],
        );
    }
    store.flush(false).unwrap();
    assert_eq!(store.stats().live_traces, 3);
    assert_eq!(decider.decisions.load(Ordering::SeqCst), 7);
}

#[test]
fn a_buffer_at_its_bound_under_steady_load_stays_bounded_and_keeps_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let store = spoor_storage::Store::open(spoor_storage::StorageConfig {
        live_max_traces: 50,
        ..config(dir.path())
    })
    .unwrap();
    let decider = Arc::new(EvenIds::default());
    store.set_decider(
        decider.clone(),
        DecisionPolicy {
            decision_wait: Duration::from_secs(3600),
            max_age: Duration::from_secs(7200),
            ..policy()
        },
    );
    let mut next = 1u128;
    for round in 1..=20usize {
        for _ in 0..40 {
            write(
                &store,
                &[SpanSpec {
                    trace: next,
                    name: "a",
                    ..Default::default()
                }],
            );
            next += 1;
        }
        store.flush(false).unwrap();
        assert!(
            store.stats().live_traces <= 50,
            "round {round}: {} traces buffered",
            store.stats().live_traces
        );
        // Every trace beyond the bound was decided, none twice.
        assert_eq!(
            decider.decisions.load(Ordering::SeqCst),
            (round * 40).saturating_sub(50)
        );
    }
    assert!(store.get_trace(TraceId(2)).unwrap().is_some());
    assert!(store.get_trace(TraceId(1)).unwrap().is_none());
}
