//! Tests of the Jaeger Thrift decoder.
//!
//! In: batches written in both protocols (by the writer here and by hand,
//! byte for byte as jaeger-client writes them). Out: checks of the api_v2
//! batch and the model, and that bad datagrams are errors.

use super::*;
use crate::jaeger_proto::tests::tag;
use crate::model::{SpanKind, StatusCode, Value};

fn batch() -> jaeger::Batch {
    let trace = [[0u8; 8], 0x1234u64.to_be_bytes()].concat();
    jaeger::Batch {
        process: Some(jaeger::Process {
            service_name: "checkout".into(),
            tags: vec![tag("hostname", Value::StringValue("h1".into()))],
        }),
        spans: vec![jaeger::Span {
            trace_id: Bytes::from(trace.clone()),
            span_id: Bytes::copy_from_slice(&5u64.to_be_bytes()),
            operation_name: "GET /cart".into(),
            references: vec![jaeger::SpanRef {
                trace_id: Bytes::from(trace),
                span_id: Bytes::copy_from_slice(&4u64.to_be_bytes()),
                ref_type: jaeger::SpanRefType::ChildOf as i32,
            }],
            flags: 1,
            start_time: Some(micros_timestamp(1_717_000_000_123_456)),
            duration: Some(micros_duration(8_412)),
            tags: vec![
                tag("span.kind", Value::StringValue("server".into())),
                tag("error", Value::BoolValue(true)),
                tag("http.status_code", Value::IntValue(503)),
                tag("ratio", Value::DoubleValue(0.25)),
                tag("blob", Value::BytesValue(Bytes::from_static(b"\x00\x01"))),
            ],
            logs: vec![jaeger::Log {
                timestamp: Some(micros_timestamp(1_717_000_000_124_000)),
                fields: vec![tag("event", Value::StringValue("retry".into()))],
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn batches_round_trip_through_both_protocols() {
    for protocol in [Protocol::Binary, Protocol::Compact] {
        let decoded = decode_batch(&encode_batch(&batch(), protocol), protocol).unwrap();
        assert_eq!(decoded, batch(), "{protocol:?}");
    }
}

#[test]
fn http_body_translates_to_the_model() {
    let data = decode_http_body(&encode_batch(&batch(), Protocol::Binary)).unwrap();
    let rs = &data.resource_spans[0];
    assert_eq!(rs.service_name(), "checkout");
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!(s.trace_id().to_jaeger_hex(), "0000000000001234");
    assert_eq!(s.parent_span_id().0, 4);
    assert!(s.links.is_empty());
    assert_eq!(s.span_kind(), SpanKind::Server);
    assert_eq!(s.status_code(), StatusCode::Error);
    assert_eq!(s.start_time_unix_nano, 1_717_000_000_123_456_000);
    assert_eq!(s.duration_nanos(), 8_412_000);
    assert_eq!(s.events[0].name, "retry");
    assert_eq!(s.jaeger_flags, 1);
}

/// jaeger-client writes the Thrift `Tag` type ids DOUBLE=1, BOOL=2, LONG=3:
/// a hand-written binary Batch holding one span with `parentSpanId` 9 and
/// no references, and tags of each of those types.
#[test]
fn hand_written_binary_batch_with_thrift_tag_types_and_parent_span_id() {
    let mut b: Vec<u8> = Vec::new();
    let field = |b: &mut Vec<u8>, ttype: u8, id: i16| {
        b.push(ttype);
        b.extend_from_slice(&id.to_be_bytes());
    };
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as i32).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    // Batch.process
    field(&mut b, 12, 1);
    field(&mut b, 11, 1);
    string(&mut b, "svc");
    b.push(0);
    // Batch.spans: list<Span> of 1
    field(&mut b, 15, 2);
    b.push(12);
    b.extend_from_slice(&1i32.to_be_bytes());
    for (id, value) in [
        (1i16, 0x1234i64),
        (2, 0),
        (3, 7),
        (4, 9),
        (8, 1_000_000),
        (9, 250),
    ] {
        field(&mut b, 10, id);
        b.extend_from_slice(&value.to_be_bytes());
    }
    field(&mut b, 11, 5);
    string(&mut b, "op");
    // Span.tags: DOUBLE (1), BOOL (2), LONG (3)
    field(&mut b, 15, 10);
    b.push(12);
    b.extend_from_slice(&3i32.to_be_bytes());
    field(&mut b, 11, 1);
    string(&mut b, "d");
    field(&mut b, 8, 2);
    b.extend_from_slice(&1i32.to_be_bytes());
    field(&mut b, 4, 4);
    b.extend_from_slice(&2.5f64.to_be_bytes());
    b.push(0);
    field(&mut b, 11, 1);
    string(&mut b, "b");
    field(&mut b, 8, 2);
    b.extend_from_slice(&2i32.to_be_bytes());
    field(&mut b, 2, 5);
    b.push(1);
    b.push(0);
    field(&mut b, 11, 1);
    string(&mut b, "l");
    field(&mut b, 8, 2);
    b.extend_from_slice(&3i32.to_be_bytes());
    field(&mut b, 10, 6);
    b.extend_from_slice(&(-4i64).to_be_bytes());
    b.push(0);
    b.push(0); // end of Span
    b.push(0); // end of Batch

    let data = decode_http_body(&b).unwrap();
    let s = &data.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.parent_span_id().0, 9);
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.trace_id().0, 0x1234);
    assert_eq!(s.duration_nanos(), 250_000);
    let values: Vec<&Value> = s
        .attributes
        .iter()
        .filter_map(|a| a.value.as_ref()?.value.as_ref())
        .collect();
    assert_eq!(
        values,
        [
            &Value::DoubleValue(2.5),
            &Value::BoolValue(true),
            &Value::IntValue(-4)
        ]
    );
}

#[test]
fn parent_span_id_is_not_duplicated_when_the_reference_exists() {
    let jbatch = decode_batch(&encode_batch(&batch(), Protocol::Binary), Protocol::Binary).unwrap();
    assert_eq!(jbatch.spans[0].references.len(), 1);
}

#[test]
fn agent_datagrams_decode_in_both_protocols() {
    for protocol in [Protocol::Compact, Protocol::Binary] {
        let datagram = encode_emit_batch(&batch(), protocol, 3);
        let data = decode_agent_datagram(&datagram, protocol).unwrap();
        assert_eq!(data.span_count(), 1, "{protocol:?}");
    }
}

#[test]
fn unknown_agent_methods_and_truncated_datagrams_are_errors() {
    let mut w = Writer::new(Protocol::Compact);
    w.message_begin("getSamplingStrategy", message_type::CALL, 1);
    w.struct_begin();
    w.struct_end();
    let error = decode_agent_datagram(&w.into_bytes(), Protocol::Compact).unwrap_err();
    assert!(
        matches!(error, JaegerThriftError::UnsupportedMethod { .. }),
        "{error}"
    );
    let datagram = encode_emit_batch(&batch(), Protocol::Compact, 3);
    for cut in 0..datagram.len() {
        assert!(decode_agent_datagram(&datagram[..cut], Protocol::Compact).is_err());
    }
    assert!(matches!(
        decode_batch(&[0, 0], Protocol::Binary),
        Err(JaegerThriftError::TrailingBytes(1))
    ));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = decode_http_body(&bytes);
        let _ = decode_agent_datagram(&bytes, Protocol::Compact);
        let _ = decode_agent_datagram(&bytes, Protocol::Binary);
    }

    #[test]
    fn corrupted_batches_never_panic(flip in 0usize..2000, value in proptest::prelude::any::<u8>()) {
        for protocol in [Protocol::Compact, Protocol::Binary] {
            let mut datagram = encode_emit_batch(&batch(), protocol, 1);
            let at = flip % datagram.len();
            datagram[at] = value;
            let _ = decode_agent_datagram(&datagram, protocol);
        }
    }
}

#[test]
fn emit_zipkin_batch_carries_zipkin_v1_thrift_spans() {
    let mut w = Writer::new(Protocol::Compact);
    w.message_begin(EMIT_ZIPKIN_BATCH, message_type::ONEWAY, 1);
    w.struct_begin();
    w.field(1, TType::List);
    w.list_begin(TType::Struct, 1);
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(0x99);
    w.field(3, TType::Binary);
    w.binary(b"legacy");
    w.field(4, TType::I64);
    w.i64(0x7);
    w.field(6, TType::List);
    w.list_begin(TType::Struct, 1);
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(1_717_000_000_000_000);
    w.field(2, TType::Binary);
    w.binary(b"sr");
    w.field(3, TType::Struct);
    w.struct_begin();
    w.field(3, TType::Binary);
    w.binary(b"old-service");
    w.struct_end();
    w.struct_end();
    w.struct_end();
    w.struct_end();
    let data = decode_agent_datagram(&w.into_bytes(), Protocol::Compact).unwrap();
    let rs = &data.resource_spans[0];
    assert_eq!(rs.service_name(), "old-service");
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!((s.trace_id().0, s.span_id().0), (0x99, 0x7));
    assert_eq!(s.span_kind(), SpanKind::Server);
    assert_eq!(s.name, "legacy");
}
