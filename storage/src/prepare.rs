//! Turns an accepted batch into per-trace encoded fragments, ready for the
//! write-ahead log and the in-memory trace buffer. Runs on the receiver's
//! thread, so the single writer thread only does I/O.
//!
//! In: a canonical [`TracesData`] batch, and, when the batch is exactly what
//! an encoded request decoded to, that request's span bytes
//! ([`RequestSpans`]). Out: a [`PreparedBatch`]: for each trace in it, the
//! encoded fragment (a `TracesData` holding just that trace's spans), span
//! summaries, tag tokens; plus the distinct (service, operation, kind)
//! triples for the catalogue. A fragment's spans are the request's own
//! bytes when there are any (copied, not encoded again), else encoded from
//! the decoded spans.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use rustc_hash::{FxHashMap, FxHashSet};
use spoor_proto::fragment::{encode_fragment, FragmentSpan, ResourceGroup, SpanScope};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{StatusCode, TracesData};
use spoor_proto::request_spans::RequestSpans;

use crate::matcher;
use crate::summary::SpanSummary;

/// One trace's part of a batch.
#[derive(Debug, Clone)]
pub struct PreparedTrace {
    /// The trace.
    pub trace_id: TraceId,
    /// Encoded `TracesData` with only this trace's spans.
    pub fragment: Bytes,
    /// Search facts of each span in the fragment.
    pub spans: Vec<SpanSummary>,
    /// Sorted, de-duplicated tag tokens of the fragment's spans.
    pub tokens: Vec<u64>,
}

/// A batch grouped by trace and encoded.
#[derive(Debug, Clone, Default)]
pub struct PreparedBatch {
    /// The traces of the batch.
    pub traces: Vec<PreparedTrace>,
    /// Distinct (service, operation, kind) triples in the batch.
    pub catalog: Vec<(String, String, i32)>,
    span_count: usize,
    encoded_len: usize,
}

impl PreparedBatch {
    /// Number of spans in the batch.
    pub fn span_count(&self) -> usize {
        self.span_count
    }

    /// Bytes of encoded fragments.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }
}

/// Consecutive spans of one trace in one scope: (resource index, scope
/// index, indexes of the spans in the scope).
type SpanRun = (usize, usize, Vec<usize>);

/// Per-trace accumulation.
struct TraceBuilder {
    groups: Vec<SpanRun>,
    spans: Vec<SpanSummary>,
    tokens: Vec<u64>,
}

struct GroupBytes {
    resource: Option<Vec<u8>>,
    scopes: Vec<Option<Vec<u8>>>,
    tokens: Vec<u64>,
    scope_tokens: Vec<Vec<u64>>,
}

/// Groups a batch by trace and encodes each trace's fragment.
pub fn prepare_batch(data: TracesData) -> PreparedBatch {
    prepare(&data, None)
}

/// [`prepare_batch`] of a batch the caller keeps (a retried write).
pub fn prepare_batch_of(data: &TracesData) -> PreparedBatch {
    prepare(data, None)
}

/// [`prepare_batch`] of a batch decoded from a request whose span bytes
/// are `spans`: the fragments take those bytes as they are. The caller
/// vouches that no span was changed in place after decoding; a batch with
/// any span removed (its shape then differs from `spans`) is encoded from
/// its decoded spans instead.
pub fn prepare_request_batch(data: &TracesData, spans: &RequestSpans) -> PreparedBatch {
    prepare(data, Some(spans).filter(|s| s.shape_matches(data)))
}

