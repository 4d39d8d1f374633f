//! OTLP/HTTP receiver tests: the router driven in-process against a real
//! store, every scenario checked for span accounting (`run_counted`).
//!
//! In: protobuf and JSON requests, good and bad. Out: checks of status,
//! headers and body of each answer, and of what the store holds.

use http::StatusCode;
use prost::Message;
use spoor_proto::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};

use super::*;
use crate::metrics::{outcome, reason};
use crate::testing::{
    gzip, gzip_bomb, held_pipeline_with, overload_http, pipeline_with, post, run_counted, send,
    span, traces,
};

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");

fn config_with_limit(max_body_bytes: usize) -> CollectorConfig {
    let mut config = CollectorConfig::default();
    config.otlp_http.max_body_bytes = max_body_bytes;
    config
}

/// An encoded request with `spans` valid spans of `trace`.
fn protobuf_request(trace: u128, spans: u64) -> Vec<u8> {
    let data = traces(
        "checkout",
        (1..=spans).map(|id| span(trace, id, "GET /cart")).collect(),
    );
    ExportTraceServiceRequest {
        resource_spans: data.resource_spans,
    }
    .encode_to_vec()
}

const JSON_REQUEST: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
  "scopeSpans":[{"scope":{"name":"my.lib","version":"1.2.0"},
   "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
     "parentSpanId":"","name":"GET /cart","kind":2,
     "startTimeUnixNano":"1717000000123456789","endTimeUnixNano":"1717000000131868000",
     "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}}],
     "status":{"code":2,"message":"upstream failed"}}]}]}]}"#;
const JSON_TRACE: u128 = 0x5b8efff798038103d269b633813fc60c;

#[test]
fn protobuf_request_is_stored_and_answered_in_protobuf() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let reply = send(
            &router,
            post(TRACES_PATH, &[PROTOBUF], protobuf_request(11, 3)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header("content-type"), "application/x-protobuf");
        let response = ExportTraceServiceResponse::decode(reply.body).unwrap();
        assert_eq!(response.partial_success, None);
        assert_eq!(store.span_count(11), 3);
    });
    assert_eq!(counters.requests(Receiver::OtlpHttp, outcome::ACCEPTED), 1);
    assert_eq!(counters.accepted(Receiver::OtlpHttp), 3);
}

#[test]
fn json_request_is_stored_and_answered_in_json() {
    run_counted(Receiver::OtlpHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let headers = [("content-type", "application/json; charset=utf-8")];
        let reply = send(&router, post(TRACES_PATH, &headers, JSON_REQUEST)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header("content-type"), "application/json");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(body.is_object(), "{body}");
        assert_eq!(store.span_count(JSON_TRACE), 1);
    });
}

#[test]
fn gzip_request_is_decompressed() {
    run_counted(Receiver::OtlpHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let headers = [PROTOBUF, ("content-encoding", "gzip")];
        let reply = send(
            &router,
            post(TRACES_PATH, &headers, gzip(&protobuf_request(12, 2))),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(store.span_count(12), 2);
    });
}

#[test]
fn empty_protobuf_request_succeeds() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let reply = send(&router, post(TRACES_PATH, &[PROTOBUF], Vec::new())).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    });
    assert_eq!(counters.requests(Receiver::OtlpHttp, outcome::ACCEPTED), 1);
}

#[test]
fn invalid_id_lengths_give_partial_success_and_keep_the_rest() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let mut short_trace_id = span(13, 1, "bad");
        short_trace_id.trace_id = vec![1u8; 15].into();
        let data = traces("checkout", vec![short_trace_id, span(13, 2, "good")]);
        let request = ExportTraceServiceRequest {
            resource_spans: data.resource_spans,
        }
        .encode_to_vec();
        let reply = send(&router, post(TRACES_PATH, &[PROTOBUF], request)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let partial = ExportTraceServiceResponse::decode(reply.body)
            .unwrap()
            .partial_success
            .expect("partial success");
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial.error_message.starts_with("1 span rejected"),
            "{}",
            partial.error_message
        );
        assert_eq!(store.span_count(13), 1);
    });
    assert_eq!(counters.requests(Receiver::OtlpHttp, outcome::PARTIAL), 1);
    assert_eq!(counters.rejected(Receiver::OtlpHttp, reason::INVALID), 1);
    assert_eq!(counters.accepted(Receiver::OtlpHttp), 1);
}

#[test]
fn invalid_ids_in_json_give_partial_success_in_json() {
    run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let request = JSON_REQUEST.replace("EEE19B7EC3C1B174", "0000000000000000");
        let reply = send(&router, post(TRACES_PATH, &[JSON], request)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let rejected = &body["partialSuccess"]["rejectedSpans"];
        assert!(rejected == "1" || rejected == 1, "{body}");
    });
}

