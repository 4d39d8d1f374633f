//! Jaeger `api_v2` spans → the canonical model (spec ingest-and-zipkin §5.3).
//!
//! In: a `jaeger.api_v2.Batch` as the gRPC collector service receives it in
//! `PostSpansRequest` ([`decode_post_spans`] reads the protobuf bytes), or as
//! [`crate::jaeger_thrift`] builds it from Thrift. Out:
//! [`model::TracesData`], one ResourceSpans per distinct process and one
//! ScopeSpans per `otel.scope.*`/`otel.library.*` tag pair, translated the way
//! the OpenTelemetry collector's Jaeger translator does:
//!
//! - process → resource: `service.name` plus the typed process tags
//!   (`hostname` → `host.name` unless present, `jaeger.version` →
//!   `opencensus.exporterversion = "Jaeger-<v>"`); a span without a process
//!   uses the batch's.
//! - parent: the first reference of the same trace that is CHILD_OF, else the
//!   first such FOLLOWS_FROM; every other reference becomes a link with the
//!   attribute `opentracing.ref_type` (`child_of` / `follows_from`).
//! - tags keep their types; `span.kind` → kind; `w3c.tracestate` → trace
//!   state; `otel.scope.*` (or `otel.library.*`) → scope.
//! - status: `error` = true (bool, or the string `"true"` in any case) →
//!   ERROR with `otel.status_description` (else `http.status_message`) as
//!   message; else `otel.status_code` (`OK`/`ERROR`, any case, with or
//!   without `STATUS_CODE_`) with `otel.status_description`; else
//!   `http.status_code` ≥ 500, or 4xx on a CLIENT span → ERROR.
//! - logs → events: the `event` field names the event, other fields are its
//!   attributes.
//! - flags are kept in `jaeger_flags`; flag 2 (debug) also sets `debug`.
//!
//! Ids of unexpected length are passed on as they are, for
//! [`crate::validate`] to reject and count; 8-byte trace ids become 16 bytes
//! with a zero high half.

use bytes::Bytes;
use prost::Message;

use crate::jaeger::api_v2 as jaeger;
use crate::model::{self, kv, span, string_kv, SpanKind, StatusCode, Value};

const SPAN_KIND_TAG: &str = "span.kind";
const ERROR_TAG: &str = "error";
const STATUS_CODE_TAG: &str = "otel.status_code";
const STATUS_DESCRIPTION_TAG: &str = "otel.status_description";
const HTTP_STATUS_CODE_TAG: &str = "http.status_code";
const HTTP_STATUS_MESSAGE_TAG: &str = "http.status_message";
const TRACESTATE_TAG: &str = "w3c.tracestate";
const SCOPE_NAME_TAGS: [&str; 2] = ["otel.scope.name", "otel.library.name"];
const SCOPE_VERSION_TAGS: [&str; 2] = ["otel.scope.version", "otel.library.version"];
const REF_TYPE_ATTRIBUTE: &str = "opentracing.ref_type";
const EVENT_FIELD: &str = "event";
const HOSTNAME_TAG: &str = "hostname";
const HOST_NAME: &str = "host.name";
const JAEGER_VERSION_TAG: &str = "jaeger.version";
const EXPORTER_VERSION: &str = "opencensus.exporterversion";
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// Jaeger flag bit: the span is a debug span (always keep).
const DEBUG_FLAG: u32 = 2;

/// Why a `PostSpansRequest` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaegerProtoError {
    /// The bytes are not a well-formed `PostSpansRequest`.
    #[error("malformed jaeger.api_v2.PostSpansRequest: {0}")]
    Decode(String),
}

/// Decodes the protobuf bytes of a `PostSpansRequest` and translates its batch.
pub fn decode_post_spans(bytes: &[u8]) -> Result<model::TracesData, JaegerProtoError> {
    let request = jaeger::PostSpansRequest::decode(bytes)
        .map_err(|error| JaegerProtoError::Decode(error.to_string()))?;
    Ok(batch_to_model(request.batch.unwrap_or_default()))
}

