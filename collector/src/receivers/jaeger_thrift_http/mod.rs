//! Jaeger Thrift HTTP receiver: `POST /api/traces` (port 14268).
//!
//! In: one Thrift `jaeger.Batch` struct in the binary protocol, with
//! `Content-Type: application/x-thrift` or
//! `application/vnd.apache.thrift.binary` (parameters and query strings such
//! as jaeger-client-java's `?format=jaeger.thrift` ignored), optionally gzip
//! or deflate compressed, at most `jaeger_thrift_http.max_body_bytes`. Out:
//! spans into the pipeline; 202 with an empty body once stored; 400
//! `Unsupported content type: …` or `Unable to process request body: …` as
//! Jaeger answers; 413, or 429/503 with `Retry-After` (see `reply`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::HeaderMap;

use crate::body::{self, ContentEncoding};
use crate::config::CollectorConfig;
use crate::error::IngestError;
use crate::ingest::{Accepted, Ingest};
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

mod reply;
#[cfg(test)]
mod tests;

/// The path Jaeger clients post Thrift batches to.
pub const TRACES_PATH: &str = "/api/traces";

/// The media types Jaeger's collector accepts on this path.
const THRIFT_MEDIA_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

struct ThriftHttpState {
    ingest: Ingest,
    max_body_bytes: usize,
}

/// The Jaeger Thrift HTTP router: `POST /api/traces`; serve it on port 14268.
pub fn jaeger_thrift_http_router(pipeline: Pipeline, config: &CollectorConfig) -> Router {
    let state = ThriftHttpState {
        ingest: Ingest::new(pipeline, Receiver::JaegerThriftHttp, config.retry_after()),
        max_body_bytes: config.jaeger_thrift_http.max_body_bytes,
    };
    Router::new()
        .route(TRACES_PATH, post(post_traces))
        .with_state(Arc::new(state))
}

async fn post_traces(
    State(state): State<Arc<ThriftHttpState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = state.ingest.observe(receive(&state, &headers, body)).await;
    reply::respond(result, state.ingest.retry_after())
}

async fn receive(
    state: &ThriftHttpState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    let media_type = body::media_type(headers);
    if !THRIFT_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(IngestError::Malformed(format!(
            "Unsupported content type: {media_type}"
        )));
    }
    let compression = ContentEncoding::from_headers(headers)
        .map_err(|encoding| IngestError::UnsupportedEncoding { encoding })?;
    let limit = state.max_body_bytes;
    let raw = body::read_limited(body, headers, limit).await?;
    state
        .ingest
        .decode_and_submit(move || {
            let plain = body::decompress(compression, raw, limit)?;
            spoor_proto::jaeger_thrift::decode_http_body(&plain).map_err(|error| {
                IngestError::Malformed(format!("Unable to process request body: {error}"))
            })
        })
        .await
}
