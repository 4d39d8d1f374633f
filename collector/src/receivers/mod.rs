//! The receivers, one folder per protocol, and the one list of all of them.
//!
//! In: the [`Pipeline`] and the [`CollectorConfig`]. Out: for each receiver a
//! ready-to-serve service (an axum router or tonic routes) with the port it
//! conventionally binds; the binary binds the sockets.
//!
//! Every receiver has the same shape: `mod.rs` builds the service from the
//! pipeline and config and decodes the protocol's requests, then takes the
//! shared path into the pipeline (`crate::ingest`); `reply.rs` turns the
//! outcome into the protocol's answer; `tests.rs` drives it against a real
//! store. To add a receiver: add a variant to [`Receiver`] and a line to
//! [`all`].

use axum::Router;

use crate::config::CollectorConfig;
use crate::pipeline::Pipeline;

pub mod otlp_grpc;
pub mod otlp_http;
pub mod zipkin_http;

/// Which receiver a request came through (the `receiver` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receiver {
    /// OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    OtlpGrpc,
    /// OTLP over HTTP: `POST /v1/traces`.
    OtlpHttp,
    /// Zipkin v2 over HTTP: `POST /api/v2/spans`.
    ZipkinHttp,
}

impl Receiver {
    /// Every receiver.
    pub const ALL: [Receiver; 3] = [Receiver::OtlpGrpc, Receiver::OtlpHttp, Receiver::ZipkinHttp];

    /// The metric label and log name of the receiver.
    pub fn label(self) -> &'static str {
        match self {
            Receiver::OtlpGrpc => "otlp_grpc",
            Receiver::OtlpHttp => "otlp_http",
            Receiver::ZipkinHttp => "zipkin_http",
        }
    }

    /// The port clients and existing configurations expect.
    pub fn default_port(self) -> u16 {
        match self {
            Receiver::OtlpGrpc => 4317,
            Receiver::OtlpHttp => 4318,
            Receiver::ZipkinHttp => 9411,
        }
    }
}

/// A receiver ready to be served.
pub struct ReceiverEndpoint {
    /// Which receiver this is.
    pub receiver: Receiver,
    /// The service to serve on the receiver's port.
    pub service: ReceiverService,
}

/// What kind of server a receiver needs.
pub enum ReceiverService {
    /// Serve with `tonic::transport::Server::builder().add_routes(..)`; more
    /// gRPC services may be added to the same routes.
    Grpc(tonic::service::Routes),
    /// Serve with axum; more routes may be merged into the router.
    Http(Router),
}

/// Every receiver, built from the pipeline and the (validated) config.
/// This is the one place receivers are registered.
pub fn all(pipeline: &Pipeline, config: &CollectorConfig) -> Vec<ReceiverEndpoint> {
    vec![
        ReceiverEndpoint {
            receiver: Receiver::OtlpGrpc,
            service: ReceiverService::Grpc(tonic::service::Routes::new(
                otlp_grpc::otlp_grpc_service(pipeline.clone(), config),
            )),
        },
        ReceiverEndpoint {
            receiver: Receiver::OtlpHttp,
            service: ReceiverService::Http(otlp_http::otlp_http_router(pipeline.clone(), config)),
        },
        ReceiverEndpoint {
            receiver: Receiver::ZipkinHttp,
            service: ReceiverService::Http(zipkin_http::zipkin_router(pipeline.clone(), config)),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pipeline_with;

    #[test]
    fn every_receiver_is_registered_once_with_its_own_port() {
        let (_store, pipeline) = pipeline_with(&CollectorConfig::default());
        let registered: Vec<Receiver> = all(&pipeline, &CollectorConfig::default())
            .into_iter()
            .map(|endpoint| endpoint.receiver)
            .collect();
        assert_eq!(registered, Receiver::ALL);
        let mut ports: Vec<u16> = Receiver::ALL.iter().map(|r| r.default_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), Receiver::ALL.len());
        let mut labels: Vec<&str> = Receiver::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels, ["otlp_grpc", "otlp_http", "zipkin_http"]);
        pipeline.shutdown_blocking();
    }
}
