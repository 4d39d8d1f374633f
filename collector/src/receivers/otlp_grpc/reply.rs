//! OTLP/gRPC answers.
//!
//! In: the ingest result. Out: `ExportTraceServiceResponse` (with
//! `partial_success` when spans were rejected), or a `tonic::Status` from the
//! one error table: `RESOURCE_EXHAUSTED` + `RetryInfo` when the pipeline is
//! full, `UNAVAILABLE` + `RetryInfo` when storage fails or shuts down.

use std::time::Duration;

use spoor_proto::otlp::{ExportTracePartialSuccess, ExportTraceServiceResponse};

use crate::error::IngestError;
use crate::ingest::Accepted;
use crate::rpc_status;

pub(super) fn respond(
    result: Result<Accepted, IngestError>,
    retry_after: Duration,
) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
    match result {
        Ok(accepted) => {
            let partial_success = (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: accepted.rejected as i64,
                error_message: accepted.rejection_message.unwrap_or_default(),
            });
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success,
            }))
        }
        Err(error) => Err(rpc_status::grpc_status(&error, retry_after)),
    }
}
