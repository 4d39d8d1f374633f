//! Trace summaries (api_v3 `FindTraceSummaries`, `/api/v3/trace-summaries`)
//! and the light clean-up applied to traces served as OTLP.
//!
//! In: whole stored traces ([`model::TracesData`]). Out: a
//! [`api_v3::TraceSummary`] per trace — root service and operation, time
//! range, span/error/orphan counts, per-service counts — and its proto3 JSON
//! form; and [`remove_duplicate_spans`], which drops byte-identical copies of
//! a span (retried batches, archive copies) before a trace is sent as OTLP.

use std::collections::HashSet;

use prost::Message;
use serde_json::{json, Value as Json};
use spoor_proto::ids::SpanId;
use spoor_proto::jaeger::api_v3;
use spoor_proto::model::{self, StatusCode, Value};

/// Whether a span counts as an error: status ERROR, or an `error` attribute
/// that is `true` (bool or text).
pub fn is_error_span(span: &model::Span) -> bool {
    span.status_code() == StatusCode::Error
        || span.attributes.iter().any(|kv| {
            kv.key == "error"
                && match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::BoolValue(b)) => *b,
                    Some(Value::StringValue(s)) => s.eq_ignore_ascii_case("true"),
                    _ => false,
                }
        })
}

/// Summarises one trace; `None` when it has no spans.
///
/// The root is the earliest-starting span without a parent; when every span
/// has a parent (a trace whose root was never received), the earliest span
/// whose parent is missing. Orphans are spans whose parent is not in the
/// trace. Services are listed in order of first appearance.
pub fn summarize(data: &model::TracesData) -> Option<api_v3::TraceSummary> {
    let ids: HashSet<SpanId> = data
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(model::Span::span_id)
        .collect();
    let mut summary = api_v3::TraceSummary::default();
    // (has no parent, start) of the current root: a parentless span beats an orphan.
    let mut root: Option<(bool, u64)> = None;
    let mut min_start = u64::MAX;
    for rs in &data.resource_spans {
        let service = rs.service_name();
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            if summary.trace_id.is_empty() {
                summary.trace_id = span.trace_id().to_hex32();
            }
            let error = is_error_span(span);
            summary.span_count += 1;
            summary.error_span_count += u32::from(error);
            min_start = min_start.min(span.start_time_unix_nano);
            summary.max_end_time_unix_nano = summary
                .max_end_time_unix_nano
                .max(span.end_time_unix_nano.max(span.start_time_unix_nano));
            let parent = span.parent_span_id();
            let parentless = parent.is_zero();
            let orphan = !parentless && !ids.contains(&parent);
            summary.orphan_span_count += u32::from(orphan);
            if parentless || orphan {
                let candidate = (parentless, span.start_time_unix_nano);
                let better = match root {
                    None => true,
                    Some((was_parentless, start)) => {
                        (parentless && !was_parentless)
                            || (parentless == was_parentless && candidate.1 < start)
                    }
                };
                if better {
                    root = Some(candidate);
                    summary.root_service_name = service.to_string();
                    summary.root_operation_name = span.name.clone();
                }
            }
            match summary.services.iter_mut().find(|s| s.name == service) {
                Some(entry) => {
                    entry.span_count += 1;
                    entry.error_span_count += u32::from(error);
                }
                None => summary.services.push(api_v3::ServiceSummary {
                    name: service.to_string(),
                    span_count: 1,
                    error_span_count: u32::from(error),
                }),
            }
        }
    }
    if summary.span_count == 0 {
        return None;
    }
    summary.min_start_time_unix_nano = min_start;
    Some(summary)
}

