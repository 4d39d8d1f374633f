//! Fixtures shared by the storage unit tests: spans, one-resource batches,
//! and the flush items a live buffer hands the flusher.
//!
//! In: ids, names and times. Out: model values and [`FlushItem`]s built the
//! way the write path builds them (prepared, logged, due).

use std::time::{Duration, Instant};

use spoor_proto::ids::TraceId;
use spoor_proto::model::{string_kv, Resource, ResourceSpans, ScopeSpans, Span, TracesData};

use crate::live::{FlushItem, LiveBuffer};
use crate::prepare::prepare_batch;

/// A span of trace `trace` with id `id`, named `name`, from `start_ns` to
/// `end_ns`.
pub(crate) fn span(trace: u128, id: u64, name: &str, start_ns: u64, end_ns: u64) -> Span {
    Span {
        trace_id: TraceId(trace).to_bytes().to_vec().into(),
        span_id: id.to_be_bytes().to_vec().into(),
        name: name.into(),
        start_time_unix_nano: start_ns,
        end_time_unix_nano: end_ns,
        ..Default::default()
    }
}

/// One resource (with `service.name` when `service` is given) and one
/// scope holding `spans`.
pub(crate) fn batch(service: Option<&str>, spans: Vec<Span>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: service.map(|s| Resource {
                attributes: vec![string_kv("service.name", s)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Every trace of `batches` as the flusher gets it: batch `i` prepared and
/// logged under write-ahead sequence `first_seq + i`, then all of the
/// buffer due at once.
pub(crate) fn flush_items(batches: &[TracesData], first_seq: u64) -> Vec<FlushItem> {
    let live = LiveBuffer::default();
    let now = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        for t in &prepare_batch(b.clone()).traces {
            live.insert(first_seq + i as u64, t, now);
        }
    }
    live.due(now, Duration::ZERO, Duration::ZERO, 0, 0, true)
}
