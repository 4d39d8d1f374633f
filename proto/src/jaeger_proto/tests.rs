//! Unit tests of the Jaeger api_v2 → model translation.
//!
//! In: hand-built `jaeger.api_v2` batches. Out: assertions on the model.

use super::*;
use crate::model::AnyValue;

pub(crate) fn tag(key: &str, value: Value) -> jaeger::KeyValue {
    let mut t = jaeger::KeyValue {
        key: key.into(),
        ..Default::default()
    };
    match value {
        Value::StringValue(s) => t.v_str = s,
        Value::BoolValue(b) => {
            t.v_type = jaeger::ValueType::Bool as i32;
            t.v_bool = b;
        }
        Value::IntValue(i) => {
            t.v_type = jaeger::ValueType::Int64 as i32;
            t.v_int64 = i;
        }
        Value::DoubleValue(d) => {
            t.v_type = jaeger::ValueType::Float64 as i32;
            t.v_float64 = d;
        }
        Value::BytesValue(b) => {
            t.v_type = jaeger::ValueType::Binary as i32;
            t.v_binary = b;
        }
        other => panic!("no Jaeger tag type for {other:?}"),
    }
    t
}

fn text(s: &str) -> Value {
    Value::StringValue(s.into())
}

const TRACE: [u8; 16] = [0xaa; 16];

fn span(id: u8, tags: Vec<jaeger::KeyValue>) -> jaeger::Span {
    jaeger::Span {
        trace_id: Bytes::copy_from_slice(&TRACE),
        span_id: Bytes::copy_from_slice(&[id; 8]),
        operation_name: format!("op{id}"),
        start_time: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 123_456_000,
        }),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 8_412_000,
        }),
        tags,
        ..Default::default()
    }
}

fn reference(trace: &[u8], id: u8, ref_type: jaeger::SpanRefType) -> jaeger::SpanRef {
    jaeger::SpanRef {
        trace_id: Bytes::copy_from_slice(trace),
        span_id: Bytes::copy_from_slice(&[id; 8]),
        ref_type: ref_type as i32,
    }
}

fn process(name: &str) -> jaeger::Process {
    jaeger::Process {
        service_name: name.into(),
        tags: vec![],
    }
}

fn translate(spans: Vec<jaeger::Span>) -> model::TracesData {
    batch_to_model(jaeger::Batch {
        spans,
        process: Some(process("frontend")),
    })
}

fn one(s: jaeger::Span) -> model::Span {
    let data = translate(vec![s]);
    assert_eq!(data.span_count(), 1);
    data.resource_spans[0].scope_spans[0].spans[0].clone()
}

fn attr<'a>(s: &'a model::Span, key: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

#[test]
fn ids_times_and_name_are_translated() {
    let s = one(span(1, vec![]));
    assert_eq!(s.trace_id.as_ref(), &TRACE);
    assert_eq!(s.span_id.as_ref(), &[1; 8]);
    assert_eq!(s.name, "op1");
    assert_eq!(s.start_time_unix_nano, 1_717_000_000_123_456_000);
    assert_eq!(s.duration_nanos(), 8_412_000);
    assert!(s.parent_span_id.is_empty());
}

#[test]
fn eight_byte_trace_id_gets_a_zero_high_half() {
    let mut s = span(1, vec![]);
    s.trace_id = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 7]);
    let s = one(s);
    assert_eq!(s.trace_id().0, 7);
    assert_eq!(s.trace_id.len(), 16);
}

#[test]
fn tags_keep_their_types() {
    let s = one(span(
        1,
        vec![
            tag("s", text("v")),
            tag("b", Value::BoolValue(true)),
            tag("i", Value::IntValue(-3)),
            tag("d", Value::DoubleValue(0.5)),
            tag("x", Value::BytesValue(Bytes::from_static(b"\x01\x02"))),
        ],
    ));
    assert_eq!(attr(&s, "s"), Some(&text("v")));
    assert_eq!(attr(&s, "b"), Some(&Value::BoolValue(true)));
    assert_eq!(attr(&s, "i"), Some(&Value::IntValue(-3)));
    assert_eq!(attr(&s, "d"), Some(&Value::DoubleValue(0.5)));
    assert_eq!(
        attr(&s, "x"),
        Some(&Value::BytesValue(Bytes::from_static(b"\x01\x02")))
    );
}

