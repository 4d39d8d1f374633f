//! Tests of the Zipkin v1 → v2 → model conversion.
//!
//! In: v1 JSON spans and Thrift-encoded v1 spans. Out: checks of kinds,
//! timestamps, endpoints, tags and the split of shared spans.

use super::*;
use crate::model::{SpanKind, Value};
use crate::thrift::Writer;

fn spans(data: &model::TracesData) -> Vec<(String, model::Span)> {
    data.spans_with_service()
        .map(|(service, s)| (service.to_owned(), s.clone()))
        .collect()
}

fn attr<'a>(s: &'a model::Span, key: &str) -> Option<&'a Value> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn text(s: &str) -> Value {
    Value::StringValue(s.into())
}

fn endpoint(service: &str, ip: &str) -> Json {
    json!({"serviceName": service, "ipv4": ip, "port": 8080})
}

#[test]
fn client_and_server_annotations_from_two_hosts_become_two_spans_with_one_id() {
    let body = json!([{
        "traceId": "5b8efff798038103d269b633813fc60c", "id": "eee19b7ec3c1b174",
        "parentId": "b7ad6b7169203331", "name": "get /cart",
        "timestamp": 1_717_000_000_000_000u64, "duration": 10_000,
        "annotations": [
            {"timestamp": 1_717_000_000_000_000u64, "value": "cs", "endpoint": endpoint("frontend", "10.0.0.1")},
            {"timestamp": 1_717_000_000_002_000u64, "value": "sr", "endpoint": endpoint("cart", "10.0.0.2")},
            {"timestamp": 1_717_000_000_003_000u64, "value": "cache.miss", "endpoint": endpoint("cart", "10.0.0.2")},
            {"timestamp": 1_717_000_000_008_000u64, "value": "ss", "endpoint": endpoint("cart", "10.0.0.2")},
            {"timestamp": 1_717_000_000_010_000u64, "value": "cr", "endpoint": endpoint("frontend", "10.0.0.1")}
        ],
        "binaryAnnotations": [
            {"key": "http.path", "value": "/cart", "endpoint": endpoint("frontend", "10.0.0.1")},
            {"key": "sa", "value": true, "endpoint": {"serviceName": "cart", "ipv4": "10.0.0.2", "port": 8080}},
            {"key": "retries", "value": 2, "endpoint": endpoint("cart", "10.0.0.2")}
        ]
    }]);
    let data = decode_json(body.to_string().as_bytes()).unwrap();
    let all = spans(&data);
    assert_eq!(all.len(), 2);
    let (client_service, client) = &all[0];
    let (server_service, server) = &all[1];
    assert_eq!(
        (client_service.as_str(), server_service.as_str()),
        ("frontend", "cart")
    );
    assert_eq!(client.span_id, server.span_id);
    assert_eq!(client.span_kind(), SpanKind::Client);
    assert_eq!(server.span_kind(), SpanKind::Server);
    assert!(server.shared && !client.shared);
    assert_eq!(client.duration_nanos(), 10_000_000);
    assert_eq!(server.duration_nanos(), 6_000_000);
    assert_eq!(server.start_time_unix_nano, 1_717_000_000_002_000_000);
    assert_eq!(attr(client, "http.path"), Some(&text("/cart")));
    assert_eq!(attr(client, "peer.service"), Some(&text("cart")));
    assert_eq!(attr(server, "retries"), Some(&text("2")));
    assert_eq!(server.events.len(), 1);
    assert_eq!(server.events[0].name, "cache.miss");
    assert!(client.events.is_empty());
    assert_eq!(client.parent_span_id, server.parent_span_id);
}