fn prepare(data: &TracesData, encoded: Option<&RequestSpans>) -> PreparedBatch {
    // Fx hashing: every key is looked up once per span.
    let mut builders: FxHashMap<TraceId, TraceBuilder> = FxHashMap::default();
    let mut order: Vec<TraceId> = Vec::new();
    let mut groups: Vec<GroupBytes> = Vec::with_capacity(data.resource_spans.len());
    let mut catalog: Vec<(String, String, i32)> = Vec::new();
    let mut catalog_seen: FxHashSet<(&str, &str, i32)> = FxHashSet::default();
    let mut span_count = 0;
    // One shared string per distinct name in the batch.
    let mut names: FxHashMap<&str, Arc<str>> = FxHashMap::default();

    for (ri, rs) in data.resource_spans.iter().enumerate() {
        let service = rs.service_name();
        let service_name = shared(&mut names, service);
        let mut resource_tokens = Vec::new();
        if let Some(r) = &rs.resource {
            matcher::for_each_resource_pair(r, &mut |k, v| {
                resource_tokens.push(matcher::token(k, v))
            });
        }
        let mut group = GroupBytes {
            resource: rs.resource.as_ref().map(Message::encode_to_vec),
            scopes: Vec::with_capacity(rs.scope_spans.len()),
            tokens: resource_tokens,
            scope_tokens: Vec::with_capacity(rs.scope_spans.len()),
        };
        for (si, ss) in rs.scope_spans.iter().enumerate() {
            let mut scope_tokens = Vec::new();
            if let Some(s) = &ss.scope {
                matcher::for_each_scope_pair(s, &mut |k, v| {
                    scope_tokens.push(matcher::token(k, v))
                });
            }
            group
                .scopes
                .push(ss.scope.as_ref().map(Message::encode_to_vec));
            for (i, span) in ss.spans.iter().enumerate() {
                span_count += 1;
                let trace_id = span.trace_id();
                let b = builders.entry(trace_id).or_insert_with(|| {
                    order.push(trace_id);
                    TraceBuilder {
                        groups: Vec::new(),
                        spans: Vec::new(),
                        tokens: Vec::new(),
                    }
                });
                match b.groups.last_mut() {
                    Some((r, s, spans)) if *r == ri && *s == si => spans.push(i),
                    _ => b.groups.push((ri, si, vec![i])),
                }
                let kind = span.kind;
                b.spans.push(SpanSummary {
                    service: service_name.clone(),
                    operation: shared(&mut names, &span.name),
                    kind,
                    start_ns: span.start_time_unix_nano,
                    duration_ns: span.duration_nanos(),
                    error: span.status_code() == StatusCode::Error,
                });
                matcher::span_tokens(span, &mut b.tokens);
                if catalog_seen.insert((service, span.name.as_str(), kind)) {
                    catalog.push((service.to_string(), span.name.clone(), kind));
                }
            }
            group.scope_tokens.push(scope_tokens);
        }
        groups.push(group);
    }

    let mut encoded_len = 0;
    let mut traces = Vec::with_capacity(order.len());
    for trace_id in order {
        let mut b = builders
            .remove(&trace_id)
            .expect("builder for every ordered trace");
        let fragment = match encoded {
            Some(encoded) => trace_fragment(data, &groups, &b.groups, |ri, si, i| {
                &encoded.scope(ri, si).expect("the shape was checked")[i]
            }),
            None => trace_fragment(data, &groups, &b.groups, |ri, si, i| {
                &data.resource_spans[ri].scope_spans[si].spans[i]
            }),
        };
        encoded_len += fragment.len();
        let mut seen_groups: Vec<(usize, usize)> = Vec::new();
        for (ri, si, _) in &b.groups {
            if !seen_groups.contains(&(*ri, *si)) {
                seen_groups.push((*ri, *si));
                b.tokens.extend_from_slice(&groups[*ri].tokens);
                b.tokens.extend_from_slice(&groups[*ri].scope_tokens[*si]);
            }
        }
        b.tokens.sort_unstable();
        b.tokens.dedup();
        traces.push(PreparedTrace {
            trace_id,
            fragment,
            spans: b.spans,
            tokens: b.tokens,
        });
    }
    PreparedBatch {
        traces,
        catalog,
        span_count,
        encoded_len,
    }
}

/// The batch's one shared copy of `name`.
fn shared<'a>(names: &mut FxHashMap<&'a str, Arc<str>>, name: &'a str) -> Arc<str> {
    names.entry(name).or_insert_with(|| Arc::from(name)).clone()
}

