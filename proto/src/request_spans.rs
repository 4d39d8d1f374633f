//! The encoded spans of an encoded `TracesData` (or OTLP
//! `ExportTraceServiceRequest`, which has the same field 1), found at the
//! wire level, by resource and scope, as slices of the request (no copy).
//!
//! In: the request body that was decoded into a [`TracesData`]. Out:
//! [`RequestSpans`]: for the scope `s` of the resource `r`, the bytes of
//! each of its spans, in the order prost decodes them. The storage engine
//! writes these bytes into a trace's fragment instead of encoding the
//! decoded span again, as long as the decoded batch was not changed.

use bytes::Bytes;

use crate::fragment::{next_field, FragmentError};
use crate::model::TracesData;

/// `TracesData.resource_spans` (and `ExportTraceServiceRequest.resource_spans`).
const RESOURCE_SPANS: u32 = 1;
/// `ResourceSpans.scope_spans`.
const SCOPE_SPANS: u32 = 2;
/// `ScopeSpans.spans`.
const SPANS: u32 = 2;

/// The encoded spans of a request, by resource and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSpans {
    resources: Vec<Vec<Vec<Bytes>>>,
}

impl RequestSpans {
    /// Finds every span of `body`, an encoded `TracesData`. Fields other
    /// than the three on the way to the spans are skipped, as prost skips
    /// fields it does not know.
    pub fn find(body: &Bytes) -> Result<RequestSpans, FragmentError> {
        let mut resources = Vec::new();
        let mut buf = body.clone();
        while let Some((tag, value)) = next_field(&mut buf)? {
            let (RESOURCE_SPANS, Some(mut resource)) = (tag, value) else {
                continue;
            };
            let mut scopes = Vec::new();
            while let Some((tag, value)) = next_field(&mut resource)? {
                let (SCOPE_SPANS, Some(mut scope)) = (tag, value) else {
                    continue;
                };
                let mut spans = Vec::new();
                while let Some((tag, value)) = next_field(&mut scope)? {
                    if let (SPANS, Some(span)) = (tag, value) {
                        spans.push(span);
                    }
                }
                scopes.push(spans);
            }
            resources.push(scopes);
        }
        Ok(RequestSpans { resources })
    }

    /// The encoded spans of scope `scope` of resource `resource`.
    pub fn scope(&self, resource: usize, scope: usize) -> Option<&[Bytes]> {
        self.resources
            .get(resource)
            .and_then(|scopes| scopes.get(scope))
            .map(Vec::as_slice)
    }

    /// Whether `data` has exactly as many resources, scopes and spans in
    /// each scope as were found: a check that `data` is what the body
    /// decoded to, with nothing removed. Any removal shows: the spans in
    /// all scopes could only add up to the same total if none was removed.
    pub fn shape_matches(&self, data: &TracesData) -> bool {
        self.resources.len() == data.resource_spans.len()
            && self
                .resources
                .iter()
                .zip(&data.resource_spans)
                .all(|(scopes, rs)| {
                    scopes.len() == rs.scope_spans.len()
                        && scopes
                            .iter()
                            .zip(&rs.scope_spans)
                            .all(|(spans, ss)| spans.len() == ss.spans.len())
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{string_kv, ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn span(id: u8) -> Span {
        Span {
            trace_id: Bytes::from(vec![1; 16]),
            span_id: Bytes::from(vec![id; 8]),
            name: format!("op-{id}"),
            attributes: vec![string_kv("k", "v")],
            ..Default::default()
        }
    }

    fn data() -> TracesData {
        TracesData {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![
                        ScopeSpans {
                            spans: vec![span(1), span(2)],
                            ..Default::default()
                        },
                        ScopeSpans::default(),
                    ],
                    schema_url: "r".into(),
                    ..Default::default()
                },
                ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(3)],
                        schema_url: "s".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn every_span_is_found_as_prost_wrote_it() {
        let data = data();
        let body = Bytes::from(data.encode_to_vec());
        let found = RequestSpans::find(&body).unwrap();
        assert!(found.shape_matches(&data));
        for (r, rs) in data.resource_spans.iter().enumerate() {
            for (s, ss) in rs.scope_spans.iter().enumerate() {
                let spans = found.scope(r, s).unwrap();
                let want: Vec<Vec<u8>> = ss.spans.iter().map(Message::encode_to_vec).collect();
                assert_eq!(spans, want.as_slice());
            }
        }
        assert_eq!(found.scope(2, 0), None);
    }

    #[test]
    fn a_changed_batch_no_longer_matches() {
        let mut data = data();
        let body = Bytes::from(data.encode_to_vec());
        let found = RequestSpans::find(&body).unwrap();
        data.resource_spans[0].scope_spans[0].spans.pop();
        assert!(!found.shape_matches(&data));
        data.resource_spans.pop();
        assert!(!found.shape_matches(&data));
    }

    #[test]
    fn unknown_fields_are_skipped_and_broken_bodies_refused() {
        let data = data();
        let mut body = data.encode_to_vec();
        // An unknown varint field 9 and an unknown bytes field 10 at the top.
        body.extend_from_slice(&[9 << 3, 5, (10 << 3) | 2, 1, 0]);
        let found = RequestSpans::find(&Bytes::from(body.clone())).unwrap();
        assert!(found.shape_matches(&data));
        body.truncate(body.len() - 1);
        assert!(RequestSpans::find(&Bytes::from(body)).is_err());
    }
}