#[test]
fn server_only_span_takes_the_caller_from_ca() {
    let body = json!([{
        "traceId": "0000000000000001", "id": "0000000000000002", "name": "post",
        "annotations": [
            {"timestamp": 10, "value": "sr", "endpoint": endpoint("api", "10.0.0.3")},
            {"timestamp": 25, "value": "ss", "endpoint": endpoint("api", "10.0.0.3")}
        ],
        "binaryAnnotations": [
            {"key": "ca", "value": true, "endpoint": {"serviceName": "browser", "ipv4": "192.168.1.9"}},
            {"key": "error", "value": "timeout", "endpoint": endpoint("api", "10.0.0.3")}
        ],
        "debug": true
    }]);
    let data = decode_json(body.to_string().as_bytes()).unwrap();
    let all = spans(&data);
    assert_eq!(all.len(), 1);
    let (service, s) = &all[0];
    assert_eq!(service, "api");
    assert_eq!(s.span_kind(), SpanKind::Server);
    assert_eq!(
        (s.start_time_unix_nano, s.duration_nanos()),
        (10_000, 15_000)
    );
    assert_eq!(attr(s, "network.peer.address"), Some(&text("192.168.1.9")));
    assert_eq!(s.status_code(), model::StatusCode::Error);
    assert!(s.debug);
    assert_eq!(s.trace_id().0, 1);
}

#[test]
fn local_span_gets_its_service_from_lc_and_keeps_timestamp() {
    let body = json!([{
        "traceId": "0000000000000001", "id": "0000000000000003", "name": "compute",
        "timestamp": 100, "duration": 50,
        "binaryAnnotations": [{"key": "lc", "value": "worker", "endpoint": {"serviceName": "batch"}}]
    }]);
    let data = decode_json(body.to_string().as_bytes()).unwrap();
    let (service, s) = &spans(&data)[0];
    assert_eq!(service, "batch");
    assert_eq!(s.span_kind(), SpanKind::Unspecified);
    assert_eq!(attr(s, "lc"), Some(&text("worker")));
    assert_eq!(s.duration_nanos(), 50_000);
}

