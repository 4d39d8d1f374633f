//! Reading: a columnar record and its block dictionary → encoded spans.
//!
//! In: one record written by `encode.rs` and the dictionary of its block.
//! Out: the encoded `Span` messages of the trace, in the order they were
//! added, fields in prost's order (by field number). Every read is bounds-checked; a damaged
//! record is an error, never a panic.

use prost::encoding::{encode_key, encode_varint, WireType};

use super::fields::*;
use super::{shape, span_tag, value_tag, ColumnsError, DECIMAL_SCALES, RECORD_VERSION};

fn bad(what: &'static str) -> ColumnsError {
    ColumnsError::Malformed(what)
}

/// A bounds-checked reader over one section.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Result<u64, ColumnsError> {
        prost::encoding::decode_varint(&mut self.buf).map_err(|_| bad("bad varint"))
    }

    fn byte(&mut self) -> Result<u8, ColumnsError> {
        let (b, rest) = self.buf.split_first().ok_or(bad("section ends early"))?;
        self.buf = rest;
        Ok(*b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], ColumnsError> {
        let n = usize::try_from(n).map_err(|_| bad("length too large"))?;
        if n > self.buf.len() {
            return Err(bad("section ends early"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn len_bytes(&mut self) -> Result<&'a [u8], ColumnsError> {
        let n = self.varint()?;
        self.take(n)
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_len_field(out: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn put_varint_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

fn put_fixed64_field(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

/// The state of one record being read.
struct Reader<'a, 'd, D: AsRef<[u8]>> {
    dictionary: &'d [D],
    structure: Cursor<'a>,
    ids: Cursor<'a>,
    times: Cursor<'a>,
    values: Cursor<'a>,
}

/// The encoded spans of one trace record.
pub fn decode_spans<D: AsRef<[u8]>>(
    dictionary: &[D],
    record: &[u8],
) -> Result<Vec<Vec<u8>>, ColumnsError> {
    let mut head = Cursor { buf: record };
    if head.byte()? != RECORD_VERSION {
        return Err(bad("unknown record version"));
    }
    let count = head.varint()?;
    let base = head.varint()?;
    let structure = Cursor {
        buf: head.len_bytes()?,
    };
    let ids = Cursor {
        buf: head.len_bytes()?,
    };
    let times = Cursor {
        buf: head.len_bytes()?,
    };
    let mut r = Reader {
        dictionary,
        structure,
        ids,
        times,
        values: head,
    };
    // Every span takes at least one structure byte.
    if count > r.structure.buf.len() as u64 {
        return Err(bad("more spans than the structure holds"));
    }
    let ids = (0..count)
        .map(|_| r.ids.len_bytes())
        .collect::<Result<Vec<&[u8]>, _>>()?;
    let spans = ids
        .iter()
        .map(|id| r.span(base, id, &ids))
        .collect::<Result<Vec<_>, _>>()?;
    if !r.structure.buf.is_empty()
        || !r.ids.buf.is_empty()
        || !r.times.buf.is_empty()
        || !r.values.buf.is_empty()
    {
        return Err(bad("bytes left over"));
    }
    Ok(spans)
}

impl<'a, D: AsRef<[u8]>> Reader<'a, '_, D> {
    fn string(&mut self) -> Result<&[u8], ColumnsError> {
        let r = self.structure.varint()?;
        if r & 1 == 1 {
            self.values.take(r >> 1)
        } else {
            let i = usize::try_from(r >> 1).map_err(|_| bad("dictionary index too large"))?;
            self.dictionary
                .get(i)
                .map(AsRef::as_ref)
                .ok_or(bad("dictionary index out of range"))
        }
    }

    fn string_field(&mut self, out: &mut Vec<u8>, tag: u32) -> Result<(), ColumnsError> {
        let s = self.string()?;
        if !s.is_empty() {
            put_len_field(out, tag, s);
        }
        Ok(())
    }

    /// One span; `ids` are the span ids of the whole trace.
    fn span(&mut self, base: u64, id: &[u8], ids: &[&[u8]]) -> Result<Vec<u8>, ColumnsError> {
        match self.structure.byte()? {
            span_tag::RAW => Ok(self.values.len_bytes()?.to_vec()),
            span_tag::STRUCTURED => self.structured(base, id, ids),
            _ => Err(bad("unknown span tag")),
        }
    }

    fn structured(&mut self, base: u64, id: &[u8], ids: &[&[u8]]) -> Result<Vec<u8>, ColumnsError> {
        let bits = self.structure.varint()?;
        let has = |bit: u64| bits & bit != 0;
        // Room for a typical span with a dozen attributes, so the buffer
        // is rarely grown.
        let mut out = Vec::with_capacity(1024);
        if has(shape::TRACE_ID) {
            put_len_field(&mut out, SPAN_TRACE_ID, self.values.len_bytes()?);
        }
        if !id.is_empty() {
            put_len_field(&mut out, SPAN_SPAN_ID, id);
        }
        if has(shape::TRACE_STATE) {
            self.string_field(&mut out, SPAN_TRACE_STATE)?;
        }
        if has(shape::PARENT) {
            let parent = match self.structure.varint()? {
                0 => return Err(bad("bad parent reference")),
                1 => self.values.len_bytes()?,
                i => *usize::try_from(i - 2)
                    .ok()
                    .and_then(|i| ids.get(i))
                    .ok_or(bad("parent index out of range"))?,
            };
            put_len_field(&mut out, SPAN_PARENT_SPAN_ID, parent);
        }
        let flags = if has(shape::FLAGS) {
            u32::try_from(self.structure.varint()?).map_err(|_| bad("flags too large"))?
        } else {
            0
        };
        if has(shape::NAME) {
            self.string_field(&mut out, SPAN_NAME)?;
        }
        if has(shape::KIND) {
            let kind = self.structure.varint()?;
            put_varint_field(&mut out, SPAN_KIND, kind);
        }
        let mut start = 0u64;
        if has(shape::START) {
            start = base.wrapping_add(self.times.varint()?);
            put_fixed64_field(&mut out, SPAN_START, start);
        }
        if has(shape::END) {
            let end = start.wrapping_add(unzigzag(self.times.varint()?) as u64);
            put_fixed64_field(&mut out, SPAN_END, end);
        }
        let mut scratch = Vec::new();
        self.attrs(&mut out, &mut scratch, SPAN_ATTRIBUTES)?;
        if has(shape::DROPPED_ATTRIBUTES) {
            let n = self.structure.varint()?;
            put_varint_field(&mut out, SPAN_DROPPED_ATTRIBUTES, n);
        }
        if has(shape::EVENTS) {
            let n = self.structure.varint()?;
            let mut event = Vec::new();
            for _ in 0..n {
                event.clear();
                let time = start.wrapping_add(unzigzag(self.times.varint()?) as u64);
                if time != 0 {
                    put_fixed64_field(&mut event, EVENT_TIME, time);
                }
                self.string_field(&mut event, EVENT_NAME)?;
                self.attrs(&mut event, &mut scratch, EVENT_ATTRIBUTES)?;
                let dropped = self.structure.varint()?;
                if dropped != 0 {
                    put_varint_field(&mut event, EVENT_DROPPED_ATTRIBUTES, dropped);
                }
                put_len_field(&mut out, SPAN_EVENTS, &event);
            }
        }
        if has(shape::DROPPED_EVENTS) {
            let n = self.structure.varint()?;
            put_varint_field(&mut out, SPAN_DROPPED_EVENTS, n);
        }
        if has(shape::LINKS) {
            let n = self.structure.varint()?;
            for _ in 0..n {
                put_len_field(&mut out, SPAN_LINKS, self.values.len_bytes()?);
            }
        }
        if has(shape::DROPPED_LINKS) {
            let n = self.structure.varint()?;
            put_varint_field(&mut out, SPAN_DROPPED_LINKS, n);
        }
        if has(shape::STATUS) {
            let mut status = Vec::new();
            self.string_field(&mut status, STATUS_MESSAGE)?;
            let code = self.structure.varint()?;
            if code != 0 {
                put_varint_field(&mut status, STATUS_CODE, code);
            }
            put_len_field(&mut out, SPAN_STATUS, &status);
        }
        // prost writes fields in the order of their numbers.
        if flags != 0 {
            encode_key(SPAN_FLAGS, WireType::ThirtyTwoBit, &mut out);
            out.extend_from_slice(&flags.to_le_bytes());
        }
        if has(shape::EXTRA) {
            let n = self.structure.varint()?;
            for _ in 0..n {
                out.extend_from_slice(self.values.len_bytes()?);
            }
        }
        Ok(out)
    }

    /// Attributes as repeated `KeyValue` fields with number `tag`.
    fn attrs(
        &mut self,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        tag: u32,
    ) -> Result<(), ColumnsError> {
        let n = self.structure.varint()?;
        // One value buffer for every attribute: most are short.
        let mut value = Vec::new();
        for _ in 0..n {
            scratch.clear();
            let tag_byte = self.structure.byte()?;
            if tag_byte == value_tag::RAW_KEY_VALUE {
                put_len_field(out, tag, self.values.len_bytes()?);
                continue;
            }
            value.clear();
            let has_value = self.value(tag_byte, &mut value)?;
            self.string_field(scratch, KEY_VALUE_KEY)?;
            if has_value {
                put_len_field(scratch, KEY_VALUE_VALUE, &value);
            }
            put_len_field(out, tag, scratch);
        }
        Ok(())
    }

    /// Writes the body of an `AnyValue`; false for "no value field".
    fn value(&mut self, tag: u8, out: &mut Vec<u8>) -> Result<bool, ColumnsError> {
        match tag {
            value_tag::NO_VALUE => return Ok(false),
            value_tag::STRING => {
                let s = self.string()?;
                put_len_field(out, ANY_VALUE_STRING, s);
            }
            value_tag::HEX => {
                let bytes = self.values.len_bytes()?;
                encode_key(ANY_VALUE_STRING, WireType::LengthDelimited, out);
                encode_varint(bytes.len() as u64 * 2, out);
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                for b in bytes {
                    out.push(DIGITS[usize::from(b >> 4)]);
                    out.push(DIGITS[usize::from(b & 15)]);
                }
            }
            value_tag::FALSE | value_tag::TRUE => {
                put_varint_field(out, ANY_VALUE_BOOL, u64::from(tag == value_tag::TRUE));
            }
            value_tag::INT => {
                let v = unzigzag(self.values.varint()?);
                put_varint_field(out, ANY_VALUE_INT, v as u64);
            }
            value_tag::DOUBLE => {
                let raw = self.values.take(8)?;
                encode_key(ANY_VALUE_DOUBLE, WireType::SixtyFourBit, out);
                out.extend_from_slice(raw);
            }
            value_tag::DECIMAL..=value_tag::DECIMAL_LAST => {
                let m = unzigzag(self.values.varint()?);
                let v = m as f64 / DECIMAL_SCALES[usize::from(tag - value_tag::DECIMAL)];
                put_fixed64_field(out, ANY_VALUE_DOUBLE, v.to_bits());
            }
            value_tag::RAW_ANY_VALUE => out.extend_from_slice(self.values.len_bytes()?),
            _ => return Err(bad("unknown value tag")),
        }
        Ok(true)
    }
}
