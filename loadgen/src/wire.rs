//! The fast path from a generated [`Batch`] to OTLP protobuf bytes, written
//! field by field without building the model's owned strings first.
//!
//! In: a batch of compact span records and the catalog they index. Out: the
//! bytes of an `ExportTraceServiceRequest`, identical to what prost encodes
//! from [`Batch::to_request`] (the tests check byte equality), at a fraction
//! of the cost, so that the load generator does not eat the CPU of the
//! backend it measures.

use prost::Message as _;

use crate::gen::{
    Batch, Catalog, Extra, SpanRec, ERROR_MESSAGES, EVENT_NAMES, REGIONS, SCOPE_NAME, SCOPE_VERSION,
};

// Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
const REQUEST_RESOURCE_SPANS: u8 = 0x0A;
const RESOURCE_SPANS_RESOURCE: u8 = 0x0A;
const RESOURCE_SPANS_SCOPE_SPANS: u8 = 0x12;
const SCOPE_SPANS_SCOPE: u8 = 0x0A;
const SCOPE_SPANS_SPANS: u8 = 0x12;
const SCOPE_NAME_TAG: u8 = 0x0A;
const SCOPE_VERSION_TAG: u8 = 0x12;
const SPAN_TRACE_ID: u8 = 0x0A;
const SPAN_SPAN_ID: u8 = 0x12;
const SPAN_PARENT_SPAN_ID: u8 = 0x22;
const SPAN_NAME: u8 = 0x2A;
const SPAN_KIND: u8 = 0x30;
const SPAN_START: u8 = 0x39;
const SPAN_END: u8 = 0x41;
const SPAN_ATTRIBUTE: u8 = 0x4A;
const SPAN_EVENT: u8 = 0x5A;
const SPAN_STATUS: u8 = 0x7A;
const EVENT_TIME: u8 = 0x09;
const EVENT_NAME: u8 = 0x12;
const EVENT_ATTRIBUTE: u8 = 0x1A;
const STATUS_MESSAGE: u8 = 0x12;
const STATUS_CODE: u8 = 0x18;
const KV_KEY: u8 = 0x0A;
const KV_VALUE: u8 = 0x12;
const ANY_STRING: u8 = 0x0A;
const ANY_BOOL: u8 = 0x10;
const ANY_INT: u8 = 0x18;
const ANY_DOUBLE: u8 = 0x21;

/// Bytes a varint takes.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A length-delimited field: tag, length, bytes.
fn put_bytes(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_fixed64(buf: &mut Vec<u8>, tag: u8, v: u64) {
    buf.push(tag);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Bytes of a length-delimited field of `len` payload bytes (1-byte tag).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A `KeyValue` whose `AnyValue` holds `value_len` bytes written by `value`.
fn put_kv(
    buf: &mut Vec<u8>,
    tag: u8,
    key: &str,
    value_len: usize,
    value: impl FnOnce(&mut Vec<u8>),
) {
    buf.push(tag);
    put_varint(buf, (field_len(key.len()) + field_len(value_len)) as u64);
    put_bytes(buf, KV_KEY, key.as_bytes());
    buf.push(KV_VALUE);
    put_varint(buf, value_len as u64);
    value(buf);
}

fn put_kv_str(buf: &mut Vec<u8>, tag: u8, key: &str, value: &[u8]) {
    put_kv(buf, tag, key, field_len(value.len()), |b| {
        put_bytes(b, ANY_STRING, value)
    });
}

fn put_kv_int(buf: &mut Vec<u8>, tag: u8, key: &str, value: i64) {
    put_kv(buf, tag, key, 1 + varint_len(value as u64), |b| {
        b.push(ANY_INT);
        put_varint(b, value as u64);
    });
}

fn put_kv_bool(buf: &mut Vec<u8>, tag: u8, key: &str, value: bool) {
    put_kv(buf, tag, key, 2, |b| {
        b.push(ANY_BOOL);
        b.push(u8::from(value));
    });
}

fn put_kv_double(buf: &mut Vec<u8>, tag: u8, key: &str, value: f64) {
    put_kv(buf, tag, key, 9, |b| {
        put_fixed64(b, ANY_DOUBLE, value.to_bits())
    });
}

/// `user-<n>` in a stack buffer.
fn user_id(n: u32, out: &mut [u8; 16]) -> &[u8] {
    out[..5].copy_from_slice(b"user-");
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[5..5 + len].copy_from_slice(&digits[i..]);
    &out[..5 + len]
}

/// 32 lowercase hex characters.
fn hex128(v: u128) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((v >> (124 - 4 * i)) & 0xF) as usize];
    }
    out
}

