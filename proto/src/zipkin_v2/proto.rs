//! Zipkin proto3 `ListOfSpans` → [`ZSpan`]s.
//!
//! In: the body bytes. Out: normalised spans, or an error naming the span and field.

use std::net::IpAddr;

use super::to_model::into_model;
use super::{Endpoint, Kind, ZSpan, ZipkinError};
use crate::ids::{SpanId, TraceId};
use crate::model;

/// Decodes a proto3 `ListOfSpans` (ids big-endian, as the spec says). An
/// empty body is an empty batch.
pub fn decode_proto(body: &[u8]) -> Result<model::TracesData, ZipkinError> {
    use prost::Message as _;
    let list =
        crate::zipkin::ListOfSpans::decode(body).map_err(|e| ZipkinError::Proto(e.to_string()))?;
    let spans = list
        .spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| {
            from_proto(span).map_err(|(field, message)| ZipkinError::Invalid {
                location: format!("span {index}: {field}"),
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_model(spans))
}

fn from_proto(span: crate::zipkin::Span) -> Result<ZSpan, (&'static str, String)> {
    let bad_length = |field: &'static str, n: usize, expected: &str| {
        (field, format!("has {n} bytes, expected {expected}"))
    };
    let trace_id = match span.trace_id.len() {
        8 | 16 => {
            TraceId::from_bytes(&span.trace_id)
                .map_err(|e| ("trace_id", e.to_string()))?
                .0
        }
        0 => return Err(("trace_id", "is required".into())),
        n => return Err(bad_length("trace_id", n, "8 or 16")),
    };
    let id = match span.id.len() {
        8 => {
            SpanId::from_bytes(&span.id)
                .map_err(|e| ("id", e.to_string()))?
                .0
        }
        0 => return Err(("id", "is required".into())),
        n => return Err(bad_length("id", n, "8")),
    };
    let parent_id = match span.parent_id.len() {
        0 | 8 => {
            SpanId::from_bytes(&span.parent_id)
                .map_err(|e| ("parent_id", e.to_string()))?
                .0
        }
        n => return Err(bad_length("parent_id", n, "8")),
    };
    let kind = match span.kind {
        1 => Some(Kind::Client),
        2 => Some(Kind::Server),
        3 => Some(Kind::Producer),
        4 => Some(Kind::Consumer),
        _ => None,
    };
    let mut annotations: Vec<(u64, String)> = span
        .annotations
        .into_iter()
        .filter(|a| a.timestamp > 0)
        .map(|a| (a.timestamp, a.value))
        .collect();
    annotations.sort();
    annotations.dedup();
    Ok(ZSpan {
        trace_id,
        id,
        parent_id: Some(parent_id).filter(|&p| p != 0 && p != id),
        kind,
        name: Some(span.name).filter(|n| !n.is_empty()),
        timestamp: Some(span.timestamp).filter(|&t| t > 0),
        duration: Some(span.duration).filter(|&d| d > 0),
        local: span.local_endpoint.and_then(endpoint_from_proto),
        remote: span.remote_endpoint.and_then(endpoint_from_proto),
        annotations,
        tags: span.tags.into_iter().collect(),
        debug: span.debug,
        shared: span.shared && kind != Some(Kind::Client),
    })
}

fn endpoint_from_proto(e: crate::zipkin::Endpoint) -> Option<Endpoint> {
    let mut endpoint = Endpoint {
        service_name: Some(e.service_name).filter(|s| !s.is_empty()),
        port: u16::try_from(e.port).ok().filter(|&p| p > 0),
        ..Default::default()
    };
    if let Ok(octets) = <[u8; 4]>::try_from(e.ipv4.as_ref()) {
        endpoint.set_ip(IpAddr::from(octets));
    }
    if let Ok(octets) = <[u8; 16]>::try_from(e.ipv6.as_ref()) {
        endpoint.set_ip(IpAddr::from(octets));
    }
    (!endpoint.is_empty()).then_some(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin_v2::test_support::*;
    use crate::zipkin_v2::*;
    use bytes::Bytes;
    use serde_json::json;

    #[test]
    fn proto_spans_decode_like_json_spans() {
        use prost::Message as _;
        let proto = crate::zipkin::Span {
            trace_id: Bytes::from(hex::decode("463ac35c9f6413ad48485a3953bb6124").unwrap()),
            id: Bytes::from(hex::decode("a2fb4a1d1a96d312").unwrap()),
            parent_id: Bytes::from(vec![0; 8]),
            kind: 2,
            name: "get".into(),
            timestamp: 1_717_000_000_123_456,
            duration: 10,
            local_endpoint: Some(crate::zipkin::Endpoint {
                service_name: "svc".into(),
                ipv4: Bytes::from_static(&[10, 0, 0, 1]),
                ipv6: Bytes::new(),
                port: 0,
            }),
            tags: [("error".to_owned(), "true".to_owned())].into(),
            shared: true,
            ..Default::default()
        };
        let body = crate::zipkin::ListOfSpans { spans: vec![proto] }.encode_to_vec();
        let from_proto = decode_proto(&body).unwrap();
        let from_json = decode(json!([{"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312",
            "kind": "SERVER", "name": "get", "timestamp": 1717000000123456u64, "duration": 10, "shared": true,
            "localEndpoint": {"serviceName": "svc", "ipv4": "10.0.0.1", "port": 0}, "tags": {"error": "true"}}]))
        .unwrap();
        assert_eq!(from_proto, from_json);
    }

    #[test]
    fn proto_ids_of_the_wrong_length_are_errors() {
        use prost::Message as _;
        let span = crate::zipkin::Span {
            trace_id: Bytes::from_static(&[1; 16]),
            id: Bytes::from_static(&[1; 5]),
            ..Default::default()
        };
        let body = crate::zipkin::ListOfSpans { spans: vec![span] }.encode_to_vec();
        assert_eq!(
            decode_proto(&body).unwrap_err().to_string(),
            "span 0: id: has 5 bytes, expected 8"
        );
        assert!(matches!(
            decode_proto(b"\x0a\xff").unwrap_err(),
            ZipkinError::Proto(_)
        ));
    }
}
