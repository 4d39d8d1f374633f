//! Takes an encoded `Span` apart at the wire level, without copying.
//!
//! In: the bytes of one `Span` message. Out: a [`ParsedSpan`] borrowing
//! from them, or `None` when the span is not regular enough to be split
//! (it is then stored whole). Unknown top-level fields are kept as raw
//! fields ([`ParsedSpan::extra`]). Attributes and events go to lists shared
//! by the whole block ([`SpanParts`]; a span holds ranges into them), so
//! parsing a span allocates nothing of its own.

use std::ops::Range;

use prost::encoding::{decode_key, decode_varint, WireType};

use super::fields::*;

/// One attribute of a span or an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Attr<'a> {
    /// A regular `KeyValue`.
    Typed { key: &'a [u8], value: Value<'a> },
    /// A `KeyValue` with fields this encoding does not take apart.
    Raw(&'a [u8]),
}

/// The value of a regular attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    None,
    Str(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Another `AnyValue` (array, list, bytes, or empty), its encoded body.
    Other(&'a [u8]),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ParsedEvent<'a> {
    pub time: u64,
    pub name: &'a [u8],
    /// Where the event's attributes are in [`SpanParts::event_attrs`].
    pub attrs: Range<usize>,
    pub dropped_attrs: u64,
}

/// The attributes and events of every span parsed into a block, span after
/// span.
#[derive(Debug, Default)]
pub(super) struct SpanParts<'a> {
    pub attrs: Vec<Attr<'a>>,
    pub events: Vec<ParsedEvent<'a>>,
    pub event_attrs: Vec<Attr<'a>>,
}

impl<'a> SpanParts<'a> {
    /// The span's own attributes.
    pub fn attrs(&self, span: &ParsedSpan<'a>) -> &[Attr<'a>] {
        &self.attrs[span.attrs.clone()]
    }

    /// The span's events.
    pub fn events(&self, span: &ParsedSpan<'a>) -> &[ParsedEvent<'a>] {
        &self.events[span.events.clone()]
    }

    /// The event's attributes.
    pub fn event_attrs(&self, event: &ParsedEvent<'a>) -> &[Attr<'a>] {
        &self.event_attrs[event.attrs.clone()]
    }

    fn lengths(&self) -> [usize; 3] {
        [self.attrs.len(), self.events.len(), self.event_attrs.len()]
    }

    fn truncate(&mut self, [attrs, events, event_attrs]: [usize; 3]) {
        self.attrs.truncate(attrs);
        self.events.truncate(events);
        self.event_attrs.truncate(event_attrs);
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ParsedStatus<'a> {
    pub message: &'a [u8],
    pub code: u64,
}

/// A span taken apart; empty / zero fields were absent (proto3 defaults).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ParsedSpan<'a> {
    pub trace_id: Option<&'a [u8]>,
    pub span_id: &'a [u8],
    pub trace_state: &'a [u8],
    pub parent: &'a [u8],
    pub flags: u32,
    pub name: &'a [u8],
    pub kind: u64,
    pub start: u64,
    pub end: u64,
    /// Where the span's attributes are in [`SpanParts::attrs`].
    pub attrs: Range<usize>,
    pub dropped_attrs: u64,
    /// Where the span's events are in [`SpanParts::events`].
    pub events: Range<usize>,
    pub dropped_events: u64,
    pub links: Vec<&'a [u8]>,
    pub dropped_links: u64,
    pub status: Option<ParsedStatus<'a>>,
    /// Unknown top-level fields, each whole (key and payload).
    pub extra: Vec<&'a [u8]>,
}

/// One field: number and payload.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Reads the next field; `Err(())` on malformed input.
fn next<'a>(buf: &mut &'a [u8]) -> Result<Option<(u32, Field<'a>)>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    let (tag, wire) = decode_key(buf).map_err(|_| ())?;
    let field = match wire {
        WireType::Varint => Field::Varint(decode_varint(buf).map_err(|_| ())?),
        WireType::SixtyFourBit => {
            let (head, rest) = buf.split_first_chunk::<8>().ok_or(())?;
            *buf = rest;
            Field::Fixed64(u64::from_le_bytes(*head))
        }
        WireType::ThirtyTwoBit => {
            let (head, rest) = buf.split_first_chunk::<4>().ok_or(())?;
            *buf = rest;
            Field::Fixed32(u32::from_le_bytes(*head))
        }
        WireType::LengthDelimited => {
            let len = decode_varint(buf).map_err(|_| ())? as usize;
            if len > buf.len() {
                return Err(());
            }
            let (head, rest) = buf.split_at(len);
            *buf = rest;
            Field::Bytes(head)
        }
        _ => return Err(()),
    };
    Ok(Some((tag, field)))
}

/// Takes a span apart, its attributes and events appended to `parts`;
/// `None` if it must be stored whole (`parts` is then as it was).
pub(super) fn parse_span<'a>(bytes: &'a [u8], parts: &mut SpanParts<'a>) -> Option<ParsedSpan<'a>> {
    let before = parts.lengths();
    let span = parse_span_into(bytes, parts);
    if span.is_none() {
        parts.truncate(before);
    }
    span
}