/// One event: time, name and its attributes (written by `attrs` into the
/// scratch buffer `scratch`).
fn put_event(
    buf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    time: u64,
    name: &str,
    attrs: impl FnOnce(&mut Vec<u8>),
) {
    scratch.clear();
    put_fixed64(scratch, EVENT_TIME, time);
    put_bytes(scratch, EVENT_NAME, name.as_bytes());
    attrs(scratch);
    put_bytes(buf, SPAN_EVENT, scratch);
}

/// Appends the `Span` message body of `rec` (without its own tag/length).
pub fn put_span(buf: &mut Vec<u8>, scratch: &mut Vec<u8>, rec: &SpanRec, catalog: &Catalog) {
    let op = &catalog.services[rec.service as usize].operations[rec.op as usize];
    put_bytes(buf, SPAN_TRACE_ID, &rec.trace_id.to_be_bytes());
    put_bytes(buf, SPAN_SPAN_ID, &rec.span_id.to_be_bytes());
    if rec.parent_span_id != 0 {
        put_bytes(buf, SPAN_PARENT_SPAN_ID, &rec.parent_span_id.to_be_bytes());
    }
    put_bytes(buf, SPAN_NAME, rec.name(catalog).as_bytes());
    if rec.kind as i32 != 0 {
        buf.push(SPAN_KIND);
        put_varint(buf, rec.kind as i32 as u64);
    }
    if rec.start != 0 {
        put_fixed64(buf, SPAN_START, rec.start);
    }
    if rec.end != 0 {
        put_fixed64(buf, SPAN_END, rec.end);
    }
    let mut user = [0u8; 16];
    put_kv_str(buf, SPAN_ATTRIBUTE, "http.method", op.method.as_bytes());
    put_kv_int(buf, SPAN_ATTRIBUTE, "http.status_code", rec.http_status);
    put_kv_str(buf, SPAN_ATTRIBUTE, "http.route", op.route.as_bytes());
    put_kv_str(
        buf,
        SPAN_ATTRIBUTE,
        "net.peer.name",
        rec.peer(catalog).as_bytes(),
    );
    put_kv_str(buf, SPAN_ATTRIBUTE, "user.id", user_id(rec.user, &mut user));
    put_kv_str(
        buf,
        SPAN_ATTRIBUTE,
        "region",
        REGIONS[rec.region as usize].as_bytes(),
    );
    put_kv_bool(buf, SPAN_ATTRIBUTE, "cache.hit", rec.cache_hit);
    put_kv_double(buf, SPAN_ATTRIBUTE, "app.cart.total", rec.cart_total());
    put_kv_str(buf, SPAN_ATTRIBUTE, "db.statement", op.statement.as_bytes());
    put_kv_str(buf, SPAN_ATTRIBUTE, "request.id", &hex128(rec.request_id));
    let len = rec.end - rec.start;
    match rec.extra {
        Extra::None => {}
        Extra::Error { status, exception } => {
            put_event(buf, scratch, rec.start + len / 2, "exception", |b| {
                put_kv_str(b, EVENT_ATTRIBUTE, "exception.type", b"RequestError");
                put_kv_str(
                    b,
                    EVENT_ATTRIBUTE,
                    "exception.message",
                    ERROR_MESSAGES[exception as usize].as_bytes(),
                );
            });
            let message = ERROR_MESSAGES[status as usize].as_bytes();
            buf.push(SPAN_STATUS);
            put_varint(buf, (field_len(message.len()) + 2) as u64);
            put_bytes(buf, STATUS_MESSAGE, message);
            buf.push(STATUS_CODE);
            buf.push(2); // STATUS_CODE_ERROR
        }
        Extra::Events(count, names) => {
            for i in 0..count as u64 {
                let name = EVENT_NAMES[names[i as usize] as usize];
                put_event(buf, scratch, rec.start + len * (i + 1) / 3, name, |b| {
                    put_kv_int(b, EVENT_ATTRIBUTE, "attempt", i as i64 + 1);
                });
            }
        }
    }
}

