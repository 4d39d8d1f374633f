//! The receivers, one folder per protocol.
//!
//! In: the [`Pipeline`](crate::Pipeline) and the
//! [`CollectorConfig`](crate::CollectorConfig). Out: for each receiver a
//! ready-to-serve service (an axum router, a tonic service or a UDP loop);
//! the binary (`src/serve.rs`) binds each to its configured address, next to
//! the other services that share the port.
//!
//! Every receiver has the same shape: `mod.rs` builds the service from the
//! pipeline and config and decodes the protocol's requests, then takes the
//! shared path into the pipeline (`crate::ingest`, with its errors in
//! `crate::error`); `reply.rs` turns the outcome into the protocol's answer;
//! `tests.rs` drives it against a real store. The gRPC receivers are wrapped
//! in `crate::grpc_refusal`: requests tonic refuses (oversize, undecodable)
//! get OTLP's codes and are counted. Imports run one way: the receivers use
//! the submit path, which never names a receiver module. To add a receiver:
//! add a variant to [`crate::Receiver`] (its metric label), a folder here,
//! and its listener in `src/serve.rs`.

pub mod agent_udp;
pub mod jaeger_grpc;
pub mod jaeger_thrift_http;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod zipkin_http;

use bytes::Bytes;
use prost::Message;
use spoor_proto::model::TracesData;
use spoor_proto::otlp::ExportTraceServiceRequest;
use spoor_proto::request_spans::RequestSpans;

use crate::error::IngestError;

/// Decodes an OTLP protobuf `ExportTraceServiceRequest` (gRPC and HTTP)
/// and finds its spans' bytes, which the store keeps as they are when
/// nothing in the batch is changed (`crate::ingest`).
pub(crate) fn decode_otlp_protobuf(
    body: Bytes,
) -> Result<(TracesData, Option<RequestSpans>), IngestError> {
    let request = ExportTraceServiceRequest::decode(body.clone()).map_err(|error| {
        IngestError::Malformed(format!("invalid OTLP protobuf request: {error}"))
    })?;
    let spans = RequestSpans::find(&body).ok();
    let data = TracesData {
        resource_spans: request.resource_spans,
    };
    Ok((data, spans))
}
