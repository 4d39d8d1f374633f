//! Zipkin v2 ⇄ the canonical model.
//!
//! In: the body of `POST /api/v2/spans` — a JSON list of v2 spans
//! ([`decode_json`]) or a proto3 `ListOfSpans` ([`decode_proto`]). Out:
//! [`crate::model::TracesData`], translated like the OpenTelemetry collector does
//! (spec §5.1), grouped into one ResourceSpans per local service name and one
//! ScopeSpans per `otel.scope.*`/`otel.library.*` tag pair. The reverse
//! direction ([`encode_json`], [`encode_json_bytes`]) renders the model as
//! Zipkin v2 JSON for the read API (spec §5.2).
//!
//! Decoding is lenient by default (upper-case hex, bool and number tag
//! values, case-insensitive `kind`, `null` tag values skipped, leading
//! whitespace/BOM, out-of-range ports dropped). With `strict` it rejects what
//! zipkin-server rejects. A span with an all-zero id is passed through in
//! lenient mode, for [`crate::validate`] to drop and count, and rejected in
//! strict mode. Spans sharing an id (Envoy's client and server halves) stay
//! separate spans; nothing here merges or dedupes spans.
//!
//! Attribute names used for what the model has no field for (spec §5.1,
//! emitting the v1 semantic-convention keys): `network.local.address`,
//! `network.local.port`, `peer.service` and `service.peer.name`,
//! `network.peer.address`, `network.peer.port`, and
//! `otel.zipkin.absentField.startTime` for a span without timestamp. An
//! endpoint with both an IPv4 and an IPv6 address keeps the IPv6 one in
//! `zipkin.local_endpoint.ipv6` / `zipkin.remote_endpoint.ipv6`. The encoder
//! also reads the v0 keys (`net.host.ip`, `net.host.port`, `net.peer.ip`,
//! `net.peer.port`).
//!
//! Layout: `json` and `proto` read bodies into [`ZSpan`]s (Zipkin's model
//! after Zipkin's own normalisation), `to_model` translates those, `encode`
//! goes the other way.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const LOCAL_ADDRESS: &str = "network.local.address";
const LOCAL_PORT: &str = "network.local.port";
const LOCAL_IPV6: &str = "zipkin.local_endpoint.ipv6";
const PEER_SERVICE: &str = "peer.service";
const SERVICE_PEER_NAME: &str = "service.peer.name";
const PEER_ADDRESS: &str = "network.peer.address";
const PEER_PORT: &str = "network.peer.port";
const PEER_IPV6: &str = "zipkin.remote_endpoint.ipv6";
const V0_LOCAL_IP: &str = "net.host.ip";
const V0_LOCAL_PORT: &str = "net.host.port";
const V0_PEER_IP: &str = "net.peer.ip";
const V0_PEER_PORT: &str = "net.peer.port";
const ABSENT_START: &str = "otel.zipkin.absentField.startTime";
const ERROR_TAG: &str = "error";
const STATUS_CODE_TAG: &str = "otel.status_code";
const STATUS_DESCRIPTION_TAG: &str = "otel.status_description";
const TRACESTATE_TAG: &str = "w3c.tracestate";
const SPAN_KIND_TAG: &str = "span.kind";
const SCOPE_NAME_TAGS: [&str; 2] = ["otel.scope.name", "otel.library.name"];
const SCOPE_VERSION_TAGS: [&str; 2] = ["otel.scope.version", "otel.library.version"];
const DROPPED_ATTRIBUTES_TAG: &str = "otel.dropped_attributes_count";
const DROPPED_EVENTS_TAG: &str = "otel.dropped_events_count";
const DROPPED_LINKS_TAG: &str = "otel.dropped_links_count";
const LINK_TAG_PREFIX: &str = "otlp.link.";

/// Why a Zipkin v2 body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipkinError {
    /// A v1 body (it has `binaryAnnotations`) was sent to the v2 endpoint.
    #[error("Expected a JSON_V2 encoded list, but received: JSON_V1")]
    V1Body,
    /// The body is not a JSON list; the text says what it looks like instead.
    #[error("Expected a JSON_V2 encoded list{0}")]
    NotAList(&'static str),
    /// A span has a value of the wrong type or content. `location` names the
    /// span and field, e.g. `span 3: localEndpoint.port`.
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    /// The body is not well-formed JSON.
    #[error("malformed JSON at {location}: {message}")]
    Syntax { location: String, message: String },
    /// The body is not a well-formed proto3 `ListOfSpans`.
    #[error("malformed proto3 ListOfSpans: {0}")]
    Proto(String),
}

// ---------------------------------------------------------------------------
// The span as Zipkin defines it, after Zipkin's own normalisation.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
    /// Only from lenient decoding (`"kind": "INTERNAL"`).
    Internal,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Endpoint {
    service_name: Option<String>,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    port: Option<u16>,
}

impl Endpoint {
    fn is_empty(&self) -> bool {
        *self == Endpoint::default()
    }

    /// Stores an address in the slot of its family; IPv4-mapped IPv6 is IPv4.
    fn set_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.ipv4 = Some(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.ipv4 = Some(v4),
                None => self.ipv6 = Some(v6),
            },
        }
    }
}

#[derive(Debug)]
struct ZSpan {
    trace_id: u128,
    id: u64,
    parent_id: Option<u64>,
    kind: Option<Kind>,
    name: Option<String>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    local: Option<Endpoint>,
    remote: Option<Endpoint>,
    /// Sorted by (timestamp, value), without duplicates.
    annotations: Vec<(u64, String)>,
    tags: BTreeMap<String, String>,
    debug: bool,
    shared: bool,
}

/// Zipkin's lenient IP parser: unparsable text is ignored.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

mod encode;
mod json;
mod proto;
mod to_model;

pub use encode::{encode_json, encode_json_bytes};
pub use json::decode_json;
pub use proto::decode_proto;

/// Helpers shared by the tests of the submodules.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::model::{Span, TracesData, Value};
    use serde_json::{json, Value as Json};

    pub(crate) fn decode(v: Json) -> Result<TracesData, ZipkinError> {
        decode_json(v.to_string().as_bytes(), false)
    }

    pub(crate) fn decode_strict(v: Json) -> Result<TracesData, ZipkinError> {
        decode_json(v.to_string().as_bytes(), true)
    }

    pub(crate) fn spans(data: &TracesData) -> Vec<&Span> {
        data.resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
            .collect()
    }

    pub(crate) fn one(v: Json) -> Span {
        let data = decode(json!([v])).unwrap();
        let all = spans(&data);
        assert_eq!(all.len(), 1);
        all[0].clone()
    }

    pub(crate) fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.as_ref()?.value.as_ref())
    }

    pub(crate) fn text(s: &str) -> Value {
        Value::StringValue(s.into())
    }

    pub(crate) fn base() -> Json {
        json!({"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312", "timestamp": 1717000000123456u64})
    }

    pub(crate) fn with(mut v: Json, extra: Json) -> Json {
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    /// The error for `v` as the second span of a batch.
    pub(crate) fn error_of(v: Json) -> String {
        decode(json!([base(), v])).unwrap_err().to_string()
    }

    pub(crate) fn strict_error_of(v: Json) -> String {
        decode_strict(json!([v])).unwrap_err().to_string()
    }
}
