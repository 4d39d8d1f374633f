//! OTLP/HTTP receiver: `POST /v1/traces`.
//!
//! In: `ExportTraceServiceRequest` as protobuf (`application/x-protobuf`) or
//! OTLP JSON (`application/json`), optionally gzip/deflate compressed. Out:
//! spans into the pipeline; 200 with an `ExportTraceServiceResponse` encoded
//! like the request (partial success when spans were rejected), or an error
//! status with a `google.rpc.Status` body (see `reply`). Other methods get
//! 405, other content types 415.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::HeaderMap;
use spoor_proto::model::TracesData;
use spoor_proto::request_spans::RequestSpans;

use crate::body::{self, ContentEncoding};
use crate::config::CollectorConfig;
use crate::error::IngestError;
use crate::ingest::{Accepted, Ingest};
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

mod reply;
#[cfg(test)]
mod tests;

/// The path OTLP exporters post traces to.
pub const TRACES_PATH: &str = "/v1/traces";

const SUPPORTED_MEDIA_TYPES: &str = "application/json, application/x-protobuf";

/// The two encodings of an OTLP/HTTP request (and of its response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_media_type(media_type: &str) -> Option<Encoding> {
        match media_type {
            "application/x-protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// The batch, and for protobuf the spans' bytes as they arrived.
    fn decode(self, body: Bytes) -> Result<(TracesData, Option<RequestSpans>), IngestError> {
        match self {
            Encoding::Protobuf => super::decode_otlp_protobuf(body),
            Encoding::Json => spoor_proto::otlp_json::decode_traces(&body)
                .map(|data| (data, None))
                .map_err(|error| {
                    IngestError::Malformed(format!("invalid OTLP JSON request: {error}"))
                }),
        }
    }
}

struct OtlpHttpState {
    ingest: Ingest,
    max_body_bytes: usize,
}

/// The OTLP/HTTP router: `POST /v1/traces`; serve it on port 4318.
pub fn otlp_http_router(pipeline: Pipeline, config: &CollectorConfig) -> Router {
    let state = OtlpHttpState {
        ingest: Ingest::new(pipeline, Receiver::OtlpHttp, config.retry_after()),
        max_body_bytes: config.otlp_http.max_body_bytes,
    };
    Router::new()
        .route(
            TRACES_PATH,
            post(export).fallback(reply::method_not_allowed),
        )
        .with_state(Arc::new(state))
}

async fn export(
    State(state): State<Arc<OtlpHttpState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let media_type = body::media_type(&headers);
    let encoding = Encoding::from_media_type(&media_type);
    let result = state
        .ingest
        .observe(receive(&state, encoding, &media_type, &headers, body))
        .await;
    reply::respond(encoding, result, state.ingest.retry_after())
}

async fn receive(
    state: &OtlpHttpState,
    encoding: Option<Encoding>,
    media_type: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, IngestError> {
    let encoding = encoding.ok_or_else(|| IngestError::UnsupportedMediaType {
        content_type: media_type.to_string(),
        supported: SUPPORTED_MEDIA_TYPES,
    })?;
    let compression = ContentEncoding::from_headers(headers)
        .map_err(|unknown| IngestError::UnsupportedEncoding { encoding: unknown })?;
    let limit = state.max_body_bytes;
    let raw = body::read_limited(body, headers, limit).await?;
    state
        .ingest
        .decode_request_and_submit(move || {
            let plain = body::decompress(compression, raw, limit)?;
            encoding.decode(plain)
        })
        .await
}
