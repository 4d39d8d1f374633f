//! The generated traffic in the Jaeger and Zipkin proto3 shapes, for the
//! protocols whose wire types are not the canonical model.
//!
//! In: an OTLP [`ExportTraceServiceRequest`] (the canonical model, from
//! [`crate::gen::Batch::to_request`]). Out: `jaeger.api_v2` batches
//! ([`jaeger_batch`] for one gRPC request, [`jaeger_batches`] for one batch
//! per process, as a Thrift client sends them) and a Zipkin proto3
//! `ListOfSpans` ([`zipkin_spans`]).
//!
//! The Jaeger side follows the OpenTelemetry collector's OTLP → Jaeger
//! translation (`service.name` → process, other resource attributes →
//! process tags, scope → `otel.scope.*` tags, kind → `span.kind`, an ERROR
//! status → `otel.status_code` and the bool tag `error`, the parent → the
//! first CHILD_OF reference, events → logs with an `event` field). The
//! Zipkin side writes what [`crate::encode::zipkin_json`] writes, in proto3.

use spoor_proto::jaeger::api_v2 as jaeger;
use spoor_proto::model::{AnyValue, KeyValue, ResourceSpans, Span, SpanKind, StatusCode, Value};
use spoor_proto::otlp::ExportTraceServiceRequest;
use spoor_proto::zipkin;

fn jaeger_tag(key: &str, value: Option<&AnyValue>) -> jaeger::KeyValue {
    let mut tag = jaeger::KeyValue {
        key: key.to_string(),
        ..Default::default()
    };
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::BoolValue(b)) => {
            tag.v_type = jaeger::ValueType::Bool as i32;
            tag.v_bool = *b;
        }
        Some(Value::IntValue(i)) => {
            tag.v_type = jaeger::ValueType::Int64 as i32;
            tag.v_int64 = *i;
        }
        Some(Value::DoubleValue(d)) => {
            tag.v_type = jaeger::ValueType::Float64 as i32;
            tag.v_float64 = *d;
        }
        Some(Value::BytesValue(b)) => {
            tag.v_type = jaeger::ValueType::Binary as i32;
            tag.v_binary = b.clone();
        }
        Some(Value::StringValue(s)) => tag.v_str = s.clone(),
        Some(_) | None => {
            tag.v_str = value
                .map(spoor_proto::model::search_string)
                .unwrap_or_default()
        }
    }
    tag
}

fn jaeger_str(key: &str, value: &str) -> jaeger::KeyValue {
    jaeger::KeyValue {
        key: key.to_string(),
        v_str: value.to_string(),
        ..Default::default()
    }
}

fn jaeger_tags(attributes: &[KeyValue]) -> Vec<jaeger::KeyValue> {
    attributes
        .iter()
        .map(|kv| jaeger_tag(&kv.key, kv.value.as_ref()))
        .collect()
}

