//! OTLP/gRPC receiver tests: a real tonic server on a loopback port, a tonic
//! client, a real store; every scenario checked for span accounting.
//!
//! In: export requests, good, partly bad, oversize, and in overload. Out:
//! checks of responses, status codes and retry hints, and of the store.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use spoor_proto::otlp::trace_service_client::TraceServiceClient;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_types::StatusExt;

use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{Span, TracesData};
use spoor_proto::otlp::ExportTraceServiceRequest;
use tonic::codec::CompressionEncoding;

use super::*;
use crate::metrics::{outcome, reason};
use crate::testing::{
    held_pipeline_with, pipeline_with, run_counted, span, traces, with_queue_full, TestStore,
};

/// Serves the receiver on a free loopback port and returns a channel to it.
async fn serve_channel(pipeline: Pipeline, config: &CollectorConfig) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let service = otlp_grpc_service(pipeline, config);
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Serves the receiver and returns a connected OTLP client.
async fn serve(pipeline: Pipeline, config: &CollectorConfig) -> TraceServiceClient<Channel> {
    TraceServiceClient::new(serve_channel(pipeline, config).await)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// Sends `message` as the request of the gRPC method at `path`: for
/// messages and methods the OTLP client cannot send.
async fn call<M: prost::Message + Send + Sync + 'static>(
    channel: Channel,
    path: &'static str,
    message: M,
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<M, ExportTraceServiceResponse>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(message), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

/// A message that puts a number where OTLP has `resource_spans` (field 1,
/// a length-delimited message), so the server cannot decode it.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAnExportRequest {
    #[prost(uint64, tag = "1")]
    resource_spans: u64,
}

fn request(trace: u128, spans: u64) -> ExportTraceServiceRequest {
    let data = traces(
        "checkout",
        (1..=spans).map(|id| span(trace, id, "GET /cart")).collect(),
    );
    ExportTraceServiceRequest {
        resource_spans: data.resource_spans,
    }
}

#[test]
fn export_is_stored_and_answered_without_partial_success() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        let response = client.export(request(31, 4)).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);
        assert_eq!(store.span_count(31), 4);
    });
    assert_eq!(counters.requests(Receiver::OtlpGrpc, outcome::ACCEPTED), 1);
    assert_eq!(counters.accepted(Receiver::OtlpGrpc), 4);
}

#[test]
fn gzip_compressed_export_is_accepted() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let client = serve(pipeline, &CollectorConfig::default()).await;
        let mut client = client
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip);
        client.export(request(32, 2)).await.unwrap();
        assert_eq!(store.span_count(32), 2);
    });
}

#[test]
fn empty_export_succeeds() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        let response = client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.partial_success, None);
    });
}

#[test]
fn another_method_of_the_trace_service_is_unimplemented() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let channel = serve_channel(pipeline, &CollectorConfig::default()).await;
        let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Import";
        let status = call(channel, path, request(37, 1)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    });
}

#[test]
fn invalid_id_lengths_give_partial_success_and_keep_the_rest() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        let mut bad_span_id = span(33, 1, "bad");
        bad_span_id.span_id = vec![9u8; 7].into();
        let mut short_trace_id = span(33, 2, "bad");
        short_trace_id.trace_id = vec![1u8; 15].into();
        let data = traces(
            "checkout",
            vec![bad_span_id, short_trace_id, span(33, 3, "good")],
        );
        let response = client
            .export(ExportTraceServiceRequest {
                resource_spans: data.resource_spans,
            })
            .await
            .unwrap()
            .into_inner();
        let partial = response.partial_success.expect("partial success");
        assert_eq!(partial.rejected_spans, 2);
        assert!(
            partial.error_message.starts_with("2 spans rejected"),
            "{}",
            partial.error_message
        );
        assert_eq!(store.span_count(33), 1);
    });
    assert_eq!(counters.requests(Receiver::OtlpGrpc, outcome::PARTIAL), 1);
    assert_eq!(counters.rejected(Receiver::OtlpGrpc, reason::INVALID), 2);
}

