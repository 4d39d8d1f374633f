//! `google.rpc.Status` for an ingest error, as the OTLP receivers send it.
//!
//! In: an [`IngestError`] and the retry hint. Out: a `tonic::Status` (gRPC),
//! or the same status as protobuf bytes or proto-JSON (OTLP/HTTP error
//! bodies). Retryable errors carry a `google.rpc.RetryInfo` detail.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::IngestError;

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The gRPC status of `error`, with `RetryInfo` when it is worth retrying.
pub(crate) fn grpc_status(error: &IngestError, retry_after: Duration) -> tonic::Status {
    let details = if error.is_retryable() {
        ErrorDetails::with_retry_info(Some(retry_after))
    } else {
        ErrorDetails::new()
    };
    tonic::Status::with_error_details(error.grpc_code(), error.to_string(), details)
}

/// The encoded `google.rpc.Status` message of `error`.
pub(crate) fn protobuf(error: &IngestError, retry_after: Duration) -> Bytes {
    // tonic-types encodes the whole google.rpc.Status into the details.
    grpc_status(error, retry_after).details().to_vec().into()
}

/// The proto-JSON form of the `google.rpc.Status` of `error`.
pub(crate) fn json(error: &IngestError, retry_after: Duration) -> serde_json::Value {
    let details: Vec<serde_json::Value> = if error.is_retryable() {
        vec![
            json!({ "@type": RETRY_INFO_TYPE, "retryDelay": format!("{}s", retry_after.as_secs()) }),
        ]
    } else {
        Vec::new()
    };
    json!({ "code": error.grpc_code() as i32, "message": error.to_string(), "details": details })
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tonic_types::RpcStatusExt;

    use super::*;
    use crate::pipeline::SubmitError;

    #[test]
    fn overloaded_status_carries_retry_info_in_both_encodings() {
        let error = IngestError::Submit(SubmitError::Overloaded);
        let decoded =
            tonic_types::pb::Status::decode(protobuf(&error, Duration::from_secs(3))).unwrap();
        assert_eq!(decoded.code, tonic::Code::ResourceExhausted as i32);
        let retry = decoded.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(3)));
        let as_json = json(&error, Duration::from_secs(3));
        assert_eq!(as_json["code"], 8);
        assert_eq!(as_json["details"][0]["retryDelay"], "3s");
    }

    #[test]
    fn bad_request_status_has_no_retry_info() {
        let error =
            IngestError::Malformed("invalid OTLP protobuf request: bad wire type".to_string());
        let decoded =
            tonic_types::pb::Status::decode(protobuf(&error, Duration::from_secs(1))).unwrap();
        assert_eq!(decoded.code, tonic::Code::InvalidArgument as i32);
        assert!(decoded.details.is_empty());
        assert_eq!(
            decoded.message,
            "invalid OTLP protobuf request: bad wire type"
        );
    }
}
