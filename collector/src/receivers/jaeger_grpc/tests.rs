//! Jaeger gRPC receiver tests: a real tonic server on a loopback port, the
//! generated Jaeger client, a real store; every scenario checked for span
//! accounting.
//!
//! In: `PostSpans` requests, plain, gzip, with bad ids, and in overload. Out:
//! checks of responses, status codes, retry hints and of the store.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use spoor_proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use spoor_proto::jaeger::api_v2::{Batch, Process, Span};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_types::StatusExt;

use super::*;
use crate::metrics::{outcome, reason};
use crate::testing::{held_pipeline_with, pipeline_with, run_counted, with_queue_full};

/// Serves the receiver on a free loopback port and returns a channel to it.
async fn serve_channel(pipeline: Pipeline, config: &CollectorConfig) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(jaeger_grpc_service(pipeline, config))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn serve(pipeline: Pipeline, config: &CollectorConfig) -> CollectorServiceClient<Channel> {
    CollectorServiceClient::new(serve_channel(pipeline, config).await)
        .max_encoding_message_size(64 << 20)
}

/// A message that puts a number where `PostSpansRequest` has `batch` (field
/// 1, a length-delimited message), so the server cannot decode it.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAPostSpansRequest {
    #[prost(uint64, tag = "1")]
    batch: u64,
}

fn request(trace: u128, spans: u64) -> PostSpansRequest {
    let span = |id: u64| Span {
        trace_id: Bytes::copy_from_slice(&trace.to_be_bytes()),
        span_id: Bytes::copy_from_slice(&id.to_be_bytes()),
        operation_name: "GET /cart".into(),
        start_time: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 0,
        }),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 5_000_000,
        }),
        ..Default::default()
    };
    PostSpansRequest {
        batch: Some(Batch {
            spans: (1..=spans).map(span).collect(),
            process: Some(Process {
                service_name: "checkout".into(),
                tags: vec![],
            }),
        }),
    }
}

#[test]
fn post_spans_is_stored_and_answered() {
    let (_, counters) = run_counted(Receiver::JaegerGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        client.post_spans(request(41, 3)).await.unwrap();
        assert_eq!(store.span_count(41), 3);
    });
    assert_eq!(
        counters.requests(Receiver::JaegerGrpc, outcome::ACCEPTED),
        1
    );
    assert_eq!(counters.accepted(Receiver::JaegerGrpc), 3);
}

#[test]
fn gzip_and_empty_requests_are_accepted() {
    run_counted(Receiver::JaegerGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default())
            .await
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip);
        client.post_spans(request(42, 2)).await.unwrap();
        assert_eq!(store.span_count(42), 2);
        client
            .post_spans(PostSpansRequest::default())
            .await
            .unwrap();
    });
}

#[test]
fn spans_with_bad_ids_are_dropped_and_counted_the_rest_stored() {
    let (_, counters) = run_counted(Receiver::JaegerGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        let mut request = request(43, 3);
        let batch = request.batch.as_mut().unwrap();
        batch.spans[0].span_id = Bytes::from_static(&[0; 8]);
        batch.spans[1].trace_id = Bytes::from_static(&[1; 5]);
        client.post_spans(request).await.unwrap();
        assert_eq!(store.span_count(43), 1);
    });
    assert_eq!(counters.rejected(Receiver::JaegerGrpc, reason::INVALID), 2);
}

#[test]
fn overload_is_resource_exhausted_with_retry_info_and_every_success_is_stored() {
    let (_, counters) = run_counted(Receiver::JaegerGrpc, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        config.retry_after_seconds = 3;
        let (store, pipeline, hold) = held_pipeline_with(&config);
        let client = serve(pipeline.clone(), &config).await;
        let mut first = client.clone();
        let refused = (2..=64u128).map(|trace| {
            let mut client = client.clone();
            async move { client.post_spans(request(trace, 50)).await }
        });
        let (accepted, refused) = with_queue_full(
            &pipeline,
            hold,
            first.post_spans(request(1, 50)),
            join_all(refused),
        )
        .await;
        accepted.expect("the queued batch is acknowledged");
        assert_eq!(store.span_count(1), 50, "acknowledged trace is missing");
        for status in refused {
            let status = status.expect_err("the queue was full");
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            let retry = status.get_details_retry_info().expect("retry info");
            assert_eq!(retry.retry_delay, Some(Duration::from_secs(3)));
        }
        for trace in 2..=64u128 {
            assert_eq!(store.span_count(trace), 0, "refused trace {trace} stored");
        }
    });
    assert_eq!(
        counters.rejected(Receiver::JaegerGrpc, reason::OVERLOADED),
        63 * 50
    );
}

#[test]
fn oversize_message_is_resource_exhausted_without_retry_info_and_counted() {
    let (_, counters) = run_counted(Receiver::JaegerGrpc, || async {
        let mut config = CollectorConfig::default();
        config.jaeger_grpc.max_message_bytes = 4096;
        let (store, pipeline) = pipeline_with(&config);
        let mut client = serve(pipeline, &config).await;
        let status = client.post_spans(request(45, 200)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(status.get_details_retry_info().is_none());
        assert_eq!(store.span_count(45), 0);
        // A message under the limit still goes through.
        client.post_spans(request(46, 2)).await.unwrap();
        assert_eq!(store.span_count(46), 2);
    });
    assert_eq!(
        counters.requests(Receiver::JaegerGrpc, outcome::TOO_LARGE),
        1
    );
    assert_eq!(
        counters.requests(Receiver::JaegerGrpc, outcome::ACCEPTED),
        1
    );
}

#[test]
fn undecodable_message_is_invalid_argument_and_counted() {
    let (_, counters) = run_counted(Receiver::JaegerGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let channel = serve_channel(pipeline, &CollectorConfig::default()).await;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path =
            http::uri::PathAndQuery::from_static("/jaeger.api_v2.CollectorService/PostSpans");
        let codec = tonic_prost::ProstCodec::<NotAPostSpansRequest, PostSpansResponse>::default();
        let request = tonic::Request::new(NotAPostSpansRequest { batch: 7 });
        let status = grpc.unary(request, path, codec).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    });
    assert_eq!(counters.requests(Receiver::JaegerGrpc, outcome::INVALID), 1);
}

#[test]
fn shutting_down_is_unavailable() {
    run_counted(Receiver::JaegerGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline.clone(), &CollectorConfig::default()).await;
        pipeline.shutdown().await;
        let status = client.post_spans(request(44, 1)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    });
}
