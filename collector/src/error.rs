//! Why a request was not accepted: the one error of the ingest path and its
//! table of answers.
//!
//! In: failures of reading, decompressing and decoding a request (`body`,
//! the receivers' decoders) and of submitting it (`pipeline`). Out:
//! [`IngestError`] with its HTTP status, gRPC code, retryability and metric
//! outcome, the same for every receiver; `rpc_status` and the receivers'
//! `reply.rs` turn it into their protocol's answer.

use http::StatusCode;

use crate::metrics::outcome;
use crate::pipeline::SubmitError;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IngestError {
    /// The request's content type is not one the receiver decodes.
    #[error("unsupported media type {content_type:?}, supported: [{supported}]")]
    UnsupportedMediaType {
        content_type: String,
        supported: &'static str,
    },
    /// The request's content encoding is not one the receiver decompresses.
    #[error(
        "unsupported content encoding {encoding:?}, supported: [gzip, deflate, zlib, identity]"
    )]
    UnsupportedEncoding { encoding: String },
    /// The body, compressed or decompressed, is over the limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The body could not be decompressed or decoded.
    #[error("{0}")]
    Malformed(String),
    /// The pipeline did not store the batch.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// A decoder failed in a way it should not (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl IngestError {
    /// HTTP status of the error (the one table both HTTP receivers use).
    pub(crate) fn http_status(&self) -> StatusCode {
        match self {
            IngestError::UnsupportedMediaType { .. } | IngestError::UnsupportedEncoding { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Malformed(_) => StatusCode::BAD_REQUEST,
            IngestError::Submit(SubmitError::Overloaded) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Submit(SubmitError::Storage(_) | SubmitError::ShuttingDown) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// gRPC status code of the error (the same table for gRPC).
    pub(crate) fn grpc_code(&self) -> tonic::Code {
        match self {
            IngestError::UnsupportedMediaType { .. } | IngestError::UnsupportedEncoding { .. } => {
                tonic::Code::Unimplemented
            }
            IngestError::TooLarge { .. } => tonic::Code::ResourceExhausted,
            IngestError::Malformed(_) => tonic::Code::InvalidArgument,
            IngestError::Submit(SubmitError::Overloaded) => tonic::Code::ResourceExhausted,
            IngestError::Submit(SubmitError::Storage(_) | SubmitError::ShuttingDown) => {
                tonic::Code::Unavailable
            }
            IngestError::Internal(_) => tonic::Code::Internal,
        }
    }

    /// Whether the client should retry after a pause (and gets a retry hint).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, IngestError::Submit(_))
    }

    /// The `outcome` label of the request metrics.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            IngestError::UnsupportedMediaType { .. } | IngestError::UnsupportedEncoding { .. } => {
                outcome::UNSUPPORTED
            }
            IngestError::TooLarge { .. } => outcome::TOO_LARGE,
            IngestError::Malformed(_) => outcome::INVALID,
            IngestError::Submit(SubmitError::Overloaded) => outcome::OVERLOADED,
            IngestError::Submit(SubmitError::Storage(_) | SubmitError::ShuttingDown) => {
                outcome::UNAVAILABLE
            }
            IngestError::Internal(_) => outcome::INTERNAL,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table_maps_back_off_to_retryable_codes() {
        let overloaded = IngestError::Submit(SubmitError::Overloaded);
        assert_eq!(overloaded.http_status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(overloaded.grpc_code(), tonic::Code::ResourceExhausted);
        assert!(overloaded.is_retryable());
        let stopping = IngestError::Submit(SubmitError::ShuttingDown);
        assert_eq!(stopping.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(stopping.grpc_code(), tonic::Code::Unavailable);
        assert!(stopping.is_retryable());
        let too_large = IngestError::TooLarge { limit: 10 };
        assert_eq!(too_large.http_status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!too_large.is_retryable());
        assert_eq!(
            IngestError::Malformed("x".into()).http_status(),
            StatusCode::BAD_REQUEST
        );
    }
}
