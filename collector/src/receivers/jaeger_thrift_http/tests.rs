//! Jaeger Thrift HTTP receiver tests: the router driven in-process against a
//! real store, every scenario checked for span accounting (`run_counted`).
//!
//! In: Thrift batches (as jaeger-client writes them), wrong content types,
//! garbage, overload. Out: checks of status, headers and the store.

use bytes::Bytes;
use http::StatusCode;
use spoor_proto::jaeger::api_v2::{Batch, Process, Span};
use spoor_proto::jaeger_thrift::encode_batch;
use spoor_proto::thrift::Protocol;

use super::*;
use crate::metrics::{outcome, reason};
use crate::testing::{
    gzip, held_pipeline_with, overload_http, pipeline_with, post, run_counted, send,
};

const THRIFT: (&str, &str) = ("content-type", "application/x-thrift");

/// A binary Thrift batch of `spans` spans of the 64-bit trace `trace`.
fn thrift_batch(trace: u64, spans: u64) -> Vec<u8> {
    let span = |id: u64| Span {
        trace_id: Bytes::copy_from_slice(&u128::from(trace).to_be_bytes()),
        span_id: Bytes::copy_from_slice(&id.to_be_bytes()),
        operation_name: "GET /cart".into(),
        start_time: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let batch = Batch {
        spans: (1..=spans).map(span).collect(),
        process: Some(Process {
            service_name: "checkout".into(),
            tags: vec![],
        }),
    };
    encode_batch(&batch, Protocol::Binary)
}

#[test]
fn thrift_batch_is_stored_and_answered_202_with_either_media_type() {
    let (_, counters) = run_counted(Receiver::JaegerThriftHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = jaeger_thrift_http_router(pipeline, &CollectorConfig::default());
        let path = format!("{TRACES_PATH}?format=jaeger.thrift");
        let reply = send(&router, post(&path, &[THRIFT], thrift_batch(0x51, 3))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert!(reply.body.is_empty());
        let other = (
            "content-type",
            "application/vnd.apache.thrift.binary; charset=x",
        );
        let reply = send(&router, post(TRACES_PATH, &[other], thrift_batch(0x52, 1))).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x51), 3);
        assert_eq!(store.span_count(0x52), 1);
    });
    assert_eq!(counters.accepted(Receiver::JaegerThriftHttp), 4);
}

#[test]
fn gzip_body_is_decompressed() {
    run_counted(Receiver::JaegerThriftHttp, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = jaeger_thrift_http_router(pipeline, &CollectorConfig::default());
        let headers = [THRIFT, ("content-encoding", "gzip")];
        let reply = send(
            &router,
            post(TRACES_PATH, &headers, gzip(&thrift_batch(0x53, 2))),
        )
        .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        assert_eq!(store.span_count(0x53), 2);
    });
}

#[test]
fn other_content_types_are_400_like_jaeger() {
    let (_, counters) = run_counted(Receiver::JaegerThriftHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = jaeger_thrift_http_router(pipeline, &CollectorConfig::default());
        let json = ("content-type", "application/json");
        let reply = send(&router, post(TRACES_PATH, &[json], thrift_batch(0x54, 1))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.text(), "Unsupported content type: application/json");
    });
    assert_eq!(
        counters.requests(Receiver::JaegerThriftHttp, outcome::INVALID),
        1
    );
}

#[test]
fn garbage_is_400_unable_to_process() {
    run_counted(Receiver::JaegerThriftHttp, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let router = jaeger_thrift_http_router(pipeline, &CollectorConfig::default());
        let reply = send(
            &router,
            post(TRACES_PATH, &[THRIFT], vec![15u8, 0, 2, 12, 0x7f]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.text().starts_with("Unable to process request body: "),
            "{}",
            reply.text()
        );
    });
}

#[test]
fn oversize_body_is_413() {
    run_counted(Receiver::JaegerThriftHttp, || async {
        let mut config = CollectorConfig::default();
        config.jaeger_thrift_http.max_body_bytes = 100;
        let (_store, pipeline) = pipeline_with(&config);
        let router = jaeger_thrift_http_router(pipeline, &config);
        let reply = send(
            &router,
            post(TRACES_PATH, &[THRIFT], thrift_batch(0x55, 20)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    });
}

#[test]
fn overload_answers_429_with_retry_after_and_stores_every_success() {
    let (_, counters) = run_counted(Receiver::JaegerThriftHttp, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        let held = held_pipeline_with(&config);
        let router = jaeger_thrift_http_router(held.1.clone(), &config);
        let batch = |trace| post(TRACES_PATH, &[THRIFT], thrift_batch(trace, 50));
        overload_http(held, &router, batch, StatusCode::ACCEPTED, "1").await;
    });
    assert_eq!(
        counters.rejected(Receiver::JaegerThriftHttp, reason::OVERLOADED),
        63 * 50
    );
}