fn timestamp(nanos: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

/// The process of a resource group: `service.name` and the other attributes
/// as tags.
fn jaeger_process(rs: &ResourceSpans) -> jaeger::Process {
    let attributes = rs
        .resource
        .as_ref()
        .map(|r| r.attributes.as_slice())
        .unwrap_or(&[]);
    jaeger::Process {
        service_name: rs.service_name().to_string(),
        tags: attributes
            .iter()
            .filter(|kv| kv.key != spoor_proto::model::SERVICE_NAME)
            .map(|kv| jaeger_tag(&kv.key, kv.value.as_ref()))
            .collect(),
    }
}

fn jaeger_span(
    span: &Span,
    scope: Option<&spoor_proto::model::InstrumentationScope>,
) -> jaeger::Span {
    let mut tags = jaeger_tags(&span.attributes);
    if let Some(scope) = scope {
        tags.push(jaeger_str("otel.scope.name", &scope.name));
        tags.push(jaeger_str("otel.scope.version", &scope.version));
    }
    let kind = spoor_proto::model::span_kind_name(span.span_kind());
    if !kind.is_empty() {
        tags.push(jaeger_str("span.kind", kind));
    }
    match span.status_code() {
        StatusCode::Error => {
            tags.push(jaeger_str("otel.status_code", "ERROR"));
            tags.push(jaeger::KeyValue {
                key: "error".to_string(),
                v_type: jaeger::ValueType::Bool as i32,
                v_bool: true,
                ..Default::default()
            });
            let message = span.status.as_ref().map_or("", |s| s.message.as_str());
            if !message.is_empty() {
                tags.push(jaeger_str("otel.status_description", message));
            }
        }
        StatusCode::Ok => tags.push(jaeger_str("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    let references = if span.parent_span_id.is_empty() {
        Vec::new()
    } else {
        vec![jaeger::SpanRef {
            trace_id: span.trace_id.clone(),
            span_id: span.parent_span_id.clone(),
            ref_type: jaeger::SpanRefType::ChildOf as i32,
        }]
    };
    let logs = span
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![jaeger_str("event", &e.name)];
            fields.extend(jaeger_tags(&e.attributes));
            jaeger::Log {
                timestamp: Some(timestamp(e.time_unix_nano)),
                fields,
            }
        })
        .collect();
    let duration = span.duration_nanos();
    jaeger::Span {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        operation_name: span.name.clone(),
        references,
        flags: 1, // sampled
        start_time: Some(timestamp(span.start_time_unix_nano)),
        duration: Some(prost_types::Duration {
            seconds: (duration / 1_000_000_000) as i64,
            nanos: (duration % 1_000_000_000) as i32,
        }),
        tags,
        logs,
        ..Default::default()
    }
}

fn jaeger_spans(rs: &ResourceSpans) -> impl Iterator<Item = jaeger::Span> + '_ {
    rs.scope_spans.iter().flat_map(|ss| {
        ss.spans
            .iter()
            .map(move |span| jaeger_span(span, ss.scope.as_ref()))
    })
}

/// One batch per resource group (one Jaeger process each), as a Thrift
/// client sends them: a Thrift `Batch` has a single process.
pub fn jaeger_batches(request: &ExportTraceServiceRequest) -> Vec<jaeger::Batch> {
    request
        .resource_spans
        .iter()
        .map(|rs| jaeger::Batch {
            process: Some(jaeger_process(rs)),
            spans: jaeger_spans(rs).collect(),
        })
        .collect()
}

/// The whole request as one `api_v2` batch: the first group's process is the
/// batch's, the spans of every other group carry their own process (the
/// receiver regroups spans by process).
pub fn jaeger_batch(request: &ExportTraceServiceRequest) -> jaeger::Batch {
    let mut batch = jaeger::Batch::default();
    for (i, rs) in request.resource_spans.iter().enumerate() {
        let process = jaeger_process(rs);
        if i == 0 {
            batch.process = Some(process);
            batch.spans.extend(jaeger_spans(rs));
        } else {
            batch.spans.extend(jaeger_spans(rs).map(|mut span| {
                span.process = Some(process.clone());
                span
            }));
        }
    }
    batch
}

