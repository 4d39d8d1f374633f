//! Every metric the collector emits, named once.
//!
//! In: events from the ingest path (requests, spans), the pipeline (queue
//! depth, storage writes) and the gRPC refusal counting (`grpc_refusal`).
//! Out: calls on the `metrics` facade; the binary installs the recorder
//! (Prometheus) and calls [`describe`].
//!
//! Invariant: for every receiver, `spans_received_total` equals
//! `spans_accepted_total` plus the sum of `spans_rejected_total` over all
//! reasons, so every span that is not stored is counted with a reason.

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use crate::receiver::Receiver;

/// Requests per receiver and outcome (see [`outcome`]).
pub const RECEIVER_REQUESTS_TOTAL: &str = "spoor_receiver_requests_total";
/// Spans decoded from requests, before validation.
pub const RECEIVER_SPANS_RECEIVED_TOTAL: &str = "spoor_receiver_spans_received_total";
/// Spans durably stored.
pub const RECEIVER_SPANS_ACCEPTED_TOTAL: &str = "spoor_receiver_spans_accepted_total";
/// Spans not stored, per reason (see [`reason`]).
pub const RECEIVER_SPANS_REJECTED_TOTAL: &str = "spoor_receiver_spans_rejected_total";
/// Time from request arrival to the answer, in seconds.
pub const RECEIVER_REQUEST_DURATION_SECONDS: &str = "spoor_receiver_request_duration_seconds";
/// Requests to gRPC services other than the receivers (query, health,
/// reflection, sampling) that tonic refused before the service ran, per
/// service and outcome (`invalid`, `too_large`); see `crate::grpc_refusal`.
pub const GRPC_REQUESTS_REFUSED_TOTAL: &str = "spoor_grpc_requests_refused_total";
/// Batches waiting for the storage writer.
pub const PIPELINE_QUEUE_DEPTH: &str = "spoor_pipeline_queue_depth";
/// Batches the queue holds at most.
pub const PIPELINE_QUEUE_CAPACITY: &str = "spoor_pipeline_queue_capacity";
/// Time of one storage write (one group commit), in seconds.
pub const PIPELINE_WRITE_DURATION_SECONDS: &str = "spoor_pipeline_write_duration_seconds";
/// Spans per storage write (one group commit).
pub const PIPELINE_BATCH_SPANS: &str = "spoor_pipeline_batch_spans";

/// Label naming the receiver: one of [`Receiver::label`].
pub const LABEL_RECEIVER: &str = "receiver";
/// Label naming a gRPC service (`jaeger.api_v2.QueryService`).
pub const LABEL_SERVICE: &str = "service";
/// Label naming a request's outcome: one of [`outcome`].
pub const LABEL_OUTCOME: &str = "outcome";
/// Label naming why spans were rejected: one of [`reason`].
pub const LABEL_REASON: &str = "reason";

/// Values of the `outcome` label.
pub mod outcome {
    /// Every span stored.
    pub const ACCEPTED: &str = "accepted";
    /// Some spans rejected as invalid, the rest stored (OTLP partial success).
    pub const PARTIAL: &str = "partial";
    /// The request could not be decoded (HTTP 400).
    pub const INVALID: &str = "invalid";
    /// The body or message was over the size limit (HTTP 413).
    pub const TOO_LARGE: &str = "too_large";
    /// Unsupported content type or encoding (HTTP 415).
    pub const UNSUPPORTED: &str = "unsupported";
    /// The pipeline queue was full (HTTP 429, gRPC RESOURCE_EXHAUSTED).
    pub const OVERLOADED: &str = "overloaded";
    /// Storage failed or is shutting down (HTTP 503, gRPC UNAVAILABLE).
    pub const UNAVAILABLE: &str = "unavailable";
    /// A bug: a decoder panicked (HTTP 500, gRPC INTERNAL).
    pub const INTERNAL: &str = "internal";
}

