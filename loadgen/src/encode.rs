//! Wire encodings of a generated batch, one per protocol the load generator
//! speaks.
//!
//! In: an OTLP [`ExportTraceServiceRequest`] (the canonical model). Out: the
//! request bodies for OTLP protobuf (gRPC and HTTP), OTLP/HTTP JSON
//! (hex ids, int64 as strings, enums as numbers, per the OTLP spec), Zipkin
//! v2 JSON (a flat array of spans, µs timestamps, string tags) and proto3,
//! Jaeger `PostSpansRequest` protobuf (gRPC) and Jaeger Thrift binary
//! `Batch`es (HTTP, one body per process: a Thrift batch has one process),
//! optionally gzip-compressed. The JSON is written by hand: no serde types
//! mirror these shapes; the Jaeger and Zipkin proto3 shapes come from
//! [`crate::translate`].

use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use bytes::Bytes;
use prost::Message as _;
use spoor_proto::jaeger::api_v2::PostSpansRequest;
use spoor_proto::jaeger_thrift;
use spoor_proto::model::{format_float, AnyValue, KeyValue, Span, SpanKind, StatusCode, Value};
use spoor_proto::otlp::ExportTraceServiceRequest;
use spoor_proto::thrift::Protocol as ThriftProtocol;

use crate::gen::Batch;
use crate::{translate, wire};

/// The protocols `send` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP over gRPC (protobuf, HTTP/2).
    OtlpGrpc,
    /// OTLP over HTTP with a protobuf body.
    OtlpHttp,
    /// OTLP over HTTP with a JSON body.
    OtlpHttpJson,
    /// Zipkin v2 JSON over HTTP.
    ZipkinJson,
    /// Zipkin v2 proto3 (`ListOfSpans`) over HTTP.
    ZipkinProto,
    /// Jaeger over gRPC: `jaeger.api_v2.CollectorService/PostSpans`, one
    /// batch per request.
    JaegerGrpc,
    /// Jaeger Thrift binary `Batch` over HTTP (`POST /api/traces`), one
    /// request per process of the generated batch.
    JaegerThriftHttp,
}

impl Protocol {
    /// The endpoint a default install of a backend listens on.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "http://127.0.0.1:4317",
            Protocol::OtlpHttp | Protocol::OtlpHttpJson => "http://127.0.0.1:4318/v1/traces",
            Protocol::ZipkinJson | Protocol::ZipkinProto => "http://127.0.0.1:9411/api/v2/spans",
            Protocol::JaegerGrpc => "http://127.0.0.1:14250",
            Protocol::JaegerThriftHttp => "http://127.0.0.1:14268/api/traces",
        }
    }

    /// The HTTP `Content-Type` of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc | Protocol::JaegerGrpc => "application/grpc",
            Protocol::OtlpHttp | Protocol::ZipkinProto => "application/x-protobuf",
            Protocol::OtlpHttpJson | Protocol::ZipkinJson => "application/json",
            Protocol::JaegerThriftHttp => "application/x-thrift",
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp-grpc",
            Protocol::OtlpHttp => "otlp-http",
            Protocol::OtlpHttpJson => "otlp-http-json",
            Protocol::ZipkinJson => "zipkin-json",
            Protocol::ZipkinProto => "zipkin-proto",
            Protocol::JaegerGrpc => "jaeger-grpc",
            Protocol::JaegerThriftHttp => "jaeger-thrift-http",
        }
    }

    /// Whether the protocol is gRPC (compression is then the transport's).
    pub fn is_grpc(self) -> bool {
        matches!(self, Protocol::OtlpGrpc | Protocol::JaegerGrpc)
    }

    /// Encodes a batch as this protocol's request bodies with the spans each
    /// carries (uncompressed; gRPC bodies are the bare protobuf message,
    /// framing is the transport's job). One body, except for Jaeger Thrift:
    /// one per process.
    pub fn encode(self, batch: &Batch) -> Vec<(Vec<u8>, u64)> {
        let spans = batch.len() as u64;
        match self {
            Protocol::OtlpGrpc | Protocol::OtlpHttp => vec![(wire::encode_batch(batch), spans)],
            Protocol::OtlpHttpJson => {
                vec![(otlp_json(&batch.to_request()).into_bytes(), spans)]
            }
            Protocol::ZipkinJson => vec![(zipkin_json(&batch.to_request()).into_bytes(), spans)],
            Protocol::ZipkinProto => vec![(
                translate::zipkin_spans(&batch.to_request()).encode_to_vec(),
                spans,
            )],
            Protocol::JaegerGrpc => {
                let request = PostSpansRequest {
                    batch: Some(translate::jaeger_batch(&batch.to_request())),
                };
                vec![(request.encode_to_vec(), spans)]
            }
            Protocol::JaegerThriftHttp => translate::jaeger_batches(&batch.to_request())
                .iter()
                .map(|b| {
                    (
                        jaeger_thrift::encode_batch(b, ThriftProtocol::Binary),
                        b.spans.len() as u64,
                    )
                })
                .collect(),
        }
    }
}

