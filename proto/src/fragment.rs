//! `TracesData` fragments at the wire level: assembled from already encoded
//! resources, scopes and spans, and split back into them, without decoding
//! a span.
//!
//! In: encoded `Resource`, `InstrumentationScope` and `Span` messages (and
//! schema URLs), or decoded spans. Out: an encoded `TracesData`
//! ([`FragmentWriter`] from encoded parts, [`encode_fragment`] from decoded
//! spans, sized exactly), or the
//! groups of an encoded `TracesData` ([`split_fragment`]): each
//! (resource, scope) pair with the encoded spans under it, as slices of the
//! input (no copy).
//!
//! The storage engine uses this to keep span bytes as they arrived and to
//! store resources and scopes once per block; the field numbers stay here.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::encoding::{
    decode_key, decode_varint, encode_key, encode_varint, encoded_len_varint, key_len, WireType,
};
use prost::Message;

use crate::model::Span;

/// Why a fragment cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The bytes are not a well-formed `TracesData`.
    #[error("malformed trace fragment: {0}")]
    Malformed(String),
}

fn malformed(what: impl std::fmt::Display) -> FragmentError {
    FragmentError::Malformed(what.to_string())
}

/// `TracesData.resource_spans`.
const TRACES_RESOURCE_SPANS: u32 = 1;
/// `ResourceSpans.resource`.
const RESOURCE_SPANS_RESOURCE: u32 = 1;
/// `ResourceSpans.scope_spans`.
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
/// `ResourceSpans.schema_url`.
const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
/// `ScopeSpans.scope`.
const SCOPE_SPANS_SCOPE: u32 = 1;
/// `ScopeSpans.spans`.
const SCOPE_SPANS_SPANS: u32 = 2;
/// `ScopeSpans.schema_url`.
const SCOPE_SPANS_SCHEMA_URL: u32 = 3;
/// `Span.trace_id`.
const SPAN_TRACE_ID: u32 = 1;

/// The spans of one instrumentation scope, encoded.
#[derive(Debug, Clone, Copy)]
pub struct ScopeGroup<'a, S: AsRef<[u8]>> {
    /// The encoded `InstrumentationScope`, if present.
    pub scope: Option<&'a [u8]>,
    /// `ScopeSpans.schema_url`.
    pub schema_url: &'a [u8],
    /// Encoded `Span` messages.
    pub spans: &'a [S],
}

/// Builds an encoded `TracesData` one `ResourceSpans` at a time.
#[derive(Debug, Default)]
pub struct FragmentWriter {
    out: BytesMut,
    body: BytesMut,
}

fn len_delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_len_delimited(buf: &mut BytesMut, tag: u32, payload: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(payload.len() as u64, buf);
    buf.put_slice(payload);
}

fn put_nonempty(buf: &mut BytesMut, tag: u32, payload: &[u8]) {
    if !payload.is_empty() {
        put_len_delimited(buf, tag, payload);
    }
}

impl FragmentWriter {
    /// An empty fragment.
    pub fn new() -> FragmentWriter {
        FragmentWriter::default()
    }

