//! The Jaeger UI JSON model (the "v1 JSON" of `/api/traces`) and the
//! conversion into it from Spoor's canonical spans.
//!
//! In: [`model::TracesData`] as the store returns it (OTLP-shaped, ns
//! timestamps, typed attributes). Out: [`Span`]s in Jaeger's terms (tags,
//! logs, references, the span's own [`Process`]) that the adjusters work on,
//! then a serialisable [`Trace`] whose spans point into a shared `processes`
//! table (`p1`, `p2`, … by first appearance), plus the response
//! [`Envelope`].
//!
//! Mapping (spec §2.7): resource `service.name` → `serviceName`, other
//! resource attributes → process tags; span kind → `span.kind`
//! (client/server/producer/consumer; none for internal/unspecified); status
//! ERROR → `error`=true + `otel.status_code`=ERROR, OK →
//! `otel.status_code`=OK, message → `otel.status_description`; scope →
//! `otel.scope.name`/`otel.scope.version`; trace state → `w3c.tracestate`;
//! events → logs (`event` field = name unless an `event` attribute exists);
//! parent → first `CHILD_OF` reference, links → `FOLLOWS_FROM` (or `CHILD_OF`
//! when the link says `opentracing.ref_type=child_of`). A synthesised tag
//! replaces an attribute of the same key.
//!
//! Times are kept in ns until serialisation, which truncates to µs.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use spoor_proto::ids::{SpanId, TraceId};
use spoor_proto::model::{self, SpanKind, StatusCode, Value};

/// Link attribute that carries the Jaeger reference type of a link.
pub const REF_TYPE_ATTRIBUTE: &str = "opentracing.ref_type";

/// Largest integer a JavaScript number holds exactly (2^53 − 1).
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The response envelope of every v1 endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope<T> {
    pub data: T,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<ErrorItem>>,
}

impl<T> Envelope<T> {
    /// A successful answer; `total` stays 0 (only catalogue endpoints set it).
    pub fn data(data: T) -> Self {
        Envelope {
            data,
            total: 0,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }
}

/// One entry of `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorItem {
    /// HTTP status; absent on per-trace errors of multi-get.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    pub msg: String,
    /// The trace a multi-get error is about.
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// An item of `GET /api/operations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationItem {
    pub name: String,
    #[serde(rename = "spanKind")]
    pub span_kind: String,
}

/// One trace as the UI reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    #[serde(rename = "traceID", serialize_with = "ser_trace_id")]
    pub trace_id: TraceId,
    pub spans: Vec<Span>,
    pub processes: ProcessTable,
    #[serde(serialize_with = "ser_warnings")]
    pub warnings: Vec<String>,
}

impl Trace {
    /// Gives every span a process id (`p1`, `p2`, … in order of first
    /// appearance; identical processes share one) and builds the table. The
    /// trace id is the first span's. `None` when there are no spans.
    pub fn assemble(mut spans: Vec<Span>, warnings: Vec<String>) -> Option<Trace> {
        let trace_id = spans.first()?.trace_id;
        let mut table = ProcessTable::default();
        let mut ids: HashMap<Process, String> = HashMap::new();
        for span in &mut spans {
            span.process_id = match ids.get(&span.process) {
                Some(id) => id.clone(),
                None => {
                    let id = format!("p{}", table.0.len() + 1);
                    ids.insert(span.process.clone(), id.clone());
                    table.0.push((id.clone(), span.process.clone()));
                    id
                }
            };
        }
        Some(Trace {
            trace_id,
            spans,
            processes: table,
            warnings,
        })
    }
}

/// `processes`: process id → process, serialised as a JSON object in id order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessTable(pub Vec<(String, Process)>);

impl Serialize for ProcessTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, process) in &self.0 {
            map.serialize_entry(id, process)?;
        }
        map.end()
    }
}

/// The emitting process of a span (an OTLP resource).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<Tag>,
}

