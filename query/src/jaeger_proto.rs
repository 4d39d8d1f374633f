//! The Jaeger api_v2 protobuf view of a trace, for the gRPC `QueryService`.
//!
//! In: Jaeger-model [`Span`]s as [`crate::jaeger_json`] derives them from the
//! canonical model (tags, logs, references and process already worked out,
//! adjusters already run), so both views share one derivation. Out:
//! `jaeger.api_v2` [`proto::Span`]s — ids as big-endian bytes (16 for the
//! trace), times as `Timestamp`/`Duration`, typed `KeyValue`s — each carrying
//! its full `process` (field 10; `process_id` left empty, as Kiali expects);
//! and the conversions of request timestamps and durations.

use prost_types::{Duration as ProtoDuration, Timestamp};
use spoor_proto::jaeger::api_v2 as proto;

use crate::jaeger_json::{Log, Process, RefType, Reference, Span, Tag, TagValue};

/// ns since the epoch as a protobuf `Timestamp`.
pub fn timestamp(nanos: u64) -> Timestamp {
    Timestamp {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

/// A protobuf `Timestamp` as signed ns since the epoch (the year-1 "unset"
/// value is far negative).
pub fn timestamp_nanos(ts: &Timestamp) -> i128 {
    i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos)
}

/// A protobuf `Duration` as signed ns.
pub fn duration_nanos(d: &ProtoDuration) -> i128 {
    i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos)
}

fn duration(nanos: u64) -> ProtoDuration {
    ProtoDuration {
        seconds: (nanos / 1_000_000_000) as i64,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

fn key_value(tag: &Tag) -> proto::KeyValue {
    let mut kv = proto::KeyValue {
        key: tag.key.clone(),
        ..Default::default()
    };
    match &tag.value {
        TagValue::String(s) => {
            kv.v_type = proto::ValueType::String as i32;
            kv.v_str = s.clone();
        }
        TagValue::Bool(b) => {
            kv.v_type = proto::ValueType::Bool as i32;
            kv.v_bool = *b;
        }
        TagValue::Int64(i) => {
            kv.v_type = proto::ValueType::Int64 as i32;
            kv.v_int64 = *i;
        }
        TagValue::Float64(f) => {
            kv.v_type = proto::ValueType::Float64 as i32;
            kv.v_float64 = *f;
        }
        TagValue::Binary(b) => {
            kv.v_type = proto::ValueType::Binary as i32;
            kv.v_binary = b.clone().into();
        }
    }
    kv
}

fn key_values(tags: &[Tag]) -> Vec<proto::KeyValue> {
    tags.iter().map(key_value).collect()
}

fn reference(r: &Reference) -> proto::SpanRef {
    proto::SpanRef {
        trace_id: r.trace_id.to_bytes().to_vec().into(),
        span_id: r.span_id.to_bytes().to_vec().into(),
        ref_type: match r.ref_type {
            RefType::ChildOf => proto::SpanRefType::ChildOf as i32,
            RefType::FollowsFrom => proto::SpanRefType::FollowsFrom as i32,
        },
    }
}

fn log(l: &Log) -> proto::Log {
    proto::Log {
        timestamp: Some(timestamp(l.timestamp_ns)),
        fields: key_values(&l.fields),
    }
}

fn process(p: &Process) -> proto::Process {
    proto::Process {
        service_name: p.service_name.clone(),
        tags: key_values(&p.tags),
    }
}

/// Converts one span, embedding its process.
pub fn span_to_proto(span: &Span) -> proto::Span {
    proto::Span {
        trace_id: span.trace_id.to_bytes().to_vec().into(),
        span_id: span.span_id.to_bytes().to_vec().into(),
        operation_name: span.operation_name.clone(),
        references: span.references.iter().map(reference).collect(),
        flags: span.flags,
        start_time: Some(timestamp(span.start_time_ns)),
        duration: Some(duration(span.duration_ns)),
        tags: key_values(&span.tags),
        logs: span.logs.iter().map(log).collect(),
        process: Some(process(&span.process)),
        process_id: String::new(),
        warnings: span.warnings.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger_json::{span_from_model, tests::model_span, tests::TRACE};
    use spoor_proto::ids::{SpanId, TraceId};
    use spoor_proto::model::{self, kv, Value};

    #[test]
    fn spans_carry_ids_as_bytes_times_as_timestamps_and_their_whole_process() {
        let mut m = model_span(0x00f067aa0ba902b7, 0x11, "GET /checkout");
        m.kind = model::SpanKind::Server as i32;
        m.attributes = vec![
            kv("http.status_code", Value::IntValue(200)),
            kv("ratio", Value::DoubleValue(0.5)),
            kv("ok", Value::BoolValue(true)),
            kv("raw", Value::BytesValue(vec![1, 2].into())),
        ];
        m.events = vec![model::Event {
            time_unix_nano: 1_718_000_000_130_000_001,
            name: "cache miss".into(),
            ..Default::default()
        }];
        let process = Process {
            service_name: "frontend".into(),
            tags: vec![Tag::string("hostname", "web-1")],
        };
        let p = span_to_proto(&span_from_model(&m, None, &process));
        assert_eq!(&p.trace_id[..], &TraceId(TRACE).to_bytes()[..]);
        assert_eq!(p.trace_id.len(), 16);
        assert_eq!(&p.span_id[..], &SpanId(0x00f067aa0ba902b7).to_bytes()[..]);
        assert_eq!(
            p.start_time,
            Some(Timestamp {
                seconds: 1_718_000_000,
                nanos: 123_456_789
            })
        );
        assert_eq!(
            p.duration,
            Some(ProtoDuration {
                seconds: 0,
                nanos: 25_300_210
            })
        );
        assert_eq!(p.references.len(), 1);
        assert_eq!(p.references[0].ref_type, proto::SpanRefType::ChildOf as i32);
        assert_eq!(&p.references[0].span_id[..], &0x11u64.to_be_bytes()[..]);
        let tag = |key: &str| p.tags.iter().find(|t| t.key == key).unwrap().clone();
        assert_eq!(
            tag("http.status_code").v_type,
            proto::ValueType::Int64 as i32
        );
        assert_eq!(tag("http.status_code").v_int64, 200);
        assert_eq!(tag("ratio").v_float64, 0.5);
        assert!(tag("ok").v_bool);
        assert_eq!(&tag("raw").v_binary[..], &[1, 2]);
        assert_eq!(tag("span.kind").v_str, "server");
        assert_eq!(p.logs[0].fields[0].v_str, "cache miss");
        let process = p.process.unwrap();
        assert_eq!(process.service_name, "frontend");
        assert_eq!(process.tags[0].v_str, "web-1");
        assert!(p.process_id.is_empty());
    }

    #[test]
    fn request_times_convert_to_signed_nanoseconds() {
        let year_one = Timestamp {
            seconds: -62_135_596_800,
            nanos: 0,
        };
        assert!(timestamp_nanos(&year_one) < 0);
        assert_eq!(timestamp_nanos(&timestamp(15_000_000_007)), 15_000_000_007);
        assert_eq!(
            duration_nanos(&ProtoDuration {
                seconds: 1,
                nanos: 5
            }),
            1_000_000_005
        );
    }
}