/// The request as Zipkin proto3 spans: the same fields
/// [`crate::encode::zipkin_json`] writes (tags as strings, the status as
/// `otel.status_code` and `error`, events as annotations).
pub fn zipkin_spans(request: &ExportTraceServiceRequest) -> zipkin::ListOfSpans {
    let mut spans = Vec::with_capacity(request.resource_spans.len() * 64);
    for rs in &request.resource_spans {
        let local = zipkin::Endpoint {
            service_name: rs.service_name().to_string(),
            ..Default::default()
        };
        for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
            let kind = match span.span_kind() {
                SpanKind::Client => zipkin::span::Kind::Client,
                SpanKind::Server => zipkin::span::Kind::Server,
                SpanKind::Producer => zipkin::span::Kind::Producer,
                SpanKind::Consumer => zipkin::span::Kind::Consumer,
                SpanKind::Internal | SpanKind::Unspecified => {
                    zipkin::span::Kind::SpanKindUnspecified
                }
            };
            let mut tags: std::collections::HashMap<String, String> = span
                .attributes
                .iter()
                .map(|kv| {
                    let text = kv
                        .value
                        .as_ref()
                        .map(spoor_proto::model::search_string)
                        .unwrap_or_default();
                    (kv.key.clone(), text)
                })
                .collect();
            if span.status_code() == StatusCode::Error {
                tags.insert("otel.status_code".to_string(), "ERROR".to_string());
                let message = span.status.as_ref().map_or("", |s| s.message.as_str());
                tags.insert("error".to_string(), message.to_string());
            }
            spans.push(zipkin::Span {
                trace_id: span.trace_id.clone(),
                parent_id: span.parent_span_id.clone(),
                id: span.span_id.clone(),
                kind: kind as i32,
                name: span.name.clone(),
                timestamp: span.start_time_unix_nano / 1_000,
                duration: (span.duration_nanos() / 1_000).max(1),
                local_endpoint: Some(local.clone()),
                annotations: span
                    .events
                    .iter()
                    .map(|e| zipkin::Annotation {
                        timestamp: e.time_unix_nano / 1_000,
                        value: e.name.clone(),
                    })
                    .collect(),
                tags,
                ..Default::default()
            });
        }
    }
    zipkin::ListOfSpans { spans }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gen::{Catalog, Generator, Shape};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// (trace id, span id, parent id, name, service, kind, event count) of
    /// every span, plus `error` for the spans with an ERROR status. Jaeger
    /// readers also make a CLIENT span with a 4xx `http.status_code` an
    /// error, so decoded errors are a superset of the generated ones.
    pub(crate) type Key = (Vec<u8>, Vec<u8>, Vec<u8>, String, String, i32, usize);

    /// The keys of every span; with `zipkin`, INTERNAL reads as unspecified
    /// (Zipkin has no internal kind).
    pub(crate) fn keys(resource_spans: &[ResourceSpans], zipkin: bool) -> BTreeSet<Key> {
        let mut out = BTreeSet::new();
        for rs in resource_spans {
            for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
                let kind = match span.span_kind() {
                    SpanKind::Internal if zipkin => SpanKind::Unspecified,
                    kind => kind,
                };
                out.insert((
                    span.trace_id.to_vec(),
                    span.span_id.to_vec(),
                    span.parent_span_id.to_vec(),
                    span.name.clone(),
                    rs.service_name().to_string(),
                    kind as i32,
                    span.events.len(),
                ));
                if span.status_code() == StatusCode::Error {
                    out.insert((
                        span.trace_id.to_vec(),
                        span.span_id.to_vec(),
                        Vec::new(),
                        "error".to_string(),
                        String::new(),
                        -1,
                        0,
                    ));
                }
            }
        }
        out
    }

    fn is_error(key: &Key) -> bool {
        key.5 == -1
    }

    /// Asserts that `got` has the spans of `want` and no other, and at least
    /// its errors (see [`Key`]); shows the first difference only.
    pub(crate) fn assert_same(got: &BTreeSet<Key>, want: &BTreeSet<Key>) {
        let missing = want.difference(got).next();
        let extra = got.difference(want).find(|k| !is_error(k));
        assert!(
            missing.is_none() && extra.is_none(),
            "{} spans, {} expected; first missing {missing:?}, first unexpected {extra:?}",
            got.iter().filter(|k| !is_error(k)).count(),
            want.iter().filter(|k| !is_error(k)).count()
        );
        assert!(want.iter().any(is_error), "the generated spans have errors");
    }

    fn request(n: usize) -> ExportTraceServiceRequest {
        Generator::new(Arc::new(Catalog::new(Shape::default())), 7)
            .batch(n)
            .to_request()
    }

    #[test]
    fn one_jaeger_batch_keeps_every_span_with_its_service() {
        let request = request(300);
        assert!(request.resource_spans.len() > 1, "several processes");
        let batch = jaeger_batch(&request);
        assert_eq!(batch.spans.len(), 300);
        let decoded = spoor_proto::jaeger_proto::batch_to_model(batch);
        assert_same(
            &keys(&decoded.resource_spans, false),
            &keys(&request.resource_spans, false),
        );
    }

    #[test]
    fn jaeger_batches_have_one_process_each() {
        let request = request(300);
        let batches = jaeger_batches(&request);
        assert_eq!(batches.len(), request.resource_spans.len());
        assert!(batches
            .iter()
            .all(|b| b.spans.iter().all(|s| s.process.is_none())));
        let mut decoded = Vec::new();
        for batch in batches {
            decoded.extend(spoor_proto::jaeger_proto::batch_to_model(batch).resource_spans);
        }
        assert_same(
            &keys(&decoded, false),
            &keys(&request.resource_spans, false),
        );
    }
}