/// A span in Jaeger's model. Adjusters edit these; `process_id` is filled by
/// [`Trace::assemble`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    #[serde(rename = "traceID", serialize_with = "ser_trace_id")]
    pub trace_id: TraceId,
    #[serde(rename = "spanID", serialize_with = "ser_span_id")]
    pub span_id: SpanId,
    /// 1 sampled, 2 debug, 8 firehose; omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<Reference>,
    #[serde(rename = "startTime", serialize_with = "ser_micros")]
    pub start_time_ns: u64,
    #[serde(rename = "duration", serialize_with = "ser_micros")]
    pub duration_ns: u64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    #[serde(skip)]
    pub process: Process,
    #[serde(serialize_with = "ser_warnings")]
    pub warnings: Vec<String>,
}

impl Span {
    /// The parent: the first `CHILD_OF` reference within the same trace.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.references
            .iter()
            .find(|r| r.ref_type == RefType::ChildOf && r.trace_id == self.trace_id)
            .map(|r| r.span_id)
    }

    /// The string value of a span tag.
    pub fn tag_str(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .and_then(|t| match &t.value {
                TagValue::String(s) => Some(s.as_str()),
                _ => None,
            })
    }
}

/// A reference to another span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: RefType,
    #[serde(rename = "traceID", serialize_with = "ser_trace_id")]
    pub trace_id: TraceId,
    #[serde(rename = "spanID", serialize_with = "ser_span_id")]
    pub span_id: SpanId,
}

/// Jaeger's reference types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RefType {
    #[serde(rename = "CHILD_OF")]
    ChildOf,
    #[serde(rename = "FOLLOWS_FROM")]
    FollowsFrom,
}

impl RefType {
    /// The upper-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom => "FOLLOWS_FROM",
        }
    }
}

/// A log (OTLP event).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Log {
    #[serde(rename = "timestamp", serialize_with = "ser_micros")]
    pub timestamp_ns: u64,
    pub fields: Vec<Tag>,
}

/// A typed key/value: span tag, process tag or log field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

impl Tag {
    /// A string tag.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::String(value.into()),
        }
    }
}

/// A tag value in one of Jaeger's five types.
#[derive(Debug, Clone)]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

impl TagValue {
    /// Jaeger's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TagValue::String(_) => "string",
            TagValue::Bool(_) => "bool",
            TagValue::Int64(_) => "int64",
            TagValue::Float64(_) => "float64",
            TagValue::Binary(_) => "binary",
        }
    }

    /// Position of the type in Jaeger's `ValueType` enum (used to order
    /// tags that share a key).
    pub fn type_rank(&self) -> u8 {
        match self {
            TagValue::String(_) => 0,
            TagValue::Bool(_) => 1,
            TagValue::Int64(_) => 2,
            TagValue::Float64(_) => 3,
            TagValue::Binary(_) => 4,
        }
    }

    /// A total order on values: by type (Jaeger's enum order), then value
    /// (floats by `total_cmp`).
    pub fn total_cmp(&self, other: &TagValue) -> std::cmp::Ordering {
        match (self, other) {
            (TagValue::String(a), TagValue::String(b)) => a.cmp(b),
            (TagValue::Bool(a), TagValue::Bool(b)) => a.cmp(b),
            (TagValue::Int64(a), TagValue::Int64(b)) => a.cmp(b),
            (TagValue::Float64(a), TagValue::Float64(b)) => a.total_cmp(b),
            (TagValue::Binary(a), TagValue::Binary(b)) => a.cmp(b),
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }

    /// Converts an attribute value: arrays and maps become JSON text, an
    /// absent value the empty string.
    pub fn from_any(value: Option<&model::AnyValue>) -> TagValue {
        let Some(any) = value else {
            return TagValue::String(String::new());
        };
        match &any.value {
            None => TagValue::String(String::new()),
            Some(Value::StringValue(s)) => TagValue::String(s.clone()),
            Some(Value::BoolValue(b)) => TagValue::Bool(*b),
            Some(Value::IntValue(i)) => TagValue::Int64(*i),
            Some(Value::DoubleValue(d)) => TagValue::Float64(*d),
            Some(Value::BytesValue(b)) => TagValue::Binary(b.to_vec()),
            Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
                TagValue::String(model::any_value_to_json(any).to_string())
            }
        }
    }
}

