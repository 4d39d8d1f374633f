//! Jaeger gRPC receiver: `jaeger.api_v2.CollectorService/PostSpans`.
//!
//! In: `PostSpansRequest { batch }` messages (gzip accepted), at most
//! `jaeger_grpc.max_message_bytes` each, as the OpenTelemetry collector's
//! Jaeger exporter and Jaeger SDKs in gRPC mode send them. Out: the batch
//! translated by `spoor_proto::jaeger_proto` (on the blocking pool) into the
//! pipeline; an empty `PostSpansResponse` once stored, or a status from the
//! one error table (`RESOURCE_EXHAUSTED` + `RetryInfo` when the pipeline is
//! full, `UNAVAILABLE` + `RetryInfo` when storage fails or shuts down).
//! Requests tonic refuses before the receiver runs are answered and counted
//! as on the OTLP gRPC receiver (`crate::grpc_refusal`): oversize is
//! `RESOURCE_EXHAUSTED` without `RetryInfo`, undecodable `INVALID_ARGUMENT`.

use spoor_proto::jaeger::api_v2::collector_service_server::{
    CollectorService, CollectorServiceServer,
};
use spoor_proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use tonic::codec::CompressionEncoding;

use crate::config::CollectorConfig;
use crate::grpc_refusal::RefusalCounting;
use crate::grpc_room::RoomCheck;
use crate::ingest::Ingest;
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;
use crate::rpc_status;

#[cfg(test)]
mod tests;

/// The tonic `CollectorService` implementation.
pub struct JaegerGrpcReceiver {
    ingest: Ingest,
}

#[tonic::async_trait]
impl CollectorService for JaegerGrpcReceiver {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        let batch = request.into_inner().batch.unwrap_or_default();
        let result =
            self.ingest
                .observe(self.ingest.decode_and_submit(move || {
                    Ok(spoor_proto::jaeger_proto::batch_to_model(batch))
                }))
                .await;
        match result {
            Ok(_) => Ok(tonic::Response::new(PostSpansResponse {})),
            Err(error) => Err(rpc_status::grpc_status(&error, self.ingest.retry_after())),
        }
    }
}

/// The Jaeger collector service, ready for
/// `tonic::transport::Server::add_service`; tonic's refusals are rewritten
/// and counted, and requests refused early while the store has no room, as
/// on OTLP gRPC.
pub type JaegerGrpcService = RefusalCounting<RoomCheck<CollectorServiceServer<JaegerGrpcReceiver>>>;

/// Builds the Jaeger collector service: gzip accepted (and used for answers
/// when the client accepts it), message size capped by the config. Serve it
/// on port 14250.
pub fn jaeger_grpc_service(pipeline: Pipeline, config: &CollectorConfig) -> JaegerGrpcService {
    let receiver = JaegerGrpcReceiver {
        ingest: Ingest::new(pipeline.clone(), Receiver::JaegerGrpc, config.retry_after()),
    };
    let inner = CollectorServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(config.jaeger_grpc.max_message_bytes);
    let inner = RoomCheck::new(inner, pipeline, Receiver::JaegerGrpc, config.retry_after());
    RefusalCounting::new(inner, Receiver::JaegerGrpc)
}
