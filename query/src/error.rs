//! Failures of the Jaeger HTTP API and the one place they become responses.
//!
//! In: anything a handler can fail with (bad parameters, a missing trace,
//! storage errors). Out: Jaeger's error response — the v1 envelope with
//! `data: null` and one `{code, msg}` error, written the way Go's
//! `http.Error` writes it: `Content-Type: text/plain; charset=utf-8`,
//! `X-Content-Type-Options: nosniff`, body ending in a newline. Clients parse
//! the body as JSON regardless of the content type.

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, StatusCode};
use spoor_storage::StorageError;

use crate::jaeger_json::{Envelope, ErrorItem};
use crate::params::ParamError;

/// Why a request failed; `Display` is the `msg` sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed or missing parameter (400).
    #[error(transparent)]
    BadParam(#[from] ParamError),
    /// A path segment that could not be decoded (400).
    #[error("{0}")]
    BadPath(String),
    /// A request body that could not be read (400).
    #[error("{0}")]
    BadBody(String),
    /// `/api/traces/{id}` for a trace the store does not have (404).
    #[error("trace not found")]
    TraceNotFound,
    /// A path under `/api/` that no endpoint serves (404).
    #[error("404 page not found")]
    UnknownEndpoint,
    /// A known path with the wrong method (405).
    #[error("405 method not allowed")]
    MethodNotAllowed,
    /// The store failed (500).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else on our side (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParam(_) | ApiError::BadPath(_) | ApiError::BadBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TraceNotFound | ApiError::UnknownEndpoint => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "jaeger query request failed");
        }
        let envelope = Envelope {
            data: (),
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ErrorItem {
                code: Some(status.as_u16()),
                msg: self.to_string(),
                trace_id: None,
            }]),
        };
        let mut body = serde_json::to_string(&envelope).unwrap_or_else(|_| {
            format!(
                r#"{{"data":null,"total":0,"limit":0,"offset":0,"errors":[{{"code":{}}}]}}"#,
                status.as_u16()
            )
        });
        body.push('\n');
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn errors_are_json_envelopes_sent_as_plain_text_with_a_trailing_newline() {
        let response = ApiError::TraceNotFound.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            body_of(response).await,
            "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}\n"
        );
    }

    #[test]
    fn statuses_follow_jaeger() {
        assert_eq!(
            ApiError::from(ParamError::Required("service")).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::Storage(StorageError::ShuttingDown).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::MethodNotAllowed.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(ApiError::UnknownEndpoint.status(), StatusCode::NOT_FOUND);
    }
}
