//! OTLP/HTTP answers.
//!
//! In: the ingest result and the request's encoding. Out: the HTTP response:
//! 200 + `ExportTraceServiceResponse`, or the error's status (table in
//! `crate::ingest`) + `google.rpc.Status`, both encoded like the request
//! (protobuf or JSON); `Retry-After` on 429/503. Without a usable request
//! encoding (415, 405) the body is plain text.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;
use prost::Message;
use spoor_proto::otlp::{ExportTracePartialSuccess, ExportTraceServiceResponse};

use super::Encoding;
use crate::error::IngestError;
use crate::ingest::Accepted;
use crate::rpc_status;

pub(super) fn respond(
    encoding: Option<Encoding>,
    result: Result<Accepted, IngestError>,
    retry_after: Duration,
) -> Response {
    match (result, encoding) {
        (Ok(accepted), Some(encoding)) => success(encoding, &accepted),
        // Only an unsupported media type leaves no encoding to answer in.
        (Ok(accepted), None) => success(Encoding::Protobuf, &accepted),
        (Err(error), Some(encoding)) => failure(encoding, &error, retry_after),
        (Err(error), None) => plain_text(error.http_status(), error.to_string()),
    }
}

pub(super) async fn method_not_allowed() -> Response {
    let mut response = plain_text(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 method not allowed, supported: [POST]".to_string(),
    );
    response
        .headers_mut()
        .insert(ALLOW, http::HeaderValue::from_static("POST"));
    response
}

fn success(encoding: Encoding, accepted: &Accepted) -> Response {
    let message = accepted.rejection_message.clone().unwrap_or_default();
    let body = match encoding {
        Encoding::Protobuf => {
            let partial_success = (accepted.rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: accepted.rejected as i64,
                error_message: message,
            });
            ExportTraceServiceResponse { partial_success }.encode_to_vec()
        }
        Encoding::Json => {
            let json =
                spoor_proto::otlp_json::encode_export_response(accepted.rejected as i64, &message);
            serde_json::to_vec(&json).expect("serializing a JSON value")
        }
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

fn failure(encoding: Encoding, error: &IngestError, retry_after: Duration) -> Response {
    let body = match encoding {
        Encoding::Protobuf => rpc_status::protobuf(error, retry_after).to_vec(),
        Encoding::Json => serde_json::to_vec(&rpc_status::json(error, retry_after))
            .expect("serializing a JSON value"),
    };
    let mut response = (
        error.http_status(),
        [(CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if error.is_retryable() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, retry_after.as_secs().into());
    }
    response
}

fn plain_text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
