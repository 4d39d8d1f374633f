//! Jaeger Thrift (`jaeger.thrift`) → Jaeger `api_v2` → the canonical model.
//!
//! In: the body of `POST /api/traces` (one `Batch` struct in the binary
//! protocol, no message envelope: [`decode_batch`]), or one agent UDP
//! datagram (an `Agent.emitBatch` message in the compact or binary protocol:
//! [`decode_agent_datagram`]). Out: a `jaeger.api_v2.Batch`, which
//! [`crate::jaeger_proto::batch_to_model`] translates, so Thrift and gRPC
//! share one translation. The reverse ([`encode_batch`],
//! [`encode_emit_batch`]) writes what Jaeger clients send, for tests and the
//! load generator.
//!
//! Conversion facts (jaeger-api spec §6.4): Thrift ids are i64 holding
//! unsigned values; a trace id is `traceIdHigh ‖ traceIdLow` (high 0 for
//! 64-bit ids); times are µs. A non-zero `parentSpanId` becomes a CHILD_OF
//! reference placed first, unless an identical CHILD_OF is already there.
//! `TagType` is STRING 0, DOUBLE 1, BOOL 2, LONG 3, BINARY 4 — not the
//! order of the proto `ValueType`, so the mapping is spelled out here.
//! `ClientStats` and `seqNo` are read past.

use bytes::Bytes;

use crate::jaeger::api_v2 as jaeger;
use crate::model;
use crate::thrift::{message_type, Protocol, Reader, TType, ThriftError, Writer};

/// The agent method that carries a Jaeger batch.
pub const EMIT_BATCH: &str = "emitBatch";
/// The legacy agent method that carries Zipkin v1 Thrift spans.
pub const EMIT_ZIPKIN_BATCH: &str = "emitZipkinBatch";

/// Why a Jaeger Thrift payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaegerThriftError {
    /// The bytes are not well-formed Thrift.
    #[error("malformed Thrift: {0}")]
    Thrift(#[from] ThriftError),
    /// A well-formed message that is not an agent method Spoor serves.
    #[error("unsupported agent method {name:?} (message type {message_type})")]
    UnsupportedMethod { name: String, message_type: u8 },
    /// Bytes follow the batch.
    #[error("{0} bytes follow the batch")]
    TrailingBytes(usize),
}

/// Reads a `Batch` struct in the binary protocol (the HTTP body) and
/// translates it to the canonical model.
pub fn decode_http_body(body: &[u8]) -> Result<model::TracesData, JaegerThriftError> {
    decode_batch(body, Protocol::Binary).map(crate::jaeger_proto::batch_to_model)
}

/// Reads one agent datagram (`emitBatch`, or `emitZipkinBatch` with Zipkin
/// v1 Thrift spans) and translates it to the canonical model.
pub fn decode_agent_datagram(
    datagram: &[u8],
    protocol: Protocol,
) -> Result<model::TracesData, JaegerThriftError> {
    let mut r = Reader::new(datagram, protocol);
    let header = r.read_message_begin()?;
    let data = match header.name.as_str() {
        EMIT_BATCH if is_call(header.message_type) => {
            let mut batch = None;
            r.read_struct(|r, id, ttype| {
                if (id, ttype) == (1, TType::Struct) {
                    batch = Some(read_batch(r)?);
                    return Ok(true);
                }
                Ok(false)
            })?;
            crate::jaeger_proto::batch_to_model(batch.unwrap_or_default())
        }
        EMIT_ZIPKIN_BATCH if is_call(header.message_type) => {
            let mut data = model::TracesData::default();
            r.read_struct(|r, id, ttype| {
                if (id, ttype) == (1, TType::List) {
                    data = crate::zipkin_v1::read_thrift_span_list(r)?;
                    return Ok(true);
                }
                Ok(false)
            })?;
            data
        }
        _ => {
            return Err(JaegerThriftError::UnsupportedMethod {
                name: header.name,
                message_type: header.message_type,
            })
        }
    };
    Ok(data)
}

fn is_call(message_type: u8) -> bool {
    message_type == message_type::ONEWAY || message_type == message_type::CALL
}