/// Reusable buffers for [`encode_batch_into`].
#[derive(Debug, Default)]
pub struct Scratch {
    span: Vec<u8>,
    event: Vec<u8>,
    scope_spans: Vec<u8>,
    resource_spans: Vec<u8>,
    resource: Vec<u8>,
}

/// Appends the `ExportTraceServiceRequest` bytes of `batch` to `out`.
pub fn encode_batch_into(batch: &Batch, out: &mut Vec<u8>, s: &mut Scratch) {
    let catalog = &batch.catalog;
    let scope_len = field_len(SCOPE_NAME.len()) + field_len(SCOPE_VERSION.len());
    for (service, host, run) in batch.groups() {
        s.scope_spans.clear();
        s.scope_spans.push(SCOPE_SPANS_SCOPE);
        put_varint(&mut s.scope_spans, scope_len as u64);
        put_bytes(&mut s.scope_spans, SCOPE_NAME_TAG, SCOPE_NAME.as_bytes());
        put_bytes(
            &mut s.scope_spans,
            SCOPE_VERSION_TAG,
            SCOPE_VERSION.as_bytes(),
        );
        for rec in run {
            s.span.clear();
            put_span(&mut s.span, &mut s.event, rec, catalog);
            put_bytes(&mut s.scope_spans, SCOPE_SPANS_SPANS, &s.span);
        }
        s.resource.clear();
        // Encoding into a Vec cannot fail.
        let _ = catalog
            .resource(service as usize, host as usize)
            .encode(&mut s.resource);
        s.resource_spans.clear();
        put_bytes(&mut s.resource_spans, RESOURCE_SPANS_RESOURCE, &s.resource);
        put_bytes(
            &mut s.resource_spans,
            RESOURCE_SPANS_SCOPE_SPANS,
            &s.scope_spans,
        );
        put_bytes(out, REQUEST_RESOURCE_SPANS, &s.resource_spans);
    }
}

/// The `ExportTraceServiceRequest` bytes of `batch`.
pub fn encode_batch(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.len() * 560);
    encode_batch_into(batch, &mut out, &mut Scratch::default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Generator, Shape};
    use std::sync::Arc;

    #[test]
    fn varint_lengths_match_prost() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
        }
    }

    #[test]
    fn helpers_format_like_std() {
        let mut buf = [0u8; 16];
        for n in [0u32, 7, 10, 999_999, u32::MAX] {
            assert_eq!(user_id(n, &mut buf), format!("user-{n}").as_bytes());
        }
        for v in [
            0u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_0011_2233_4455_6677,
        ] {
            assert_eq!(&hex128(v)[..], format!("{v:032x}").as_bytes());
        }
    }

    #[test]
    fn bytes_are_identical_to_prost_encoding_of_the_model() {
        let shapes = [
            Shape::default(),
            Shape {
                services: 1,
                operations: 1,
                spans_per_trace: 1,
            },
            Shape {
                services: 30,
                operations: 20,
                spans_per_trace: 33,
            },
        ];
        for (i, shape) in shapes.into_iter().enumerate() {
            let mut g = Generator::new(Arc::new(crate::gen::Catalog::new(shape)), i as u64);
            for n in [1, 10, 500] {
                let batch = g.batch(n);
                let fast = encode_batch(&batch);
                let model = batch.to_request().encode_to_vec();
                assert_eq!(fast.len(), model.len(), "{shape:?} n={n}");
                assert!(fast == model, "{shape:?} n={n}: bytes differ");
            }
        }
    }
}
