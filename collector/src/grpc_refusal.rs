//! gRPC requests that tonic refuses before a service's code runs: answered
//! with the codes OTLP asks for and counted, the same for every gRPC service
//! Spoor serves.
//!
//! In: the HTTP/2 responses of a tonic server (OTLP's `TraceService`, on
//! tonic's `Grpc` with a codec that keeps the message bytes; Jaeger's
//! `CollectorService`, `SamplingManager`, or a whole port's routes such as
//! the query services with health and reflection).
//! Out: the same responses, except that a message over the size limit is
//! `RESOURCE_EXHAUSTED` without `RetryInfo` (tonic says `OUT_OF_RANGE`, which
//! OTLP clients retry forever) and an undecodable one `INVALID_ARGUMENT`
//! (tonic says `INTERNAL`, which blames the server for the client's bytes).
//! Each such refusal is counted (`too_large`, `invalid`), since the
//! service never saw the request: by a receiver in its request metrics
//! ([`Receiver`]), by any other service in
//! `spoor_grpc_requests_refused_total` ([`ByService`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::HeaderValue;
use tonic::server::NamedService;

use crate::metrics::{self, outcome};
use crate::receiver::Receiver;

pub(crate) const GRPC_STATUS: &str = "grpc-status";
pub(crate) const GRPC_MESSAGE: &str = "grpc-message";

/// Who counts the requests tonic refuses.
pub trait RefusalCounter: Clone + Send + 'static {
    /// Counts one refused request to the gRPC method `path`
    /// (`/package.Service/Method`) with `outcome`, answered after `elapsed`.
    fn count(&self, path: &str, outcome: &'static str, elapsed: Duration);
}

/// A receiver counts refusals like the requests it answers itself.
impl RefusalCounter for Receiver {
    fn count(&self, _path: &str, outcome: &'static str, elapsed: Duration) {
        metrics::request_finished(*self, outcome, elapsed);
    }
}

/// The services that are not receivers (query, health, reflection,
/// sampling): refusals counted per gRPC service, named from the request's
/// path, in `spoor_grpc_requests_refused_total`. Only methods that exist get
/// this far (tonic answers `UNIMPLEMENTED` for others), so the service label
/// takes only the names Spoor serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByService;

impl RefusalCounter for ByService {
    fn count(&self, path: &str, outcome: &'static str, _elapsed: Duration) {
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        metrics::grpc_request_refused(service, outcome);
    }
}

/// A tonic gRPC server (or a port's routes) wrapped so that the
/// requests tonic refuses get OTLP's codes and are counted by `C`; serve it
/// like the server it wraps.
#[derive(Clone)]
pub struct RefusalCounting<S, C = Receiver> {
    inner: S,
    counter: C,
}

impl<S, C> RefusalCounting<S, C> {
    /// Wraps `inner`, counting its refusals with `counter`.
    pub fn new(inner: S, counter: C) -> RefusalCounting<S, C> {
        RefusalCounting { inner, counter }
    }
}

impl<S: NamedService, C> NamedService for RefusalCounting<S, C> {
    const NAME: &'static str = S::NAME;
}

/// The same wrapping as a layer, for `tonic::transport::Server::layer`: it
/// wraps every service the server serves on its port.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefusalLayer<C> {
    counter: C,
}

impl<C> RefusalLayer<C> {
    /// A layer counting refusals with `counter`.
    pub fn new(counter: C) -> RefusalLayer<C> {
        RefusalLayer { counter }
    }
}

impl<S, C: Clone> tower::Layer<S> for RefusalLayer<C> {
    type Service = RefusalCounting<S, C>;

    fn layer(&self, inner: S) -> RefusalCounting<S, C> {
        RefusalCounting::new(inner, self.counter.clone())
    }
}

impl<S, C, B> tower::Service<http::Request<B>> for RefusalCounting<S, C>
where
    S: tower::Service<
        http::Request<B>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
    >,
    S::Future: Send + 'static,
    C: RefusalCounter,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let counter = self.counter.clone();
        // A reference-counted copy: the path is read only for a refusal.
        let uri = request.uri().clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            // Requests tonic refuses never reach the service; count these here.
            if let Some(refusal) = rewrite_tonic_refusal(response.headers_mut()) {
                counter.count(uri.path(), refusal, started.elapsed());
            }
            Ok(response)
        })
    }
}

/// A request tonic refused before the service ran, recognised by the
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
pub(crate) fn rewrite_tonic_refusal(headers: &mut http::HeaderMap) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_touches_only_the_refusals_tonic_makes() {
        let mut oversize = http::HeaderMap::new();
        oversize.insert(GRPC_STATUS, HeaderValue::from_static("11"));
        oversize.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("Error,%20decoded%20message%20length%20too%20large"),
        );
        assert_eq!(
            rewrite_tonic_refusal(&mut oversize),
            Some(outcome::TOO_LARGE)
        );
        assert_eq!(oversize[GRPC_STATUS], "8");
        let mut undecodable = http::HeaderMap::new();
        undecodable.insert(GRPC_STATUS, HeaderValue::from_static("13"));
        undecodable.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("failed%20to%20decode%20Protobuf%20message:%20x"),
        );
        assert_eq!(
            rewrite_tonic_refusal(&mut undecodable),
            Some(outcome::INVALID)
        );
        assert_eq!(undecodable[GRPC_STATUS], "3");
        let mut ours = http::HeaderMap::new();
        ours.insert(GRPC_STATUS, HeaderValue::from_static("13"));
        ours.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("internal%20error:%20x"),
        );
        assert_eq!(rewrite_tonic_refusal(&mut ours), None);
        assert_eq!(ours[GRPC_STATUS], "13");
    }
}
