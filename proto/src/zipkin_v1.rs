//! Zipkin v1 (JSON and Thrift) → Zipkin v2 → the canonical model.
//!
//! In: the body of `POST /api/v1/spans` — a JSON list of v1 spans
//! ([`decode_json`]) or a Thrift list of `zipkincore.Span` in the binary
//! protocol ([`decode_thrift`]), also the spans of the agent's
//! `emitZipkinBatch`. Out: [`model::TracesData`]. Each v1 span is converted
//! to v2 spans the way Zipkin's `V1SpanConverter` does (spec
//! ingest-and-zipkin §1.6), then decoded by [`crate::zipkin_v2`] (lenient),
//! so v1 and v2 share one translation to the model:
//!
//! - core annotations define kind, timestamp and duration: `cs`/`cr` a
//!   CLIENT span, `sr`/`ss` a SERVER span, `ms` PRODUCER, `mr` CONSUMER; the
//!   annotation's endpoint is the local endpoint; the span's own
//!   `timestamp`/`duration` win when present.
//! - a span with both `cs` and `sr` becomes two v2 spans with the same id:
//!   the client, and the server marked `shared`.
//! - binary annotations `ca`/`sa`/`ma` (boolean true) give the remote
//!   endpoint (`sa` of the client, `ca` of the server, `ma` of the
//!   messaging span); `lc` names a local-only span's service; the others
//!   become tags (numbers and booleans as text, bytes as base64).
//! - other annotations stay annotations, on the span whose host wrote them.
//!
//! A field of the wrong JSON type is an error naming the span and the field
//! (`span 0: binaryAnnotations must be a list, got a number`), as
//! zipkin-server answers; `null` is an absent field. Lenient as the v2
//! decoder: numbers may be quoted, `debug` may be `"true"`/`"false"`, an
//! out-of-range port is dropped, a binary annotation's value of any type
//! becomes text.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use crate::model;
use crate::thrift::{Protocol, Reader, TType, ThriftError};
use crate::zipkin_v2::{self, ZipkinError};

/// Why a Zipkin v1 body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipkinV1Error {
    /// The body is not a JSON list of v1 spans.
    #[error("invalid Zipkin v1 JSON: {0}")]
    Json(String),
    /// The body is not a Thrift list of v1 spans.
    #[error("invalid Zipkin v1 Thrift: {0}")]
    Thrift(#[from] ThriftError),
    /// The converted spans were refused by the v2 decoder (bad ids).
    #[error("{0}")]
    Span(#[from] ZipkinError),
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Endpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<u16>,
}

#[derive(Debug, Default)]
struct Annotation {
    timestamp: u64,
    value: String,
    endpoint: Option<Endpoint>,
}

#[derive(Debug)]
enum BinaryValue {
    Text(String),
    Bool(bool),
}

#[derive(Debug)]
struct BinaryAnnotation {
    key: String,
    value: BinaryValue,
    endpoint: Option<Endpoint>,
}

/// A v1 span with its ids as hex text (checked by the v2 decoder).
#[derive(Debug, Default)]
struct V1Span {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    name: Option<String>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    debug: bool,
    annotations: Vec<Annotation>,
    binary_annotations: Vec<BinaryAnnotation>,
}

/// Decodes a Zipkin v1 JSON list. An empty body or `[]` is an empty batch.
pub fn decode_json(body: &[u8]) -> Result<model::TracesData, ZipkinV1Error> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(model::TracesData::default());
    }
    let list: Vec<Json> =
        serde_json::from_slice(body).map_err(|e| ZipkinV1Error::Json(e.to_string()))?;
    let spans = list
        .iter()
        .enumerate()
        .map(|(i, v)| span_from_json(v).map_err(|e| ZipkinV1Error::Json(format!("span {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    to_model(spans)
}

/// Decodes a Thrift list of `zipkincore.Span` (binary protocol), the body
/// `application/x-thrift` clients post to `/api/v1/spans`.
pub fn decode_thrift(body: &[u8]) -> Result<model::TracesData, ZipkinV1Error> {
    if body.is_empty() {
        return Ok(model::TracesData::default());
    }
    let mut r = Reader::new(body, Protocol::Binary);
    let spans = read_span_list(&mut r)?;
    to_model(spans)
}

/// Reads a list of Thrift v1 spans and translates them (the agent's
/// `emitZipkinBatch`). Spans the v2 decoder refuses are an error.
pub(crate) fn read_thrift_span_list(r: &mut Reader<'_>) -> Result<model::TracesData, ThriftError> {
    let spans = read_span_list(r)?;
    to_model(spans).map_err(|e| ThriftError::Unexpected(e.to_string()))
}

fn to_model(spans: Vec<V1Span>) -> Result<model::TracesData, ZipkinV1Error> {
    let v2: Vec<Json> = spans.into_iter().flat_map(convert).collect();
    let body = serde_json::to_vec(&v2).map_err(|e| ZipkinV1Error::Json(e.to_string()))?;
    Ok(zipkin_v2::decode_json(&body, false)?)
}

// ---------------------------------------------------------------------------
// v1 JSON

fn text_field(v: &Json, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.is_empty() => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be a string, got {other}")),
    }
}

fn micros_field(v: &Json, key: &str) -> Result<Option<u64>, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if f.fract() == 0.0 && f >= 0.0 => Ok(Some(f as u64)),
            _ => Ok(None),
        },
        Some(Json::String(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("{key} must be an integer, got {s:?}")),
        Some(other) => Err(format!("{key} must be an integer, got {other}")),
    }
    .map(|t| t.filter(|&t| t > 0))
}

