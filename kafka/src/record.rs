//! The records on the span topic: one per (request, trace).
//!
//! In: a validated batch ([`TracesData`]) on the collector; a record's value
//! and headers on the store. Out: per-trace records (key = the trace id's 16
//! big-endian bytes, value = an OTLP `TracesData` in protobuf, the encoding
//! Jaeger v2 and the OpenTelemetry Kafka receiver call `otlp_proto`), and
//! back: the decoded batch, or an error naming what is wrong with a record.
//!
//! Spoor's model keeps OTLP's field numbers, so the value is plain OTLP to
//! any other consumer; Spoor's own additions (numbered from 1000) are
//! unknown fields to them and are skipped.

use std::collections::HashMap;

use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{ResourceSpans, ScopeSpans, TracesData};

/// Header naming the value's encoding.
pub const ENCODING_HEADER: &str = "spoor-enc";
/// The one encoding Spoor writes and reads.
pub const ENCODING_OTLP_PROTO: &str = "otlp_proto";
/// Header with the record format's version.
pub const VERSION_HEADER: &str = "spoor-ver";
/// The record format version Spoor writes.
pub const VERSION: &str = "1";

/// One record to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRecord {
    /// The trace all spans of the value belong to.
    pub trace_id: TraceId,
    /// `TracesData` in protobuf.
    pub value: Vec<u8>,
    /// Spans in the value.
    pub spans: usize,
}

impl TraceRecord {
    /// The record key: the trace id's 16 big-endian bytes.
    pub fn key(&self) -> [u8; 16] {
        self.trace_id.0.to_be_bytes()
    }
}

/// What is wrong with a consumed record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The encoding header names an encoding Spoor does not read.
    #[error("record encoding {0:?} is not supported (Spoor reads otlp_proto)")]
    Encoding(String),
    /// The value is not an OTLP `TracesData`.
    #[error("record value is not an OTLP TracesData: {0}")]
    Value(String),
}

/// Splits a batch into one record per trace, keeping each span's resource
/// and scope, in the order traces first appear.
pub fn split_by_trace(data: TracesData) -> Vec<TraceRecord> {
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    let mut traces: Vec<(TraceId, TracesData, usize)> = Vec::new();
    for rs in data.resource_spans {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = rs;
        for ss in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url: scope_schema,
            } = ss;
            for span in spans {
                let id = span.trace_id();
                let slot = *index.entry(id).or_insert_with(|| {
                    traces.push((id, TracesData::default(), 0));
                    traces.len() - 1
                });
                let (_, trace, count) = &mut traces[slot];
                *count += 1;
                let spans = scope_slot(trace, &resource, &schema_url, &scope, &scope_schema);
                spans.push(span);
            }
        }
    }
    traces
        .into_iter()
        .map(|(trace_id, data, spans)| TraceRecord {
            trace_id,
            value: data.encode_to_vec(),
            spans,
        })
        .collect()
}

/// The span list of (resource, scope) in `trace`, added when new. Spans of
/// one request share their resource and scope objects, so comparing the
/// last group first finds them at once.
fn scope_slot<'a>(
    trace: &'a mut TracesData,
    resource: &Option<spoor_proto::model::Resource>,
    schema_url: &str,
    scope: &Option<spoor_proto::model::InstrumentationScope>,
    scope_schema: &str,
) -> &'a mut Vec<spoor_proto::model::Span> {
    let ri = match trace
        .resource_spans
        .iter()
        .rposition(|r| &r.resource == resource && r.schema_url == schema_url)
    {
        Some(ri) => ri,
        None => {
            trace.resource_spans.push(ResourceSpans {
                resource: resource.clone(),
                scope_spans: Vec::new(),
                schema_url: schema_url.to_string(),
            });
            trace.resource_spans.len() - 1
        }
    };
    let rs = &mut trace.resource_spans[ri];
    let si = match rs
        .scope_spans
        .iter()
        .rposition(|s| &s.scope == scope && s.schema_url == scope_schema)
    {
        Some(si) => si,
        None => {
            rs.scope_spans.push(ScopeSpans {
                scope: scope.clone(),
                spans: Vec::new(),
                schema_url: scope_schema.to_string(),
            });
            rs.scope_spans.len() - 1
        }
    };
    &mut rs.scope_spans[si].spans
}

/// Decodes a record's value; `encoding` is its `spoor-enc` header, if any
/// (records without it, from other producers, are taken as `otlp_proto`).
pub fn decode_value(encoding: Option<&str>, value: &[u8]) -> Result<TracesData, RecordError> {
    match encoding {
        None | Some(ENCODING_OTLP_PROTO) => {
            TracesData::decode(value).map_err(|e| RecordError::Value(e.to_string()))
        }
        Some(other) => Err(RecordError::Encoding(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_proto::model::{string_kv, Resource, Span};

    fn span(trace: u8, id: u8) -> Span {
        Span {
            trace_id: vec![trace; 16].into(),
            span_id: vec![id; 8].into(),
            name: format!("op-{id}"),
            ..Span::default()
        }
    }

    fn resource(service: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![string_kv("service.name", service)],
            ..Resource::default()
        })
    }

    fn batch() -> TracesData {
        TracesData {
            resource_spans: vec![
                ResourceSpans {
                    resource: resource("a"),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(1, 1), span(2, 2), span(1, 3)],
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                },
                ResourceSpans {
                    resource: resource("b"),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(2, 4)],
                        ..ScopeSpans::default()
                    }],
                    ..ResourceSpans::default()
                },
            ],
        }
    }

    #[test]
    fn one_record_per_trace_with_resources_kept() {
        let records = split_by_trace(batch());
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].trace_id, TraceId::from_bytes(&[1; 16]).unwrap());
        assert_eq!(records[0].key(), [1; 16]);
        assert_eq!(records[0].spans, 2);
        assert_eq!(records[1].spans, 2);
        let first = decode_value(Some(ENCODING_OTLP_PROTO), &records[0].value).unwrap();
        assert_eq!(first.resource_spans.len(), 1);
        assert_eq!(first.resource_spans[0].service_name(), "a");
        assert_eq!(first.span_count(), 2);
        let second = decode_value(None, &records[1].value).unwrap();
        let services: Vec<&str> = second
            .resource_spans
            .iter()
            .map(ResourceSpans::service_name)
            .collect();
        assert_eq!(services, ["a", "b"]);
    }

    #[test]
    fn every_span_lands_in_exactly_one_record() {
        let records = split_by_trace(batch());
        let total: usize = records
            .iter()
            .map(|r| decode_value(None, &r.value).unwrap().span_count())
            .sum();
        assert_eq!(total, batch().span_count());
    }

    #[test]
    fn bad_records_are_named() {
        assert_eq!(
            decode_value(Some("json"), b"{}"),
            Err(RecordError::Encoding("json".to_string()))
        );
        let error = decode_value(None, &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("record value is not an OTLP TracesData"));
    }
}
