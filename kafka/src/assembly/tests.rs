//! Tests of trace close by event time, and a property test of replay
//! against an in-process log: a node that takes a partition over at any
//! point, from the progress its last owner recorded, hands on exactly what
//! the last owner would have handed on after that point.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// A payload: the record's offset and whether its span failed.
type Payload = (i64, bool);
/// A decided trace: its records' offsets.
type Decided = Vec<i64>;

const SETTINGS: AssemblySettings = AssemblySettings {
    decision_wait_ms: 50,
    max_age_ms: 200,
    remember_ms: 120,
    max_remembered: usize::MAX,
    max_open_bytes: usize::MAX,
};

fn id(n: u8) -> TraceId {
    TraceId::from_bytes(&[n; 16]).unwrap()
}

/// Keeps traces with a failed span.
fn decide(_: TraceId, payloads: Vec<Payload>, _: i64) -> (bool, Decided) {
    let keep = payloads.iter().any(|(_, failed)| *failed);
    let mut offsets: Vec<i64> = payloads.iter().map(|(o, _)| *o).collect();
    offsets.sort_unstable();
    (keep, offsets)
}

fn push(
    a: &mut PartitionAssembly<Payload>,
    offset: i64,
    ms: i64,
    trace: u8,
    failed: bool,
) -> Vec<Output<Decided, Payload>> {
    let mut out = Vec::new();
    a.push(
        Arrival {
            offset,
            timestamp_ms: ms,
            trace: id(trace),
            payload: (offset, failed),
            bytes: 10,
        },
        &mut decide,
        &mut out,
    );
    out
}

#[test]
fn a_trace_closes_once_the_watermark_passes_its_last_record_plus_the_wait() {
    let mut a = PartitionAssembly::new(SETTINGS, &Progress::start(0));
    assert!(push(&mut a, 0, 1_000, 1, true).is_empty());
    assert!(push(&mut a, 1, 1_040, 1, false).is_empty());
    // 1_089 < 1_040 + 50: still open.
    assert!(push(&mut a, 2, 1_089, 2, false).is_empty());
    let out = push(&mut a, 3, 1_090, 2, false);
    assert_eq!(
        out,
        vec![Output::Closed {
            trace: id(1),
            keep: true,
            close_at_ms: 1_090,
            last_offset: 1,
            early: false,
            decided: vec![0, 1],
        }]
    );
    // A later record of trace 1 follows the decision.
    let out = push(&mut a, 4, 1_100, 1, false);
    assert!(matches!(
        out.as_slice(),
        [Output::Late {
            keep: true,
            offset: 4,
            ..
        }]
    ));
    // Trace 2 is still open: a replay starts at its first record.
    let progress = a.progress();
    assert_eq!(
        progress.resume_offset, 0,
        "trace 1's decision is remembered"
    );
    assert_eq!(progress.applied_offset, 4);
    assert_eq!(progress.applied_watermark_ms, 1_100);
}

#[test]
fn a_trace_closes_at_its_maximum_age_however_often_it_gets_records() {
    let mut a = PartitionAssembly::new(SETTINGS, &Progress::start(0));
    let mut closed = Vec::new();
    for i in 0..10 {
        closed.extend(push(&mut a, i, 1_000 + i * 30, 7, false));
    }
    // 1_000 + 200 = 1_200, reached by the record at 1_200 (offset ... 7 at 1_210).
    let Output::Closed {
        close_at_ms,
        decided,
        ..
    } = &closed[0]
    else {
        panic!("{closed:?}")
    };
    assert_eq!(*close_at_ms, 1_200);
    assert_eq!(decided, &vec![0, 1, 2, 3, 4, 5, 6]);
    assert!(closed[1..]
        .iter()
        .all(|o| matches!(o, Output::Late { keep: false, .. })));
}