#[test]
fn unsupported_content_type_is_415_naming_the_supported_types() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let reply = send(
            &router,
            post(TRACES_PATH, &[("content-type", "text/plain")], "hi"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            reply
                .text()
                .contains("application/json, application/x-protobuf"),
            "{}",
            reply.text()
        );
        let reply = send(&router, post(TRACES_PATH, &[], "hi")).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    });
    assert_eq!(
        counters.requests(Receiver::OtlpHttp, outcome::UNSUPPORTED),
        2
    );
}

#[test]
fn unknown_content_encoding_is_415() {
    run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let headers = [PROTOBUF, ("content-encoding", "br")];
        let reply = send(&router, post(TRACES_PATH, &headers, protobuf_request(1, 1))).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(reply.header("content-type"), "application/x-protobuf");
        let status = tonic_types::pb::Status::decode(reply.body).unwrap();
        assert!(status.message.contains("\"br\""), "{}", status.message);
    });
}

#[test]
fn body_over_the_limit_is_413_compressed_or_not() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let config = config_with_limit(1024);
        let (_store, pipeline) = pipeline_with(&config);
        let router = otlp_http_router(pipeline, &config);
        let big = protobuf_request(14, 40);
        assert!(big.len() > 1024);
        let reply = send(&router, post(TRACES_PATH, &[PROTOBUF], big.clone())).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        let compressed_noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let headers = [PROTOBUF, ("content-encoding", "gzip")];
        let reply = send(
            &router,
            post(TRACES_PATH, &headers, gzip(&compressed_noise)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    });
    assert_eq!(counters.requests(Receiver::OtlpHttp, outcome::TOO_LARGE), 2);
}

#[test]
fn gzip_bomb_is_413_without_inflating_it() {
    run_counted(Receiver::OtlpHttp, || async {
        let config = config_with_limit(1 << 20);
        let (_store, pipeline) = pipeline_with(&config);
        let router = otlp_http_router(pipeline, &config);
        // About 64 KiB compressed, 64 MiB inflated.
        let bomb = gzip_bomb(64 << 20);
        assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
        let headers = [JSON, ("content-encoding", "gzip")];
        let reply = send(&router, post(TRACES_PATH, &headers, bomb)).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reply.header("content-type"), "application/json");
    });
}

#[test]
fn malformed_protobuf_is_400_with_a_status_naming_the_problem() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let reply = send(
            &router,
            post(TRACES_PATH, &[PROTOBUF], vec![0x0a, 0xff, 0xff, 0xff]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.header("retry-after").is_empty());
        let status = tonic_types::pb::Status::decode(reply.body).unwrap();
        assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
        assert!(
            status.message.starts_with("invalid OTLP protobuf request"),
            "{}",
            status.message
        );
    });
    assert_eq!(counters.requests(Receiver::OtlpHttp, outcome::INVALID), 1);
}

#[test]
fn malformed_json_is_400_with_a_json_status_naming_the_problem() {
    run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let reply = send(&router, post(TRACES_PATH, &[JSON], "{\"resourceSpans\": [")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.header("content-type"), "application/json");
        let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(status["code"], tonic::Code::InvalidArgument as i32);
        assert!(
            status["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid OTLP JSON request"),
            "{status}"
        );
    });
}

#[test]
fn corrupt_gzip_is_400() {
    run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let headers = [JSON, ("content-encoding", "gzip")];
        let reply = send(&router, post(TRACES_PATH, &headers, JSON_REQUEST)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(
            status["message"].as_str().unwrap().contains("gunzip"),
            "{status}"
        );
    });
}

#[test]
fn other_methods_are_405() {
    run_counted(Receiver::OtlpHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = otlp_http_router(pipeline, &CollectorConfig::default());
        let request = http::Request::get(TRACES_PATH).body(Body::empty()).unwrap();
        let reply = send(&router, request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.header("allow"), "POST");
        assert!(reply.text().contains("supported: [POST]"));
    });
}

#[test]
fn overload_answers_429_with_retry_after_and_stores_every_success() {
    let (_, counters) = run_counted(Receiver::OtlpHttp, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        config.retry_after_seconds = 7;
        let held = held_pipeline_with(&config);
        let router = otlp_http_router(held.1.clone(), &config);
        let export =
            |trace: u64| post(TRACES_PATH, &[PROTOBUF], protobuf_request(trace.into(), 50));
        for reply in overload_http(held, &router, export, StatusCode::OK, "7").await {
            let status = tonic_types::pb::Status::decode(reply.body.clone()).unwrap();
            assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
        }
    });
    assert_eq!(
        counters.requests(Receiver::OtlpHttp, outcome::OVERLOADED),
        63
    );
    assert_eq!(
        counters.rejected(Receiver::OtlpHttp, reason::OVERLOADED),
        63 * 50
    );
}
