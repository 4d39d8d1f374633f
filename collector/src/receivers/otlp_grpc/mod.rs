//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! In: `ExportTraceServiceRequest` messages (gzip accepted), at most
//! `otlp_grpc.max_message_bytes` each, as bytes (see `server`), decoded
//! on the CPU stage straight into the canonical model. Out: spans into the
//! pipeline, with their bytes as they arrived; `ExportTraceServiceResponse`
//! (partial success when spans were rejected) or a status from the one
//! error table, with `RetryInfo` when the client should back off (see
//! `reply`).

use bytes::Bytes;
use spoor_proto::otlp::ExportTraceServiceResponse;

use crate::config::CollectorConfig;
use crate::grpc_refusal::RefusalCounting;
use crate::grpc_room::RoomCheck;
use crate::ingest::Ingest;
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

mod reply;
mod server;
#[cfg(test)]
mod tests;

pub use server::TraceServer;

/// Answers `Export` calls.
pub struct OtlpGrpcReceiver {
    ingest: Ingest,
}

impl OtlpGrpcReceiver {
    /// One export: `body` is the encoded `ExportTraceServiceRequest`.
    async fn export(
        &self,
        body: Bytes,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let decode = move || super::decode_otlp_protobuf(body);
        let result = self
            .ingest
            .observe(self.ingest.decode_request_and_submit(decode))
            .await;
        reply::respond(result, self.ingest.retry_after())
    }
}

/// The OTLP trace service, ready for `tonic::transport::Server::add_service`;
/// serve it on port 4317.
///
/// It wraps the trace server so that requests tonic refuses before
/// the receiver runs get the codes OTLP asks for, and are counted
/// (`crate::grpc_refusal`): a message over the size limit is
/// `RESOURCE_EXHAUSTED` without `RetryInfo` (tonic's `OUT_OF_RANGE` would be
/// retried forever by OTLP clients), an undecodable one `INVALID_ARGUMENT`
/// (tonic: `INTERNAL`). While the store has no room, a request is refused
/// before its message is decoded (`crate::grpc_room`).
pub type OtlpGrpcService = RefusalCounting<RoomCheck<TraceServer>>;

/// Builds the OTLP/gRPC service: gzip accepted (and used for answers when
/// the client accepts it), message size capped by the config.
pub fn otlp_grpc_service(pipeline: Pipeline, config: &CollectorConfig) -> OtlpGrpcService {
    let receiver = OtlpGrpcReceiver {
        ingest: Ingest::new(pipeline.clone(), Receiver::OtlpGrpc, config.retry_after()),
    };
    let inner = TraceServer::new(receiver, config.otlp_grpc.max_message_bytes);
    let inner = RoomCheck::new(inner, pipeline, Receiver::OtlpGrpc, config.retry_after());
    RefusalCounting::new(inner, Receiver::OtlpGrpc)
}