#[test]
fn span_kind_tag_becomes_the_kind_and_is_removed() {
    for (name, kind) in [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ] {
        let s = one(span(1, vec![tag("span.kind", text(name))]));
        assert_eq!(s.span_kind(), kind);
        assert!(s.attributes.is_empty());
    }
    let s = one(span(1, vec![tag("span.kind", text("weird"))]));
    assert_eq!(s.span_kind(), SpanKind::Unspecified);
    assert_eq!(attr(&s, "span.kind"), Some(&text("weird")));
}

#[test]
fn error_true_sets_error_status_with_the_description() {
    for error in [Value::BoolValue(true), text("true"), text("TRUE")] {
        let s = one(span(
            1,
            vec![
                tag("error", error),
                tag("otel.status_description", text("boom")),
                tag("otel.status_code", text("OK")),
            ],
        ));
        assert_eq!(s.status_code(), StatusCode::Error);
        assert_eq!(s.status.as_ref().unwrap().message, "boom");
        assert!(s.attributes.is_empty(), "{:?}", s.attributes);
    }
}

#[test]
fn error_false_or_a_message_is_not_an_error_and_is_kept() {
    for error in [Value::BoolValue(false), text("connection reset")] {
        let s = one(span(1, vec![tag("error", error.clone())]));
        assert_eq!(s.status_code(), StatusCode::Unset);
        assert_eq!(attr(&s, "error"), Some(&error));
    }
}

#[test]
fn otel_status_code_gives_the_status_in_any_spelling() {
    for (code, want) in [
        ("OK", StatusCode::Ok),
        ("ok", StatusCode::Ok),
        ("ERROR", StatusCode::Error),
        ("STATUS_CODE_ERROR", StatusCode::Error),
    ] {
        let s = one(span(
            1,
            vec![
                tag("otel.status_code", text(code)),
                tag("otel.status_description", text("why")),
            ],
        ));
        assert_eq!(s.status_code(), want, "{code}");
        assert_eq!(s.status.as_ref().unwrap().message, "why");
        assert!(s.attributes.is_empty());
    }
}

#[test]
fn http_status_code_is_the_last_resort() {
    let s = one(span(
        1,
        vec![
            tag("http.status_code", Value::IntValue(503)),
            tag("http.status_message", text("Service Unavailable")),
        ],
    ));
    assert_eq!(s.status_code(), StatusCode::Error);
    assert_eq!(s.status.as_ref().unwrap().message, "Service Unavailable");
    assert_eq!(attr(&s, "http.status_code"), Some(&Value::IntValue(503)));
    let server_404 = one(span(
        1,
        vec![
            tag("span.kind", text("server")),
            tag("http.status_code", text("404")),
        ],
    ));
    assert_eq!(server_404.status_code(), StatusCode::Unset);
    let client_404 = one(span(
        1,
        vec![
            tag("span.kind", text("client")),
            tag("http.status_code", text("404")),
        ],
    ));
    assert_eq!(client_404.status_code(), StatusCode::Error);
}

#[test]
fn first_child_of_of_the_same_trace_is_the_parent_and_the_rest_are_links() {
    let other_trace = [0xbb; 16];
    let mut s = span(9, vec![]);
    s.references = vec![
        reference(&other_trace, 1, jaeger::SpanRefType::ChildOf),
        reference(&TRACE, 2, jaeger::SpanRefType::FollowsFrom),
        reference(&TRACE, 3, jaeger::SpanRefType::ChildOf),
        reference(&TRACE, 4, jaeger::SpanRefType::ChildOf),
    ];
    let s = one(s);
    assert_eq!(s.parent_span_id.as_ref(), &[3; 8]);
    let links: Vec<(u8, u8, Option<&Value>)> = s
        .links
        .iter()
        .map(|l| {
            let kind = l
                .attributes
                .iter()
                .find(|a| a.key == "opentracing.ref_type");
            (
                l.trace_id[0],
                l.span_id[0],
                kind.and_then(|a| a.value.as_ref()?.value.as_ref()),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![
            (0xbb, 1, Some(&text("child_of"))),
            (0xaa, 2, Some(&text("follows_from"))),
            (0xaa, 4, Some(&text("child_of"))),
        ]
    );
}

#[test]
fn follows_from_of_the_same_trace_is_the_parent_when_there_is_no_child_of() {
    let mut s = span(9, vec![]);
    s.references = vec![reference(&TRACE, 5, jaeger::SpanRefType::FollowsFrom)];
    let s = one(s);
    assert_eq!(s.parent_span_id.as_ref(), &[5; 8]);
    assert!(s.links.is_empty());
}

#[test]
fn logs_become_events_named_by_the_event_field() {
    let mut s = span(1, vec![]);
    s.logs = vec![jaeger::Log {
        timestamp: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 5_000,
        }),
        fields: vec![
            tag("level", text("info")),
            tag("event", text("cache.miss")),
            tag("size", Value::IntValue(3)),
        ],
    }];
    let s = one(s);
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].name, "cache.miss");
    assert_eq!(s.events[0].time_unix_nano, 1_717_000_000_000_005_000);
    assert_eq!(
        s.events[0].attributes,
        vec![string_kv("level", "info"), kv("size", Value::IntValue(3))]
    );
}