// Floats compare by bit pattern so that content-identical spans (NaN
// included) are equal and hash alike.
impl PartialEq for TagValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TagValue::String(a), TagValue::String(b)) => a == b,
            (TagValue::Bool(a), TagValue::Bool(b)) => a == b,
            (TagValue::Int64(a), TagValue::Int64(b)) => a == b,
            (TagValue::Float64(a), TagValue::Float64(b)) => a.to_bits() == b.to_bits(),
            (TagValue::Binary(a), TagValue::Binary(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for TagValue {}

impl Hash for TagValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.type_rank().hash(state);
        match self {
            TagValue::String(s) => s.hash(state),
            TagValue::Bool(b) => b.hash(state),
            TagValue::Int64(i) => i.hash(state),
            TagValue::Float64(f) => f.to_bits().hash(state),
            TagValue::Binary(b) => b.hash(state),
        }
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tag = serializer.serialize_struct("Tag", 3)?;
        tag.serialize_field("key", &self.key)?;
        tag.serialize_field("type", self.value.type_name())?;
        match &self.value {
            TagValue::String(s) => tag.serialize_field("value", s)?,
            TagValue::Bool(b) => tag.serialize_field("value", b)?,
            TagValue::Int64(i) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
                tag.serialize_field("value", i)?
            }
            TagValue::Int64(i) => tag.serialize_field("value", &i.to_string())?,
            TagValue::Float64(f) if f.is_finite() => tag.serialize_field("value", f)?,
            TagValue::Float64(f) => tag.serialize_field("value", &model::format_float(*f))?,
            TagValue::Binary(b) => tag.serialize_field(
                "value",
                &base64::engine::general_purpose::STANDARD.encode(b),
            )?,
        }
        tag.end()
    }
}

fn ser_trace_id<S: Serializer>(id: &TraceId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&id.to_jaeger_hex())
}

fn ser_span_id<S: Serializer>(id: &SpanId, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&id.to_hex())
}

fn ser_micros<S: Serializer>(nanos: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(nanos / 1_000)
}

fn ser_warnings<S: Serializer>(warnings: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    if warnings.is_empty() {
        serializer.serialize_none()
    } else {
        serializer.collect_seq(warnings)
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// Converts every span of a stored trace, in storage order.
pub fn spans_from_model(data: &model::TracesData) -> Vec<Span> {
    let mut spans = Vec::with_capacity(data.span_count());
    for resource_spans in &data.resource_spans {
        let process = process_from_resource(resource_spans.resource.as_ref());
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                spans.push(span_from_model(span, scope_spans.scope.as_ref(), &process));
            }
        }
    }
    spans
}

/// The process of a resource: `service.name` plus every other attribute.
pub fn process_from_resource(resource: Option<&model::Resource>) -> Process {
    let Some(resource) = resource else {
        return Process::default();
    };
    Process {
        service_name: resource.service_name().to_string(),
        tags: resource
            .attributes
            .iter()
            .filter(|kv| kv.key != model::SERVICE_NAME)
            .map(tag_from_kv)
            .collect(),
    }
}

fn tag_from_kv(kv: &model::KeyValue) -> Tag {
    Tag {
        key: kv.key.clone(),
        value: TagValue::from_any(kv.value.as_ref()),
    }
}

/// Converts one span; `process` is its resource's process.
pub fn span_from_model(
    span: &model::Span,
    scope: Option<&model::InstrumentationScope>,
    process: &Process,
) -> Span {
    let trace_id = span.trace_id();
    Span {
        trace_id,
        span_id: span.span_id(),
        flags: flags_of(span),
        operation_name: span.name.clone(),
        references: references_of(span, trace_id),
        start_time_ns: span.start_time_unix_nano,
        duration_ns: span.duration_nanos(),
        tags: tags_of(span, scope),
        logs: span.events.iter().map(log_from_event).collect(),
        process_id: String::new(),
        process: process.clone(),
        warnings: Vec::new(),
    }
}

/// Jaeger flags: as received from a Jaeger sender when known; otherwise the
/// W3C sampled bit, plus debug (which implies sampled).
fn flags_of(span: &model::Span) -> u32 {
    if span.jaeger_flags != 0 {
        return span.jaeger_flags;
    }
    let mut flags = span.flags & 0x1;
    if span.debug {
        flags |= 0x1 | 0x2;
    }
    flags
}