/// One request body ready for the wire.
#[derive(Debug, Clone)]
pub struct Body {
    /// The bytes to send (gzip-compressed when asked, except for gRPC).
    pub bytes: Bytes,
    /// Length before compression.
    pub raw_len: usize,
    /// Spans in the body.
    pub spans: u64,
}

/// Gzip-compresses a body at the default level.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// Gunzips a body.
pub fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() * 4);
    std::io::copy(&mut flate2::read::GzDecoder::new(body), &mut out)?;
    Ok(out)
}

/// Encodes a batch for the wire: one [`Body`] per request.
pub fn bodies(protocol: Protocol, batch: &Batch, compress: bool) -> Vec<Body> {
    protocol
        .encode(batch)
        .into_iter()
        .map(|(raw, spans)| {
            let raw_len = raw.len();
            // gRPC compression is done by the transport per message.
            let bytes = if compress && !protocol.is_grpc() {
                Bytes::from(gzip(&raw))
            } else {
                Bytes::from(raw)
            };
            Body {
                bytes,
                raw_len,
                spans,
            }
        })
        .collect()
}

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn hex(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('"');
}

fn json_f64(out: &mut String, d: f64) {
    if d.is_finite() {
        let _ = write!(out, "{d}");
    } else {
        // JSON has no NaN or infinities; OTLP JSON spells them as strings.
        json_str(out, &format_float(d));
    }
}

fn otlp_any_value(out: &mut String, value: &AnyValue) {
    out.push('{');
    match &value.value {
        None => {}
        Some(Value::StringValue(s)) => {
            out.push_str("\"stringValue\":");
            json_str(out, s);
        }
        Some(Value::BoolValue(b)) => {
            let _ = write!(out, "\"boolValue\":{b}");
        }
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "\"intValue\":\"{i}\"");
        }
        Some(Value::DoubleValue(d)) => {
            out.push_str("\"doubleValue\":");
            json_f64(out, *d);
        }
        Some(Value::BytesValue(b)) => {
            out.push_str("\"bytesValue\":");
            json_str(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
        Some(Value::ArrayValue(a)) => {
            out.push_str("\"arrayValue\":{\"values\":[");
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                otlp_any_value(out, v);
            }
            out.push_str("]}");
        }
        Some(Value::KvlistValue(l)) => {
            out.push_str("\"kvlistValue\":{\"values\":");
            otlp_attributes(out, &l.values);
            out.push('}');
        }
    }
    out.push('}');
}

fn otlp_attributes(out: &mut String, attributes: &[KeyValue]) {
    out.push('[');
    for (i, kv) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        json_str(out, &kv.key);
        out.push_str(",\"value\":");
        otlp_any_value(out, kv.value.as_ref().unwrap_or(&AnyValue::default()));
        out.push('}');
    }
    out.push(']');
}