/// Translates one batch; see the module documentation for the rules.
pub fn batch_to_model(batch: jaeger::Batch) -> model::TracesData {
    let batch_process = batch.process.unwrap_or_default();
    let mut groups: Vec<(jaeger::Process, model::ResourceSpans)> = Vec::new();
    for mut jspan in batch.spans {
        let process = jspan
            .process
            .take()
            .unwrap_or_else(|| batch_process.clone());
        let (scope, span) = span_to_model(jspan);
        let group = match groups.iter().position(|(p, _)| *p == process) {
            Some(index) => index,
            None => {
                let resource_spans = model::ResourceSpans {
                    resource: Some(process_to_resource(&process)),
                    ..Default::default()
                };
                groups.push((process, resource_spans));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[group].1.scope_spans;
        let scope_key = |s: &Option<model::InstrumentationScope>| {
            s.as_ref()
                .map(|s| (s.name.clone(), s.version.clone()))
                .unwrap_or_default()
        };
        let wanted = scope_key(&scope);
        let index = match scopes.iter().position(|ss| scope_key(&ss.scope) == wanted) {
            Some(index) => index,
            None => {
                scopes.push(model::ScopeSpans {
                    scope,
                    ..Default::default()
                });
                scopes.len() - 1
            }
        };
        scopes[index].spans.push(span);
    }
    model::TracesData {
        resource_spans: groups.into_iter().map(|(_, rs)| rs).collect(),
    }
}

fn process_to_resource(process: &jaeger::Process) -> model::Resource {
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    if !process.service_name.is_empty() && process.service_name != NO_SERVICE_NAME {
        attributes.push(string_kv(model::SERVICE_NAME, process.service_name.clone()));
    }
    let has_host_name = process.tags.iter().any(|t| t.key == HOST_NAME);
    for tag in &process.tags {
        if tag.key == HOSTNAME_TAG && !has_host_name {
            attributes.push(kv(HOST_NAME, tag_value(tag)));
        } else if tag.key == JAEGER_VERSION_TAG {
            attributes.push(string_kv(
                EXPORTER_VERSION,
                format!("Jaeger-{}", tag_text(tag)),
            ));
        } else {
            attributes.push(kv(tag.key.clone(), tag_value(tag)));
        }
    }
    model::Resource {
        attributes,
        dropped_attributes_count: 0,
    }
}

/// A tag's value with its type (unknown types read as strings).
fn tag_value(tag: &jaeger::KeyValue) -> Value {
    match jaeger::ValueType::try_from(tag.v_type) {
        Ok(jaeger::ValueType::Bool) => Value::BoolValue(tag.v_bool),
        Ok(jaeger::ValueType::Int64) => Value::IntValue(tag.v_int64),
        Ok(jaeger::ValueType::Float64) => Value::DoubleValue(tag.v_float64),
        Ok(jaeger::ValueType::Binary) => Value::BytesValue(tag.v_binary.clone()),
        Ok(jaeger::ValueType::String) | Err(_) => Value::StringValue(tag.v_str.clone()),
    }
}

/// A tag's value as text (what Jaeger shows).
fn tag_text(tag: &jaeger::KeyValue) -> String {
    model::search_string(&model::AnyValue {
        value: Some(tag_value(tag)),
    })
}

/// Removes every tag with one of `keys` and returns the first present one.
fn take_first(tags: &mut Vec<jaeger::KeyValue>, keys: &[&str]) -> Option<jaeger::KeyValue> {
    let mut found = None;
    for key in keys {
        if let Some(tag) = take(tags, key) {
            found = found.or(Some(tag));
        }
    }
    found
}

/// Removes the first tag named `key` and returns it.
fn take(tags: &mut Vec<jaeger::KeyValue>, key: &str) -> Option<jaeger::KeyValue> {
    let index = tags.iter().position(|t| t.key == key)?;
    Some(tags.remove(index))
}

fn find<'a>(tags: &'a [jaeger::KeyValue], key: &str) -> Option<&'a jaeger::KeyValue> {
    tags.iter().find(|t| t.key == key)
}

fn trace_id_bytes(id: &Bytes) -> Bytes {
    if id.len() == 8 {
        let mut padded = vec![0u8; 8];
        padded.extend_from_slice(id);
        Bytes::from(padded)
    } else {
        id.clone()
    }
}

fn timestamp_nanos(ts: Option<&prost_types::Timestamp>) -> u64 {
    let Some(ts) = ts else { return 0 };
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
}

fn duration_nanos(d: Option<&prost_types::Duration>) -> u64 {
    let Some(d) = d else { return 0 };
    let nanos = i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos);
    u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
}

/// Translates one span; returns its scope and the model span.
fn span_to_model(jspan: jaeger::Span) -> (Option<model::InstrumentationScope>, model::Span) {
    let trace_id = trace_id_bytes(&jspan.trace_id);
    let mut tags = jspan.tags;

    let kind = match find(&tags, SPAN_KIND_TAG)
        .and_then(|t| model::span_kind_from_name(&tag_text(t).to_ascii_lowercase()))
    {
        Some(kind) => {
            take(&mut tags, SPAN_KIND_TAG);
            kind
        }
        None => SpanKind::Unspecified,
    };
    let trace_state = take(&mut tags, TRACESTATE_TAG)
        .map(|t| tag_text(&t))
        .unwrap_or_default();
    let scope_name = take_first(&mut tags, &SCOPE_NAME_TAGS);
    let scope_version = take_first(&mut tags, &SCOPE_VERSION_TAGS);
    let scope =
        (scope_name.is_some() || scope_version.is_some()).then(|| model::InstrumentationScope {
            name: scope_name.map(|t| tag_text(&t)).unwrap_or_default(),
            version: scope_version.map(|t| tag_text(&t)).unwrap_or_default(),
            ..Default::default()
        });
    let status = take_status(&mut tags, kind);

    let (parent_span_id, links) = parent_and_links(&trace_id, jspan.references);
    let start = timestamp_nanos(jspan.start_time.as_ref());
    let end = start.saturating_add(duration_nanos(jspan.duration.as_ref()));
    let events = jspan.logs.into_iter().map(log_to_event).collect();
    let span = model::Span {
        trace_id,
        span_id: jspan.span_id,
        trace_state,
        parent_span_id,
        flags: 0,
        name: jspan.operation_name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: tags
            .iter()
            .map(|t| kv(t.key.clone(), tag_value(t)))
            .collect(),
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status,
        debug: jspan.flags & DEBUG_FLAG != 0,
        shared: false,
        jaeger_flags: jspan.flags,
    };
    (scope, span)
}