fn ref_type_of_link(link: &model::Link) -> Option<RefType> {
    let value = link
        .attributes
        .iter()
        .find(|kv| kv.key == REF_TYPE_ATTRIBUTE)?;
    match value.value.as_ref().map(model::search_string).as_deref() {
        Some("child_of") => Some(RefType::ChildOf),
        Some("follows_from") => Some(RefType::FollowsFrom),
        _ => None,
    }
}

/// Parent first (`CHILD_OF`), then one reference per link. A link naming the
/// parent span only sets the parent reference's type (a Jaeger span whose sole
/// reference is `FOLLOWS_FROM` is stored that way).
fn references_of(span: &model::Span, trace_id: TraceId) -> Vec<Reference> {
    let parent = span.parent_span_id();
    let mut references = Vec::with_capacity(span.links.len() + 1);
    if !parent.is_zero() {
        references.push(Reference {
            ref_type: RefType::ChildOf,
            trace_id,
            span_id: parent,
        });
    }
    for link in &span.links {
        let link_trace = TraceId::from_bytes(&link.trace_id).unwrap_or_default();
        let link_span = SpanId::from_bytes(&link.span_id).unwrap_or_default();
        let ref_type = ref_type_of_link(link);
        if !parent.is_zero() && link_trace == trace_id && link_span == parent {
            if let Some(ref_type) = ref_type {
                references[0].ref_type = ref_type;
            }
            continue;
        }
        references.push(Reference {
            ref_type: ref_type.unwrap_or(RefType::FollowsFrom),
            trace_id: link_trace,
            span_id: link_span,
        });
    }
    references
}

/// Span attributes, then the synthesised tags (which replace attributes of
/// the same key).
fn tags_of(span: &model::Span, scope: Option<&model::InstrumentationScope>) -> Vec<Tag> {
    let mut synthesized = Vec::new();
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            synthesized.push(Tag::string("otel.scope.name", scope.name.clone()));
        }
        if !scope.version.is_empty() {
            synthesized.push(Tag::string("otel.scope.version", scope.version.clone()));
        }
    }
    let kind = match span.span_kind() {
        SpanKind::Client => Some("client"),
        SpanKind::Server => Some("server"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal | SpanKind::Unspecified => None,
    };
    if let Some(kind) = kind {
        synthesized.push(Tag::string("span.kind", kind));
    }
    match span.status_code() {
        StatusCode::Error => {
            synthesized.push(Tag::string("otel.status_code", "ERROR"));
            synthesized.push(Tag {
                key: "error".to_string(),
                value: TagValue::Bool(true),
            });
        }
        StatusCode::Ok => synthesized.push(Tag::string("otel.status_code", "OK")),
        StatusCode::Unset => {}
    }
    if let Some(status) = &span.status {
        if !status.message.is_empty() {
            synthesized.push(Tag::string(
                "otel.status_description",
                status.message.clone(),
            ));
        }
    }
    if !span.trace_state.is_empty() {
        synthesized.push(Tag::string("w3c.tracestate", span.trace_state.clone()));
    }

    let mut tags: Vec<Tag> = span
        .attributes
        .iter()
        .filter(|kv| !synthesized.iter().any(|t| t.key == kv.key))
        .map(tag_from_kv)
        .collect();
    tags.extend(synthesized);
    tags
}