fn otlp_span(out: &mut String, s: &Span) {
    out.push_str("{\"traceId\":");
    hex(out, &s.trace_id);
    out.push_str(",\"spanId\":");
    hex(out, &s.span_id);
    if !s.parent_span_id.is_empty() {
        out.push_str(",\"parentSpanId\":");
        hex(out, &s.parent_span_id);
    }
    if !s.trace_state.is_empty() {
        out.push_str(",\"traceState\":");
        json_str(out, &s.trace_state);
    }
    if s.flags != 0 {
        let _ = write!(out, ",\"flags\":{}", s.flags);
    }
    out.push_str(",\"name\":");
    json_str(out, &s.name);
    let _ = write!(
        out,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":",
        s.kind, s.start_time_unix_nano, s.end_time_unix_nano
    );
    otlp_attributes(out, &s.attributes);
    if !s.events.is_empty() {
        out.push_str(",\"events\":[");
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"timeUnixNano\":\"{}\",\"name\":", e.time_unix_nano);
            json_str(out, &e.name);
            out.push_str(",\"attributes\":");
            otlp_attributes(out, &e.attributes);
            out.push('}');
        }
        out.push(']');
    }
    if !s.links.is_empty() {
        out.push_str(",\"links\":[");
        for (i, l) in s.links.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"traceId\":");
            hex(out, &l.trace_id);
            out.push_str(",\"spanId\":");
            hex(out, &l.span_id);
            out.push_str(",\"attributes\":");
            otlp_attributes(out, &l.attributes);
            out.push('}');
        }
        out.push(']');
    }
    if let Some(status) = &s.status {
        let _ = write!(out, ",\"status\":{{\"code\":{}", status.code);
        if !status.message.is_empty() {
            out.push_str(",\"message\":");
            json_str(out, &status.message);
        }
        out.push('}');
    }
    out.push('}');
}

/// OTLP/HTTP JSON encoding of an export request.
pub fn otlp_json(request: &ExportTraceServiceRequest) -> String {
    let mut out = String::with_capacity(request.resource_spans.len() * 4096);
    out.push_str("{\"resourceSpans\":[");
    for (i, rs) in request.resource_spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"resource\":{\"attributes\":");
        otlp_attributes(
            &mut out,
            rs.resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or(&[]),
        );
        out.push_str("},\"scopeSpans\":[");
        for (j, ss) in rs.scope_spans.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('{');
            if let Some(scope) = &ss.scope {
                out.push_str("\"scope\":{\"name\":");
                json_str(&mut out, &scope.name);
                out.push_str(",\"version\":");
                json_str(&mut out, &scope.version);
                out.push_str("},");
            }
            out.push_str("\"spans\":[");
            for (k, span) in ss.spans.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                otlp_span(&mut out, span);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out
}

/// The text of an attribute value as a Zipkin tag.
fn tag_text(value: Option<&AnyValue>) -> String {
    value
        .map(spoor_proto::model::search_string)
        .unwrap_or_default()
}