/// The status rules of the collector's Jaeger translator (module docs).
fn take_status(tags: &mut Vec<jaeger::KeyValue>, kind: SpanKind) -> Option<model::Status> {
    let error_is_true =
        find(tags, ERROR_TAG).is_some_and(|t| match jaeger::ValueType::try_from(t.v_type) {
            Ok(jaeger::ValueType::Bool) => t.v_bool,
            Ok(jaeger::ValueType::String) => t.v_str.eq_ignore_ascii_case("true"),
            _ => false,
        });
    if error_is_true {
        take(tags, ERROR_TAG);
        let message = match take(tags, STATUS_DESCRIPTION_TAG) {
            Some(description) => tag_text(&description),
            None => find(tags, HTTP_STATUS_MESSAGE_TAG)
                .map(tag_text)
                .unwrap_or_default(),
        };
        take(tags, STATUS_CODE_TAG);
        return Some(model::Status {
            message,
            code: StatusCode::Error as i32,
        });
    }
    if let Some(code_tag) = take(tags, STATUS_CODE_TAG) {
        let description = take(tags, STATUS_DESCRIPTION_TAG).map(|t| tag_text(&t));
        let text = tag_text(&code_tag).to_ascii_uppercase();
        let code = match text.strip_prefix("STATUS_CODE_").unwrap_or(&text) {
            "OK" => StatusCode::Ok,
            "ERROR" => StatusCode::Error,
            _ => StatusCode::Unset,
        };
        let status = model::Status {
            message: description.unwrap_or_default(),
            code: code as i32,
        };
        return (status != model::Status::default()).then_some(status);
    }
    let http_code = find(tags, HTTP_STATUS_CODE_TAG).and_then(|t| tag_text(t).parse::<i64>().ok());
    let failed = match http_code {
        Some(code) if code >= 500 => true,
        Some(code) if (400..500).contains(&code) => kind == SpanKind::Client,
        _ => false,
    };
    failed.then(|| model::Status {
        message: find(tags, HTTP_STATUS_MESSAGE_TAG)
            .map(tag_text)
            .unwrap_or_default(),
        code: StatusCode::Error as i32,
    })
}

/// The parent (first CHILD_OF of the same trace, else first FOLLOWS_FROM of
/// the same trace) and the links (every other reference).
fn parent_and_links(
    trace_id: &Bytes,
    references: Vec<jaeger::SpanRef>,
) -> (Bytes, Vec<span::Link>) {
    let same_trace = |r: &jaeger::SpanRef| trace_id_bytes(&r.trace_id) == *trace_id;
    let parent = references
        .iter()
        .find(|r| same_trace(r) && r.ref_type == jaeger::SpanRefType::ChildOf as i32)
        .or_else(|| {
            references
                .iter()
                .find(|r| same_trace(r) && r.ref_type == jaeger::SpanRefType::FollowsFrom as i32)
        })
        .map(|r| r.span_id.clone())
        .unwrap_or_default();
    let links = references
        .into_iter()
        .filter(|r| parent.is_empty() || !(same_trace(r) && r.span_id == parent))
        .map(|r| {
            let ref_type = if r.ref_type == jaeger::SpanRefType::FollowsFrom as i32 {
                "follows_from"
            } else {
                "child_of"
            };
            span::Link {
                trace_id: trace_id_bytes(&r.trace_id),
                span_id: r.span_id,
                attributes: vec![string_kv(REF_TYPE_ATTRIBUTE, ref_type)],
                ..Default::default()
            }
        })
        .collect();
    (parent, links)
}

fn log_to_event(log: jaeger::Log) -> span::Event {
    let mut fields = log.fields;
    let name = take(&mut fields, EVENT_FIELD)
        .map(|t| tag_text(&t))
        .unwrap_or_default();
    span::Event {
        time_unix_nano: timestamp_nanos(log.timestamp.as_ref()),
        name,
        attributes: fields
            .iter()
            .map(|t| kv(t.key.clone(), tag_value(t)))
            .collect(),
        dropped_attributes_count: 0,
    }
}

#[cfg(test)]
pub(crate) mod tests;
