//! OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! In: `ExportTraceServiceRequest` messages (gzip accepted), decoded by tonic
//! straight into the canonical model, at most `otlp_grpc.max_message_bytes`
//! each. Out: spans into the pipeline; `ExportTraceServiceResponse` (partial
//! success when spans were rejected) or a status from the one error table,
//! with `RetryInfo` when the client should back off (see `reply`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderValue;
use spoor_proto::model::TracesData;
use spoor_proto::otlp::trace_service_server::{TraceService, TraceServiceServer};
use spoor_proto::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;

use crate::config::CollectorConfig;
use crate::ingest::Ingest;
use crate::metrics::{self, outcome};
use crate::pipeline::Pipeline;
use crate::receivers::Receiver;

const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";

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
/// the receiver runs get the codes OTLP asks for, and are counted: a message
/// over the size limit is `RESOURCE_EXHAUSTED` without `RetryInfo` (tonic's
/// `OUT_OF_RANGE` would be retried forever by OTLP clients), an undecodable
/// one `INVALID_ARGUMENT` (tonic: `INTERNAL`).
#[derive(Clone)]
pub struct OtlpGrpcService {
    inner: TraceServiceServer<OtlpGrpcReceiver>,
}

/// Builds the OTLP/gRPC service: gzip accepted (and used for answers when
/// the client accepts it), message size capped by the config.
pub fn otlp_grpc_service(pipeline: Pipeline, config: &CollectorConfig) -> OtlpGrpcService {
    let receiver = OtlpGrpcReceiver {
        ingest: Ingest::new(pipeline, Receiver::OtlpGrpc, config.retry_after()),
    };
    let inner = TraceServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(config.otlp_grpc.max_message_bytes);
    OtlpGrpcService { inner }
}

impl NamedService for OtlpGrpcService {
    const NAME: &'static str = <TraceServiceServer<OtlpGrpcReceiver> as NamedService>::NAME;
}

impl<B> tower::Service<http::Request<B>> for OtlpGrpcService
where
    TraceServiceServer<OtlpGrpcReceiver>: tower::Service<
        http::Request<B>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
    >,
    <TraceServiceServer<OtlpGrpcReceiver> as tower::Service<http::Request<B>>>::Future:
        Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            // Requests tonic refuses never reach the receiver; count these here.
            if let Some(refusal) = rewrite_tonic_refusal(response.headers_mut()) {
                metrics::request_finished(Receiver::OtlpGrpc, refusal, started.elapsed());
            }
            Ok(response)
        })
    }
}

/// A request tonic refused before the receiver ran, recognised by the
/// status tonic put in the headers of its trailers-only response: the code
/// it used, a fragment of its (percent-encoded) message, the code OTLP asks
/// for, and the outcome to count.
struct TonicRefusal {
    tonic_code: tonic::Code,
    message_fragment: &'static str,
    otlp_code: tonic::Code,
    outcome: &'static str,
}

const TONIC_REFUSALS: [TonicRefusal; 2] = [
    // OTLP: oversize is RESOURCE_EXHAUSTED without RetryInfo (tonic: OUT_OF_RANGE).
    TonicRefusal {
        tonic_code: tonic::Code::OutOfRange,
        message_fragment: "message%20length%20too%20large",
        otlp_code: tonic::Code::ResourceExhausted,
        outcome: outcome::TOO_LARGE,
    },
    // OTLP: undecodable data is INVALID_ARGUMENT (tonic: INTERNAL).
    TonicRefusal {
        tonic_code: tonic::Code::Internal,
        message_fragment: "failed%20to%20decode%20Protobuf%20message",
        otlp_code: tonic::Code::InvalidArgument,
        outcome: outcome::INVALID,
    },
];

/// Rewrites the status of a request tonic refused to the code OTLP asks for
/// and returns the outcome to count; `None` for every other response.
fn rewrite_tonic_refusal(headers: &mut http::HeaderMap) -> Option<&'static str> {
    let status = headers
        .get(GRPC_STATUS)?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    let message = String::from_utf8_lossy(headers.get(GRPC_MESSAGE)?.as_bytes()).into_owned();
    let refusal = TONIC_REFUSALS.iter().find(|refusal| {
        refusal.tonic_code as i32 == status && message.contains(refusal.message_fragment)
    })?;
    headers.insert(GRPC_STATUS, HeaderValue::from(refusal.otlp_code as i32));
    Some(refusal.outcome)
}