/// Zipkin v2 JSON encoding (a flat array of spans) of an export request.
pub fn zipkin_json(request: &ExportTraceServiceRequest) -> String {
    let mut out = String::with_capacity(request.resource_spans.len() * 4096);
    out.push('[');
    let mut first = true;
    for rs in &request.resource_spans {
        let service = rs.service_name();
        for span in rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str("{\"traceId\":");
            hex(&mut out, &span.trace_id);
            out.push_str(",\"id\":");
            hex(&mut out, &span.span_id);
            if !span.parent_span_id.is_empty() {
                out.push_str(",\"parentId\":");
                hex(&mut out, &span.parent_span_id);
            }
            let kind = match span.span_kind() {
                SpanKind::Client => Some("CLIENT"),
                SpanKind::Server => Some("SERVER"),
                SpanKind::Producer => Some("PRODUCER"),
                SpanKind::Consumer => Some("CONSUMER"),
                SpanKind::Internal | SpanKind::Unspecified => None,
            };
            if let Some(kind) = kind {
                let _ = write!(out, ",\"kind\":\"{kind}\"");
            }
            out.push_str(",\"name\":");
            json_str(&mut out, &span.name);
            let micros = span.start_time_unix_nano / 1_000;
            let duration = (span.duration_nanos() / 1_000).max(1);
            let _ = write!(out, ",\"timestamp\":{micros},\"duration\":{duration},\"localEndpoint\":{{\"serviceName\":");
            json_str(&mut out, service);
            out.push_str("},\"tags\":{");
            let mut first_tag = true;
            let mut tag = |out: &mut String, key: &str, value: &str| {
                if !first_tag {
                    out.push(',');
                }
                first_tag = false;
                json_str(out, key);
                out.push(':');
                json_str(out, value);
            };
            for kv in &span.attributes {
                tag(&mut out, &kv.key, &tag_text(kv.value.as_ref()));
            }
            if span.status_code() == StatusCode::Error {
                tag(&mut out, "otel.status_code", "ERROR");
                let message = span
                    .status
                    .as_ref()
                    .map(|s| s.message.as_str())
                    .unwrap_or("");
                tag(&mut out, "error", message);
            }
            out.push('}');
            if !span.events.is_empty() {
                out.push_str(",\"annotations\":[");
                for (i, e) in span.events.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(
                        out,
                        "{{\"timestamp\":{},\"value\":",
                        e.time_unix_nano / 1_000
                    );
                    json_str(&mut out, &e.name);
                    out.push('}');
                }
                out.push(']');
            }
            out.push('}');
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Catalog, Generator, Shape};
    use serde_json::Value as J;
    use std::sync::Arc;

    fn batch(n: usize) -> ExportTraceServiceRequest {
        Generator::new(Arc::new(Catalog::new(Shape::default())), 42)
            .batch(n)
            .to_request()
    }

    fn is_hex(v: &J, len: usize) -> bool {
        v.as_str().is_some_and(|s| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
    }

    #[test]
    fn zipkin_json_has_the_v2_shape() {
        let request = batch(200);
        let parsed: J = serde_json::from_str(&zipkin_json(&request)).expect("valid JSON");
        let spans = parsed.as_array().expect("a JSON array");
        assert_eq!(spans.len(), 200);
        let mut errors = 0;
        let model: Vec<&Span> = request
            .resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .collect();
        for (z, m) in spans.iter().zip(&model) {
            assert!(is_hex(&z["traceId"], 32), "{z}");
            assert!(is_hex(&z["id"], 16));
            if m.parent_span_id.is_empty() {
                assert!(z.get("parentId").is_none());
            } else {
                assert!(is_hex(&z["parentId"], 16));
            }
            assert!(z["name"].as_str().is_some_and(|n| !n.is_empty()));
            let kind = z.get("kind").and_then(J::as_str);
            assert!(matches!(kind, None | Some("CLIENT") | Some("SERVER")));
            assert_eq!(z["timestamp"].as_u64(), Some(m.start_time_unix_nano / 1000));
            assert!(z["duration"].as_u64().is_some_and(|d| d >= 1));
            assert!(z["localEndpoint"]["serviceName"]
                .as_str()
                .is_some_and(|s| !s.is_empty()));
            let tags = z["tags"].as_object().expect("tags map");
            assert!(tags.values().all(J::is_string), "tags are strings");
            assert!(tags.len() >= 10);
            assert!(tags["http.status_code"]
                .as_str()
                .is_some_and(|s| s.parse::<u16>().is_ok()));
            if tags.contains_key("error") {
                errors += 1;
            }
            if let Some(ann) = z.get("annotations") {
                for a in ann.as_array().expect("annotations array") {
                    assert!(a["timestamp"].is_u64());
                    assert!(a["value"].is_string());
                }
            }
        }
        let model_errors = model
            .iter()
            .filter(|s| s.status_code() == StatusCode::Error)
            .count();
        assert_eq!(errors, model_errors);
    }

    #[test]
    fn otlp_json_follows_the_otlp_json_mapping() {
        let request = batch(50);
        let parsed: J = serde_json::from_str(&otlp_json(&request)).expect("valid JSON");
        let rss = parsed["resourceSpans"].as_array().expect("resourceSpans");
        assert_eq!(rss.len(), request.resource_spans.len());
        let mut count = 0;
        for rs in rss {
            let attrs = rs["resource"]["attributes"]
                .as_array()
                .expect("resource attributes");
            assert!(attrs
                .iter()
                .any(|a| a["key"] == "service.name" && a["value"]["stringValue"].is_string()));
            for span in rs["scopeSpans"][0]["spans"].as_array().expect("spans") {
                count += 1;
                assert!(is_hex(&span["traceId"], 32));
                assert!(is_hex(&span["spanId"], 16));
                assert!(span["kind"].is_u64());
                assert!(span["startTimeUnixNano"]
                    .as_str()
                    .is_some_and(|s| s.parse::<u64>().is_ok()));
                let attrs = span["attributes"].as_array().expect("attributes");
                assert_eq!(attrs.len(), 10);
                let code = attrs
                    .iter()
                    .find(|a| a["key"] == "http.status_code")
                    .expect("status code");
                assert!(
                    code["value"]["intValue"].is_string(),
                    "int64 is a JSON string"
                );
            }
        }
        assert_eq!(count, 50);
    }

    #[test]
    fn protobuf_round_trips_and_gzip_inverts() {
        let b = Generator::new(Arc::new(Catalog::new(Shape::default())), 42).batch(100);
        let request = b.to_request();
        let parts = bodies(Protocol::OtlpHttp, &b, true);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].spans, 100);
        let raw = gunzip(&parts[0].bytes).expect("gunzip");
        assert_eq!(raw.len(), parts[0].raw_len);
        let decoded = ExportTraceServiceRequest::decode(raw.as_slice()).expect("decode");
        assert_eq!(decoded, request);
    }

    /// The keys of `batch`'s spans as the generator made them.
    fn generated_keys(
        b: &crate::gen::Batch,
        zipkin: bool,
    ) -> std::collections::BTreeSet<crate::translate::tests::Key> {
        crate::translate::tests::keys(&b.to_request().resource_spans, zipkin)
    }

    #[test]
    fn jaeger_grpc_body_decodes_to_the_generated_spans() {
        let b = Generator::new(Arc::new(Catalog::new(Shape::default())), 3).batch(250);
        let parts = bodies(Protocol::JaegerGrpc, &b, true);
        assert_eq!(parts.len(), 1, "one request per batch");
        assert_eq!(parts[0].spans, 250);
        assert_eq!(
            parts[0].bytes.len(),
            parts[0].raw_len,
            "gRPC bodies stay raw"
        );
        let decoded =
            spoor_proto::jaeger_proto::decode_post_spans(&parts[0].bytes).expect("decodes");
        assert_eq!(decoded.span_count(), 250);
        crate::translate::tests::assert_same(
            &crate::translate::tests::keys(&decoded.resource_spans, false),
            &generated_keys(&b, false),
        );
    }

    #[test]
    fn jaeger_thrift_bodies_decode_to_the_generated_spans() {
        let b = Generator::new(Arc::new(Catalog::new(Shape::default())), 4).batch(250);
        let request = b.to_request();
        let parts = bodies(Protocol::JaegerThriftHttp, &b, false);
        assert_eq!(
            parts.len(),
            request.resource_spans.len(),
            "one body per process"
        );
        assert_eq!(parts.iter().map(|p| p.spans).sum::<u64>(), 250);
        let mut decoded = Vec::new();
        for part in &parts {
            let data = jaeger_thrift::decode_http_body(&part.bytes).expect("decodes");
            assert_eq!(data.resource_spans.len(), 1, "one process per body");
            assert_eq!(data.span_count() as u64, part.spans);
            decoded.extend(data.resource_spans);
        }
        crate::translate::tests::assert_same(
            &crate::translate::tests::keys(&decoded, false),
            &generated_keys(&b, false),
        );
        // Compressed bodies inflate to the same bytes.
        let zipped = bodies(Protocol::JaegerThriftHttp, &b, true);
        assert_eq!(gunzip(&zipped[0].bytes).expect("gunzip"), parts[0].bytes);
    }

    #[test]
    fn zipkin_proto_body_decodes_to_the_generated_spans() {
        let b = Generator::new(Arc::new(Catalog::new(Shape::default())), 5).batch(250);
        let parts = bodies(Protocol::ZipkinProto, &b, false);
        assert_eq!(parts.len(), 1);
        let decoded = spoor_proto::zipkin_v2::decode_proto(&parts[0].bytes).expect("decodes");
        assert_eq!(decoded.span_count(), 250);
        crate::translate::tests::assert_same(
            &crate::translate::tests::keys(&decoded.resource_spans, true),
            &generated_keys(&b, true),
        );
    }

    #[test]
    fn every_protocol_has_a_name_port_and_content_type() {
        use clap::ValueEnum as _;
        for p in Protocol::value_variants() {
            let parsed = Protocol::from_str(p.name(), false).expect("name parses");
            assert_eq!(parsed, *p);
            assert!(p.default_endpoint().starts_with("http://127.0.0.1:"));
            assert!(!p.content_type().is_empty());
        }
        assert_eq!(
            Protocol::JaegerGrpc.default_endpoint(),
            "http://127.0.0.1:14250"
        );
        assert_eq!(
            Protocol::JaegerThriftHttp.default_endpoint(),
            "http://127.0.0.1:14268/api/traces"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(
            serde_json::from_str::<String>(&s).expect("valid"),
            "a\"b\\c\nd\u{1}é"
        );
    }
}
