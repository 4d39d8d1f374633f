//! The canonical span model: what every receiver produces and what storage
//! and the query side read.
//!
//! In: nothing (this is the shared vocabulary). Out: the message types
//! ([`TracesData`] → [`ResourceSpans`] → [`ScopeSpans`] → [`Span`]) and helpers
//! that read the facts every part needs: the service name of a resource, the
//! ids of a span, the search text of an attribute value.
//!
//! The messages are generated from `protos/spoor/model.proto`, which keeps
//! OTLP's field numbers, so OTLP protobuf decodes into them directly. Spoor's
//! additions (`debug`, `shared`, `jaeger_flags`) use field numbers ≥ 1000.

use crate::ids::{SpanId, TraceId};

pub use crate::generated::spoor_model::any_value::Value;
pub use crate::generated::spoor_model::span::{Event, Link, SpanKind};
pub use crate::generated::spoor_model::status::StatusCode;
pub use crate::generated::spoor_model::*;

/// The resource attribute that names the service.
pub const SERVICE_NAME: &str = "service.name";

impl Resource {
    /// The `service.name` attribute as a string, or "" when absent.
    pub fn service_name(&self) -> &str {
        self.attributes
            .iter()
            .find(|kv| kv.key == SERVICE_NAME)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }
}

impl ResourceSpans {
    /// The service name of this group's resource ("" when absent).
    pub fn service_name(&self) -> &str {
        self.resource
            .as_ref()
            .map(Resource::service_name)
            .unwrap_or("")
    }

    /// Number of spans in this group.
    pub fn span_count(&self) -> usize {
        self.scope_spans.iter().map(|s| s.spans.len()).sum()
    }
}

impl TracesData {
    /// Number of spans in this batch.
    pub fn span_count(&self) -> usize {
        self.resource_spans
            .iter()
            .map(ResourceSpans::span_count)
            .sum()
    }

    /// Every span of the batch with its resource's service name, in order.
    pub fn spans_with_service(&self) -> impl Iterator<Item = (&str, &Span)> + '_ {
        self.resource_spans.iter().flat_map(|rs| {
            let service = rs.service_name();
            rs.scope_spans
                .iter()
                .flat_map(move |ss| ss.spans.iter().map(move |s| (service, s)))
        })
    }
}

impl Span {
    /// The trace id; a malformed length reads as zero.
    pub fn trace_id(&self) -> TraceId {
        TraceId::from_bytes(&self.trace_id).unwrap_or_default()
    }

    /// The span id; a malformed length reads as zero.
    pub fn span_id(&self) -> SpanId {
        SpanId::from_bytes(&self.span_id).unwrap_or_default()
    }

    /// The parent span id, zero for a root span.
    pub fn parent_span_id(&self) -> SpanId {
        SpanId::from_bytes(&self.parent_span_id).unwrap_or_default()
    }

    /// Duration in nanoseconds (zero when the end precedes the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// The span kind, UNSPECIFIED for values this model does not know.
    pub fn span_kind(&self) -> SpanKind {
        SpanKind::try_from(self.kind).unwrap_or(SpanKind::Unspecified)
    }

    /// The status code, UNSET when absent or unknown.
    pub fn status_code(&self) -> StatusCode {
        self.status
            .as_ref()
            .and_then(|s| StatusCode::try_from(s.code).ok())
            .unwrap_or(StatusCode::Unset)
    }
}

/// Jaeger's lower-case name of a span kind ("" for unspecified and internal is
/// "internal").
pub fn span_kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// Parses Jaeger's lower-case span kind name ("" means unspecified).
pub fn span_kind_from_name(name: &str) -> Option<SpanKind> {
    Some(match name {
        "" | "unspecified" => SpanKind::Unspecified,
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => return None,
    })
}

/// Builds a string attribute.
pub fn string_kv(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
    }
}

/// Builds an attribute from a value.
pub fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// The text a tag search compares against: bool → `true`/`false`, integers in
/// decimal, floats in their shortest round-trip form, bytes as lowercase hex,
/// arrays and maps as compact JSON.
pub fn search_string(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_float(*d),
        Some(Value::BytesValue(b)) => hex::encode(b),
        Some(Value::ArrayValue(_)) | Some(Value::KvlistValue(_)) => {
            any_value_to_json(value).to_string()
        }
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(v, 'g'-shortest)` reads
/// for ordinary values: integral values without a fraction, others shortest.
pub fn format_float(d: f64) -> String {
    if d.is_nan() {
        "NaN".to_string()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        format!("{d}")
    }
}

/// Renders an attribute value as plain JSON (used for arrays and maps, which
/// Jaeger shows as JSON text).
pub fn any_value_to_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.value {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(format_float(*d))),
        Some(Value::BytesValue(b)) => {
            use base64::Engine as _;
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(any_value_to_json).collect()),
        Some(Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map(any_value_to_json).unwrap_or(J::Null),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn service_name_comes_from_the_resource_attribute() {
        let r = Resource {
            attributes: vec![string_kv("host", "a"), string_kv(SERVICE_NAME, "svc")],
            dropped_attributes_count: 0,
        };
        assert_eq!(r.service_name(), "svc");
        assert_eq!(Resource::default().service_name(), "");
    }

    #[test]
    fn spans_come_with_their_service_in_order() {
        let group = |service: &str, names: &[&[&str]]| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv(SERVICE_NAME, service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: names
                .iter()
                .map(|scope| ScopeSpans {
                    spans: scope
                        .iter()
                        .map(|n| Span {
                            name: n.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let data = TracesData {
            resource_spans: vec![
                group("a", &[&["x", "y"], &["z"]]),
                ResourceSpans::default(),
                group("b", &[&[], &["w"]]),
            ],
        };
        let got: Vec<(&str, &str)> = data
            .spans_with_service()
            .map(|(service, s)| (service, s.name.as_str()))
            .collect();
        assert_eq!(got, [("a", "x"), ("a", "y"), ("a", "z"), ("b", "w")]);
    }

    #[test]
    fn search_strings_follow_jaeger() {
        let v = |x| AnyValue { value: Some(x) };
        assert_eq!(search_string(&v(Value::BoolValue(true))), "true");
        assert_eq!(search_string(&v(Value::IntValue(123))), "123");
        assert_eq!(search_string(&v(Value::DoubleValue(72.5))), "72.5");
        assert_eq!(search_string(&v(Value::DoubleValue(3.0))), "3");
        assert_eq!(
            search_string(&v(Value::BytesValue(vec![0xde, 0xad].into()))),
            "dead"
        );
    }

    #[test]
    fn concatenated_encodings_merge_repeated_fields() {
        // Storage relies on this: fragments of one trace are appended as bytes.
        let a = TracesData {
            resource_spans: vec![ResourceSpans::default()],
        };
        let b = TracesData {
            resource_spans: vec![ResourceSpans::default(), ResourceSpans::default()],
        };
        let mut bytes = a.encode_to_vec();
        bytes.extend(b.encode_to_vec());
        assert_eq!(
            TracesData::decode(bytes.as_slice())
                .unwrap()
                .resource_spans
                .len(),
            3
        );
    }
}
