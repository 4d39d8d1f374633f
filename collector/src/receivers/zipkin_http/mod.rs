//! Zipkin HTTP receiver: `POST /api/v2/spans` and `POST /api/v1/spans`.
//!
//! In: a Zipkin v2 span list as JSON (the default, whatever the content type)
//! or proto3 `ListOfSpans` (`application/x-protobuf`); on the v1 path a v1
//! span list as JSON (the default) or Thrift (`application/x-thrift`),
//! counted as receiver `zipkin_v1_http`; optionally gzip or deflate
//! compressed. Out: spans into the pipeline; 202 with an empty body
//! once stored, or an error status with a plain-text message (see `reply`).
//!
//! The router holds only the ingest route; the v1 ingest and the read API
//! are merged into it (`Router::merge`) on the same port.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use http::HeaderMap;
use spoor_proto::model::TracesData;

use crate::body::{self, ContentEncoding};
use crate::config::CollectorConfig;
use crate::error::IngestError;
use crate::ingest::{Accepted, Ingest};
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

mod reply;
#[cfg(test)]
mod tests;

/// The path Zipkin reporters (Envoy, Brave, OpenTelemetry exporters) post to.
pub const SPANS_V2_PATH: &str = "/api/v2/spans";
/// The path legacy Zipkin v1 reporters post to.
pub const SPANS_V1_PATH: &str = "/api/v1/spans";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The encodings of a Zipkin v2 span list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json { strict: bool },
    Protobuf,
}

impl Encoding {
    fn from_media_type(media_type: &str, strict: bool) -> Encoding {
        if media_type == "application/x-protobuf" {
            Encoding::Protobuf
        } else {
            Encoding::Json { strict }
        }
    }

    fn decode(self, body: &[u8]) -> Result<TracesData, IngestError> {
        match self {
            Encoding::Json { strict } => {
                let text = body.trim_ascii_start();
                let text = text.strip_prefix(UTF8_BOM).unwrap_or(text);
                if text.is_empty() {
                    return Ok(TracesData::default());
                }
                spoor_proto::zipkin_v2::decode_json(text, strict).map_err(|error| {
                    let hint = if body.first() == Some(&0x0a) {
                        " (the body looks like protobuf: send it with Content-Type: application/x-protobuf)"
                    } else {
                        ""
                    };
                    IngestError::Malformed(format!("invalid Zipkin v2 JSON span list: {error}{hint}"))
                })
            }
            Encoding::Protobuf => spoor_proto::zipkin_v2::decode_proto(body).map_err(|error| {
                IngestError::Malformed(format!("invalid Zipkin v2 protobuf span list: {error}"))
            }),
        }
    }
}

struct ZipkinState {
    ingest: Ingest,
    ingest_v1: Ingest,
    max_body_bytes: usize,
    strict: bool,
}

/// The Zipkin ingest router: `POST /api/v2/spans` and `POST /api/v1/spans`;
/// serve it on port 9411.
pub fn zipkin_router(pipeline: Pipeline, config: &CollectorConfig) -> Router {
    let state = ZipkinState {
        ingest: Ingest::new(pipeline.clone(), Receiver::ZipkinHttp, config.retry_after()),
        ingest_v1: Ingest::new(pipeline, Receiver::ZipkinV1Http, config.retry_after()),
        max_body_bytes: config.zipkin.max_body_bytes,
        strict: config.zipkin.strict,
    };
    Router::new()
        .route(SPANS_V2_PATH, post(post_spans_v2))
        .route(SPANS_V1_PATH, post(post_spans_v1))
        .with_state(Arc::new(state))
}

async fn post_spans_v2(
    State(state): State<Arc<ZipkinState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = state.ingest.observe(receive(&state, &headers, body)).await;
    reply::respond(result, state.ingest.retry_after())
}

async fn receive(
    state: &ZipkinState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    let encoding = Encoding::from_media_type(&body::media_type(headers), state.strict);
    // Zipkin ignores encodings it does not know; so do we (the body then
    // fails to decode if it really was compressed).
    let compression = ContentEncoding::from_headers(headers).unwrap_or_else(|unknown| {
        tracing::debug!(encoding = %unknown, "unknown Content-Encoding on Zipkin ingest, reading the body as is");
        ContentEncoding::Identity
    });
    let limit = state.max_body_bytes;
    let raw = body::read_limited(body, headers, limit).await?;
    state
        .ingest
        .decode_and_submit(move || {
            let plain = body::decompress(compression, raw, limit)?;
            encoding.decode(&plain)
        })
        .await
}

async fn post_spans_v1(
    State(state): State<Arc<ZipkinState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = state
        .ingest_v1
        .observe(receive_v1(&state, &headers, body))
        .await;
    reply::respond(result, state.ingest_v1.retry_after())
}

async fn receive_v1(
    state: &ZipkinState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    let thrift = body::media_type(headers) == "application/x-thrift";
    let compression = ContentEncoding::from_headers(headers).unwrap_or(ContentEncoding::Identity);
    let limit = state.max_body_bytes;
    let raw = body::read_limited(body, headers, limit).await?;
    state
        .ingest_v1
        .decode_and_submit(move || {
            let plain = body::decompress(compression, raw, limit)?;
            let decoded = if thrift {
                spoor_proto::zipkin_v1::decode_thrift(&plain)
            } else {
                spoor_proto::zipkin_v1::decode_json(&plain)
            };
            decoded.map_err(|error| IngestError::Malformed(error.to_string()))
        })
        .await
}