/// Reads a `Batch` struct (no envelope) into a `jaeger.api_v2.Batch`.
pub fn decode_batch(body: &[u8], protocol: Protocol) -> Result<jaeger::Batch, JaegerThriftError> {
    let mut r = Reader::new(body, protocol);
    let batch = read_batch(&mut r)?;
    match r.remaining() {
        0 => Ok(batch),
        n => Err(JaegerThriftError::TrailingBytes(n)),
    }
}

fn read_batch(r: &mut Reader<'_>) -> Result<jaeger::Batch, ThriftError> {
    let mut batch = jaeger::Batch::default();
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::Struct) => batch.process = Some(read_process(r)?),
            (2, TType::List) => r.read_list(|r, t| {
                expect_struct(t, "Batch.spans")?;
                batch.spans.push(read_span(r)?);
                Ok(())
            })?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(batch)
}

fn expect_struct(ttype: TType, what: &str) -> Result<(), ThriftError> {
    if ttype == TType::Struct {
        Ok(())
    } else {
        Err(ThriftError::Unexpected(format!(
            "{what} holds {ttype:?} elements, expected structs"
        )))
    }
}

fn read_tags(r: &mut Reader<'_>, what: &str) -> Result<Vec<jaeger::KeyValue>, ThriftError> {
    let mut tags = Vec::new();
    r.read_list(|r, t| {
        expect_struct(t, what)?;
        tags.push(read_tag(r)?);
        Ok(())
    })?;
    Ok(tags)
}

fn read_process(r: &mut Reader<'_>) -> Result<jaeger::Process, ThriftError> {
    let mut process = jaeger::Process::default();
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::Binary) => process.service_name = r.read_string()?,
            (2, TType::List) => process.tags = read_tags(r, "Process.tags")?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(process)
}

/// Thrift `TagType` values (not the proto `ValueType` order).
mod tag_type {
    pub const STRING: i32 = 0;
    pub const DOUBLE: i32 = 1;
    pub const BOOL: i32 = 2;
    pub const LONG: i32 = 3;
    pub const BINARY: i32 = 4;
}

