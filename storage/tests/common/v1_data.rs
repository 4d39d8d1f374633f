//! The traces of the v1 store fixture (`tests/fixtures/v1-store`): written
//! by the v1 storage code (one `t|trace|block` protobuf record per trace in
//! `p<start>` partitions, a `wal` column family), read back by
//! `tests/upgrade.rs` with the current code.
//!
//! In: nothing (deterministic). Out: the batches that were flushed to a v1
//! partition, and those left only in the v1 write-ahead column family.

#![allow(dead_code)]

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    kv, string_kv, Event, InstrumentationScope, Link, Resource, ResourceSpans, ScopeSpans, Span,
    Status, TracesData, Value,
};

/// Start of the fixture's first span, ns (2023-11-14).
pub const BASE_NS: u64 = 1_700_000_000_000_000_000;

/// Number of traces flushed into the v1 partition.
pub const FLUSHED_TRACES: u128 = 40;
/// Number of traces left in the v1 write-ahead column family.
pub const UNFLUSHED_TRACES: u128 = 10;

/// Services of the fixture.
pub const SERVICES: [&str; 3] = ["frontend", "cart", "payment"];

/// Id of fixture trace `i`: 128-bit for even `i`, 64-bit for odd `i`.
pub fn trace_id(i: u128) -> TraceId {
    if i % 2 == 0 {
        TraceId((0xfeed_0000_0000_0000_u128 + i) << 64 | (0x1000 + i))
    } else {
        TraceId(0x2000 + i)
    }
}

/// Spans of fixture trace `i`.
pub fn span_count(i: u128) -> usize {
    3 + (i % 4) as usize
}

fn span(i: u128, j: usize) -> Span {
    let id = trace_id(i);
    let start = BASE_NS + (i as u64) * 1_000_000_000 + (j as u64) * 1_000_000;
    let mut span = Span {
        trace_id: id.to_bytes().to_vec().into(),
        span_id: ((i as u64) << 16 | j as u64 | 1)
            .to_be_bytes()
            .to_vec()
            .into(),
        parent_span_id: if j == 0 {
            Default::default()
        } else {
            ((i as u64) << 16 | 1).to_be_bytes().to_vec().into()
        },
        name: format!("op-{}", j % 3),
        kind: if j == 0 { 2 } else { 3 },
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000 * (1 + (i as u64 * 7 + j as u64) % 50),
        attributes: vec![
            string_kv("http.method", ["GET", "POST"][j % 2]),
            kv(
                "http.status_code",
                Value::IntValue(200 + (i as i64 % 3) * 100),
            ),
            string_kv("user.id", format!("user-{}", i * 31 % 17)),
            kv("cache.hit", Value::BoolValue(j % 2 == 0)),
            kv("ratio", Value::DoubleValue(i as f64 / 8.0)),
        ],
        ..Default::default()
    };
    if i % 5 == 0 && j == 1 {
        span.status = Some(Status {
            code: 2,
            message: "boom".into(),
        });
        span.events.push(Event {
            time_unix_nano: start + 10,
            name: "exception".into(),
            attributes: vec![string_kv("exception.message", "boom")],
            ..Default::default()
        });
    }
    if i % 7 == 0 && j == 2 {
        span.links.push(Link {
            trace_id: trace_id(i + 1).to_bytes().to_vec().into(),
            span_id: 9u64.to_be_bytes().to_vec().into(),
            attributes: vec![string_kv("link.kind", "follows")],
            ..Default::default()
        });
    }
    span
}

/// One batch holding fixture traces `range`, spans grouped by service.
pub fn batch(range: std::ops::Range<u128>) -> TracesData {
    let mut data = TracesData::default();
    for (s, service) in SERVICES.iter().enumerate() {
        let mut spans = Vec::new();
        for i in range.clone() {
            for j in 0..span_count(i) {
                if j % SERVICES.len() == s {
                    spans.push(span(i, j));
                }
            }
        }
        data.resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", *service),
                    string_kv("host.name", format!("{service}-0")),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "fixture".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        });
    }
    data
}

/// The batches flushed into the v1 partition (four batches of ten traces).
pub fn flushed_batches() -> Vec<TracesData> {
    (0..4).map(|b| batch(b * 10..b * 10 + 10)).collect()
}

/// The batch left unflushed in the v1 write-ahead column family.
pub fn unflushed_batches() -> Vec<TracesData> {
    vec![batch(FLUSHED_TRACES..FLUSHED_TRACES + UNFLUSHED_TRACES)]
}
