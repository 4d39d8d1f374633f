//! Tests of the tail stage: records in, decided spans and progress out,
//! and nothing handed on twice after a takeover.

use std::time::Duration;

use prost::Message;
use spoor_collector::sampling::SamplingConfig;
use spoor_proto::model::{ResourceSpans, ScopeSpans, Span, Status, TracesData};

use super::*;
use crate::record::ENCODING_OTLP_PROTO;

const SETTINGS: AssemblySettings = AssemblySettings {
    decision_wait_ms: 1_000,
    max_age_ms: 10_000,
    remember_ms: 5_000,
    max_remembered: 1_000,
    max_open_bytes: 1 << 20,
};

/// Keeps traces with an error.
fn stage() -> TailStage {
    let config: SamplingConfig = serde_json::from_value(serde_json::json!({
        "tail": {"policies": [{"name": "errors", "type": "status_code",
            "status_code": {"status_codes": ["ERROR"]}}]}
    }))
    .unwrap();
    TailStage::new(SETTINGS, Arc::new(TailSampler::new(&config).unwrap()))
}

fn span(trace: u8, id: u8, failed: bool) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16].into(),
                    span_id: vec![id; 8].into(),
                    name: format!("op-{id}"),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    status: failed.then(|| Status {
                        code: 2,
                        message: String::new(),
                    }),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// Every span the step hands on, kept or dropped.
fn seen(step: &StageOutput) -> usize {
    step.kept.span_count() + step.dropped.span_count()
}

fn record(offset: i64, ms: i64, trace: u8, id: u8, failed: bool, keyed: bool) -> ConsumedRecord {
    ConsumedRecord {
        partition: 0,
        offset,
        timestamp_ms: ms,
        key: keyed.then(|| vec![trace; 16]),
        encoding: Some(ENCODING_OTLP_PROTO.to_string()),
        value: span(trace, id, failed).encode_to_vec(),
    }
}

#[test]
fn closed_traces_are_observed_whole_and_only_kept_ones_stored() {
    let mut stage = stage();
    stage.start(0, Progress::start(0));
    let step = stage.push(vec![
        record(0, 1_000, 1, 1, true, true),
        record(1, 1_100, 2, 1, false, true),
        record(2, 1_200, 1, 2, false, false), // no key: the trace id of its spans
        record(3, 1_300, 2, 2, false, true),
    ]);
    assert_eq!(seen(&step), 0, "nothing is due yet");
    assert_eq!(step.progress[&0].resume_offset, 0);
    // 2_300 = the last record of trace 2 + the wait: both close.
    let step = stage.push(vec![record(4, 2_300, 3, 1, false, true)]);
    assert_eq!(seen(&step), 4);
    assert_eq!(step.kept.span_count(), 2, "trace 1 had the error");
    assert!(step
        .kept
        .resource_spans
        .iter()
        .all(|r| r.scope_spans[0].spans[0].trace_id.as_ref() == [1; 16]));
    assert_eq!(step.progress[&0].applied_offset, 4);
    // A late span of trace 1 follows its decision; one of trace 2 too.
    let step = stage.push(vec![
        record(5, 2_400, 1, 3, false, true),
        record(6, 2_500, 2, 3, false, true),
    ]);
    assert_eq!(seen(&step), 2);
    assert_eq!(step.kept.span_count(), 1);
}

#[test]
fn a_takeover_hands_on_nothing_its_last_owner_did() {
    let records = || {
        vec![
            record(0, 1_000, 1, 1, true, true),
            record(1, 1_100, 2, 1, false, true),
            record(2, 2_200, 3, 1, true, true),
        ]
    };
    let mut owner = stage();
    owner.start(0, Progress::start(0));
    let step = owner.push(records());
    assert_eq!(step.kept.span_count(), 1, "trace 1 closed at 2_000");
    assert_eq!(seen(&step), 2, "and trace 2 at 2_100");
    let progress = step.progress[&0];
    assert_eq!(
        progress.resume_offset, 0,
        "trace 1's decision is remembered"
    );

    // The next owner replays from offset 0: trace 1 is decided again (so
    // it is remembered) but not handed on; trace 3 stays open.
    let mut next = stage();
    next.start(0, progress);
    let step = next.push(records());
    assert_eq!(seen(&step), 0);
    // Records before the replay point are skipped, the rest go on alike.
    let step = next.push(vec![
        record(3, 2_300, 1, 2, false, true),
        record(4, 3_300, 4, 1, false, true),
    ]);
    assert_eq!(step.kept.span_count(), 2, "trace 1's late span and trace 3");
    assert_eq!(seen(&step), 2, "trace 2 was handed on before");
}

#[test]
fn an_idle_partition_closes_its_traces_by_the_wall_clock_given() {
    let mut stage = stage();
    stage.start(0, Progress::start(7));
    let step = stage.push(vec![record(7, 1_000, 1, 1, true, true)]);
    assert_eq!(seen(&step), 0);
    // Not idle for long enough: nothing moves.
    let step = stage.advance_idle(Duration::from_secs(3600), 5_000);
    assert!(step.progress.is_empty());
    let step = stage.advance_idle(Duration::ZERO, 2_000);
    assert_eq!(step.kept.span_count(), 1);
    assert_eq!(step.progress[&0].applied_watermark_ms, 2_000);
}

#[test]
fn records_of_partitions_not_started_and_without_a_trace_are_left_out() {
    let mut stage = stage();
    stage.start(0, Progress::start(0));
    let mut other = record(0, 1_000, 1, 1, true, true);
    other.partition = 5;
    let mut garbage = record(1, 1_000, 1, 1, true, false);
    garbage.value = vec![0xff, 0xff];
    let step = stage.push(vec![other, garbage]);
    assert_eq!(step.invalid, 1);
    assert!(!stage.has(5));
    assert_eq!(stage.next_offset(0), Some(0));
}