/// Names the JSON type of `v` for error messages ("got a number").
fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// The items of the list `key`; absent or `null` is an empty list, any
/// other type an error naming the field (as zipkin-server answers).
fn list_field<'a>(v: &'a Json, key: &str) -> Result<&'a [Json], String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(format!("{key} must be a list, got {}", json_type(other))),
    }
}

/// `debug`: a boolean; `null` is false, and (leniently) `"true"`/`"false"`.
fn flag_field(v: &Json, key: &str) -> Result<bool, String> {
    match v.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(format!("{key} must be true or false, got {other}")),
    }
}

/// An endpoint at `at` (for messages); absent or `null` is none.
fn endpoint_from_json(v: Option<&Json>, at: &str) -> Result<Option<Endpoint>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if !v.is_object() {
        return Err(format!("{at} must be an object, got {}", json_type(v)));
    }
    // Out-of-range ports are dropped (lenient, like the v2 decoder).
    let port = match v.get("port") {
        None | Some(Json::Null) => None,
        Some(Json::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Some(Json::String(s)) => match s.trim().parse::<i64>() {
            Ok(p) => u16::try_from(p).ok(),
            Err(_) => return Err(format!("{at}.port must be a port number, got {s:?}")),
        },
        Some(other) => {
            return Err(format!(
                "{at}.port must be a port number, got {}",
                json_type(other)
            ))
        }
    };
    let text = |key: &str| text_field(v, key).map_err(|e| format!("{at}.{e}"));
    Ok(Some(Endpoint {
        service_name: text("serviceName")?,
        ipv4: text("ipv4")?,
        ipv6: text("ipv6")?,
        port: port.filter(|&p| p != 0),
    }))
}

fn span_from_json(v: &Json) -> Result<V1Span, String> {
    if !v.is_object() {
        return Err("a span must be a JSON object".into());
    }
    let mut span = V1Span {
        trace_id: text_field(v, "traceId")?.ok_or("traceId is required")?,
        id: text_field(v, "id")?.ok_or("id is required")?,
        parent_id: text_field(v, "parentId")?,
        name: text_field(v, "name")?,
        timestamp: micros_field(v, "timestamp")?,
        duration: micros_field(v, "duration")?,
        debug: flag_field(v, "debug")?,
        ..V1Span::default()
    };
    for (i, a) in list_field(v, "annotations")?.iter().enumerate() {
        let at = format!("annotations[{i}]");
        if !a.is_object() {
            return Err(format!("{at} must be an object, got {}", json_type(a)));
        }
        let inside = |e: String| format!("{at}.{e}");
        span.annotations.push(Annotation {
            timestamp: micros_field(a, "timestamp").map_err(inside)?.unwrap_or(0),
            value: text_field(a, "value")
                .map_err(inside)?
                .ok_or_else(|| format!("{at}.value is required"))?,
            endpoint: endpoint_from_json(a.get("endpoint"), &format!("{at}.endpoint"))?,
        });
    }
    for (i, b) in list_field(v, "binaryAnnotations")?.iter().enumerate() {
        let at = format!("binaryAnnotations[{i}]");
        if !b.is_object() {
            return Err(format!("{at} must be an object, got {}", json_type(b)));
        }
        let key = text_field(b, "key")
            .map_err(|e| format!("{at}.{e}"))?
            .ok_or_else(|| format!("{at}.key is required"))?;
        let value = match b.get("value") {
            Some(Json::Bool(x)) => BinaryValue::Bool(*x),
            Some(Json::String(s)) => BinaryValue::Text(s.clone()),
            Some(Json::Number(n)) => BinaryValue::Text(n.to_string()),
            None | Some(Json::Null) => continue,
            Some(other) => BinaryValue::Text(other.to_string()),
        };
        span.binary_annotations.push(BinaryAnnotation {
            key,
            value,
            endpoint: endpoint_from_json(b.get("endpoint"), &format!("{at}.endpoint"))?,
        });
    }
    Ok(span)
}