    /// Appends one `ResourceSpans` holding `scopes`.
    pub fn push_resource<S: AsRef<[u8]>>(
        &mut self,
        resource: Option<&[u8]>,
        schema_url: &[u8],
        scopes: &[ScopeGroup<'_, S>],
    ) {
        self.push_resource_with(resource, schema_url, scopes, None);
    }

    /// Like [`FragmentWriter::push_resource`], but every span gets
    /// `trace_id` put back in front of it (see [`strip_trace_id`]).
    pub fn push_resource_with<S: AsRef<[u8]>>(
        &mut self,
        resource: Option<&[u8]>,
        schema_url: &[u8],
        scopes: &[ScopeGroup<'_, S>],
        trace_id: Option<&[u8; 16]>,
    ) {
        let id_prefix = trace_id.map(|id| {
            let mut p = [0u8; 18];
            p[0] = (SPAN_TRACE_ID << 3) as u8 | WireType::LengthDelimited as u8;
            p[1] = 16;
            p[2..].copy_from_slice(id);
            p
        });
        let extra = id_prefix.map_or(0, |p| p.len());
        let body = &mut self.body;
        body.clear();
        if let Some(r) = resource {
            put_len_delimited(body, RESOURCE_SPANS_RESOURCE, r);
        }
        for group in scopes {
            let inner_len = group
                .scope
                .map_or(0, |s| len_delimited_len(SCOPE_SPANS_SCOPE, s.len()))
                + group
                    .spans
                    .iter()
                    .map(|s| len_delimited_len(SCOPE_SPANS_SPANS, s.as_ref().len() + extra))
                    .sum::<usize>()
                + if group.schema_url.is_empty() {
                    0
                } else {
                    len_delimited_len(SCOPE_SPANS_SCHEMA_URL, group.schema_url.len())
                };
            encode_key(RESOURCE_SPANS_SCOPE_SPANS, WireType::LengthDelimited, body);
            encode_varint(inner_len as u64, body);
            if let Some(s) = group.scope {
                put_len_delimited(body, SCOPE_SPANS_SCOPE, s);
            }
            for s in group.spans {
                let s = s.as_ref();
                encode_key(SCOPE_SPANS_SPANS, WireType::LengthDelimited, body);
                encode_varint((s.len() + extra) as u64, body);
                if let Some(p) = &id_prefix {
                    body.put_slice(p);
                }
                body.put_slice(s);
            }
            put_nonempty(body, SCOPE_SPANS_SCHEMA_URL, group.schema_url);
        }
        put_nonempty(body, RESOURCE_SPANS_SCHEMA_URL, schema_url);
        put_len_delimited(&mut self.out, TRACES_RESOURCE_SPANS, body);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The encoded `TracesData`.
    pub fn finish(self) -> Bytes {
        self.out.freeze()
    }
}

/// A span [`encode_fragment`] can write: a decoded span (encoded in
/// place) or the bytes of one already encoded (copied as they are).
pub trait FragmentSpan {
    /// Length of the encoded span.
    fn encoded_len(&self) -> usize;
    /// Appends the encoded span (`encoded_len` bytes).
    fn write_to(&self, out: &mut BytesMut);
}

impl FragmentSpan for &Span {
    fn encoded_len(&self) -> usize {
        Message::encoded_len(*self)
    }

    fn write_to(&self, out: &mut BytesMut) {
        self.encode_raw(out);
    }
}

impl FragmentSpan for &Bytes {
    fn encoded_len(&self) -> usize {
        self.len()
    }

    fn write_to(&self, out: &mut BytesMut) {
        out.put_slice(self);
    }
}

/// The spans of one instrumentation scope (see [`encode_fragment`]).
#[derive(Debug, Clone)]
pub struct SpanScope<'a, S> {
    /// The encoded `InstrumentationScope`, if present.
    pub scope: Option<&'a [u8]>,
    /// `ScopeSpans.schema_url`.
    pub schema_url: &'a [u8],
    /// The spans, written straight into the fragment.
    pub spans: Vec<S>,
}

/// One `ResourceSpans` of a fragment built by [`encode_fragment`].
#[derive(Debug, Clone)]
pub struct ResourceGroup<'a, S> {
    /// The encoded `Resource`, if present.
    pub resource: Option<&'a [u8]>,
    /// `ResourceSpans.schema_url`.
    pub schema_url: &'a [u8],
    /// Its scopes, in order.
    pub scopes: Vec<SpanScope<'a, S>>,
}

fn nonempty_len(tag: u32, payload: &[u8]) -> usize {
    if payload.is_empty() {
        0
    } else {
        len_delimited_len(tag, payload.len())
    }
}

/// Encodes `TracesData { resource_spans }` of the groups into one buffer of
/// exactly its size: every span is written once, in place, with no
/// intermediate copy, and the buffer has no spare capacity (fragments are
/// held in memory until they are flushed).
pub fn encode_fragment<S: FragmentSpan>(groups: &[ResourceGroup<'_, S>]) -> Bytes {
    // Pass 1: every length, in the order pass 2 writes them.
    let mut span_lens: Vec<usize> = Vec::new();
    let mut scope_lens: Vec<usize> = Vec::new();
    let mut resource_lens: Vec<usize> = Vec::with_capacity(groups.len());
    let mut total = 0;
    for group in groups {
        let mut body = group
            .resource
            .map_or(0, |r| len_delimited_len(RESOURCE_SPANS_RESOURCE, r.len()))
            + nonempty_len(RESOURCE_SPANS_SCHEMA_URL, group.schema_url);
        for scope in &group.scopes {
            let mut inner = scope
                .scope
                .map_or(0, |s| len_delimited_len(SCOPE_SPANS_SCOPE, s.len()))
                + nonempty_len(SCOPE_SPANS_SCHEMA_URL, scope.schema_url);
            for span in &scope.spans {
                let len = span.encoded_len();
                span_lens.push(len);
                inner += len_delimited_len(SCOPE_SPANS_SPANS, len);
            }
            scope_lens.push(inner);
            body += len_delimited_len(RESOURCE_SPANS_SCOPE_SPANS, inner);
        }
        resource_lens.push(body);
        total += len_delimited_len(TRACES_RESOURCE_SPANS, body);
    }
    // Pass 2: write.
    let mut out = BytesMut::with_capacity(total);
    let (mut span_i, mut scope_i) = (0, 0);
    for (group, body) in groups.iter().zip(&resource_lens) {
        encode_key(TRACES_RESOURCE_SPANS, WireType::LengthDelimited, &mut out);
        encode_varint(*body as u64, &mut out);
        if let Some(r) = group.resource {
            put_len_delimited(&mut out, RESOURCE_SPANS_RESOURCE, r);
        }
        for scope in &group.scopes {
            encode_key(
                RESOURCE_SPANS_SCOPE_SPANS,
                WireType::LengthDelimited,
                &mut out,
            );
            encode_varint(scope_lens[scope_i] as u64, &mut out);
            scope_i += 1;
            if let Some(s) = scope.scope {
                put_len_delimited(&mut out, SCOPE_SPANS_SCOPE, s);
            }
            for span in &scope.spans {
                encode_key(SCOPE_SPANS_SPANS, WireType::LengthDelimited, &mut out);
                encode_varint(span_lens[span_i] as u64, &mut out);
                span_i += 1;
                span.write_to(&mut out);
            }
            put_nonempty(&mut out, SCOPE_SPANS_SCHEMA_URL, scope.schema_url);
        }
        put_nonempty(&mut out, RESOURCE_SPANS_SCHEMA_URL, group.schema_url);
    }
    debug_assert_eq!(out.len(), total, "fragment length computed exactly");
    out.freeze()
}

/// One (resource, scope) group of a split fragment; every field is a slice
/// of the fragment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitGroup {
    /// The encoded `Resource`, if present.
    pub resource: Option<Bytes>,
    /// `ResourceSpans.schema_url`.
    pub resource_schema: Bytes,
    /// The encoded `InstrumentationScope`, if present.
    pub scope: Option<Bytes>,
    /// `ScopeSpans.schema_url`.
    pub scope_schema: Bytes,
    /// The encoded spans.
    pub spans: Vec<Bytes>,
}

/// A length-delimited field or the end of the message.
pub(crate) fn next_field(buf: &mut Bytes) -> Result<Option<(u32, Option<Bytes>)>, FragmentError> {
    if !buf.has_remaining() {
        return Ok(None);
    }
    let (tag, wire) = decode_key(buf).map_err(malformed)?;
    let value = match wire {
        WireType::LengthDelimited => {
            let len = decode_varint(buf).map_err(malformed)? as usize;
            if len > buf.remaining() {
                return Err(malformed("field length past the end"));
            }
            Some(buf.split_to(len))
        }
        WireType::Varint => {
            decode_varint(buf).map_err(malformed)?;
            None
        }
        WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
            let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
            if n > buf.remaining() {
                return Err(malformed("fixed field past the end"));
            }
            buf.advance(n);
            None
        }
        _ => return Err(malformed("group wire type")),
    };
    Ok(Some((tag, value)))
}