/// An export request as bytes: `ExportTraceServiceRequest.resource_spans`
/// (field 1) holding already encoded `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
struct EncodedExportRequest {
    #[prost(bytes = "vec", repeated, tag = "1")]
    resource_spans: Vec<Vec<u8>>,
}

/// `ResourceSpans` bytes: `data`'s first resource with one scope of
/// `spans`, each given as its encoded bytes.
fn encoded_resource(data: &TracesData, spans: &[Vec<u8>]) -> Vec<u8> {
    let rs = &data.resource_spans[0];
    let mut scope = Vec::new();
    for span in spans {
        prost::encoding::bytes::encode(2, span, &mut scope);
    }
    let mut out = Vec::new();
    prost::encoding::message::encode(1, rs.resource.as_ref().unwrap(), &mut out);
    prost::encoding::bytes::encode(2, &scope, &mut out);
    out
}

#[test]
fn spans_are_stored_as_they_arrived_unknown_fields_and_all() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let channel = serve_channel(pipeline, &CollectorConfig::default()).await;
        let data = traces("checkout", vec![span(35, 1, "a"), span(35, 2, "b")]);
        let spans = &data.resource_spans[0].scope_spans[0].spans;
        // Each span with a field this model does not know (99, varint 1),
        // and the second with its name twice (the last one counts).
        let mut first = spans[0].encode_to_vec();
        first.extend_from_slice(&[0x98, 0x06, 1]);
        let mut second = spans[1].encode_to_vec();
        prost::encoding::string::encode(5, &"renamed".to_string(), &mut second);
        second.extend_from_slice(&[0x98, 0x06, 1]);
        let request = EncodedExportRequest {
            resource_spans: vec![encoded_resource(&data, &[first, second])],
        };
        call(channel, server::EXPORT_PATH, request)
            .await
            .expect("the export is accepted");
        store.store.flush(true).unwrap();
        let stored = store.store.get_trace(TraceId(35)).unwrap().unwrap();
        let mut names: Vec<String> = stored_spans(&stored).map(|s| s.name.clone()).collect();
        names.sort();
        assert_eq!(names, ["a", "renamed"]);
        assert_eq!(stored.resource_spans[0].service_name(), "checkout");
    });
}

/// Every span of a stored trace, in stored order.
fn stored_spans(trace: &TracesData) -> impl Iterator<Item = &Span> {
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
}

#[test]
fn an_all_zero_parent_is_stored_as_a_root() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline, &CollectorConfig::default()).await;
        let mut child = span(36, 2, "child");
        child.parent_span_id = vec![0u8; 8].into();
        let data = traces("checkout", vec![span(36, 1, "root"), child]);
        client
            .export(ExportTraceServiceRequest {
                resource_spans: data.resource_spans,
            })
            .await
            .unwrap();
        let stored = store.store.get_trace(TraceId(36)).unwrap().unwrap();
        let parents: Vec<usize> = stored_spans(&stored)
            .map(|s| s.parent_span_id.len())
            .collect();
        assert_eq!(parents, [0, 0]);
    });
}

#[test]
fn oversize_message_is_resource_exhausted_without_retry_info() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let mut config = CollectorConfig::default();
        config.otlp_grpc.max_message_bytes = 4096;
        let (_store, pipeline) = pipeline_with(&config);
        let mut client = serve(pipeline, &config).await;
        let status = client.export(request(34, 200)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(status.get_details_retry_info().is_none());
    });
    assert_eq!(counters.requests(Receiver::OtlpGrpc, outcome::TOO_LARGE), 1);
}

