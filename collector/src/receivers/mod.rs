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
//! store. The gRPC receivers share [`grpc_refusal`]: requests tonic refuses
//! (oversize, undecodable) get OTLP's codes and are counted. To add a
//! receiver: add a variant to [`Receiver`] and a line to [`all`].

use axum::Router;

use crate::config::CollectorConfig;
use crate::pipeline::Pipeline;

pub mod agent_udp;
pub mod grpc_refusal;
pub mod jaeger_grpc;
pub mod jaeger_thrift_http;
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
    /// Zipkin v1 over HTTP: `POST /api/v1/spans`, served on the Zipkin port.
    ZipkinV1Http,
    /// Jaeger over gRPC: `jaeger.api_v2.CollectorService/PostSpans`.
    JaegerGrpc,
    /// Jaeger Thrift over HTTP: `POST /api/traces`.
    JaegerThriftHttp,
    /// Jaeger agent over UDP, compact Thrift: `Agent.emitBatch`.
    AgentCompact,
    /// Jaeger agent over UDP, binary Thrift: `Agent.emitBatch`.
    AgentBinary,
}

impl Receiver {
    /// Every receiver.
    pub const ALL: [Receiver; 8] = [
        Receiver::OtlpGrpc,
        Receiver::OtlpHttp,
        Receiver::ZipkinHttp,
        Receiver::ZipkinV1Http,
        Receiver::JaegerGrpc,
        Receiver::JaegerThriftHttp,
        Receiver::AgentCompact,
        Receiver::AgentBinary,
    ];

    /// The metric label and log name of the receiver.
    pub fn label(self) -> &'static str {
        match self {
            Receiver::OtlpGrpc => "otlp_grpc",
            Receiver::OtlpHttp => "otlp_http",
            Receiver::ZipkinHttp => "zipkin_http",
            Receiver::ZipkinV1Http => "zipkin_v1_http",
            Receiver::JaegerGrpc => "jaeger_grpc",
            Receiver::JaegerThriftHttp => "jaeger_thrift_http",
            Receiver::AgentCompact => "agent_compact",
            Receiver::AgentBinary => "agent_binary",
        }
    }

    /// The port clients and existing configurations expect.
    pub fn default_port(self) -> u16 {
        match self {
            Receiver::OtlpGrpc => 4317,
            Receiver::OtlpHttp => 4318,
            Receiver::ZipkinHttp | Receiver::ZipkinV1Http => 9411,
            Receiver::JaegerGrpc => 14250,
            Receiver::JaegerThriftHttp => 14268,
            Receiver::AgentCompact => 6831,
            Receiver::AgentBinary => 6832,
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
    /// Serve on a UDP socket with [`agent_udp::AgentUdpReceiver::serve`].
    Udp(agent_udp::AgentUdpReceiver),
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
        ReceiverEndpoint {
            receiver: Receiver::JaegerGrpc,
            service: ReceiverService::Grpc(tonic::service::Routes::new(
                jaeger_grpc::jaeger_grpc_service(pipeline.clone(), config),
            )),
        },
        ReceiverEndpoint {
            receiver: Receiver::JaegerThriftHttp,
            service: ReceiverService::Http(jaeger_thrift_http::jaeger_thrift_http_router(
                pipeline.clone(),
                config,
            )),
        },
        ReceiverEndpoint {
            receiver: Receiver::AgentCompact,
            service: ReceiverService::Udp(agent_udp::AgentUdpReceiver::new(
                pipeline.clone(),
                config,
                agent_udp::ThriftProtocol::Compact,
            )),
        },
        ReceiverEndpoint {
            receiver: Receiver::AgentBinary,
            service: ReceiverService::Udp(agent_udp::AgentUdpReceiver::new(
                pipeline.clone(),
                config,
                agent_udp::ThriftProtocol::Binary,
            )),
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
        // Zipkin v1 is a route of the Zipkin router, not a listener of its own.
        let listeners: Vec<Receiver> = Receiver::ALL
            .into_iter()
            .filter(|r| *r != Receiver::ZipkinV1Http)
            .collect();
        assert_eq!(registered, listeners);
        let mut ports: Vec<u16> = listeners.iter().map(|r| r.default_port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), listeners.len());
        let mut labels: Vec<&str> = Receiver::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(
            labels,
            [
                "agent_binary",
                "agent_compact",
                "jaeger_grpc",
                "jaeger_thrift_http",
                "otlp_grpc",
                "otlp_http",
                "zipkin_http",
                "zipkin_v1_http"
            ]
        );
        pipeline.shutdown_blocking();
    }
}
