//! Writing: spans of a block → dictionary and per-trace columnar records.
//!
//! In: encoded `Span` messages, trace by trace ([`BlockEncoder::add_trace`]).
//! Out: [`EncodedBlockColumns`]: the block's dictionary (strings seen at
//! least twice in the block, most frequent first, so their references are
//! one byte) and one record per trace, in the order the traces were added.
//! The record layout is described in the parent module and mirrored by
//! `decode.rs`.

use prost::encoding::encode_varint;
use rustc_hash::FxHashMap;

use super::parse::{parse_span, Attr, ParsedSpan, SpanParts, Value};
use super::{shape, span_tag, value_tag, DECIMAL_SCALES, RECORD_VERSION};

/// The output of a [`BlockEncoder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedBlockColumns {
    /// The block dictionary; records refer to its strings by index.
    pub dictionary: Vec<Vec<u8>>,
    /// One record per trace, in the order of [`BlockEncoder::add_trace`].
    pub records: Vec<Vec<u8>>,
}

// Nearly every entry is `Parsed`; boxing it would add an allocation per span.
#[allow(clippy::large_enum_variant)]
enum Entry<'a> {
    Parsed(ParsedSpan<'a>),
    Raw(&'a [u8]),
}

/// Collects the traces of a block, then encodes them together.
#[derive(Default)]
pub struct BlockEncoder<'a> {
    traces: Vec<Vec<Entry<'a>>>,
    /// Every parsed span's attributes and events.
    parts: SpanParts<'a>,
    counts: FxHashMap<&'a [u8], u32>,
}

/// In the finished string index: a string used once, written in place.
const NOT_IN_DICTIONARY: u32 = u32::MAX;

impl<'a> BlockEncoder<'a> {
    /// An empty block.
    pub fn new() -> BlockEncoder<'a> {
        BlockEncoder::default()
    }

    /// Adds one trace: its encoded spans, in the order they are to come back.
    pub fn add_trace<I: IntoIterator<Item = &'a [u8]>>(&mut self, spans: I) {
        let spans = spans.into_iter();
        let mut entries = Vec::with_capacity(spans.size_hint().0);
        for bytes in spans {
            match parse_span(bytes, &mut self.parts) {
                Some(span) => {
                    count_strings(&mut self.counts, &span, &self.parts);
                    entries.push(Entry::Parsed(span));
                }
                None => entries.push(Entry::Raw(bytes)),
            }
        }
        self.traces.push(entries);
    }

    /// Builds the dictionary and encodes every trace.
    pub fn finish(self) -> EncodedBlockColumns {
        let mut counts = self.counts;
        let mut repeated: Vec<(&[u8], u32)> = counts
            .iter()
            .filter(|(_, n)| **n >= 2)
            .map(|(s, n)| (*s, *n))
            .collect();
        repeated.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        // The counts become the index: each string's place in the
        // dictionary, or NOT_IN_DICTIONARY.
        counts.values_mut().for_each(|n| *n = NOT_IN_DICTIONARY);
        for (rank, (s, _)) in repeated.iter().enumerate() {
            counts.insert(s, rank as u32);
        }
        let mut sections = Sections {
            index: counts,
            ..Sections::default()
        };
        let records = self
            .traces
            .iter()
            .map(|trace| sections.encode_trace(&self.parts, trace))
            .collect();
        EncodedBlockColumns {
            dictionary: repeated.into_iter().map(|(s, _)| s.to_vec()).collect(),
            records,
        }
    }
}

fn count_strings<'a>(
    counts: &mut FxHashMap<&'a [u8], u32>,
    span: &ParsedSpan<'a>,
    parts: &SpanParts<'a>,
) {
    let mut add = |s: &'a [u8]| {
        if !s.is_empty() {
            *counts.entry(s).or_insert(0) += 1;
        }
    };
    add(span.name);
    add(span.trace_state);
    let attrs = |attrs: &[Attr<'a>], add: &mut dyn FnMut(&'a [u8])| {
        for a in attrs {
            if let Attr::Typed { key, value } = a {
                add(key);
                if let Value::Str(s) = value {
                    add(s);
                }
            }
        }
    };
    attrs(parts.attrs(span), &mut add);
    for e in parts.events(span) {
        add(e.name);
        attrs(parts.event_attrs(e), &mut add);
    }
    if let Some(status) = &span.status {
        add(status.message);
    }
}

/// Reused section buffers, and the block's string index.
#[derive(Default)]
struct Sections<'a> {
    /// Each string's place in the dictionary (or [`NOT_IN_DICTIONARY`]).
    index: FxHashMap<&'a [u8], u32>,
    structure: Vec<u8>,
    ids: Vec<u8>,
    times: Vec<u8>,
    values: Vec<u8>,
}