/// The (resource, scope) groups of an encoded `TracesData` (or of several
/// concatenated), in order; fields other than those of the groups are
/// skipped.
pub fn split_fragment(fragment: &Bytes) -> Result<Vec<SplitGroup>, FragmentError> {
    let mut out = Vec::new();
    let mut buf = fragment.clone();
    while let Some((tag, value)) = next_field(&mut buf)? {
        let (TRACES_RESOURCE_SPANS, Some(mut rs)) = (tag, value) else {
            continue;
        };
        let mut resource = None;
        let mut resource_schema = Bytes::new();
        let mut scopes: Vec<SplitGroup> = Vec::new();
        while let Some((tag, value)) = next_field(&mut rs)? {
            let Some(value) = value else { continue };
            match tag {
                RESOURCE_SPANS_RESOURCE => resource = Some(value),
                RESOURCE_SPANS_SCHEMA_URL => resource_schema = value,
                RESOURCE_SPANS_SCOPE_SPANS => {
                    let mut ss = value;
                    let mut group = SplitGroup::default();
                    while let Some((tag, value)) = next_field(&mut ss)? {
                        let Some(value) = value else { continue };
                        match tag {
                            SCOPE_SPANS_SCOPE => group.scope = Some(value),
                            SCOPE_SPANS_SPANS => group.spans.push(value),
                            SCOPE_SPANS_SCHEMA_URL => group.scope_schema = value,
                            _ => {}
                        }
                    }
                    scopes.push(group);
                }
                _ => {}
            }
        }
        for mut g in scopes {
            g.resource = resource.clone();
            g.resource_schema = resource_schema.clone();
            out.push(g);
        }
    }
    Ok(out)
}

