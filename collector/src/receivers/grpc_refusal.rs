//! gRPC requests that tonic refuses before a receiver runs: answered with the
//! codes OTLP asks for and counted, the same for every gRPC receiver.
//!
//! In: the HTTP/2 responses of a tonic-generated server (OTLP's
//! `TraceService`, Jaeger's `CollectorService`). Out: the same responses,
//! except that a message over the size limit is `RESOURCE_EXHAUSTED` without
//! `RetryInfo` (tonic says `OUT_OF_RANGE`, which OTLP clients retry forever)
//! and an undecodable one `INVALID_ARGUMENT` (tonic says `INTERNAL`); each
//! such refusal is counted in the receiver's request metrics
//! (`too_large`, `invalid`), since the receiver never saw the request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderValue;
use tonic::server::NamedService;

use crate::metrics::{self, outcome};
use crate::receivers::Receiver;

pub(crate) const GRPC_STATUS: &str = "grpc-status";
pub(crate) const GRPC_MESSAGE: &str = "grpc-message";

/// A tonic-generated gRPC server wrapped so that the requests tonic refuses
/// get OTLP's codes and are counted for `receiver`; serve it like the
/// server it wraps.
#[derive(Clone)]
pub struct RefusalCounting<S> {
    inner: S,
    receiver: Receiver,
}

impl<S> RefusalCounting<S> {
    /// Wraps `inner`, counting its refusals for `receiver`.
    pub(crate) fn new(inner: S, receiver: Receiver) -> RefusalCounting<S> {
        RefusalCounting { inner, receiver }
    }
}

impl<S: NamedService> NamedService for RefusalCounting<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for RefusalCounting<S>
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
        let receiver = self.receiver;
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            // Requests tonic refuses never reach the receiver; count these here.
            if let Some(refusal) = rewrite_tonic_refusal(response.headers_mut()) {
                metrics::request_finished(receiver, refusal, started.elapsed());
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
