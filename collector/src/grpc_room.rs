//! gRPC ingest requests refused before their message is decoded while the
//! store has no room.
//!
//! In: the HTTP/2 requests of a receiver's tonic-generated server (OTLP's
//! `TraceService`, Jaeger's `CollectorService`). Out: while the store's
//! buffer is over its hard bound (`Pipeline::check_room`), at once the
//! answer the receiver would give a request it could not store
//! (`RESOURCE_EXHAUSTED` with `RetryInfo`), counted as an `overloaded`
//! request; otherwise the request, untouched, to the server.
//!
//! tonic decodes a message before the service's code runs, so without this
//! every refused request had been decoded first: under a load the flusher
//! cannot keep up with, a third of the requests are refused and retried,
//! and decoding them took CPU time from the flusher.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::server::NamedService;

use crate::error::IngestError;
use crate::metrics;
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;
use crate::rpc_status;

/// A receiver's gRPC server that refuses requests early while the store
/// has no room; serve it like the server it wraps.
#[derive(Clone)]
pub struct RoomCheck<S> {
    inner: S,
    pipeline: Pipeline,
    receiver: Receiver,
    retry_after: Duration,
}

impl<S> RoomCheck<S> {
    /// Wraps `inner`, the server of `receiver` feeding `pipeline`.
    pub fn new(inner: S, pipeline: Pipeline, receiver: Receiver, retry_after: Duration) -> Self {
        RoomCheck {
            inner,
            pipeline,
            receiver,
            retry_after,
        }
    }
}

impl<S: NamedService> NamedService for RoomCheck<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for RoomCheck<S>
where
    S: tower::Service<
        http::Request<B>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
    >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        if let Err(refused) = self.pipeline.check_room() {
            let error = IngestError::from(refused);
            metrics::request_finished(self.receiver, error.outcome(), started.elapsed());
            let status = rpc_status::grpc_status(&error, self.retry_after);
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}