fn parse_span_into<'a>(bytes: &'a [u8], parts: &mut SpanParts<'a>) -> Option<ParsedSpan<'a>> {
    let [first_attr, first_event, _] = parts.lengths();
    let mut span = ParsedSpan::default();
    let mut buf = bytes;
    let mut seen_status = false;
    loop {
        let before = buf;
        let Some((tag, field)) = next(&mut buf).ok()? else {
            break;
        };
        match (tag, field) {
            (SPAN_TRACE_ID, Field::Bytes(b)) => span.trace_id = Some(b),
            (SPAN_SPAN_ID, Field::Bytes(b)) => span.span_id = b,
            (SPAN_TRACE_STATE, Field::Bytes(b)) => span.trace_state = b,
            (SPAN_PARENT_SPAN_ID, Field::Bytes(b)) => span.parent = b,
            (SPAN_FLAGS, Field::Fixed32(v)) => span.flags = v,
            (SPAN_NAME, Field::Bytes(b)) => span.name = b,
            (SPAN_KIND, Field::Varint(v)) => span.kind = v,
            (SPAN_START, Field::Fixed64(v)) => span.start = v,
            (SPAN_END, Field::Fixed64(v)) => span.end = v,
            (SPAN_ATTRIBUTES, Field::Bytes(b)) => parts.attrs.push(parse_attr(b)),
            (SPAN_DROPPED_ATTRIBUTES, Field::Varint(v)) => span.dropped_attrs = v,
            (SPAN_EVENTS, Field::Bytes(b)) => {
                let event = parse_event(b, &mut parts.event_attrs)?;
                parts.events.push(event);
            }
            (SPAN_DROPPED_EVENTS, Field::Varint(v)) => span.dropped_events = v,
            (SPAN_LINKS, Field::Bytes(b)) => span.links.push(b),
            (SPAN_DROPPED_LINKS, Field::Varint(v)) => span.dropped_links = v,
            (SPAN_STATUS, Field::Bytes(b)) => {
                // A second status would merge into the first: keep such a span whole.
                if seen_status {
                    return None;
                }
                seen_status = true;
                span.status = Some(parse_status(b)?);
            }
            (
                SPAN_TRACE_ID
                | SPAN_SPAN_ID
                | SPAN_TRACE_STATE
                | SPAN_PARENT_SPAN_ID
                | SPAN_FLAGS
                | SPAN_NAME
                | SPAN_KIND
                | SPAN_START
                | SPAN_END
                | SPAN_ATTRIBUTES
                | SPAN_DROPPED_ATTRIBUTES
                | SPAN_EVENTS
                | SPAN_DROPPED_EVENTS
                | SPAN_LINKS
                | SPAN_DROPPED_LINKS
                | SPAN_STATUS,
                _,
            ) => return None,
            _ => span.extra.push(&before[..before.len() - buf.len()]),
        }
    }
    // Values above u32 in uint32 fields do not survive a re-encode as-is.
    if span.dropped_attrs > u64::from(u32::MAX)
        || span.dropped_events > u64::from(u32::MAX)
        || span.dropped_links > u64::from(u32::MAX)
    {
        return None;
    }
    span.attrs = first_attr..parts.attrs.len();
    span.events = first_event..parts.events.len();
    Some(span)
}

fn parse_attr(bytes: &[u8]) -> Attr<'_> {
    parse_typed_attr(bytes).unwrap_or(Attr::Raw(bytes))
}

fn parse_typed_attr(bytes: &[u8]) -> Option<Attr<'_>> {
    let mut key: &[u8] = &[];
    let mut value = None;
    let mut buf = bytes;
    while let Some((tag, field)) = next(&mut buf).ok()? {
        match (tag, field) {
            (KEY_VALUE_KEY, Field::Bytes(b)) => key = b,
            (KEY_VALUE_VALUE, Field::Bytes(b)) if value.is_none() => value = Some(parse_value(b)),
            _ => return None,
        }
    }
    Some(Attr::Typed {
        key,
        value: value.unwrap_or(Value::None),
    })
}

fn parse_value(bytes: &[u8]) -> Value<'_> {
    let mut buf = bytes;
    let single = match next(&mut buf) {
        Ok(Some(field)) if buf.is_empty() => field,
        _ => return Value::Other(bytes),
    };
    match single {
        (ANY_VALUE_STRING, Field::Bytes(b)) => Value::Str(b),
        (ANY_VALUE_BOOL, Field::Varint(v @ (0 | 1))) => Value::Bool(v == 1),
        (ANY_VALUE_INT, Field::Varint(v)) => Value::Int(v as i64),
        (ANY_VALUE_DOUBLE, Field::Fixed64(v)) => Value::Double(f64::from_bits(v)),
        _ => Value::Other(bytes),
    }
}

/// An event, its attributes appended to `attrs`.
fn parse_event<'a>(bytes: &'a [u8], attrs: &mut Vec<Attr<'a>>) -> Option<ParsedEvent<'a>> {
    let first = attrs.len();
    let mut event = ParsedEvent::default();
    let mut buf = bytes;
    while let Some((tag, field)) = next(&mut buf).ok()? {
        match (tag, field) {
            (EVENT_TIME, Field::Fixed64(v)) => event.time = v,
            (EVENT_NAME, Field::Bytes(b)) => event.name = b,
            (EVENT_ATTRIBUTES, Field::Bytes(b)) => attrs.push(parse_attr(b)),
            (EVENT_DROPPED_ATTRIBUTES, Field::Varint(v)) if v <= u64::from(u32::MAX) => {
                event.dropped_attrs = v
            }
            _ => return None,
        }
    }
    event.attrs = first..attrs.len();
    Some(event)
}

fn parse_status(bytes: &[u8]) -> Option<ParsedStatus<'_>> {
    let mut status = ParsedStatus::default();
    let mut buf = bytes;
    while let Some((tag, field)) = next(&mut buf).ok()? {
        match (tag, field) {
            (STATUS_MESSAGE, Field::Bytes(b)) => status.message = b,
            (STATUS_CODE, Field::Varint(v)) => status.code = v,
            _ => return None,
        }
    }
    Some(status)
}
