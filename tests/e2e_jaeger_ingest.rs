//! End to end: spans sent to the real binary over Jaeger gRPC
//! (`CollectorService/PostSpans`), Jaeger Thrift over HTTP (`POST
//! /api/traces`), the Jaeger agent's UDP ports (compact and binary
//! `emitBatch`) and Zipkin v1 JSON and Thrift come back through
//! `/api/traces/{id}` with their names, kinds, parents, typed tags, logs and
//! error status.
//!
//! In: payloads built byte for byte in each client's documented wire format
//! (jaeger-client's Thrift `Batch`, `Agent.emitBatch` messages, Jaeger's
//! api_v2 protobuf, Zipkin v1 JSON and Thrift lists). Out: checks of the
//! Jaeger JSON model; and, when a one-slot pipeline and a tiny live buffer
//! are overfilled, that every accepted post is stored, every refused one is
//! told when to retry, and the server's peak RSS stays under a bound derived
//! from the limits.

mod support;

use std::time::Duration;

use bytes::Bytes;
use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::api_v2 as jaeger;
use spoor_proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use spoor_proto::jaeger_thrift::{encode_batch, encode_emit_batch};
use spoor_proto::thrift::{Protocol, TType, Writer as ThriftWriter};
use support::*;

fn jtag(key: &str, value: jaeger::KeyValue) -> jaeger::KeyValue {
    jaeger::KeyValue {
        key: key.into(),
        ..value
    }
}

fn text(v: &str) -> jaeger::KeyValue {
    jaeger::KeyValue {
        v_str: v.into(),
        ..Default::default()
    }
}

fn int(v: i64) -> jaeger::KeyValue {
    jaeger::KeyValue {
        v_type: jaeger::ValueType::Int64 as i32,
        v_int64: v,
        ..Default::default()
    }
}

fn boolean(v: bool) -> jaeger::KeyValue {
    jaeger::KeyValue {
        v_type: jaeger::ValueType::Bool as i32,
        v_bool: v,
        ..Default::default()
    }
}

fn float(v: f64) -> jaeger::KeyValue {
    jaeger::KeyValue {
        v_type: jaeger::ValueType::Float64 as i32,
        v_float64: v,
        ..Default::default()
    }
}

fn micros(ns: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: ((ns % 1_000_000_000) / 1000 * 1000) as i32,
    }
}

const ROOT: u64 = 0x0a0b_0c0d_0e0f_0001;
const CHILD: u64 = 0x0a0b_0c0d_0e0f_0002;

/// A Jaeger SDK's two-span trace: a server root with typed tags and a log,
/// and a client child (CHILD_OF the root) with `error=true`.
fn jaeger_batch(trace: TraceId, service: &str) -> jaeger::Batch {
    let start = now_ns() - 3_000_000_000;
    let trace_bytes = Bytes::copy_from_slice(&trace.to_bytes());
    let root = jaeger::Span {
        trace_id: trace_bytes.clone(),
        span_id: Bytes::copy_from_slice(&ROOT.to_be_bytes()),
        operation_name: "GET /checkout".into(),
        flags: 1,
        start_time: Some(micros(start)),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 25_000_000,
        }),
        tags: vec![
            jtag("span.kind", text("server")),
            jtag("http.status_code", int(200)),
            jtag("cache.hit", boolean(false)),
            jtag("sampler.param", float(0.5)),
            jtag("sampler.type", text("probabilistic")),
        ],
        logs: vec![jaeger::Log {
            timestamp: Some(micros(start + 1_000_000)),
            fields: vec![
                jtag("event", text("cache miss")),
                jtag("key", text("cart:1")),
            ],
        }],
        ..Default::default()
    };
    let child = jaeger::Span {
        trace_id: trace_bytes.clone(),
        span_id: Bytes::copy_from_slice(&CHILD.to_be_bytes()),
        operation_name: "SELECT orders".into(),
        references: vec![jaeger::SpanRef {
            trace_id: trace_bytes,
            span_id: Bytes::copy_from_slice(&ROOT.to_be_bytes()),
            ref_type: jaeger::SpanRefType::ChildOf as i32,
        }],
        flags: 1,
        start_time: Some(micros(start + 2_000_000)),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 9_000_000,
        }),
        tags: vec![
            jtag("span.kind", text("client")),
            jtag("error", boolean(true)),
            jtag("otel.status_description", text("deadlock")),
        ],
        ..Default::default()
    };
    jaeger::Batch {
        spans: vec![root, child],
        process: Some(jaeger::Process {
            service_name: service.into(),
            tags: vec![
                jtag("hostname", text("web-1")),
                jtag("ip", text("10.0.0.7")),
            ],
        }),
    }
}

