//! The search request the store answers, and catalogue entries.

use serde::{Deserialize, Serialize};
use spoor_proto::model::SpanKind;

/// A trace search. Every predicate must hold on one and the same span; a trace
/// matches when at least one of its spans does (Jaeger's semantics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceQuery {
    /// Service name of the span's resource; `None` searches all services.
    pub service: Option<String>,
    /// Span name, exact.
    pub operation: Option<String>,
    /// Tags that must all match on the span: span attributes, resource
    /// attributes, event attributes, scope and link attributes, and the
    /// synthesized tags (`span.kind`, `error`, `otel.status_code`, ...).
    pub tags: Vec<(String, String)>,
    /// Lower bound of the span start time, ns since epoch, inclusive.
    pub start_min_ns: Option<u64>,
    /// Upper bound of the span start time, ns since epoch, inclusive.
    pub start_max_ns: Option<u64>,
    /// Minimum span duration, ns, inclusive.
    pub duration_min_ns: Option<u64>,
    /// Maximum span duration, ns, inclusive.
    pub duration_max_ns: Option<u64>,
    /// Maximum number of traces returned.
    pub limit: usize,
}

/// One entry of the operations catalogue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Span name.
    pub name: String,
    /// Span kind the operation was seen with (its number on the wire).
    #[serde(with = "kind_number")]
    pub kind: SpanKind,
}

/// A span kind as its protobuf enum number (unknown numbers are refused).
mod kind_number {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use spoor_proto::model::SpanKind;

    pub(super) fn serialize<S: Serializer>(kind: &SpanKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(*kind as i32)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpanKind, D::Error> {
        let number = i32::deserialize(d)?;
        SpanKind::try_from(number)
            .map_err(|_| D::Error::custom(format!("unknown span kind {number}")))
    }
}