// ---------------------------------------------------------------------------
// v1 Thrift (zipkincore.thrift field ids, spec §1.6)

fn read_span_list(r: &mut Reader<'_>) -> Result<Vec<V1Span>, ThriftError> {
    let mut spans = Vec::new();
    r.read_list(|r, ttype| {
        if ttype != TType::Struct {
            return Err(ThriftError::Unexpected(format!(
                "a list of {ttype:?}, expected Zipkin spans"
            )));
        }
        spans.push(read_thrift_span(r)?);
        Ok(())
    })?;
    Ok(spans)
}

fn hex64(v: i64) -> String {
    format!("{:016x}", v as u64)
}

fn read_thrift_span(r: &mut Reader<'_>) -> Result<V1Span, ThriftError> {
    let mut span = V1Span::default();
    let (mut low, mut high) = (0i64, 0i64);
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => low = r.read_i64()?,
            (3, TType::Binary) => span.name = Some(r.read_string()?).filter(|s| !s.is_empty()),
            (4, TType::I64) => span.id = hex64(r.read_i64()?),
            (5, TType::I64) => {
                let parent = r.read_i64()?;
                span.parent_id = (parent != 0).then(|| hex64(parent));
            }
            (6, TType::List) => r.read_list(|r, _| {
                span.annotations.push(read_thrift_annotation(r)?);
                Ok(())
            })?,
            (8, TType::List) => r.read_list(|r, _| {
                if let Some(b) = read_thrift_binary_annotation(r)? {
                    span.binary_annotations.push(b);
                }
                Ok(())
            })?,
            (9, TType::Bool) => span.debug = r.read_bool()?,
            (10, TType::I64) => {
                span.timestamp = u64::try_from(r.read_i64()?).ok().filter(|&t| t > 0)
            }
            (11, TType::I64) => {
                span.duration = u64::try_from(r.read_i64()?).ok().filter(|&t| t > 0)
            }
            (12, TType::I64) => high = r.read_i64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    span.trace_id = if high == 0 {
        hex64(low)
    } else {
        format!("{}{}", hex64(high), hex64(low))
    };
    Ok(span)
}

fn read_thrift_endpoint(r: &mut Reader<'_>) -> Result<Endpoint, ThriftError> {
    let mut e = Endpoint::default();
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::I32) => {
                let ip = r.read_i32()?;
                e.ipv4 = (ip != 0).then(|| Ipv4Addr::from(ip as u32).to_string());
            }
            (2, TType::I16) => e.port = Some(r.read_i16()? as u16).filter(|&p| p != 0),
            (3, TType::Binary) => e.service_name = Some(r.read_string()?).filter(|s| !s.is_empty()),
            (4, TType::Binary) => {
                let bytes = r.read_binary()?;
                e.ipv6 = <[u8; 16]>::try_from(bytes)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string());
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(e)
}