fn log_from_event(event: &model::Event) -> Log {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    let has_event_attribute = event.attributes.iter().any(|kv| kv.key == "event");
    if !event.name.is_empty() && !has_event_attribute {
        fields.push(Tag::string("event", event.name.clone()));
    }
    fields.extend(event.attributes.iter().map(tag_from_kv));
    Log {
        timestamp_ns: event.time_unix_nano,
        fields,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use spoor_proto::model::{kv, string_kv, AnyValue, ArrayValue, KeyValueList};

    pub(crate) const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;

    pub(crate) fn model_span(span_id: u64, parent: u64, name: &str) -> model::Span {
        model::Span {
            trace_id: TraceId(TRACE).to_bytes().to_vec().into(),
            span_id: span_id.to_be_bytes().to_vec().into(),
            parent_span_id: if parent == 0 {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(&parent.to_be_bytes())
            },
            name: name.to_string(),
            start_time_unix_nano: 1_718_000_000_123_456_789,
            end_time_unix_nano: 1_718_000_000_148_756_999,
            ..Default::default()
        }
    }

    fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }

    fn convert(span: &model::Span) -> Span {
        span_from_model(span, None, &Process::default())
    }

    fn tag_json(value: Value) -> serde_json::Value {
        let mut span = model_span(1, 0, "op");
        span.attributes = vec![kv("k", value)];
        to_json(&convert(&span).tags[0])
    }

    #[test]
    fn span_serialises_with_jaeger_field_names_and_microseconds() {
        let span = convert(&model_span(0x00f067aa0ba902b7, 0, "GET /checkout"));
        assert_eq!(
            to_json(&span),
            json!({
                "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                "spanID": "00f067aa0ba902b7",
                "operationName": "GET /checkout",
                "references": [],
                "startTime": 1_718_000_000_123_456u64,
                "duration": 25_300,
                "tags": [],
                "logs": [],
                "processID": "",
                "warnings": null
            })
        );
    }

    #[test]
    fn sixty_four_bit_trace_ids_print_sixteen_chars() {
        let mut span = model_span(1, 0, "op");
        span.trace_id = 0xabcu64.to_be_bytes().to_vec().into();
        assert_eq!(to_json(&convert(&span))["traceID"], "0000000000000abc");
        span.trace_id = TraceId(0xabc).to_bytes().to_vec().into();
        assert_eq!(to_json(&convert(&span))["traceID"], "0000000000000abc");
    }

    #[test]
    fn flags_prefer_jaeger_flags_then_sampled_bit_and_are_omitted_when_zero() {
        let mut span = model_span(1, 0, "op");
        assert!(to_json(&convert(&span)).get("flags").is_none());
        span.flags = 0x101; // sampled, remote-known
        assert_eq!(to_json(&convert(&span))["flags"], 1);
        span.debug = true;
        assert_eq!(to_json(&convert(&span))["flags"], 3);
        span.jaeger_flags = 9;
        assert_eq!(to_json(&convert(&span))["flags"], 9);
    }

    #[test]
    fn every_tag_type_has_its_jaeger_type_and_value() {
        assert_eq!(
            tag_json(Value::StringValue("x".into())),
            json!({"key":"k","type":"string","value":"x"})
        );
        assert_eq!(
            tag_json(Value::BoolValue(false)),
            json!({"key":"k","type":"bool","value":false})
        );
        assert_eq!(
            tag_json(Value::IntValue(200)),
            json!({"key":"k","type":"int64","value":200})
        );
        assert_eq!(
            tag_json(Value::DoubleValue(0.25)),
            json!({"key":"k","type":"float64","value":0.25})
        );
        assert_eq!(
            tag_json(Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef].into())),
            json!({"key":"k","type":"binary","value":"3q2+7w=="})
        );
    }

    #[test]
    fn integers_beyond_the_javascript_safe_range_are_strings() {
        let max = (1i64 << 53) - 1;
        assert_eq!(tag_json(Value::IntValue(max))["value"], json!(max));
        assert_eq!(tag_json(Value::IntValue(-max))["value"], json!(-max));
        assert_eq!(
            tag_json(Value::IntValue(max + 1))["value"],
            json!("9007199254740992")
        );
        assert_eq!(
            tag_json(Value::IntValue(-max - 1))["value"],
            json!("-9007199254740992")
        );
        assert_eq!(
            tag_json(Value::IntValue(i64::MIN))["value"],
            json!("-9223372036854775808")
        );
        assert_eq!(tag_json(Value::IntValue(max + 1))["type"], "int64");
    }

    #[test]
    fn non_finite_floats_are_strings() {
        assert_eq!(tag_json(Value::DoubleValue(f64::NAN))["value"], "NaN");
        assert_eq!(tag_json(Value::DoubleValue(f64::INFINITY))["value"], "+Inf");
        assert_eq!(
            tag_json(Value::DoubleValue(f64::NEG_INFINITY))["value"],
            "-Inf"
        );
        assert_eq!(tag_json(Value::DoubleValue(f64::NAN))["type"], "float64");
    }

    #[test]
    fn arrays_maps_and_absent_values_become_strings() {
        let array = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::StringValue("a".into())),
                },
                AnyValue {
                    value: Some(Value::IntValue(1)),
                },
            ],
        });
        assert_eq!(
            tag_json(array),
            json!({"key":"k","type":"string","value":"[\"a\",1]"})
        );
        let map = Value::KvlistValue(KeyValueList {
            values: vec![kv("x", Value::BoolValue(true))],
        });
        assert_eq!(tag_json(map)["value"], "{\"x\":true}");
        let mut span = model_span(1, 0, "op");
        span.attributes = vec![model::KeyValue {
            key: "empty".into(),
            value: None,
        }];
        assert_eq!(
            to_json(&convert(&span).tags[0]),
            json!({"key":"empty","type":"string","value":""})
        );
    }

    #[test]
    fn span_kind_tag_only_for_remote_kinds() {
        let kind_tag = |kind: SpanKind| {
            let mut span = model_span(1, 0, "op");
            span.kind = kind as i32;
            convert(&span).tag_str("span.kind").map(str::to_string)
        };
        assert_eq!(kind_tag(SpanKind::Client).as_deref(), Some("client"));
        assert_eq!(kind_tag(SpanKind::Server).as_deref(), Some("server"));
        assert_eq!(kind_tag(SpanKind::Producer).as_deref(), Some("producer"));
        assert_eq!(kind_tag(SpanKind::Consumer).as_deref(), Some("consumer"));
        assert_eq!(kind_tag(SpanKind::Internal), None);
        assert_eq!(kind_tag(SpanKind::Unspecified), None);
    }

    #[test]
    fn error_status_adds_error_true_and_status_tags_replacing_an_error_attribute() {
        let mut span = model_span(1, 0, "op");
        span.attributes = vec![string_kv("error", "maybe"), string_kv("http.method", "GET")];
        span.status = Some(model::Status {
            message: "boom".into(),
            code: StatusCode::Error as i32,
        });
        let tags = to_json(&convert(&span).tags);
        assert_eq!(
            tags,
            json!([
                {"key":"http.method","type":"string","value":"GET"},
                {"key":"otel.status_code","type":"string","value":"ERROR"},
                {"key":"error","type":"bool","value":true},
                {"key":"otel.status_description","type":"string","value":"boom"}
            ])
        );
    }

    #[test]
    fn ok_status_adds_only_the_status_code() {
        let mut span = model_span(1, 0, "op");
        span.status = Some(model::Status {
            message: String::new(),
            code: StatusCode::Ok as i32,
        });
        assert_eq!(
            to_json(&convert(&span).tags),
            json!([{"key":"otel.status_code","type":"string","value":"OK"}])
        );
        span.status = None;
        assert_eq!(to_json(&convert(&span).tags), json!([]));
    }

    #[test]
    fn scope_and_trace_state_become_tags() {
        let mut span = model_span(1, 0, "op");
        span.trace_state = "vendor=1".into();
        let scope = model::InstrumentationScope {
            name: "io.lib".into(),
            version: "1.2".into(),
            ..Default::default()
        };
        let converted = span_from_model(&span, Some(&scope), &Process::default());
        assert_eq!(converted.tag_str("otel.scope.name"), Some("io.lib"));
        assert_eq!(converted.tag_str("otel.scope.version"), Some("1.2"));
        assert_eq!(converted.tag_str("w3c.tracestate"), Some("vendor=1"));
    }

    #[test]
    fn events_become_logs_named_by_an_event_field_unless_one_is_given() {
        let mut span = model_span(1, 0, "op");
        span.events = vec![
            model::Event {
                time_unix_nano: 1_718_000_000_130_000_999,
                name: "cache miss".into(),
                ..Default::default()
            },
            model::Event {
                time_unix_nano: 5_000,
                name: "ignored".into(),
                attributes: vec![string_kv("level", "info"), string_kv("event", "explicit")],
                ..Default::default()
            },
            model::Event {
                time_unix_nano: 7_000,
                name: String::new(),
                ..Default::default()
            },
        ];
        assert_eq!(
            to_json(&convert(&span).logs),
            json!([
                {"timestamp": 1_718_000_000_130_000u64, "fields": [{"key":"event","type":"string","value":"cache miss"}]},
                {"timestamp": 5, "fields": [
                    {"key":"level","type":"string","value":"info"},
                    {"key":"event","type":"string","value":"explicit"}
                ]},
                {"timestamp": 7, "fields": []}
            ])
        );
    }

    fn link(trace: u128, span: u64, ref_type: Option<&str>) -> model::Link {
        model::Link {
            trace_id: TraceId(trace).to_bytes().to_vec().into(),
            span_id: span.to_be_bytes().to_vec().into(),
            attributes: ref_type
                .map(|t| vec![string_kv(REF_TYPE_ATTRIBUTE, t)])
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn parent_reference_comes_first_then_links() {
        let mut span = model_span(2, 1, "op");
        span.links = vec![link(TRACE, 7, None), link(0x99, 8, Some("child_of"))];
        assert_eq!(
            to_json(&convert(&span).references),
            json!([
                {"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"0000000000000001"},
                {"refType":"FOLLOWS_FROM","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"0000000000000007"},
                {"refType":"CHILD_OF","traceID":"0000000000000099","spanID":"0000000000000008"}
            ])
        );
    }

    #[test]
    fn a_link_to_the_parent_only_sets_the_parent_reference_type() {
        let mut span = model_span(2, 1, "op");
        span.links = vec![link(TRACE, 1, Some("follows_from"))];
        let refs = convert(&span).references;
        assert_eq!(
            refs,
            vec![Reference {
                ref_type: RefType::FollowsFrom,
                trace_id: TraceId(TRACE),
                span_id: SpanId(1)
            }]
        );
        span.links = vec![link(TRACE, 1, None)];
        assert_eq!(convert(&span).references[0].ref_type, RefType::ChildOf);
        assert_eq!(convert(&span).references.len(), 1);
    }

    #[test]
    fn processes_are_numbered_by_first_appearance_and_shared_when_identical() {
        let resource = |service: &str, host: &str| model::Resource {
            attributes: vec![
                string_kv("service.name", service),
                string_kv("host.name", host),
            ],
            dropped_attributes_count: 0,
        };
        let group = |r: model::Resource, ids: &[u64]| model::ResourceSpans {
            resource: Some(r),
            scope_spans: vec![model::ScopeSpans {
                spans: ids.iter().map(|id| model_span(*id, 0, "op")).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let data = model::TracesData {
            resource_spans: vec![
                group(resource("frontend", "web-1"), &[1, 2]),
                group(resource("orders", "db-1"), &[3]),
                group(resource("frontend", "web-1"), &[4]),
            ],
        };
        let trace = Trace::assemble(spans_from_model(&data), Vec::new()).unwrap();
        let json = to_json(&trace);
        let ids: Vec<_> = json["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["processID"].clone())
            .collect();
        assert_eq!(ids, [json!("p1"), json!("p1"), json!("p2"), json!("p1")]);
        assert_eq!(
            json["processes"],
            json!({
                "p1": {"serviceName":"frontend","tags":[{"key":"host.name","type":"string","value":"web-1"}]},
                "p2": {"serviceName":"orders","tags":[{"key":"host.name","type":"string","value":"db-1"}]}
            })
        );
        assert_eq!(json["traceID"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(json["warnings"], json!(null));
    }

    #[test]
    fn a_trace_without_spans_cannot_be_assembled() {
        assert!(Trace::assemble(Vec::new(), Vec::new()).is_none());
    }

    #[test]
    fn envelope_and_errors_have_the_v1_shape() {
        assert_eq!(
            to_json(&Envelope::data(Vec::<String>::new())),
            json!({"data":[],"total":0,"limit":0,"offset":0,"errors":null})
        );
        let item = ErrorItem {
            code: None,
            msg: "trace not found".into(),
            trace_id: Some("0000000000000001".into()),
        };
        assert_eq!(
            to_json(&item),
            json!({"msg":"trace not found","traceID":"0000000000000001"})
        );
        let item = ErrorItem {
            code: Some(400),
            msg: "bad".into(),
            trace_id: None,
        };
        assert_eq!(to_json(&item), json!({"code":400,"msg":"bad"}));
    }
}