#[test]
fn empty_bodies_are_empty_batches_and_garbage_is_an_error() {
    assert_eq!(decode_json(b"").unwrap().span_count(), 0);
    assert_eq!(decode_json(b"[]").unwrap().span_count(), 0);
    assert!(decode_json(b"{").is_err());
    assert!(decode_json(b"[1]").is_err());
    assert!(decode_json(br#"[{"id": "1"}]"#).is_err());
    assert!(decode_json(br#"[{"traceId": "xyz", "id": "1"}]"#).is_err());
}

/// Decodes a JSON list of v1 spans, or one span given alone.
fn decode(body: Json) -> model::TracesData {
    let body = if body.is_array() { body } else { json!([body]) };
    decode_json(&serde_json::to_vec(&body).unwrap()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The message of the error `decode_json` gives for one span `span`.
fn refusal(span: Json) -> String {
    match decode_json(&serde_json::to_vec(&json!([span.clone()])).unwrap()) {
        Ok(data) => panic!("accepted {span}: {} spans", data.span_count()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_wrong_type_where_a_list_belongs_is_an_error_naming_the_field() {
    let base = json!({"traceId": "a1", "id": "b2", "name": "get"});
    let with = |key: &str, value: Json| {
        let mut span = base.clone();
        span[key] = value;
        span
    };
    for key in ["annotations", "binaryAnnotations"] {
        for (value, got) in [
            (json!(7), "a number"),
            (json!({"key": "a", "value": "b"}), "an object"),
            (json!("cs"), "a string"),
            (json!(true), "a boolean"),
        ] {
            assert_eq!(
                refusal(with(key, value)),
                format!("invalid Zipkin v1 JSON: span 0: {key} must be a list, got {got}")
            );
        }
        // An item of the list that is not an object is named by its index.
        assert_eq!(
            refusal(with(key, json!([7]))),
            format!("invalid Zipkin v1 JSON: span 0: {key}[0] must be an object, got a number")
        );
        // `null` and `[]` are absent lists.
        assert_eq!(decode(with(key, Json::Null)).span_count(), 1);
        assert_eq!(decode(with(key, json!([]))).span_count(), 1);
    }
    let message = refusal(with(
        "annotations",
        json!([{"timestamp": 1, "value": "cs", "endpoint": [1]}]),
    ));
    assert!(
        message.ends_with("span 0: annotations[0].endpoint must be an object, got a list"),
        "{message}"
    );
    let message = refusal(with(
        "binaryAnnotations",
        json!([{"key": "sa", "value": true, "endpoint": {"port": {}}}]),
    ));
    assert!(
        message
            .ends_with("binaryAnnotations[0].endpoint.port must be a port number, got an object"),
        "{message}"
    );
    assert!(
        refusal(with("debug", json!(7))).ends_with("span 0: debug must be true or false, got 7")
    );
    let second = json!([base.clone(), with("binaryAnnotations", json!(7))]);
    let message = decode_json(&serde_json::to_vec(&second).unwrap())
        .unwrap_err()
        .to_string();
    assert!(message.contains("span 1: binaryAnnotations"), "{message}");
}

#[test]
fn documented_leniencies_are_kept() {
    let span = json!({
        "traceId": "a1", "id": "b2", "name": "get", "timestamp": "1000", "debug": "true",
        "annotations": [{"timestamp": 1000, "value": "sr", "endpoint": {"serviceName": "api", "port": "8080"}}],
        "binaryAnnotations": [
            {"key": "ca", "value": true, "endpoint": {"serviceName": "web", "port": 70000}},
            {"key": "obj", "value": {"a": 1}}
        ]
    });
    let data = decode(span);
    let (service, s) = &spans(&data)[0];
    assert_eq!(service, "api");
    assert!(s.debug);
    assert_eq!(attr(s, "obj"), Some(&text("{\"a\":1}")));
    assert_eq!(attr(s, "network.local.port"), Some(&Value::IntValue(8080)));
    assert_eq!(attr(s, "network.peer.port"), None);
}

/// Writes one v1 Thrift span with a `cs`/`cr` pair, an `sa` and a string tag.
fn thrift_span(w: &mut Writer) {
    let write_endpoint = |w: &mut Writer, service: &str| {
        w.struct_begin();
        w.field(1, TType::I32);
        w.i32(0x0a00_0001);
        w.field(2, TType::I16);
        w.i16(9000);
        w.field(3, TType::Binary);
        w.binary(service.as_bytes());
        w.struct_end();
    };
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(0x77);
    w.field(3, TType::Binary);
    w.binary(b"query");
    w.field(4, TType::I64);
    w.i64(0x42);
    w.field(6, TType::List);
    w.list_begin(TType::Struct, 2);
    for (ts, value) in [(1_000i64, "cs"), (4_000, "cr")] {
        w.struct_begin();
        w.field(1, TType::I64);
        w.i64(ts);
        w.field(2, TType::Binary);
        w.binary(value.as_bytes());
        w.field(3, TType::Struct);
        write_endpoint(w, "web");
        w.struct_end();
    }
    w.field(8, TType::List);
    w.list_begin(TType::Struct, 3);
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(b"sa");
    w.field(2, TType::Binary);
    w.binary(&[1]);
    w.field(3, TType::I32);
    w.i32(0);
    w.field(4, TType::Struct);
    write_endpoint(w, "db");
    w.struct_end();
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(b"sql");
    w.field(2, TType::Binary);
    w.binary(b"select 1");
    w.field(3, TType::I32);
    w.i32(6);
    w.struct_end();
    w.struct_begin();
    w.field(1, TType::Binary);
    w.binary(b"rows");
    w.field(2, TType::Binary);
    w.binary(&7i64.to_be_bytes());
    w.field(3, TType::I32);
    w.i32(4);
    w.struct_end();
    w.field(12, TType::I64);
    w.i64(0x11);
    w.struct_end();
}

#[test]
fn thrift_spans_decode_like_json_ones() {
    let mut w = Writer::new(Protocol::Binary);
    w.list_begin(TType::Struct, 1);
    thrift_span(&mut w);
    let data = decode_thrift(&w.into_bytes()).unwrap();
    let all = spans(&data);
    assert_eq!(all.len(), 1);
    let (service, s) = &all[0];
    assert_eq!(service, "web");
    assert_eq!(s.trace_id().to_hex32(), "00000000000000110000000000000077");
    assert_eq!(s.span_id().0, 0x42);
    assert_eq!(s.span_kind(), SpanKind::Client);
    assert_eq!(s.duration_nanos(), 3_000_000);
    assert_eq!(attr(s, "peer.service"), Some(&text("db")));
    assert_eq!(attr(s, "network.peer.address"), Some(&text("10.0.0.1")));
    assert_eq!(attr(s, "network.peer.port"), Some(&Value::IntValue(9000)));
    assert_eq!(attr(s, "sql"), Some(&text("select 1")));
    assert_eq!(attr(s, "rows"), Some(&text("7")));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = decode_json(&bytes);
        let _ = decode_thrift(&bytes);
    }
}
