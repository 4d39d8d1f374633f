//! Jaeger Thrift HTTP answers.
//!
//! In: the ingest result. Out: 202 with an empty body when the spans are
//! stored, otherwise the error's status (table in `crate::ingest`) with a
//! plain-text message, and `Retry-After` on 429/503.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;

use crate::error::IngestError;
use crate::ingest::Accepted;

pub(super) fn respond(result: Result<Accepted, IngestError>, retry_after: Duration) -> Response {
    match result {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(error) => {
            let mut response = (
                error.http_status(),
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                error.to_string(),
            )
                .into_response();
            if error.is_retryable() {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, retry_after.as_secs().into());
            }
            response
        }
    }
}