/// Encodes `TracesData { resource_spans }` for one trace's span groups:
/// resources and scopes encoded once per batch are reused, and each span is
/// written once, straight into the fragment; `span_at` gives the span at
/// (resource, scope, index), decoded or as it arrived.
fn trace_fragment<'a, S: FragmentSpan>(
    data: &'a TracesData,
    groups: &'a [GroupBytes],
    spans: &[SpanRun],
    span_at: impl Fn(usize, usize, usize) -> S,
) -> Bytes {
    let mut out: Vec<ResourceGroup<'a, S>> = Vec::new();
    let mut last_resource = None;
    for (ri, si, indexes) in spans {
        let (ri, si) = (*ri, *si);
        let rs = &data.resource_spans[ri];
        let scope = SpanScope {
            scope: groups[ri].scopes[si].as_deref(),
            schema_url: rs.scope_spans[si].schema_url.as_bytes(),
            spans: indexes.iter().map(|i| span_at(ri, si, *i)).collect(),
        };
        // All consecutive span groups of the same resource go into one ResourceSpans.
        match out.last_mut() {
            Some(last) if last_resource == Some(ri) => last.scopes.push(scope),
            _ => out.push(ResourceGroup {
                resource: groups[ri].resource.as_deref(),
                schema_url: rs.schema_url.as_bytes(),
                scopes: vec![scope],
            }),
        }
        last_resource = Some(ri);
    }
    encode_fragment(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_proto::model::{
        string_kv, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span,
    };

    fn span(trace: u128, id: u64, name: &str) -> Span {
        Span {
            trace_id: TraceId(trace).to_bytes().to_vec().into(),
            span_id: id.to_be_bytes().to_vec().into(),
            name: name.into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            ..Default::default()
        }
    }

    fn batch() -> TracesData {
        TracesData {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![string_kv("service.name", "a")],
                        dropped_attributes_count: 0,
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            ..Default::default()
                        }),
                        spans: vec![span(1, 1, "x"), span(2, 2, "y"), span(1, 3, "z")],
                        schema_url: "s1".into(),
                    }],
                    schema_url: "r1".into(),
                },
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![string_kv("service.name", "b")],
                        dropped_attributes_count: 0,
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: None,
                        spans: vec![span(1, 4, "w")],
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                },
            ],
        }
    }

    #[test]
    fn fragments_hold_exactly_their_traces_spans_with_resource_and_scope() {
        let prepared = prepare_batch(batch());
        assert_eq!(prepared.span_count(), 4);
        assert_eq!(prepared.traces.len(), 2);
        let t1 = &prepared.traces[0];
        assert_eq!(t1.trace_id, TraceId(1));
        let decoded = TracesData::decode(t1.fragment.clone()).unwrap();
        assert_eq!(decoded.resource_spans.len(), 2);
        assert_eq!(decoded.resource_spans[0].service_name(), "a");
        assert_eq!(decoded.resource_spans[0].schema_url, "r1");
        let ss = &decoded.resource_spans[0].scope_spans[0];
        assert_eq!(ss.scope.as_ref().unwrap().name, "lib");
        assert_eq!(ss.schema_url, "s1");
        let names: Vec<_> = ss.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x", "z"]);
        assert_eq!(decoded.resource_spans[1].scope_spans[0].spans[0].name, "w");
        assert_eq!(t1.spans.len(), 3);
    }

    #[test]
    fn summaries_of_a_batch_share_one_copy_of_each_name() {
        let mut data = batch();
        data.resource_spans[0].scope_spans[0].spans[1].name = "x".into();
        let prepared = prepare_batch(data);
        let t1 = &prepared.traces[0].spans;
        let t2 = &prepared.traces[1].spans;
        assert_eq!(&*t2[0].operation, "x");
        assert!(Arc::ptr_eq(&t1[0].operation, &t2[0].operation));
        assert!(Arc::ptr_eq(&t1[0].service, &t1[1].service));
        assert!(!Arc::ptr_eq(&t1[0].service, &t1[2].service));
    }

    #[test]
    fn catalog_lists_distinct_triples() {
        let prepared = prepare_batch(batch());
        assert_eq!(prepared.catalog.len(), 4);
    }

    #[test]
    fn fragment_decodes_equal_to_the_trace_subset() {
        let data = batch();
        let prepared = prepare_batch(data.clone());
        let t2 = TracesData::decode(prepared.traces[1].fragment.clone()).unwrap();
        let mut want = data.resource_spans[0].clone();
        want.scope_spans[0].spans = vec![span(2, 2, "y")];
        assert_eq!(t2.resource_spans, vec![want]);
    }

    #[test]
    fn a_request_batch_keeps_the_span_bytes_that_arrived() {
        let data = batch();
        // The same request with an unknown field (99, varint 1) at the end
        // of every span: kept in the fragment, as it arrived.
        let mut body = Vec::new();
        let mut want_spans = Vec::new();
        for rs in &data.resource_spans {
            let mut rs_body = Vec::new();
            if let Some(r) = &rs.resource {
                prost::encoding::message::encode(1, r, &mut rs_body);
            }
            for ss in &rs.scope_spans {
                let mut ss_body = Vec::new();
                if let Some(scope) = &ss.scope {
                    prost::encoding::message::encode(1, scope, &mut ss_body);
                }
                for span in &ss.spans {
                    let mut span_bytes = span.encode_to_vec();
                    span_bytes.extend_from_slice(&[0x98, 0x06, 1]);
                    prost::encoding::bytes::encode(2, &span_bytes, &mut ss_body);
                    want_spans.push(span_bytes);
                }
                prost::encoding::string::encode(3, &ss.schema_url, &mut ss_body);
                prost::encoding::bytes::encode(2, &ss_body, &mut rs_body);
            }
            prost::encoding::string::encode(3, &rs.schema_url, &mut rs_body);
            prost::encoding::bytes::encode(1, &rs_body, &mut body);
        }
        let body = Bytes::from(body);
        let decoded = TracesData::decode(body.clone()).unwrap();
        assert_eq!(decoded, data, "the extra field is unknown to the model");
        let spans = RequestSpans::find(&body).unwrap();
        let raw = prepare_request_batch(&decoded, &spans);
        let plain = prepare_batch_of(&decoded);
        assert_eq!(raw.traces.len(), plain.traces.len());
        for (r, p) in raw.traces.iter().zip(&plain.traces) {
            assert_eq!(r.trace_id, p.trace_id);
            assert_eq!(r.spans.len(), p.spans.len());
            assert_eq!(r.tokens, p.tokens);
            // Equal as messages, and the raw one holds the bytes as they came.
            assert_eq!(
                TracesData::decode(r.fragment.clone()).unwrap(),
                TracesData::decode(p.fragment.clone()).unwrap()
            );
            assert_eq!(r.fragment.len(), p.fragment.len() + 3 * r.spans.len());
        }
        assert_eq!(raw.span_count(), 4);
        let first = &raw.traces[0].fragment;
        assert!(first
            .windows(want_spans[0].len())
            .any(|w| w == want_spans[0].as_slice()));
    }

    #[test]
    fn a_request_batch_with_spans_removed_is_encoded_from_the_decoded_spans() {
        let data = batch();
        let body = Bytes::from(data.encode_to_vec());
        let spans = RequestSpans::find(&body).unwrap();
        let mut fewer = data.clone();
        fewer.resource_spans[0].scope_spans[0].spans.remove(0);
        let prepared = prepare_request_batch(&fewer, &spans);
        let plain = prepare_batch_of(&fewer);
        let fragments = |b: &PreparedBatch| -> Vec<Bytes> {
            b.traces.iter().map(|t| t.fragment.clone()).collect()
        };
        assert_eq!(fragments(&prepared), fragments(&plain));
        assert_eq!(prepared.span_count(), 3);
    }
}
