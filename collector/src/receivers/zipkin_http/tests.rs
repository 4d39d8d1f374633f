//! Zipkin receiver tests: the router driven in-process against a real store,
//! every scenario checked for span accounting (`run_counted`).
//!
//! In: JSON and proto3 span lists, good and bad. Out: checks of status,
//! headers and body of each answer, and of what the store holds.

use http::StatusCode;
use prost::Message;

use super::*;
use crate::metrics::{outcome, reason};
use crate::testing::{
    gzip, gzip_bomb, held_pipeline_with, overload_http, pipeline_with, post, run_counted, send,
};

const JSON: (&str, &str) = ("content-type", "application/json");
const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

/// A JSON span list with `spans` spans of the 64-bit trace `trace`.
fn json_spans(trace: u64, spans: u64) -> String {
    let list: Vec<String> = (1..=spans)
        .map(|id| {
            format!(
                r#"{{"traceId":"{trace:016x}","id":"{id:016x}","kind":"SERVER","name":"get /checkout","timestamp":1717000000123456,"duration":8412,"localEndpoint":{{"serviceName":"frontend","ipv4":"10.1.2.3","port":8080}},"tags":{{"http.method":"GET"}}}}"#
            )
        })
        .collect();
    format!("[{}]", list.join(","))
}

fn config_with_limit(max_body_bytes: usize) -> CollectorConfig {
    let mut config = CollectorConfig::default();
    config.zipkin.max_body_bytes = max_body_bytes;
    config
}

#[test]
fn json_spans_are_stored_and_answered_202_empty() {
    let (_, counters) = run_counted(Receiver::ZipkinHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let reply = send(&router, post(SPANS_V2_PATH, &[JSON], json_spans(0x21, 3))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert!(reply.body.is_empty());
        assert_eq!(store.span_count(0x21), 3);
    });
    assert_eq!(
        counters.requests(Receiver::ZipkinHttp, outcome::ACCEPTED),
        1
    );
    assert_eq!(counters.accepted(Receiver::ZipkinHttp), 3);
}

#[test]
fn json_is_the_default_without_a_content_type() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let reply = send(&router, post(SPANS_V2_PATH, &[], json_spans(0x22, 1))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x22), 1);
    });
}

#[test]
fn gzip_json_is_decompressed() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let headers = [JSON, ("content-encoding", "gzip")];
        let reply = send(
            &router,
            post(
                SPANS_V2_PATH,
                &headers,
                gzip(json_spans(0x23, 2).as_bytes()),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x23), 2);
    });
}

#[test]
fn proto3_spans_are_stored() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let span = spoor_proto::zipkin::Span {
            trace_id: 0x24u64.to_be_bytes().to_vec().into(),
            id: 7u64.to_be_bytes().to_vec().into(),
            kind: 2,
            name: "get /cart".to_string(),
            timestamp: 1_717_000_000_123_456,
            duration: 100,
            local_endpoint: Some(spoor_proto::zipkin::Endpoint {
                service_name: "cart".to_string(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = spoor_proto::zipkin::ListOfSpans { spans: vec![span] }.encode_to_vec();
        let reply = send(&router, post(SPANS_V2_PATH, &[PROTOBUF], body)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x24), 1);
    });
}

#[test]
fn empty_body_and_empty_list_are_202() {
    let (_, counters) = run_counted(Receiver::ZipkinHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        for body in ["", "[]", " \n[]"] {
            let reply = send(&router, post(SPANS_V2_PATH, &[JSON], body)).await;
            assert_eq!(
                reply.status,
                StatusCode::ACCEPTED,
                "body {body:?}: {}",
                reply.text()
            );
        }
    });
    assert_eq!(
        counters.requests(Receiver::ZipkinHttp, outcome::ACCEPTED),
        3
    );
}

#[test]
fn malformed_json_is_400_with_a_text_message() {
    let (_, counters) = run_counted(Receiver::ZipkinHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let reply = send(&router, post(SPANS_V2_PATH, &[JSON], "[{\"traceId\": ")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.header("content-type").starts_with("text/plain"));
        assert!(
            reply.text().starts_with("invalid Zipkin v2 JSON span list"),
            "{}",
            reply.text()
        );
    });
    assert_eq!(counters.requests(Receiver::ZipkinHttp, outcome::INVALID), 1);
}

#[test]
fn protobuf_sent_as_json_gets_a_hint() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let span = spoor_proto::zipkin::Span {
            trace_id: 1u64.to_be_bytes().to_vec().into(),
            id: 1u64.to_be_bytes().to_vec().into(),
            ..Default::default()
        };
        let body = spoor_proto::zipkin::ListOfSpans { spans: vec![span] }.encode_to_vec();
        let reply = send(&router, post(SPANS_V2_PATH, &[JSON], body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply
                .text()
                .contains("Content-Type: application/x-protobuf"),
            "{}",
            reply.text()
        );
    });
}

#[test]
fn corrupt_gzip_is_400_saying_it_cannot_gunzip() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let headers = [JSON, ("content-encoding", "gzip")];
        let reply = send(&router, post(SPANS_V2_PATH, &headers, json_spans(1, 1))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.text().starts_with("cannot gunzip"),
            "{}",
            reply.text()
        );
    });
}

#[test]
fn unknown_content_encoding_is_read_as_identity() {
    run_counted(Receiver::ZipkinHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = zipkin_router(pipeline, &CollectorConfig::default());
        let headers = [JSON, ("content-encoding", "snappy-ish")];
        let reply = send(&router, post(SPANS_V2_PATH, &headers, json_spans(0x25, 1))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x25), 1);
    });
}

#[test]
fn body_over_the_limit_and_gzip_bomb_are_413() {
    let (_, counters) = run_counted(Receiver::ZipkinHttp, || async {
        let config = config_with_limit(1 << 20);
        let (_store, pipeline) = pipeline_with(&config);
        let router = zipkin_router(pipeline, &config);
        let too_big = json_spans(1, 6000);
        assert!(too_big.len() > 1 << 20);
        let reply = send(&router, post(SPANS_V2_PATH, &[JSON], too_big)).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        let headers = [JSON, ("content-encoding", "gzip")];
        let reply = send(&router, post(SPANS_V2_PATH, &headers, gzip_bomb(64 << 20))).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            reply.text().contains("limit of 1048576 bytes"),
            "{}",
            reply.text()
        );
    });
    assert_eq!(
        counters.requests(Receiver::ZipkinHttp, outcome::TOO_LARGE),
        2
    );
}

#[test]
fn overload_answers_429_with_retry_after_and_stores_every_success() {
    let (_, counters) = run_counted(Receiver::ZipkinHttp, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        let held = held_pipeline_with(&config);
        let router = zipkin_router(held.1.clone(), &config);
        let spans = |trace| post(SPANS_V2_PATH, &[JSON], json_spans(trace, 50));
        overload_http(held, &router, spans, StatusCode::ACCEPTED, "1").await;
    });
    assert_eq!(
        counters.rejected(Receiver::ZipkinHttp, reason::OVERLOADED),
        63 * 50
    );
}
