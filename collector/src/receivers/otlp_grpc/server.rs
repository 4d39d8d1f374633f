//! The OTLP `TraceService` as a tower service, written out instead of
//! generated, so that the receiver gets each request's bytes rather than a
//! decoded message: the receiver decodes them on the CPU stage and hands
//! the spans' own bytes to the store, which then has no span to encode
//! again (`spoor_proto::request_spans`).
//!
//! In: HTTP/2 gRPC requests; `Export` (see [`EXPORT_PATH`]) gets its
//! message, gzip-decompressed and size-capped by tonic, as [`Bytes`]; any
//! other path is `UNIMPLEMENTED`. Out: the receiver's
//! `ExportTraceServiceResponse` or status, encoded by tonic.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use spoor_proto::otlp::ExportTraceServiceResponse;
use tonic::body::Body as TonicBody;
use tonic::codec::{
    BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic_prost::ProstEncoder;

use super::OtlpGrpcReceiver;

/// The OTLP trace service's name.
const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";

/// The path of its one method.
pub(crate) const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type Answer = Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status>;

/// The OTLP trace service, answering with an [`OtlpGrpcReceiver`].
#[derive(Clone)]
pub struct TraceServer {
    receiver: Arc<OtlpGrpcReceiver>,
    accept_compression: EnabledCompressionEncodings,
    send_compression: EnabledCompressionEncodings,
    max_message_bytes: usize,
}

impl TraceServer {
    /// Serves `receiver`, refusing messages over `max_message_bytes`
    /// (after decompression); gzip accepted and used for answers when the
    /// client accepts it.
    pub(crate) fn new(receiver: OtlpGrpcReceiver, max_message_bytes: usize) -> TraceServer {
        let mut accept_compression = EnabledCompressionEncodings::default();
        accept_compression.enable(CompressionEncoding::Gzip);
        TraceServer {
            receiver: Arc::new(receiver),
            accept_compression,
            send_compression: accept_compression,
            max_message_bytes,
        }
    }
}

impl NamedService for TraceServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for TraceServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(tonic::Status::unimplemented("").into_http()) });
        }
        let method = ExportCall(Arc::clone(&self.receiver));
        let mut grpc = Grpc::new(BodyCodec)
            .apply_compression_config(self.accept_compression, self.send_compression)
            .apply_max_message_size_config(Some(self.max_message_bytes), None);
        Box::pin(async move { Ok(grpc.unary(method, request).await) })
    }
}

/// One call of `Export`.
struct ExportCall(Arc<OtlpGrpcReceiver>);

impl UnaryService<Bytes> for ExportCall {
    type Response = ExportTraceServiceResponse;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = Arc::clone(&self.0);
        Box::pin(async move { receiver.export(request.into_inner()).await })
    }
}

/// Requests as their message bytes; answers encoded by prost.
#[derive(Debug, Clone, Copy, Default)]
struct BodyCodec;

impl Codec for BodyCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = BodyDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        BodyDecoder
    }
}

/// Takes the whole message (tonic's buffer split off, not copied).
#[derive(Debug, Clone, Copy, Default)]
struct BodyDecoder;

impl Decoder for BodyDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