fn read_tag(r: &mut Reader<'_>) -> Result<jaeger::KeyValue, ThriftError> {
    let mut tag = jaeger::KeyValue::default();
    let mut thrift_type = tag_type::STRING;
    r.read_struct(|r, id, ttype| {
        match (id, ttype) {
            (1, TType::Binary) => tag.key = r.read_string()?,
            (2, TType::I32) => thrift_type = r.read_i32()?,
            (3, TType::Binary) => tag.v_str = r.read_string()?,
            (4, TType::Double) => tag.v_float64 = r.read_double()?,
            (5, TType::Bool) => tag.v_bool = r.read_bool()?,
            (6, TType::I64) => tag.v_int64 = r.read_i64()?,
            (7, TType::Binary) => tag.v_binary = Bytes::copy_from_slice(r.read_binary()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let value_type = match thrift_type {
        tag_type::DOUBLE => jaeger::ValueType::Float64,
        tag_type::BOOL => jaeger::ValueType::Bool,
        tag_type::LONG => jaeger::ValueType::Int64,
        tag_type::BINARY => jaeger::ValueType::Binary,
        _ => jaeger::ValueType::String,
    };
    tag.v_type = value_type as i32;
    Ok(tag)
}

fn trace_id(high: i64, low: i64) -> Bytes {
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&high.to_be_bytes());
    bytes.extend_from_slice(&low.to_be_bytes());
    Bytes::from(bytes)
}

fn span_id(id: i64) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

fn micros_timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

fn micros_duration(micros: i64) -> prost_types::Duration {
    let micros = micros.max(0);
    prost_types::Duration {
        seconds: micros / 1_000_000,
        nanos: ((micros % 1_000_000) * 1000) as i32,
    }
}

fn read_span(r: &mut Reader<'_>) -> Result<jaeger::Span, ThriftError> {
    let (mut low, mut high, mut id, mut parent) = (0i64, 0i64, 0i64, 0i64);
    let mut span = jaeger::Span::default();
    r.read_struct(|r, field, ttype| {
        match (field, ttype) {
            (1, TType::I64) => low = r.read_i64()?,
            (2, TType::I64) => high = r.read_i64()?,
            (3, TType::I64) => id = r.read_i64()?,
            (4, TType::I64) => parent = r.read_i64()?,
            (5, TType::Binary) => span.operation_name = r.read_string()?,
            (6, TType::List) => r.read_list(|r, t| {
                expect_struct(t, "Span.references")?;
                span.references.push(read_span_ref(r)?);
                Ok(())
            })?,
            (7, TType::I32) => span.flags = r.read_i32()? as u32,
            (8, TType::I64) => span.start_time = Some(micros_timestamp(r.read_i64()?)),
            (9, TType::I64) => span.duration = Some(micros_duration(r.read_i64()?)),
            (10, TType::List) => span.tags = read_tags(r, "Span.tags")?,
            (11, TType::List) => r.read_list(|r, t| {
                expect_struct(t, "Span.logs")?;
                span.logs.push(read_log(r)?);
                Ok(())
            })?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    span.trace_id = trace_id(high, low);
    span.span_id = span_id(id);
    if parent != 0 {
        let parent_ref = jaeger::SpanRef {
            trace_id: span.trace_id.clone(),
            span_id: span_id(parent),
            ref_type: jaeger::SpanRefType::ChildOf as i32,
        };
        if !span.references.contains(&parent_ref) {
            span.references.insert(0, parent_ref);
        }
    }
    Ok(span)
}

fn read_span_ref(r: &mut Reader<'_>) -> Result<jaeger::SpanRef, ThriftError> {
    let (mut kind, mut low, mut high, mut id) = (0i32, 0i64, 0i64, 0i64);
    r.read_struct(|r, field, ttype| {
        match (field, ttype) {
            (1, TType::I32) => kind = r.read_i32()?,
            (2, TType::I64) => low = r.read_i64()?,
            (3, TType::I64) => high = r.read_i64()?,
            (4, TType::I64) => id = r.read_i64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let ref_type = if kind == 1 {
        jaeger::SpanRefType::FollowsFrom
    } else {
        jaeger::SpanRefType::ChildOf
    };
    Ok(jaeger::SpanRef {
        trace_id: trace_id(high, low),
        span_id: span_id(id),
        ref_type: ref_type as i32,
    })
}

fn read_log(r: &mut Reader<'_>) -> Result<jaeger::Log, ThriftError> {
    let mut log = jaeger::Log::default();
    r.read_struct(|r, field, ttype| {
        match (field, ttype) {
            (1, TType::I64) => log.timestamp = Some(micros_timestamp(r.read_i64()?)),
            (2, TType::List) => log.fields = read_tags(r, "Log.fields")?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(log)
}

// ---------------------------------------------------------------------------
// Writing, for tests and the load generator.

/// Writes `batch` as a Thrift `Batch` struct (the HTTP body when binary).
pub fn encode_batch(batch: &jaeger::Batch, protocol: Protocol) -> Vec<u8> {
    let mut w = Writer::new(protocol);
    write_batch(&mut w, batch);
    w.into_bytes()
}

/// Writes `batch` as an `Agent.emitBatch` oneway message (one UDP datagram).
pub fn encode_emit_batch(batch: &jaeger::Batch, protocol: Protocol, seq_id: i32) -> Vec<u8> {
    let mut w = Writer::new(protocol);
    w.message_begin(EMIT_BATCH, message_type::ONEWAY, seq_id);
    w.struct_begin();
    w.field(1, TType::Struct);
    write_batch(&mut w, batch);
    w.struct_end();
    w.into_bytes()
}

fn id_halves(bytes: &[u8]) -> (i64, i64) {
    let id = crate::ids::TraceId::from_bytes(bytes).unwrap_or_default();
    (id.high() as i64, id.low() as i64)
}

fn span_id_value(bytes: &[u8]) -> i64 {
    crate::ids::SpanId::from_bytes(bytes).unwrap_or_default().0 as i64
}

fn timestamp_micros(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map_or(0, |t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
}

fn write_batch(w: &mut Writer, batch: &jaeger::Batch) {
    w.struct_begin();
    w.field(1, TType::Struct);
    write_process(
        w,
        batch
            .process
            .as_ref()
            .unwrap_or(&jaeger::Process::default()),
    );
    w.field(2, TType::List);
    w.list_begin(TType::Struct, batch.spans.len());
    for span in &batch.spans {
        write_span(w, span);
    }
    w.struct_end();
}

fn write_process(w: &mut Writer, process: &jaeger::Process) {
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(process.service_name.as_bytes());
    write_tags(w, 2, &process.tags);
    w.struct_end();
}

fn write_tags(w: &mut Writer, field: i16, tags: &[jaeger::KeyValue]) {
    if tags.is_empty() {
        return;
    }
    w.field(field, TType::List);
    w.list_begin(TType::Struct, tags.len());
    for tag in tags {
        w.struct_begin();
        w.field(1, TType::Binary);
        w.binary(tag.key.as_bytes());
        w.field(2, TType::I32);
        match jaeger::ValueType::try_from(tag.v_type) {
            Ok(jaeger::ValueType::Float64) => {
                w.i32(tag_type::DOUBLE);
                w.field(4, TType::Double);
                w.double(tag.v_float64);
            }
            Ok(jaeger::ValueType::Bool) => {
                w.i32(tag_type::BOOL);
                w.field_bool(5, tag.v_bool);
            }
            Ok(jaeger::ValueType::Int64) => {
                w.i32(tag_type::LONG);
                w.field(6, TType::I64);
                w.i64(tag.v_int64);
            }
            Ok(jaeger::ValueType::Binary) => {
                w.i32(tag_type::BINARY);
                w.field(7, TType::Binary);
                w.binary(&tag.v_binary);
            }
            Ok(jaeger::ValueType::String) | Err(_) => {
                w.i32(tag_type::STRING);
                w.field(3, TType::Binary);
                w.binary(tag.v_str.as_bytes());
            }
        }
        w.struct_end();
    }
}

/// Writes a span the way jaeger-client does: the first same-trace CHILD_OF
/// reference goes into `parentSpanId` (and stays in `references`).
fn write_span(w: &mut Writer, span: &jaeger::Span) {
    let (high, low) = id_halves(&span.trace_id);
    let parent = span
        .references
        .iter()
        .find(|r| r.ref_type == jaeger::SpanRefType::ChildOf as i32 && r.trace_id == span.trace_id)
        .map_or(0, |r| span_id_value(&r.span_id));
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(low);
    w.field(2, TType::I64);
    w.i64(high);
    w.field(3, TType::I64);
    w.i64(span_id_value(&span.span_id));
    w.field(4, TType::I64);
    w.i64(parent);
    w.field(5, TType::Binary);
    w.binary(span.operation_name.as_bytes());
    if !span.references.is_empty() {
        w.field(6, TType::List);
        w.list_begin(TType::Struct, span.references.len());
        for r in &span.references {
            let (high, low) = id_halves(&r.trace_id);
            w.struct_begin();
            w.field(1, TType::I32);
            w.i32(r.ref_type);
            w.field(2, TType::I64);
            w.i64(low);
            w.field(3, TType::I64);
            w.i64(high);
            w.field(4, TType::I64);
            w.i64(span_id_value(&r.span_id));
            w.struct_end();
        }
    }
    w.field(7, TType::I32);
    w.i32(span.flags as i32);
    w.field(8, TType::I64);
    w.i64(timestamp_micros(span.start_time.as_ref()));
    w.field(9, TType::I64);
    w.i64(
        span.duration
            .as_ref()
            .map_or(0, |d| d.seconds * 1_000_000 + i64::from(d.nanos) / 1000),
    );
    write_tags(w, 10, &span.tags);
    if !span.logs.is_empty() {
        w.field(11, TType::List);
        w.list_begin(TType::Struct, span.logs.len());
        for log in &span.logs {
            w.struct_begin();
            w.field(1, TType::I64);
            w.i64(timestamp_micros(log.timestamp.as_ref()));
            write_tags(w, 2, &log.fields);
            w.struct_end();
        }
    }
    w.struct_end();
}

#[cfg(test)]
mod tests;
