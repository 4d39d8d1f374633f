//! gRPC ingest requests refused before their message is decoded while the
//! store has no room.
//!
//! In: the HTTP/2 requests of a receiver's tonic server (OTLP's
//! `TraceService`, Jaeger's `CollectorService`). Out: the request,
//! untouched, to the server once the store has room; while the store's
//! buffer is over its hard bound, the request waits (its message not yet
//! read) up to `collector.pipeline.overload_wait_ms` for the flusher to
//! make room (`Pipeline::wait_for_room`), and if there is still none, gets
//! the answer the receiver would give a request it could not store
//! (`RESOURCE_EXHAUSTED` with `RetryInfo`), counted as an `overloaded`
//! request.
//!
//! tonic reads (and for Jaeger decodes) a message before the service's
//! code runs, so without this every refused request had been read first: under a load the flusher
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
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if self.pipeline.has_room() {
            return Box::pin(self.inner.call(request));
        }
        // The server made ready by `poll_ready` goes with the request; this
        // one keeps a fresh clone for the next.
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let pipeline = self.pipeline.clone();
        let receiver = self.receiver;
        let retry_after = self.retry_after;
        Box::pin(async move {
            let started = Instant::now();
            if let Err(refused) = pipeline.wait_for_room().await {
                let error = IngestError::from(refused);
                metrics::request_finished(receiver, error.outcome(), started.elapsed());
                let status = rpc_status::grpc_status(&error, retry_after);
                return Ok(status.into_http());
            }
            ready.call(request).await
        })
    }
}