#[test]
fn flags_are_kept_and_debug_is_flag_two() {
    let mut s = span(1, vec![]);
    s.flags = 3;
    let s = one(s);
    assert_eq!(s.jaeger_flags, 3);
    assert!(s.debug);
    let mut s = span(1, vec![]);
    s.flags = 1;
    assert!(!one(s).debug);
}

#[test]
fn tracestate_and_scope_tags_move_into_their_fields() {
    let data = translate(vec![span(
        1,
        vec![
            tag("w3c.tracestate", text("k=v")),
            tag("otel.library.name", text("old")),
            tag("otel.scope.name", text("lib")),
            tag("otel.scope.version", text("1.2")),
            tag("sampler.type", text("const")),
            tag("sampler.param", Value::BoolValue(true)),
        ],
    )]);
    let ss = &data.resource_spans[0].scope_spans[0];
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("lib", "1.2")
    );
    assert_eq!(ss.spans[0].trace_state, "k=v");
    let keys: Vec<&str> = ss.spans[0]
        .attributes
        .iter()
        .map(|a| a.key.as_str())
        .collect();
    assert_eq!(keys, ["sampler.type", "sampler.param"]);
}

#[test]
fn spans_are_grouped_by_process_and_scope() {
    let mut own = span(2, vec![]);
    own.process = Some(process("backend"));
    let scoped = span(3, vec![tag("otel.scope.name", text("lib"))]);
    let data = translate(vec![span(1, vec![]), own, scoped, span(4, vec![])]);
    let groups: Vec<(&str, Vec<usize>)> = data
        .resource_spans
        .iter()
        .map(|rs| {
            (
                rs.service_name(),
                rs.scope_spans.iter().map(|ss| ss.spans.len()).collect(),
            )
        })
        .collect();
    assert_eq!(groups, vec![("frontend", vec![2, 1]), ("backend", vec![1])]);
}

#[test]
fn process_tags_become_resource_attributes_like_the_collector() {
    let data = batch_to_model(jaeger::Batch {
        spans: vec![span(1, vec![])],
        process: Some(jaeger::Process {
            service_name: "svc".into(),
            tags: vec![
                tag("hostname", text("host-1")),
                tag("jaeger.version", text("Python-4.8.0")),
                tag("ip", text("10.0.0.1")),
            ],
        }),
    });
    let resource = data.resource_spans[0].resource.as_ref().unwrap();
    let pairs: Vec<(&str, String)> = resource
        .attributes
        .iter()
        .map(|a| {
            (
                a.key.as_str(),
                model::search_string(a.value.as_ref().unwrap_or(&AnyValue::default())),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("service.name", "svc".to_string()),
            ("host.name", "host-1".to_string()),
            (
                "opencensus.exporterversion",
                "Jaeger-Python-4.8.0".to_string()
            ),
            ("ip", "10.0.0.1".to_string()),
        ]
    );
}

#[test]
fn post_spans_request_bytes_decode_and_garbage_is_an_error() {
    let request = jaeger::PostSpansRequest {
        batch: Some(jaeger::Batch {
            spans: vec![span(1, vec![])],
            process: Some(process("svc")),
        }),
    };
    let data = decode_post_spans(&request.encode_to_vec()).unwrap();
    assert_eq!(data.span_count(), 1);
    assert!(decode_post_spans(&[0x0a, 0xff]).is_err());
    assert_eq!(decode_post_spans(&[]).unwrap().span_count(), 0);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = decode_post_spans(&bytes);
    }
}
