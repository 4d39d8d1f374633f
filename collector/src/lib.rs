//! Spoor's collector: the receivers that accept spans over the network and the
//! bounded pipeline that hands them to storage.
//!
//! In: requests in the OTLP (gRPC and HTTP), Zipkin v2 and v1 (HTTP) and
//! Jaeger (gRPC, Thrift over HTTP, agent Thrift over UDP) protocols.
//! Out: [`spoor_storage::PreparedBatch`]es written through
//! [`spoor_storage::Store::write_batches`], and each protocol's answer to its
//! client: success, partial success, a clear error naming what is wrong, or
//! the protocol's own "slow down" when the pipeline is full.
//!
//! The path of a request: a receiver (one folder per protocol under
//! [`receivers`]) reads and decodes its wire format straight into the
//! canonical model, then takes the one path into the pipeline (`ingest`):
//! drop invalid spans, count, prepare the storage batch on the receiving
//! side, let the [`Analytics`] count it (RED metrics, dependency edges),
//! submit to the [`Pipeline`]. The pipeline is a bounded queue feeding a
//! single writer thread that commits several queued batches per storage write
//! (group commit) and answers every submitter once its batch is durable. A
//! full queue answers [`SubmitError::Overloaded`] at once; each receiver's
//! `reply` module turns that into HTTP 429 / gRPC `RESOURCE_EXHAUSTED` with a
//! retry hint.
//!
//! Entry points: [`Pipeline::start`], [`otlp_grpc_service`],
//! [`otlp_http_router`], [`zipkin_router`], [`jaeger_grpc_service`],
//! [`jaeger_thrift_http_router`], [`AgentUdpReceiver`], and
//! [`grpc_refusal`] for other gRPC services (the binary wraps the query port
//! in it). The binary binds the sockets and serves what these return.
//! Settings live in [`CollectorConfig`]; metric names in [`metrics`].
//!
//! Layers, imports running one way: [`receivers`] (with `body` and
//! `rpc_status`) → the submit path (`ingest`, `error`, [`pipeline`],
//! [`metrics`], [`Receiver`]) → `spoor_storage`.
//!
//! Boundaries: this crate never talks to RocksDB (only to
//! [`spoor_storage::Store`]), never knows protobuf field numbers (decoders
//! live in `spoor-proto`), and never imports the query side.

pub mod analytics;
mod body;
pub mod config;
mod error;
pub mod forward;
pub mod grpc_refusal;
pub mod grpc_room;
mod ingest;
pub mod metrics;
pub mod pipeline;
mod receiver;
pub mod receivers;
mod rpc_status;
pub mod sampling;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tidy_tests;

pub use analytics::{Analytics, AnalyticsConfig};
pub use config::CollectorConfig;
pub use forward::{Forwarder, Forwarding};
pub use ingest::{ingest_batch, ingest_decided};
pub use pipeline::{Pipeline, SubmitError};
pub use receiver::Receiver;
pub use receivers::agent_udp::{AgentUdpReceiver, ThriftProtocol};
pub use receivers::jaeger_grpc::{jaeger_grpc_service, JaegerGrpcService};
pub use receivers::jaeger_thrift_http::jaeger_thrift_http_router;
pub use receivers::otlp_grpc::{otlp_grpc_service, OtlpGrpcService};
pub use receivers::otlp_http::otlp_http_router;
pub use receivers::zipkin_http::zipkin_router;
pub use sampling::SamplingConfig;
