//! Tests of the batch step, and a property test of the commit rule against
//! an in-process log: offsets are stored only after their batch is durable,
//! committed from time to time, and a node may die at any point.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use prost::Message;
use spoor_proto::model::{ResourceSpans, ScopeSpans, Span, TracesData};

use super::*;
use crate::record::ENCODING_OTLP_PROTO;

fn value(trace: u8, span: u8) -> Vec<u8> {
    TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16].into(),
                    span_id: vec![span; 8].into(),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn record(partition: u32, offset: i64, value: Vec<u8>) -> ConsumedRecord {
    ConsumedRecord {
        partition,
        offset,
        timestamp_ms: 0,
        key: None,
        encoding: Some(ENCODING_OTLP_PROTO.to_string()),
        value,
    }
}

#[test]
fn a_batch_merges_valid_records_and_covers_invalid_ones() {
    let records = vec![
        record(0, 10, value(1, 1)),
        record(1, 4, value(2, 2)),
        record(0, 11, vec![0xff, 0xff]),
        record(0, 12, value(1, 3)),
    ];
    let batch = decode_batch(&records);
    assert_eq!(batch.valid, 3);
    assert_eq!(batch.invalid, 1);
    assert_eq!(batch.data.span_count(), 3);
    assert_eq!(batch.last_offsets, BTreeMap::from([(0, 12), (1, 4)]));
    let (partition, offset, _) = batch.first_error.unwrap();
    assert_eq!((partition, offset), (0, 11));
}

/// One step of the simulated node.
#[derive(Debug, Clone)]
enum Step {
    /// Read up to n records from partition p and write them durably.
    Consume { partition: u32, n: usize },
    /// Commit the stored offsets.
    Commit,
    /// Die: stored but uncommitted offsets are lost; the next node starts
    /// from the committed ones.
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..3, 1usize..6).prop_map(|(partition, n)| Step::Consume { partition, n }),
        1 => Just(Step::Commit),
        1 => Just(Step::Crash),
    ]
}

proptest! {
    #[test]
    fn nothing_is_lost_and_commits_never_pass_durable_data(
        lengths in proptest::collection::vec(0usize..12, 3),
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        // The log: partition p holds lengths[p] records at offsets 0...
        let log: Vec<Vec<ConsumedRecord>> = lengths
            .iter()
            .enumerate()
            .map(|(p, &len)| {
                (0..len as i64)
                    .map(|o| record(p as u32, o, value(p as u8 + 1, o as u8)))
                    .collect()
            })
            .collect();
        let mut durable: BTreeSet<(u32, i64)> = BTreeSet::new();
        let mut committed = [0i64; 3];
        let mut stored = committed;
        let mut position = committed;
        let finish = (0..3).map(|p| Step::Consume { partition: p, n: usize::MAX });
        for step in steps.into_iter().chain([Step::Commit]).chain(finish) {
            match step {
                Step::Consume { partition, n } => {
                    let p = partition as usize;
                    let from = position[p] as usize;
                    let to = from.saturating_add(n).min(log[p].len());
                    let batch = decode_batch(&log[p][from..to]);
                    // The write is durable, then the offsets are stored.
                    for r in &log[p][from..to] {
                        durable.insert((r.partition, r.offset));
                    }
                    position[p] = to as i64;
                    if let Some(last) = batch.last_offsets.get(&partition) {
                        stored[p] = last + 1;
                    }
                }
                Step::Commit => committed = stored,
                Step::Crash => {
                    stored = committed;
                    position = committed;
                }
            }
            for (p, &upto) in committed.iter().enumerate() {
                // Everything below the committed offset is durable.
                for o in 0..upto {
                    prop_assert!(durable.contains(&(p as u32, o)), "offset {o} of {p} committed but not durable");
                }
            }
        }
        for (p, records) in log.iter().enumerate() {
            for r in records {
                prop_assert!(durable.contains(&(p as u32, r.offset)), "record {p}/{} lost", r.offset);
            }
        }
    }
}
