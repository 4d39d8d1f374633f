//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! In: `ExportTraceServiceRequest` messages (gzip accepted), decoded by tonic
//! straight into the canonical model, at most `otlp_grpc.max_message_bytes`
//! each. Out: spans into the pipeline; `ExportTraceServiceResponse` (partial
//! success when spans were rejected) or a status from the one error table,
//! with `RetryInfo` when the client should back off (see `reply`).

use spoor_proto::model::TracesData;
use spoor_proto::otlp::trace_service_server::{TraceService, TraceServiceServer};
use spoor_proto::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;

use crate::config::CollectorConfig;
use crate::grpc_refusal::RefusalCounting;
use crate::grpc_room::RoomCheck;
use crate::ingest::Ingest;
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

mod reply;
#[cfg(test)]
mod tests;

/// The tonic `TraceService` implementation.
pub struct OtlpGrpcReceiver {
    ingest: Ingest,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let data = TracesData {
            resource_spans: request.into_inner().resource_spans,
        };
        let result = self.ingest.observe(self.ingest.submit_decoded(data)).await;
        reply::respond(result, self.ingest.retry_after())
    }
}

/// The OTLP trace service, ready for `tonic::transport::Server::add_service`;
/// serve it on port 4317.
///
/// It wraps tonic's generated server so that requests tonic refuses before
/// the receiver runs get the codes OTLP asks for, and are counted
/// (`crate::grpc_refusal`): a message over the size limit is
/// `RESOURCE_EXHAUSTED` without `RetryInfo` (tonic's `OUT_OF_RANGE` would be
/// retried forever by OTLP clients), an undecodable one `INVALID_ARGUMENT`
/// (tonic: `INTERNAL`). While the store has no room, a request is refused
/// before its message is decoded (`crate::grpc_room`).
pub type OtlpGrpcService = RefusalCounting<RoomCheck<TraceServiceServer<OtlpGrpcReceiver>>>;

/// Builds the OTLP/gRPC service: gzip accepted (and used for answers when
/// the client accepts it), message size capped by the config.
pub fn otlp_grpc_service(pipeline: Pipeline, config: &CollectorConfig) -> OtlpGrpcService {
    let receiver = OtlpGrpcReceiver {
        ingest: Ingest::new(pipeline.clone(), Receiver::OtlpGrpc, config.retry_after()),
    };
    let inner = TraceServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(config.otlp_grpc.max_message_bytes);
    let inner = RoomCheck::new(inner, pipeline, Receiver::OtlpGrpc, config.retry_after());
    RefusalCounting::new(inner, Receiver::OtlpGrpc)
}