/// Where `id` is among the trace's span ids; 8-byte ids (all of them, in
/// practice) compare as integers.
fn position(ids: &[&[u8]], id: &[u8]) -> Option<usize> {
    match <[u8; 8]>::try_from(id) {
        Ok(want) => {
            let want = u64::from_ne_bytes(want);
            ids.iter()
                .position(|i| <[u8; 8]>::try_from(*i).is_ok_and(|i| u64::from_ne_bytes(i) == want))
        }
        Err(_) => ids.iter().position(|i| *i == id),
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    encode_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// The scale and mantissa of a double that is exactly `m / 10^d`.
fn as_decimal(v: f64) -> Option<(u8, i64)> {
    if !v.is_finite() {
        return None;
    }
    for (d, scale) in DECIMAL_SCALES.iter().enumerate() {
        let m = (v * scale).round();
        if m.abs() >= 9_007_199_254_740_992.0 {
            return None;
        }
        let m = m as i64;
        if (m as f64 / scale).to_bits() == v.to_bits() {
            return Some((d as u8, m));
        }
    }
    None
}

fn is_lower_hex(s: &[u8]) -> bool {
    s.len() >= 16 && s.len() % 2 == 0 && s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex_to_bytes(s: &[u8], out: &mut Vec<u8>) {
    let nibble = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
    for pair in s.chunks_exact(2) {
        out.push(nibble(pair[0]) << 4 | nibble(pair[1]));
    }
}

impl<'a> Sections<'a> {
    /// The dictionary place of a string used more than once in the block.
    fn dictionary_place(&self, s: &[u8]) -> Option<u32> {
        self.index
            .get(s)
            .copied()
            .filter(|i| *i != NOT_IN_DICTIONARY)
    }

    fn encode_trace(&mut self, parts: &SpanParts<'_>, trace: &[Entry<'_>]) -> Vec<u8> {
        self.structure.clear();
        self.ids.clear();
        self.times.clear();
        self.values.clear();
        let base = trace
            .iter()
            .filter_map(|e| match e {
                Entry::Parsed(s) if s.start != 0 => Some(s.start),
                _ => None,
            })
            .min()
            .unwrap_or(0);
        let span_ids: Vec<&[u8]> = trace
            .iter()
            .map(|e| match e {
                Entry::Parsed(s) => s.span_id,
                Entry::Raw(_) => &[],
            })
            .collect();
        for id in &span_ids {
            put_bytes(&mut self.ids, id);
        }
        for entry in trace {
            match entry {
                Entry::Raw(bytes) => {
                    self.structure.push(span_tag::RAW);
                    put_bytes(&mut self.values, bytes);
                }
                Entry::Parsed(span) => {
                    self.structure.push(span_tag::STRUCTURED);
                    self.put_span(parts, &span_ids, base, span);
                }
            }
        }
        let mut record = Vec::with_capacity(
            16 + self.structure.len() + self.ids.len() + self.times.len() + self.values.len(),
        );
        record.push(RECORD_VERSION);
        encode_varint(trace.len() as u64, &mut record);
        encode_varint(base, &mut record);
        put_bytes(&mut record, &self.structure);
        put_bytes(&mut record, &self.ids);
        put_bytes(&mut record, &self.times);
        record.extend_from_slice(&self.values);
        record
    }

    fn put_str(&mut self, s: &[u8]) {
        let place = self.dictionary_place(s);
        self.put_str_at(place, s);
    }

    /// Writes a string found at `place` in the dictionary, or in place.
    fn put_str_at(&mut self, place: Option<u32>, s: &[u8]) {
        match place {
            Some(i) => encode_varint(u64::from(i) << 1, &mut self.structure),
            None => {
                encode_varint(((s.len() as u64) << 1) | 1, &mut self.structure);
                self.values.extend_from_slice(s);
            }
        }
    }

    fn put_span(
        &mut self,
        parts: &SpanParts<'_>,
        span_ids: &[&[u8]],
        base: u64,
        span: &ParsedSpan<'_>,
    ) {
        let parent_index = (!span.parent.is_empty())
            .then(|| position(span_ids, span.parent))
            .flatten();
        let bits = [
            (span.trace_id.is_some(), shape::TRACE_ID),
            (!span.trace_state.is_empty(), shape::TRACE_STATE),
            (!span.parent.is_empty(), shape::PARENT),
            (span.flags != 0, shape::FLAGS),
            (span.kind != 0, shape::KIND),
            (span.dropped_attrs != 0, shape::DROPPED_ATTRIBUTES),
            (!span.events.is_empty(), shape::EVENTS),
            (span.dropped_events != 0, shape::DROPPED_EVENTS),
            (!span.links.is_empty(), shape::LINKS),
            (span.dropped_links != 0, shape::DROPPED_LINKS),
            (span.status.is_some(), shape::STATUS),
            (!span.extra.is_empty(), shape::EXTRA),
            (span.start != 0, shape::START),
            (span.end != 0, shape::END),
            (!span.name.is_empty(), shape::NAME),
        ];
        let shape_bits = bits
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |acc, (_, bit)| acc | bit);
        encode_varint(shape_bits, &mut self.structure);
        if let Some(id) = span.trace_id {
            put_bytes(&mut self.values, id);
        }
        if !span.trace_state.is_empty() {
            self.put_str(span.trace_state);
        }
        if !span.parent.is_empty() {
            match parent_index {
                Some(i) => encode_varint(i as u64 + 2, &mut self.structure),
                None => {
                    encode_varint(1, &mut self.structure);
                    put_bytes(&mut self.values, span.parent);
                }
            }
        }
        if span.flags != 0 {
            encode_varint(u64::from(span.flags), &mut self.structure);
        }
        if !span.name.is_empty() {
            self.put_str(span.name);
        }
        if span.kind != 0 {
            encode_varint(span.kind, &mut self.structure);
        }
        if span.start != 0 {
            encode_varint(span.start - base, &mut self.times);
        }
        if span.end != 0 {
            encode_varint(
                zigzag(span.end.wrapping_sub(span.start) as i64),
                &mut self.times,
            );
        }
        self.put_attrs(parts.attrs(span));
        if span.dropped_attrs != 0 {
            encode_varint(span.dropped_attrs, &mut self.structure);
        }
        let events = parts.events(span);
        if !events.is_empty() {
            encode_varint(events.len() as u64, &mut self.structure);
            for e in events {
                encode_varint(
                    zigzag(e.time.wrapping_sub(span.start) as i64),
                    &mut self.times,
                );
                self.put_str(e.name);
                self.put_attrs(parts.event_attrs(e));
                encode_varint(e.dropped_attrs, &mut self.structure);
            }
        }
        if span.dropped_events != 0 {
            encode_varint(span.dropped_events, &mut self.structure);
        }
        if !span.links.is_empty() {
            encode_varint(span.links.len() as u64, &mut self.structure);
            for l in &span.links {
                put_bytes(&mut self.values, l);
            }
        }
        if span.dropped_links != 0 {
            encode_varint(span.dropped_links, &mut self.structure);
        }
        if let Some(status) = &span.status {
            self.put_str(status.message);
            encode_varint(status.code, &mut self.structure);
        }
        if !span.extra.is_empty() {
            encode_varint(span.extra.len() as u64, &mut self.structure);
            for f in &span.extra {
                put_bytes(&mut self.values, f);
            }
        }
    }

    fn put_attrs(&mut self, attrs: &[Attr<'_>]) {
        encode_varint(attrs.len() as u64, &mut self.structure);
        for a in attrs {
            match a {
                Attr::Raw(bytes) => {
                    self.structure.push(value_tag::RAW_KEY_VALUE);
                    put_bytes(&mut self.values, bytes);
                }
                Attr::Typed { key, value } => {
                    self.put_value(value);
                    self.put_str(key);
                }
            }
        }
    }

    /// The value's tag (and string reference) in the structure, its payload
    /// in the values.
    fn put_value(&mut self, value: &Value<'_>) {
        match *value {
            Value::None => self.structure.push(value_tag::NO_VALUE),
            Value::Str(s) => match self.dictionary_place(s) {
                None if is_lower_hex(s) => {
                    self.structure.push(value_tag::HEX);
                    encode_varint(s.len() as u64 / 2, &mut self.values);
                    hex_to_bytes(s, &mut self.values);
                }
                place => {
                    self.structure.push(value_tag::STRING);
                    self.put_str_at(place, s);
                }
            },
            Value::Bool(b) => {
                self.structure
                    .push(if b { value_tag::TRUE } else { value_tag::FALSE })
            }
            Value::Int(i) => {
                self.structure.push(value_tag::INT);
                encode_varint(zigzag(i), &mut self.values);
            }
            Value::Double(d) => match as_decimal(d) {
                Some((scale, m)) => {
                    self.structure.push(value_tag::DECIMAL + scale);
                    encode_varint(zigzag(m), &mut self.values);
                }
                None => {
                    self.structure.push(value_tag::DOUBLE);
                    self.values.extend_from_slice(&d.to_le_bytes());
                }
            },
            Value::Other(bytes) => {
                self.structure.push(value_tag::RAW_ANY_VALUE);
                put_bytes(&mut self.values, bytes);
            }
        }
    }
}