/// The span without its leading `trace_id` field when that field holds
/// exactly `trace_id` (prost writes it first); `None` otherwise.
/// [`FragmentWriter::push_resource_with`] puts it back.
pub fn strip_trace_id(span: &Bytes, trace_id: &[u8; 16]) -> Option<Bytes> {
    let tag = (SPAN_TRACE_ID << 3) as u8 | WireType::LengthDelimited as u8;
    (span.len() >= 18 && span[0] == tag && span[1] == 16 && &span[2..18] == trace_id)
        .then(|| span.slice(18..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        string_kv, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, TracesData,
    };
    use crate::request_spans::RequestSpans;
    use prost::Message;

    #[test]
    fn encode_fragment_writes_what_prost_writes() {
        let data = sample();
        let resources: Vec<Vec<Vec<u8>>> = data
            .resource_spans
            .iter()
            .map(|rs| {
                rs.scope_spans
                    .iter()
                    .map(|ss| {
                        ss.scope
                            .as_ref()
                            .map(Message::encode_to_vec)
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let encoded_resources: Vec<Option<Vec<u8>>> = data
            .resource_spans
            .iter()
            .map(|rs| rs.resource.as_ref().map(Message::encode_to_vec))
            .collect();
        let want = data.encode_to_vec();
        // Decoded spans, encoded in place.
        let groups: Vec<ResourceGroup<'_, &Span>> = data
            .resource_spans
            .iter()
            .enumerate()
            .map(|(ri, rs)| ResourceGroup {
                resource: encoded_resources[ri].as_deref(),
                schema_url: rs.schema_url.as_bytes(),
                scopes: rs
                    .scope_spans
                    .iter()
                    .enumerate()
                    .map(|(si, ss)| SpanScope {
                        scope: ss.scope.as_ref().map(|_| resources[ri][si].as_slice()),
                        schema_url: ss.schema_url.as_bytes(),
                        spans: ss.spans.iter().collect(),
                    })
                    .collect(),
            })
            .collect();
        assert_eq!(encode_fragment(&groups).as_ref(), want.as_slice());
        // The same spans as the bytes prost wrote, copied.
        let found = RequestSpans::find(&Bytes::from(want.clone())).unwrap();
        let raw_groups: Vec<ResourceGroup<'_, &Bytes>> = groups
            .iter()
            .enumerate()
            .map(|(ri, g)| ResourceGroup {
                resource: g.resource,
                schema_url: g.schema_url,
                scopes: g
                    .scopes
                    .iter()
                    .enumerate()
                    .map(|(si, scope)| SpanScope {
                        scope: scope.scope,
                        schema_url: scope.schema_url,
                        spans: found.scope(ri, si).unwrap().iter().collect(),
                    })
                    .collect(),
            })
            .collect();
        assert_eq!(encode_fragment(&raw_groups).as_ref(), want.as_slice());
        assert!(encode_fragment::<&Span>(&[]).is_empty());
    }

    fn sample() -> TracesData {
        let span = |id: u8, name: &str| Span {
            trace_id: vec![7; 16].into(),
            span_id: vec![id; 8].into(),
            name: name.into(),
            start_time_unix_nano: 5,
            end_time_unix_nano: 9,
            ..Default::default()
        };
        TracesData {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![string_kv("service.name", "a")],
                        dropped_attributes_count: 0,
                    }),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "lib".into(),
                                ..Default::default()
                            }),
                            spans: vec![span(1, "x"), span(2, "y")],
                            schema_url: "s".into(),
                        },
                        ScopeSpans {
                            scope: None,
                            spans: vec![span(3, "z")],
                            schema_url: String::new(),
                        },
                    ],
                    schema_url: "r".into(),
                },
                ResourceSpans {
                    resource: Some(Resource::default()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope::default()),
                        spans: vec![span(4, "w")],
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                },
            ],
        }
    }

    fn rebuild(groups: &[SplitGroup], id: Option<&[u8; 16]>) -> TracesData {
        let mut w = FragmentWriter::new();
        for g in groups {
            w.push_resource_with(
                g.resource.as_deref(),
                &g.resource_schema,
                &[ScopeGroup {
                    scope: g.scope.as_deref(),
                    schema_url: &g.scope_schema,
                    spans: &g.spans,
                }],
                id,
            );
        }
        TracesData::decode(w.finish()).unwrap()
    }

    fn flatten(data: TracesData) -> Vec<ResourceSpans> {
        data.resource_spans
            .into_iter()
            .flat_map(|rs| {
                rs.scope_spans
                    .clone()
                    .into_iter()
                    .map(move |ss| ResourceSpans {
                        scope_spans: vec![ss],
                        ..rs.clone()
                    })
            })
            .collect()
    }

    #[test]
    fn a_split_fragment_rebuilds_to_the_same_spans_resources_and_scopes() {
        let data = sample();
        let bytes = Bytes::from(data.encode_to_vec());
        let groups = split_fragment(&bytes).unwrap();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].spans.len(), 2);
        assert_eq!(groups[1].scope, None);
        assert_eq!(groups[2].resource.as_deref(), Some(&b""[..]));
        assert_eq!(flatten(rebuild(&groups, None)), flatten(data));
    }

    #[test]
    fn concatenated_fragments_split_into_all_their_groups() {
        let one = Bytes::from(sample().encode_to_vec());
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        assert_eq!(split_fragment(&Bytes::from(two)).unwrap().len(), 6);
    }

    #[test]
    fn stripped_trace_ids_are_put_back() {
        let data = sample();
        let bytes = Bytes::from(data.encode_to_vec());
        let mut groups = split_fragment(&bytes).unwrap();
        for g in &mut groups {
            for s in &mut g.spans {
                *s = strip_trace_id(s, &[7; 16]).expect("leading trace id");
            }
        }
        assert!(strip_trace_id(&groups[0].spans[0], &[7; 16]).is_none());
        assert_eq!(flatten(rebuild(&groups, Some(&[7; 16]))), flatten(data));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = Bytes::from(sample().encode_to_vec());
        assert!(split_fragment(&bytes.slice(..bytes.len() - 3)).is_err());
    }
}