/// The proto3 JSON form the UI validates: camelCase names, the nano
/// timestamps as decimal strings, counts as numbers (zero counts included).
pub fn summary_json(summary: &api_v3::TraceSummary) -> Json {
    json!({
        "traceId": summary.trace_id,
        "rootServiceName": summary.root_service_name,
        "rootOperationName": summary.root_operation_name,
        "minStartTimeUnixNano": summary.min_start_time_unix_nano.to_string(),
        "maxEndTimeUnixNano": summary.max_end_time_unix_nano.to_string(),
        "spanCount": summary.span_count,
        "errorSpanCount": summary.error_span_count,
        "orphanSpanCount": summary.orphan_span_count,
        "services": summary.services.iter().map(|s| json!({
            "name": s.name,
            "spanCount": s.span_count,
            "errorSpanCount": s.error_span_count,
        })).collect::<Vec<_>>(),
    })
}

/// Drops spans that are byte-for-byte copies of an earlier span of the same
/// resource and scope, and groups left empty.
pub fn remove_duplicate_spans(data: &mut model::TracesData) {
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(ss.spans.len());
            ss.spans.retain(|span| seen.insert(span.encode_to_vec()));
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_proto::ids::TraceId;
    use spoor_proto::model::{kv, string_kv};

    fn span(id: u64, parent: u64, name: &str, start: u64, end: u64) -> model::Span {
        model::Span {
            trace_id: TraceId(0xabc).to_bytes().to_vec().into(),
            span_id: id.to_be_bytes().to_vec().into(),
            parent_span_id: if parent == 0 {
                Default::default()
            } else {
                parent.to_be_bytes().to_vec().into()
            },
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        }
    }

    fn group(service: &str, spans: Vec<model::Span>) -> model::ResourceSpans {
        model::ResourceSpans {
            resource: Some(model::Resource {
                attributes: vec![string_kv("service.name", service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![model::ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn summary_names_the_root_and_counts_errors_orphans_and_services() {
        let mut failing = span(3, 1, "SELECT", 150, 400);
        failing.status = Some(model::Status {
            code: StatusCode::Error as i32,
            message: String::new(),
        });
        let mut tagged = span(4, 99, "late", 500, 900);
        tagged.attributes = vec![kv("error", Value::BoolValue(true))];
        let data = model::TracesData {
            resource_spans: vec![
                group("orders", vec![failing, tagged]),
                group(
                    "frontend",
                    vec![span(1, 0, "GET /", 100, 1000), span(2, 1, "call", 120, 300)],
                ),
            ],
        };
        let s = summarize(&data).unwrap();
        assert_eq!(s.trace_id, "00000000000000000000000000000abc");
        assert_eq!(s.root_service_name, "frontend");
        assert_eq!(s.root_operation_name, "GET /");
        assert_eq!(
            (s.min_start_time_unix_nano, s.max_end_time_unix_nano),
            (100, 1000)
        );
        assert_eq!(
            (s.span_count, s.error_span_count, s.orphan_span_count),
            (4, 2, 1)
        );
        let services: Vec<_> = s
            .services
            .iter()
            .map(|x| (x.name.as_str(), x.span_count, x.error_span_count))
            .collect();
        assert_eq!(services, [("orders", 2, 2), ("frontend", 2, 0)]);
        let j = summary_json(&s);
        assert_eq!(j["minStartTimeUnixNano"], "100");
        assert_eq!(j["orphanSpanCount"], 1);
        assert_eq!(j["services"][0]["errorSpanCount"], 2);
    }

    #[test]
    fn a_trace_without_its_root_takes_the_earliest_orphan() {
        let data = model::TracesData {
            resource_spans: vec![group(
                "svc",
                vec![span(5, 9, "b", 300, 400), span(6, 8, "a", 200, 250)],
            )],
        };
        let s = summarize(&data).unwrap();
        assert_eq!(s.root_operation_name, "a");
        assert_eq!(s.orphan_span_count, 2);
        assert!(summarize(&model::TracesData::default()).is_none());
    }

    #[test]
    fn identical_copies_of_a_span_are_dropped() {
        let mut data = model::TracesData {
            resource_spans: vec![group(
                "svc",
                vec![
                    span(1, 0, "a", 1, 2),
                    span(1, 0, "a", 1, 2),
                    span(1, 0, "a", 1, 3),
                ],
            )],
        };
        remove_duplicate_spans(&mut data);
        assert_eq!(data.span_count(), 2);
    }
}