/// Values of the `reason` label.
pub mod reason {
    /// Failed validation (bad id length, all-zero id, ...).
    pub const INVALID: &str = "invalid";
    /// The pipeline queue was full.
    pub const OVERLOADED: &str = "overloaded";
    /// The storage write failed.
    pub const STORAGE_ERROR: &str = "storage_error";
    /// The collector was shutting down.
    pub const SHUTTING_DOWN: &str = "shutting_down";
    /// Dropped by probabilistic sampling at ingest (the client is told they
    /// were accepted; see `spoor_sampling_spans_dropped_total`).
    pub const SAMPLED: &str = "sampled";
}

/// Registers descriptions and units with the installed recorder.
pub fn describe() {
    describe_counter!(
        RECEIVER_REQUESTS_TOTAL,
        "Ingest requests by receiver and outcome"
    );
    describe_counter!(
        RECEIVER_SPANS_RECEIVED_TOTAL,
        "Spans decoded from ingest requests"
    );
    describe_counter!(RECEIVER_SPANS_ACCEPTED_TOTAL, "Spans durably stored");
    describe_counter!(RECEIVER_SPANS_REJECTED_TOTAL, "Spans not stored, by reason");
    describe_histogram!(
        RECEIVER_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Ingest request latency"
    );
    describe_counter!(
        GRPC_REQUESTS_REFUSED_TOTAL,
        "Requests to gRPC services other than the receivers refused before the service ran"
    );
    describe_gauge!(
        PIPELINE_QUEUE_DEPTH,
        "Batches waiting for the storage writer"
    );
    describe_gauge!(
        PIPELINE_QUEUE_CAPACITY,
        "Capacity of the ingest queue, in batches"
    );
    describe_histogram!(
        PIPELINE_WRITE_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of one group-committed storage write"
    );
    describe_histogram!(
        PIPELINE_BATCH_SPANS,
        Unit::Count,
        "Spans per group-committed storage write"
    );
}

pub(crate) fn request_finished(receiver: Receiver, outcome: &'static str, elapsed: Duration) {
    counter!(RECEIVER_REQUESTS_TOTAL, LABEL_RECEIVER => receiver.label(), LABEL_OUTCOME => outcome)
        .increment(1);
    histogram!(RECEIVER_REQUEST_DURATION_SECONDS, LABEL_RECEIVER => receiver.label())
        .record(elapsed.as_secs_f64());
}

pub(crate) fn grpc_request_refused(service: &str, outcome: &'static str) {
    counter!(GRPC_REQUESTS_REFUSED_TOTAL, LABEL_SERVICE => service.to_owned(), LABEL_OUTCOME => outcome)
        .increment(1);
}

pub(crate) fn spans_received(receiver: Receiver, spans: usize) {
    counter!(RECEIVER_SPANS_RECEIVED_TOTAL, LABEL_RECEIVER => receiver.label())
        .increment(spans as u64);
}

pub(crate) fn spans_accepted(receiver: Receiver, spans: usize) {
    counter!(RECEIVER_SPANS_ACCEPTED_TOTAL, LABEL_RECEIVER => receiver.label())
        .increment(spans as u64);
}

pub(crate) fn spans_rejected(receiver: Receiver, reason: &'static str, spans: usize) {
    if spans > 0 {
        counter!(RECEIVER_SPANS_REJECTED_TOTAL, LABEL_RECEIVER => receiver.label(), LABEL_REASON => reason)
            .increment(spans as u64);
    }
}

pub(crate) fn queue_depth(depth: usize) {
    gauge!(PIPELINE_QUEUE_DEPTH).set(depth as f64);
}

pub(crate) fn queue_capacity(capacity: usize) {
    gauge!(PIPELINE_QUEUE_CAPACITY).set(capacity as f64);
}

pub(crate) fn write_finished(elapsed: Duration, spans: usize) {
    histogram!(PIPELINE_WRITE_DURATION_SECONDS).record(elapsed.as_secs_f64());
    histogram!(PIPELINE_BATCH_SPANS).record(spans as f64);
}