#[test]
fn decisions_are_forgotten_after_their_time_and_then_the_replay_point_moves_on() {
    let mut a = PartitionAssembly::new(SETTINGS, &Progress::start(0));
    push(&mut a, 0, 1_000, 1, false);
    let mut out = Vec::new();
    a.advance(1_050, &mut decide, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(a.progress().resume_offset, 0);
    a.advance(1_119, &mut decide, &mut out);
    assert_eq!(a.progress().resume_offset, 0);
    a.advance(1_120, &mut decide, &mut out);
    let progress = a.progress();
    assert_eq!(progress.resume_offset, 1);
    assert_eq!(progress.resume_watermark_ms, 1_120);
    // The trace's next record starts it again.
    assert!(push(&mut a, 1, 1_130, 1, true).is_empty());
    assert_eq!(a.open_traces(), 1);
}

#[test]
fn the_open_bytes_bound_closes_the_oldest_trace_early_and_counts_it() {
    let settings = AssemblySettings {
        max_open_bytes: 25,
        ..SETTINGS
    };
    let mut a = PartitionAssembly::new(settings, &Progress::start(0));
    push(&mut a, 0, 1_000, 1, false);
    push(&mut a, 1, 1_001, 2, false);
    let out = push(&mut a, 2, 1_002, 3, false);
    assert!(matches!(
        out.as_slice(),
        [Output::Closed { early: true, decided, .. }] if decided == &vec![0]
    ));
    assert_eq!(a.open_bytes(), 20);
    assert_eq!(a.overflows(), (1, 0));
}

#[test]
fn the_remembered_bound_forgets_the_oldest_decision_and_counts_it() {
    let settings = AssemblySettings {
        max_remembered: 1,
        ..SETTINGS
    };
    let mut a = PartitionAssembly::new(settings, &Progress::start(0));
    push(&mut a, 0, 1_000, 1, false);
    push(&mut a, 1, 1_001, 2, false);
    let mut out = Vec::new();
    a.advance(2_000 - 900, &mut decide, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(a.overflows(), (0, 1));
    assert_eq!(a.progress().resume_offset, 1);
}

/// One event of a partition's life, as the owner sees it.
#[derive(Debug, Clone)]
enum Event {
    /// A record of trace `trace`, `jitter` ms before the clock.
    Record {
        trace: u8,
        jitter: i64,
        failed: bool,
    },
    /// The owner found the partition idle and moved the watermark to the
    /// clock minus the largest jitter.
    Idle,
}

fn event() -> impl Strategy<Value = (i64, Event)> {
    let record =
        (0u8..8, 0i64..=JITTER, prop::bool::weighted(0.2)).prop_map(|(trace, jitter, failed)| {
            Event::Record {
                trace,
                jitter,
                failed,
            }
        });
    (0i64..40, prop_oneof![8 => record, 1 => Just(Event::Idle)])
}

/// Records come at most this long after their timestamp.
const JITTER: i64 = 80;

/// What an output says, in a form two runs can be compared by.
fn normal(output: &Output<Decided, Payload>) -> (u8, bool, Vec<i64>) {
    match output {
        Output::Closed {
            trace,
            keep,
            decided,
            ..
        } => (trace.to_bytes()[0], *keep, decided.clone()),
        Output::Late {
            trace,
            keep,
            offset,
            ..
        } => (trace.to_bytes()[0], *keep, vec![-offset - 1]),
    }
}

/// Runs `events` on an assembly from `progress`; records before
/// `progress.resume_offset` are skipped and idle events before `live_from`
/// (the replaying node reads history without pauses) too.
fn run(
    events: &[(i64, Event)],
    progress: &Progress,
    live_from: usize,
    stop_after: usize,
) -> (Vec<Output<Decided, Payload>>, PartitionAssembly<Payload>) {
    let mut a = PartitionAssembly::new(SETTINGS, progress);
    let mut out = Vec::new();
    let (mut clock, mut offset) = (10_000i64, 0i64);
    for (i, (step, event)) in events.iter().enumerate().take(stop_after) {
        clock += step;
        match event {
            Event::Record {
                trace,
                jitter,
                failed,
            } => {
                if offset >= progress.resume_offset {
                    a.push(
                        Arrival {
                            offset,
                            timestamp_ms: clock - jitter,
                            trace: id(*trace),
                            payload: (offset, *failed),
                            bytes: 10,
                        },
                        &mut decide,
                        &mut out,
                    );
                }
                offset += 1;
            }
            Event::Idle if i >= live_from => a.advance(clock - JITTER, &mut decide, &mut out),
            Event::Idle => {}
        }
    }
    (out, a)
}

fn counted(outputs: &[Output<Decided, Payload>]) -> BTreeMap<(u8, bool, Vec<i64>), usize> {
    let mut counts = BTreeMap::new();
    for output in outputs {
        *counts.entry(normal(output)).or_insert(0) += 1;
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_takeover_at_any_point_hands_on_exactly_what_the_owner_would_have(
        events in prop::collection::vec(event(), 1..160),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(events.len() + 1);
        let (whole, _) = run(&events, &Progress::start(0), 0, events.len());
        let (before, owner) = run(&events, &Progress::start(0), 0, cut);
        let progress = owner.progress();
        let (replayed, _) = run(&events, &progress, cut, events.len());
        let mut handed_on = before;
        handed_on.extend(replayed.into_iter().filter(|o| !progress.is_done(o)));
        prop_assert_eq!(counted(&handed_on), counted(&whole));
    }

}