/// Reads the trace back and checks every translated fact of `jaeger_batch`.
async fn assert_jaeger_trace(spoor: &Spoor, trace: TraceId, service: &str) {
    let http = reqwest::Client::new();
    let found = eventually(5, || async {
        fetch_trace(&http, spoor, trace)
            .await
            .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == 2))
    })
    .await;
    assert_eq!(found["traceID"], trace.to_jaeger_hex());
    let root = span_named(&found, "GET /checkout");
    let child = span_named(&found, "SELECT orders");
    let process = &found["processes"][root["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], service);
    assert_eq!(root["spanID"], format!("{ROOT:016x}"));
    assert_eq!(tag(root, "span.kind").unwrap()["value"], "server");
    let typed = |span, key, ty: &str, value: serde_json::Value| {
        let t = tag(span, key).unwrap_or_else(|| panic!("no tag {key}"));
        assert_eq!(
            (t["type"].as_str().unwrap(), &t["value"]),
            (ty, &value),
            "{key}"
        );
    };
    typed(root, "http.status_code", "int64", 200.into());
    typed(root, "cache.hit", "bool", false.into());
    typed(root, "sampler.param", "float64", 0.5.into());
    typed(root, "sampler.type", "string", "probabilistic".into());
    assert_eq!(root["duration"], 25_000);
    let log = &root["logs"][0];
    assert!(log["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["key"] == "event" && f["value"] == "cache miss"));
    assert!(tag(root, "error").is_none());

    assert_eq!(tag(child, "span.kind").unwrap()["value"], "client");
    let reference = &child["references"][0];
    assert_eq!(reference["refType"], "CHILD_OF");
    assert_eq!(reference["spanID"], format!("{ROOT:016x}"));
    typed(child, "error", "bool", true.into());
    typed(child, "otel.status_code", "string", "ERROR".into());
    typed(
        child,
        "otel.status_description",
        "string",
        "deadlock".into(),
    );
}

#[tokio::test]
async fn jaeger_grpc_post_spans_round_trips() {
    let spoor = Spoor::start();
    let trace = random_trace();
    let mut client =
        CollectorServiceClient::connect(format!("http://{}", spoor.addr("jaeger_grpc")))
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    client
        .post_spans(jaeger::PostSpansRequest {
            batch: Some(jaeger_batch(trace, "jaeger-grpc-svc")),
        })
        .await
        .unwrap();
    assert_jaeger_trace(&spoor, trace, "jaeger-grpc-svc").await;
}

#[tokio::test]
async fn jaeger_thrift_http_round_trips_with_a_64_bit_trace_id() {
    let spoor = Spoor::start();
    let trace = TraceId(u128::from(rand::random::<u64>() | 1));
    let body = encode_batch(&jaeger_batch(trace, "jaeger-thrift-svc"), Protocol::Binary);
    let http = reqwest::Client::new();
    let response = http
        .post(format!(
            "http://{}/api/traces?format=jaeger.thrift",
            spoor.addr("jaeger_thrift_http")
        ))
        .header("content-type", "application/x-thrift")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_jaeger_trace(&spoor, trace, "jaeger-thrift-svc").await;
}

#[tokio::test]
async fn agent_udp_datagrams_round_trip_in_both_protocols_and_garbage_is_survived() {
    let spoor = Spoor::start();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (port, protocol) in [
        ("agent_compact", Protocol::Compact),
        ("agent_binary", Protocol::Binary),
    ] {
        let address = spoor.addr(port);
        socket.send_to(b"\x82\x81garbage", address).await.unwrap();
        let trace = random_trace();
        let service = format!("{port}-svc");
        let datagram = encode_emit_batch(&jaeger_batch(trace, &service), protocol, 7);
        assert!(datagram.len() < 65_000);
        socket.send_to(&datagram, address).await.unwrap();
        assert_jaeger_trace(&spoor, trace, &service).await;
    }
    let metrics = reqwest::get(format!("{}/metrics", spoor.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("spoor_receiver_requests_total")
                && l.contains("receiver=\"agent_compact\"")
                && l.contains("outcome=\"invalid\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn zipkin_v1_client_and_server_halves_become_two_spans_kept_apart() {
    let spoor = Spoor::start();
    let trace = random_trace();
    let start = now_ns() / 1000 - 2_000_000;
    let endpoint = |service: &str, ip: &str| serde_json::json!({"serviceName": service, "ipv4": ip, "port": 8080});
    let body = serde_json::json!([{
        "traceId": trace.to_hex32(), "id": format!("{CHILD:016x}"), "name": "get /cart",
        "timestamp": start, "duration": 10_000,
        "annotations": [
            {"timestamp": start, "value": "cs", "endpoint": endpoint("frontend", "10.0.0.1")},
            {"timestamp": start + 2_000, "value": "sr", "endpoint": endpoint("cart", "10.0.0.2")},
            {"timestamp": start + 8_000, "value": "ss", "endpoint": endpoint("cart", "10.0.0.2")},
            {"timestamp": start + 10_000, "value": "cr", "endpoint": endpoint("frontend", "10.0.0.1")}
        ],
        "binaryAnnotations": [
            {"key": "http.path", "value": "/cart", "endpoint": endpoint("frontend", "10.0.0.1")},
            {"key": "error", "value": "timeout", "endpoint": endpoint("cart", "10.0.0.2")}
        ]
    }]);
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/v1/spans", spoor.zipkin_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let found = eventually(5, || async {
        fetch_trace(&http, &spoor, trace)
            .await
            .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == 2))
    })
    .await;
    let spans = found["spans"].as_array().unwrap();
    // Both halves are stored with the one id; the Jaeger API's span-id
    // adjuster then gives the server half a fresh id and makes it a child of
    // the client half, as Jaeger's query service does for Zipkin shared spans.
    let shared_id = format!("{CHILD:016x}");
    assert!(
        spans
            .iter()
            .all(|s| s["spanID"] == shared_id || s["references"][0]["spanID"] == shared_id),
        "{found}"
    );
    let kinds: Vec<&str> = spans
        .iter()
        .map(|s| tag(s, "span.kind").unwrap()["value"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"client") && kinds.contains(&"server"),
        "{kinds:?}"
    );
    let server = spans
        .iter()
        .find(|s| tag(s, "span.kind").unwrap()["value"] == "server")
        .unwrap();
    assert_eq!(server["duration"], 6_000);
    // The v1 `error` binary annotation makes the server half an error span.
    assert_eq!(tag(server, "error").unwrap()["value"], true, "{server}");
}

/// Writes a Zipkin v1 Thrift `Endpoint` (10.0.0.<host>:8080).
fn v1_endpoint(w: &mut ThriftWriter, service: &str, host: u8) {
    w.struct_begin();
    w.field(1, TType::I32);
    w.i32(0x0a00_0000 | i32::from(host));
    w.field(2, TType::I16);
    w.i16(8080);
    w.field(3, TType::Binary);
    w.binary(service.as_bytes());
    w.struct_end();
}

/// Writes a Zipkin v1 Thrift `Span` (zipkinCore.thrift field ids) with its
/// core annotations on `service` and string binary annotations.
#[allow(clippy::too_many_arguments)]
fn v1_span(
    w: &mut ThriftWriter,
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &str,
    service: &str,
    annotations: &[(u64, &str)],
    tags: &[(&str, &str)],
) {
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(trace.low() as i64);
    w.field(3, TType::Binary);
    w.binary(name.as_bytes());
    w.field(4, TType::I64);
    w.i64(id as i64);
    if let Some(parent) = parent {
        w.field(5, TType::I64);
        w.i64(parent as i64);
    }
    w.field(6, TType::List);
    w.list_begin(TType::Struct, annotations.len());
    for (timestamp, value) in annotations {
        w.struct_begin();
        w.field(1, TType::I64);
        w.i64(*timestamp as i64);
        w.field(2, TType::Binary);
        w.binary(value.as_bytes());
        w.field(3, TType::Struct);
        v1_endpoint(w, service, 1);
        w.struct_end();
    }
    w.field(8, TType::List);
    w.list_begin(TType::Struct, tags.len());
    for (key, value) in tags {
        w.struct_begin();
        w.field(1, TType::Binary);
        w.binary(key.as_bytes());
        w.field(2, TType::Binary);
        w.binary(value.as_bytes());
        w.field(3, TType::I32);
        w.i32(6); // AnnotationType.STRING
        w.field(4, TType::Struct);
        v1_endpoint(w, service, 1);
        w.struct_end();
    }
    let first = annotations.first().map_or(0, |a| a.0);
    let last = annotations.last().map_or(0, |a| a.0);
    w.field(10, TType::I64);
    w.i64(first as i64);
    w.field(11, TType::I64);
    w.i64((last - first) as i64);
    w.field(12, TType::I64);
    w.i64(trace.high() as i64);
    w.struct_end();
}

#[tokio::test]
async fn zipkin_v1_thrift_round_trips_through_the_jaeger_api() {
    let spoor = Spoor::start();
    let trace = random_trace();
    let start = now_ns() / 1000 - 2_000_000;
    let mut w = ThriftWriter::new(Protocol::Binary);
    w.list_begin(TType::Struct, 2);
    v1_span(
        &mut w,
        trace,
        ROOT,
        None,
        "get /cart",
        "frontend",
        &[(start, "sr"), (start + 20_000, "ss")],
        &[("http.path", "/cart")],
    );
    v1_span(
        &mut w,
        trace,
        CHILD,
        Some(ROOT),
        "select cart",
        "frontend",
        &[(start + 2_000, "cs"), (start + 9_000, "cr")],
        &[("error", "timeout")],
    );
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/v1/spans", spoor.zipkin_url()))
        .header("content-type", "application/x-thrift")
        .body(w.into_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let found = eventually(5, || async {
        fetch_trace(&http, &spoor, trace)
            .await
            .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == 2))
    })
    .await;
    assert_eq!(found["traceID"], trace.to_jaeger_hex());
    let root = span_named(&found, "get /cart");
    let child = span_named(&found, "select cart");
    let process = &found["processes"][root["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], "frontend");
    assert_eq!(root["spanID"], format!("{ROOT:016x}"));
    assert_eq!(root["startTime"], start);
    assert_eq!(root["duration"], 20_000);
    assert_eq!(tag(root, "span.kind").unwrap()["value"], "server");
    assert_eq!(tag(root, "http.path").unwrap()["value"], "/cart");
    assert!(tag(root, "error").is_none());
    assert_eq!(child["spanID"], format!("{CHILD:016x}"));
    assert_eq!(child["duration"], 7_000);
    assert_eq!(tag(child, "span.kind").unwrap()["value"], "client");
    let reference = &child["references"][0];
    assert_eq!(reference["refType"], "CHILD_OF");
    assert_eq!(reference["spanID"], format!("{ROOT:016x}"));
    // A v1 `error` binary annotation makes the span an error span.
    assert_eq!(tag(child, "error").unwrap()["value"], true, "{child}");
}

/// Limits of the overload test, small so that 48 posts of 1000 spans each
/// overfill both the pipeline queue and the live buffer's hard bound.
const QUEUE_CAPACITY: u64 = 1;
const LIVE_MAX_BYTES: u64 = 512 << 10;
const LIVE_HARD_MAX_BYTES: u64 = 1 << 20;
const MAX_BODY_BYTES: u64 = 512 << 10;
const POSTS: u64 = 48;
const SPANS_PER_POST: u64 = 1000;

#[tokio::test]
async fn overfilled_pipeline_answers_429_and_503_style_back_off_and_keeps_every_success() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny-limits.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:\n  pipeline:\n    queue_capacity: {QUEUE_CAPACITY}\n    max_batches_per_write: 1\n  \
             retry_after_seconds: 2\n  jaeger_thrift_http:\n    max_body_bytes: {MAX_BODY_BYTES}\n\
             storage:\n  live_max_bytes: {LIVE_MAX_BYTES}\n  live_hard_max_bytes: {LIVE_HARD_MAX_BYTES}\n"
        ),
    )
    .unwrap();
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let baseline_rss = spoor.peak_rss_bytes();
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/traces", spoor.addr("jaeger_thrift_http"));
    let posts = (0..POSTS).map(|_| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let trace = random_trace();
            let mut batch = jaeger_batch(trace, "overload-svc");
            for i in 0..SPANS_PER_POST {
                let mut extra = batch.spans[1].clone();
                extra.span_id = Bytes::copy_from_slice(&(0x1000 + i).to_be_bytes());
                batch.spans.push(extra);
            }
            let body = encode_batch(&batch, Protocol::Binary);
            assert!(body.len() as u64 <= MAX_BODY_BYTES, "{} bytes", body.len());
            let response = http
                .post(&url)
                .header("content-type", "application/vnd.apache.thrift.binary")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (trace, response.status().as_u16(), retry_after)
        }
    });
    let results = futures::future::join_all(posts).await;
    let mut accepted = Vec::new();
    let mut throttled = 0;
    for (trace, status, retry_after) in results {
        match status {
            202 => accepted.push(trace),
            429 | 503 => {
                throttled += 1;
                assert_eq!(retry_after.as_deref(), Some("2"));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // How many posts are throttled depends on how the writer and flusher
    // threads interleave with the posts, so it is only reported: asserting
    // on it would make the test flaky on a slow machine.
    eprintln!(
        "overload: {} accepted, {throttled} throttled",
        accepted.len()
    );
    // Memory stays bounded by the limits: the live buffer's hard bound, and
    // every post in flight or queued holding its body and decoded spans (a
    // generous 8× the body limit each), above what the idle server used,
    // plus a fixed allowance for RocksDB's memtables and the allocator.
    let in_memory_posts = POSTS + QUEUE_CAPACITY;
    let bound =
        baseline_rss + LIVE_HARD_MAX_BYTES + in_memory_posts * 8 * MAX_BODY_BYTES + (128 << 20);
    let peak_rss = spoor.peak_rss_bytes();
    eprintln!(
        "overload: peak RSS {} MiB (idle {} MiB, bound {} MiB)",
        peak_rss >> 20,
        baseline_rss >> 20,
        bound >> 20
    );
    assert!(
        peak_rss <= bound,
        "peak RSS {peak_rss} bytes above the bound {bound} (idle {baseline_rss})"
    );
    for trace in accepted {
        let found = eventually(30, || async { fetch_trace(&http, &spoor, trace).await }).await;
        assert_eq!(
            found["spans"].as_array().unwrap().len() as u64,
            SPANS_PER_POST + 2
        );
    }
    // Still serving after the storm.
    let trace = random_trace();
    let mut client =
        CollectorServiceClient::connect(format!("http://{}", spoor.addr("jaeger_grpc")))
            .await
            .unwrap();
    let mut attempts = 0;
    loop {
        let request = jaeger::PostSpansRequest {
            batch: Some(jaeger_batch(trace, "after-storm")),
        };
        match client.post_spans(request).await {
            Ok(_) => break,
            Err(status) if status.code() == tonic::Code::ResourceExhausted && attempts < 200 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
    assert_jaeger_trace(&spoor, trace, "after-storm").await;
}