fn read_thrift_annotation(r: &mut Reader<'_>) -> Result<Annotation, ThriftError> {
    let mut a = Annotation::default();
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::I64) => a.timestamp = r.read_i64()?.max(0) as u64,
            (2, TType::Binary) => a.value = r.read_string()?,
            (3, TType::Struct) => a.endpoint = Some(read_thrift_endpoint(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(a)
}

/// `AnnotationType`: BOOL 0, BYTES 1, I16 2, I32 3, I64 4, DOUBLE 5, STRING 6.
fn read_thrift_binary_annotation(
    r: &mut Reader<'_>,
) -> Result<Option<BinaryAnnotation>, ThriftError> {
    let (mut key, mut raw, mut kind, mut endpoint) = (String::new(), Vec::new(), 6i32, None);
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::Binary) => key = r.read_string()?,
            (2, TType::Binary) => raw = r.read_binary()?.to_vec(),
            (3, TType::I32) => kind = r.read_i32()?,
            (4, TType::Struct) => endpoint = Some(read_thrift_endpoint(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let number = |n: usize| -> Option<[u8; 8]> {
        let bytes = raw.get(..n)?;
        let mut out = [0u8; 8];
        out[8 - n..].copy_from_slice(bytes);
        Some(out)
    };
    let value = match kind {
        0 => BinaryValue::Bool(raw.first() == Some(&1)),
        1 => BinaryValue::Text(base64::engine::general_purpose::STANDARD.encode(&raw)),
        2 => BinaryValue::Text(
            number(2).map_or_else(String::new, |b| (i64::from_be_bytes(b) as i16).to_string()),
        ),
        3 => BinaryValue::Text(
            number(4).map_or_else(String::new, |b| (i64::from_be_bytes(b) as i32).to_string()),
        ),
        4 => BinaryValue::Text(
            number(8).map_or_else(String::new, |b| i64::from_be_bytes(b).to_string()),
        ),
        5 => BinaryValue::Text(
            number(8).map_or_else(String::new, |b| model::format_float(f64::from_be_bytes(b))),
        ),
        _ => BinaryValue::Text(String::from_utf8_lossy(&raw).into_owned()),
    };
    Ok((!key.is_empty()).then_some(BinaryAnnotation {
        key,
        value,
        endpoint,
    }))
}

// ---------------------------------------------------------------------------
// v1 → v2

fn endpoint_json(e: &Endpoint) -> Json {
    let mut m = Map::new();
    if let Some(s) = &e.service_name {
        m.insert("serviceName".into(), json!(s));
    }
    if let Some(ip) = &e.ipv4 {
        m.insert("ipv4".into(), json!(ip));
    }
    if let Some(ip) = &e.ipv6 {
        m.insert("ipv6".into(), json!(ip));
    }
    if let Some(p) = e.port {
        m.insert("port".into(), json!(p));
    }
    Json::Object(m)
}

/// One v2 span being built.
#[derive(Default)]
struct V2 {
    kind: Option<&'static str>,
    local: Option<Endpoint>,
    remote: Option<Endpoint>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    shared: bool,
    annotations: Vec<(u64, String)>,
    tags: BTreeMap<String, String>,
}

fn core_timestamp(span: &V1Span, value: &str) -> Option<(u64, Option<Endpoint>)> {
    span.annotations
        .iter()
        .find(|a| a.value == value)
        .map(|a| (a.timestamp, a.endpoint.clone()))
}

fn is_true(value: &BinaryValue) -> bool {
    match value {
        BinaryValue::Bool(b) => *b,
        BinaryValue::Text(t) => t == "true" || t == "1",
    }
}

/// Converts one v1 span into one or two v2 spans (as v2 JSON objects).
fn convert(span: V1Span) -> Vec<Json> {
    let cs = core_timestamp(&span, "cs");
    let cr = core_timestamp(&span, "cr");
    let sr = core_timestamp(&span, "sr");
    let ss = core_timestamp(&span, "ss");
    let ms = core_timestamp(&span, "ms");
    let mr = core_timestamp(&span, "mr");
    let elapsed = |start: &Option<(u64, Option<Endpoint>)>,
                   end: &Option<(u64, Option<Endpoint>)>| {
        match (start, end) {
            (Some((s, _)), Some((e, _))) if e > s => Some(e - s),
            _ => None,
        }
    };

    let mut first = V2::default();
    let mut server: Option<V2> = None;
    if cs.is_some() || (cr.is_some() && sr.is_none()) {
        first.kind = Some("CLIENT");
        first.local = cs.as_ref().or(cr.as_ref()).and_then(|(_, e)| e.clone());
        first.timestamp = cs.as_ref().map(|(t, _)| *t);
        first.duration = elapsed(&cs, &cr);
        if sr.is_some() || ss.is_some() {
            server = Some(V2 {
                kind: Some("SERVER"),
                local: sr.as_ref().or(ss.as_ref()).and_then(|(_, e)| e.clone()),
                timestamp: sr.as_ref().map(|(t, _)| *t),
                duration: elapsed(&sr, &ss),
                shared: true,
                ..V2::default()
            });
        }
    } else if sr.is_some() || ss.is_some() {
        first.kind = Some("SERVER");
        first.local = sr.as_ref().or(ss.as_ref()).and_then(|(_, e)| e.clone());
        first.timestamp = sr.as_ref().map(|(t, _)| *t);
        first.duration = elapsed(&sr, &ss);
    } else if let Some((t, e)) = &ms {
        first.kind = Some("PRODUCER");
        first.local = e.clone();
        first.timestamp = Some(*t);
    } else if let Some((t, e)) = &mr {
        first.kind = Some("CONSUMER");
        first.local = e.clone();
        first.timestamp = Some(*t);
    }
    // The span's own timestamp and duration win (for the client half when split).
    if span.timestamp.is_some() {
        first.timestamp = span.timestamp;
        first.duration = span.duration;
    } else if first.duration.is_none() {
        first.duration = span.duration;
    }

    let core = ["cs", "cr", "sr", "ss", "ms", "mr"];
    for a in &span.annotations {
        let consumed = core.contains(&a.value.as_str()) && first.kind.is_some();
        if consumed {
            continue;
        }
        let target = match &mut server {
            Some(s) if s.local.is_some() && a.endpoint == s.local => s,
            _ => &mut first,
        };
        if target.local.is_none() {
            target.local = a.endpoint.clone();
        }
        target.annotations.push((a.timestamp, a.value.clone()));
    }
    for b in &span.binary_annotations {
        match b.key.as_str() {
            "sa" if is_true(&b.value) => first.remote = b.endpoint.clone(),
            "ca" if is_true(&b.value) => match &mut server {
                Some(s) => s.remote = b.endpoint.clone(),
                None if first.kind == Some("SERVER") => first.remote = b.endpoint.clone(),
                None => {}
            },
            "ma" if is_true(&b.value) => first.remote = b.endpoint.clone(),
            key => {
                let value = match &b.value {
                    BinaryValue::Bool(v) => v.to_string(),
                    BinaryValue::Text(t) => t.clone(),
                };
                let target = match &mut server {
                    Some(s) if s.local.is_some() && b.endpoint == s.local => s,
                    _ => &mut first,
                };
                if target.local.is_none() {
                    target.local = b.endpoint.clone();
                }
                target.tags.insert(key.to_owned(), value);
            }
        }
    }

    std::iter::once(first)
        .chain(server)
        .map(|v2| {
            let mut m = Map::new();
            m.insert("traceId".into(), json!(span.trace_id));
            m.insert("id".into(), json!(span.id));
            if let Some(p) = &span.parent_id {
                m.insert("parentId".into(), json!(p));
            }
            if let Some(name) = &span.name {
                m.insert("name".into(), json!(name));
            }
            if let Some(kind) = v2.kind {
                m.insert("kind".into(), json!(kind));
            }
            if let Some(t) = v2.timestamp {
                m.insert("timestamp".into(), json!(t));
            }
            if let Some(d) = v2.duration {
                m.insert("duration".into(), json!(d));
            }
            if let Some(e) = &v2.local {
                m.insert("localEndpoint".into(), endpoint_json(e));
            }
            if let Some(e) = &v2.remote {
                m.insert("remoteEndpoint".into(), endpoint_json(e));
            }
            if !v2.annotations.is_empty() {
                let list: Vec<Json> = v2
                    .annotations
                    .iter()
                    .map(|(t, v)| json!({"timestamp": t, "value": v}))
                    .collect();
                m.insert("annotations".into(), Json::Array(list));
            }
            if !v2.tags.is_empty() {
                m.insert("tags".into(), json!(v2.tags));
            }
            if span.debug {
                m.insert("debug".into(), json!(true));
            }
            if v2.shared {
                m.insert("shared".into(), json!(true));
            }
            Json::Object(m)
        })
        .collect()
}

#[cfg(test)]
mod tests;