#[test]
fn overload_is_resource_exhausted_with_retry_info_and_every_success_is_stored() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        config.retry_after_seconds = 5;
        let (store, pipeline, hold) = held_pipeline_with(&config);
        let client = serve(pipeline.clone(), &config).await;
        let mut first = client.clone();
        let refused = (2..=64u128).map(|trace| {
            let mut client = client.clone();
            async move { client.export(request(trace, 50)).await }
        });
        let (accepted, refused) = with_queue_full(
            &pipeline,
            hold,
            first.export(request(1, 50)),
            join_all(refused),
        )
        .await;
        accepted.expect("the queued export is acknowledged");
        assert_eq!(store.span_count(1), 50, "acknowledged trace is missing");
        for status in refused {
            let status = status.expect_err("the queue was full");
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            let retry = status.get_details_retry_info().expect("retry info");
            assert_eq!(retry.retry_delay, Some(Duration::from_secs(5)));
        }
        for trace in 2..=64u128 {
            assert_eq!(store.span_count(trace), 0, "refused trace {trace} stored");
        }
    });
    assert_eq!(
        counters.rejected(Receiver::OtlpGrpc, reason::OVERLOADED),
        63 * 50
    );
}

#[test]
fn shutting_down_is_unavailable_with_retry_info() {
    run_counted(Receiver::OtlpGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let mut client = serve(pipeline.clone(), &CollectorConfig::default()).await;
        pipeline.shutdown().await;
        let status = client.export(request(35, 1)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.get_details_retry_info().is_some());
    });
}

#[test]
fn undecodable_message_is_invalid_argument() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let channel = serve_channel(pipeline, &CollectorConfig::default()).await;
        let not_an_export = NotAnExportRequest { resource_spans: 7 };
        let status = call(channel, server::EXPORT_PATH, not_an_export)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    });
    assert_eq!(counters.requests(Receiver::OtlpGrpc, outcome::INVALID), 1);
}

#[test]
fn while_the_store_has_no_room_a_request_is_refused_before_it_is_decoded() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        // A buffer whose hard bound one held span exceeds, its flusher held.
        let store = TestStore::open_full();
        let mut config = CollectorConfig {
            retry_after_seconds: 5,
            ..Default::default()
        };
        config.pipeline.overload_wait_ms = 50;
        let pipeline = Pipeline::start(std::sync::Arc::clone(&store.store), &config);
        let channel = serve_channel(pipeline.clone(), &config).await;
        let mut client = TraceServiceClient::new(channel.clone());
        client
            .export(request(40, 3))
            .await
            .expect("the first export fits");
        let status = client.export(request(41, 3)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(5)));
        assert_eq!(store.span_count(41), 0);
        // Not decoded at all: an undecodable message gets the same answer.
        let not_an_export = NotAnExportRequest { resource_spans: 7 };
        let status = call(channel, server::EXPORT_PATH, not_an_export)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        pipeline.shutdown().await;
    });
    assert_eq!(
        counters.requests(Receiver::OtlpGrpc, outcome::OVERLOADED),
        2
    );
    assert_eq!(counters.requests(Receiver::OtlpGrpc, outcome::INVALID), 0);
    assert_eq!(counters.received(Receiver::OtlpGrpc), 3);
}

#[test]
fn a_request_that_arrives_while_the_store_is_full_is_stored_once_the_flusher_makes_room() {
    let (_, counters) = run_counted(Receiver::OtlpGrpc, || async {
        let store = TestStore::open_full();
        let mut config = CollectorConfig::default();
        config.pipeline.overload_wait_ms = 60_000;
        let pipeline = Pipeline::start(std::sync::Arc::clone(&store.store), &config);
        let channel = serve_channel(pipeline.clone(), &config).await;
        let mut client = TraceServiceClient::new(channel);
        client
            .export(request(50, 2))
            .await
            .expect("the first export fits");
        let mut waiting = client.clone();
        let second = tokio::spawn(async move { waiting.export(request(51, 2)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "no room yet: the request waits");
        store.release_flusher();
        store.store.flush(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("room was made, so the request goes on")
            .unwrap()
            .expect("stored once there was room");
        assert_eq!(store.span_count(51), 2);
        pipeline.shutdown().await;
    });
    assert_eq!(
        counters.requests(Receiver::OtlpGrpc, outcome::OVERLOADED),
        0
    );
    assert_eq!(counters.received(Receiver::OtlpGrpc), 4);
}
