//! The model → OTLP/JSON.
//!
//! In: a [`model::TracesData`] (or an export result). Out: a JSON value in the
//! OTLP/JSON spelling.

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::model::{self, AnyValue, Value};

/// Renders a batch as OTLP/JSON: lowerCamelCase names, hex ids, enums as
/// integers, 64-bit integers as decimal strings, bytes as base64, non-finite
/// doubles as strings, and default values left out.
pub fn encode_traces(data: &model::TracesData) -> Json {
    let mut out = Obj::default();
    out.list("resourceSpans", &data.resource_spans, encode_resource_spans);
    out.done()
}

/// The body of an OTLP/HTTP JSON response: `{}` for full success, else a
/// `partialSuccess` with the number of rejected spans and the reason.
pub fn encode_export_response(rejected: i64, message: &str) -> Json {
    let mut out = Obj::default();
    if rejected != 0 || !message.is_empty() {
        let mut partial = Obj::default();
        if rejected != 0 {
            partial.put("rejectedSpans", Json::String(rejected.to_string()));
        }
        partial.string("errorMessage", message);
        out.put("partialSuccess", partial.done());
    }
    out.done()
}

/// A JSON object under construction that leaves default values out.
#[derive(Default)]
struct Obj(Map<String, Json>);

impl Obj {
    fn done(self) -> Json {
        Json::Object(self.0)
    }
    fn put(&mut self, key: &str, value: Json) {
        self.0.insert(key.to_owned(), value);
    }
    fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.put(key, Json::String(value.to_owned()));
        }
    }
    fn hex(&mut self, key: &str, value: &[u8]) {
        if !value.is_empty() {
            self.put(key, Json::String(hex::encode(value)));
        }
    }
    fn u64_string(&mut self, key: &str, value: u64) {
        if value != 0 {
            self.put(key, Json::String(value.to_string()));
        }
    }
    fn number(&mut self, key: &str, value: i64) {
        if value != 0 {
            self.put(key, Json::from(value));
        }
    }
    fn bool(&mut self, key: &str, value: bool) {
        if value {
            self.put(key, Json::Bool(true));
        }
    }
    fn list<T>(&mut self, key: &str, items: &[T], encode: impl Fn(&T) -> Json) {
        if !items.is_empty() {
            self.put(key, Json::Array(items.iter().map(encode).collect()));
        }
    }
    fn attributes(&mut self, attributes: &[model::KeyValue], dropped: u32) {
        self.list("attributes", attributes, encode_key_value);
        self.number("droppedAttributesCount", i64::from(dropped));
    }
}

fn encode_resource_spans(rs: &model::ResourceSpans) -> Json {
    let mut out = Obj::default();
    if let Some(resource) = &rs.resource {
        let mut r = Obj::default();
        r.attributes(&resource.attributes, resource.dropped_attributes_count);
        out.put("resource", r.done());
    }
    out.list("scopeSpans", &rs.scope_spans, encode_scope_spans);
    out.string("schemaUrl", &rs.schema_url);
    out.done()
}

fn encode_scope_spans(ss: &model::ScopeSpans) -> Json {
    let mut out = Obj::default();
    if let Some(scope) = &ss.scope {
        let mut s = Obj::default();
        s.string("name", &scope.name);
        s.string("version", &scope.version);
        s.attributes(&scope.attributes, scope.dropped_attributes_count);
        out.put("scope", s.done());
    }
    out.list("spans", &ss.spans, encode_span);
    out.string("schemaUrl", &ss.schema_url);
    out.done()
}

fn encode_span(span: &model::Span) -> Json {
    let mut out = Obj::default();
    out.hex("traceId", &span.trace_id);
    out.hex("spanId", &span.span_id);
    out.string("traceState", &span.trace_state);
    out.hex("parentSpanId", &span.parent_span_id);
    out.number("flags", i64::from(span.flags));
    out.string("name", &span.name);
    out.number("kind", i64::from(span.kind));
    out.u64_string("startTimeUnixNano", span.start_time_unix_nano);
    out.u64_string("endTimeUnixNano", span.end_time_unix_nano);
    out.attributes(&span.attributes, span.dropped_attributes_count);
    out.list("events", &span.events, |event| {
        let mut e = Obj::default();
        e.u64_string("timeUnixNano", event.time_unix_nano);
        e.string("name", &event.name);
        e.attributes(&event.attributes, event.dropped_attributes_count);
        e.done()
    });
    out.number("droppedEventsCount", i64::from(span.dropped_events_count));
    out.list("links", &span.links, |link| {
        let mut l = Obj::default();
        l.hex("traceId", &link.trace_id);
        l.hex("spanId", &link.span_id);
        l.string("traceState", &link.trace_state);
        l.attributes(&link.attributes, link.dropped_attributes_count);
        l.number("flags", i64::from(link.flags));
        l.done()
    });
    out.number("droppedLinksCount", i64::from(span.dropped_links_count));
    if let Some(status) = &span.status {
        let mut s = Obj::default();
        s.string("message", &status.message);
        s.number("code", i64::from(status.code));
        out.put("status", s.done());
    }
    out.bool("debug", span.debug);
    out.bool("shared", span.shared);
    out.number("jaegerFlags", i64::from(span.jaeger_flags));
    out.done()
}

fn encode_key_value(kv: &model::KeyValue) -> Json {
    let mut out = Obj::default();
    out.put("key", Json::String(kv.key.clone()));
    if let Some(value) = &kv.value {
        out.put("value", encode_any_value(value));
    }
    out.done()
}

fn encode_any_value(value: &AnyValue) -> Json {
    let mut out = Obj::default();
    match &value.value {
        None => {}
        Some(Value::StringValue(s)) => out.put("stringValue", Json::String(s.clone())),
        Some(Value::BoolValue(b)) => out.put("boolValue", Json::Bool(*b)),
        Some(Value::IntValue(i)) => out.put("intValue", Json::String(i.to_string())),
        Some(Value::DoubleValue(d)) => out.put("doubleValue", encode_double(*d)),
        Some(Value::BytesValue(b)) => {
            out.put(
                "bytesValue",
                Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
        Some(Value::ArrayValue(a)) => {
            let mut inner = Obj::default();
            inner.list("values", &a.values, encode_any_value);
            out.put("arrayValue", inner.done());
        }
        Some(Value::KvlistValue(l)) => {
            let mut inner = Obj::default();
            inner.list("values", &l.values, encode_key_value);
            out.put("kvlistValue", inner.done());
        }
    }
    out.done()
}

fn encode_double(d: f64) -> Json {
    if d.is_nan() {
        Json::String("NaN".into())
    } else if d.is_infinite() {
        Json::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(d)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
}
