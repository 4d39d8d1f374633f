//! The one path from any receiver into the pipeline.
//!
//! In: a decoder closure (or an already decoded batch) from a receiver. Out:
//! [`Accepted`] (how many spans were stored and rejected) or an
//! [`IngestError`], plus the receiver metrics of the request and its spans.
//!
//! Steps, the same for every protocol: decode, drop invalid spans, let the
//! analytics count the batch (RED metrics and dependency edges, before any
//! sampling), prepare the storage batch (all CPU work, on the blocking pool so async workers stay
//! responsive), count, submit to the bounded pipeline. A batch decoded
//! from OTLP protobuf comes with its spans' bytes ([`RequestSpans`]); when
//! neither validation nor sampling changed it, the store takes those bytes
//! as they are instead of encoding the spans again. Each receiver's
//! `reply.rs` maps the result to its protocol; the status codes come from
//! the one table in [`crate::error`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_proto::model::TracesData;
use spoor_proto::request_spans::RequestSpans;
use spoor_proto::validate::{drop_invalid_spans, Rejections};
use spoor_storage::{prepare_batch, prepare_batch_of, prepare_request_batch, PreparedBatch};

use crate::analytics::Analytics;
use crate::error::IngestError;
use crate::metrics::{self, outcome, reason};
use crate::pipeline::{Pipeline, SubmitError};
use crate::receiver::Receiver;
use crate::sampling::{HeadOutcome, HeadSampler};

/// The spans of a request that was accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// Spans stored.
    pub stored: usize,
    /// Spans dropped as invalid.
    pub rejected: usize,
    /// Why spans were dropped, for the client (OTLP partial success).
    pub rejection_message: Option<String>,
}

/// A receiver's way into the pipeline.
#[derive(Clone)]
pub(crate) struct Ingest {
    pipeline: Pipeline,
    receiver: Receiver,
    retry_after: Duration,
}

/// Where a prepared batch goes.
enum Payload {
    /// To the local store, encoded.
    Store(PreparedBatch),
    /// To the pipeline's forwarder, as decoded (validated and sampled).
    Forward(TracesData),
}

/// A batch after the CPU stage, ready to submit.
struct Prepared {
    batch: Payload,
    received: usize,
    rejections: Rejections,
    /// What probabilistic sampling kept and dropped.
    sampled: HeadOutcome,
}

impl Ingest {
    pub(crate) fn new(pipeline: Pipeline, receiver: Receiver, retry_after: Duration) -> Ingest {
        Ingest {
            pipeline,
            receiver,
            retry_after,
        }
    }

    /// The retry hint for errors that are worth retrying.
    pub(crate) fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Runs a whole request, timing it and counting its outcome.
    pub(crate) async fn observe(
        &self,
        request: impl Future<Output = Result<Accepted, IngestError>>,
    ) -> Result<Accepted, IngestError> {
        let started = Instant::now();
        let result = request.await;
        let request_outcome = match &result {
            Ok(accepted) if accepted.rejected > 0 => outcome::PARTIAL,
            Ok(_) => outcome::ACCEPTED,
            Err(error) => error.outcome(),
        };
        metrics::request_finished(self.receiver, request_outcome, started.elapsed());
        result
    }

    /// Decodes with `decode` on the blocking pool, then validates, prepares
    /// and submits the batch.
    pub(crate) async fn decode_and_submit<D>(&self, decode: D) -> Result<Accepted, IngestError>
    where
        D: FnOnce() -> Result<TracesData, IngestError> + Send + 'static,
    {
        self.decode_request_and_submit(move || decode().map(|data| (data, None)))
            .await
    }

    /// [`Ingest::decode_and_submit`] for a decoder that also finds the
    /// request's span bytes.
    pub(crate) async fn decode_request_and_submit<D>(
        &self,
        decode: D,
    ) -> Result<Accepted, IngestError>
    where
        D: FnOnce() -> Result<(TracesData, Option<RequestSpans>), IngestError> + Send + 'static,
    {
        let analytics = self.pipeline.analytics();
        let head = self.pipeline.head_sampler();
        let forward = self.pipeline.forwarder().is_some();
        let turn = self.pipeline.cpu_turn().await?;
        let prepared = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            decode().map(|(data, spans)| prepare(data, spans, analytics, head.as_deref(), forward))
        })
        .await
        .map_err(|join_error| {
            IngestError::Internal(format!("decoding the request failed: {join_error}"))
        })??;
        self.submit(prepared).await
    }

    /// Validates, prepares (on the blocking pool) and submits a decoded batch.
    pub(crate) async fn submit_decoded(&self, data: TracesData) -> Result<Accepted, IngestError> {
        let analytics = self.pipeline.analytics();
        let head = self.pipeline.head_sampler();
        let forward = self.pipeline.forwarder().is_some();
        let turn = self.pipeline.cpu_turn().await?;
        let prepared = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            prepare(data, None, analytics, head.as_deref(), forward)
        })
        .await
        .map_err(|join_error| {
            IngestError::Internal(format!("preparing the batch failed: {join_error}"))
        })?;
        self.submit(prepared).await
    }

    async fn submit(&self, prepared: Prepared) -> Result<Accepted, IngestError> {
        let Prepared {
            batch,
            received,
            rejections,
            sampled,
        } = prepared;
        let rejected = rejections.rejected.min(received);
        crate::sampling::count_head(sampled);
        let sampled_out = sampled.dropped.min(received - rejected);
        let to_store = received - rejected - sampled_out;
        metrics::spans_received(self.receiver, received);
        metrics::spans_rejected(self.receiver, reason::INVALID, rejected);
        metrics::spans_rejected(self.receiver, reason::SAMPLED, sampled_out);
        let rejection_message =
            (rejected > 0).then(|| rejection_message(rejected, rejections.first_error));
        if to_store > 0 {
            let submitted = match (batch, self.pipeline.forwarder()) {
                (Payload::Forward(data), Some(forwarder)) => forwarder.forward(data).await,
                (Payload::Store(batch), _) => self.pipeline.submit(self.receiver, batch).await,
                (Payload::Forward(_), None) => Err(SubmitError::Storage(
                    "no forwarder for a forwarded batch".to_string(),
                )),
            };
            if let Err(error) = submitted {
                let rejection_reason = match error {
                    SubmitError::Overloaded => reason::OVERLOADED,
                    SubmitError::Storage(_) => reason::STORAGE_ERROR,
                    SubmitError::ShuttingDown => reason::SHUTTING_DOWN,
                };
                metrics::spans_rejected(self.receiver, rejection_reason, to_store);
                return Err(error.into());
            }
        }
        metrics::spans_accepted(self.receiver, to_store);
        Ok(Accepted {
            stored: to_store,
            rejected,
            rejection_message,
        })
    }
}

/// The CPU stage: validation, analytics and the storage encoding (none
/// when the batch is forwarded: the receiving end encodes it). The
/// request's span bytes are used only for a batch nothing changed.
fn prepare(
    mut data: TracesData,
    spans: Option<RequestSpans>,
    analytics: Option<Analytics>,
    head: Option<&HeadSampler>,
    forward: bool,
) -> Prepared {
    let received = data.span_count();
    let rejections = drop_invalid_spans(&mut data);
    if let Some(analytics) = analytics {
        analytics.observe(&data);
    }
    // Sampling comes after the analytics, which count every span.
    let sampled = head.map_or_else(HeadOutcome::default, |head| head.apply(&mut data));
    // A span removed by validation or sampling is noticed by the store
    // (the batch no longer has the request's shape); a span changed in
    // place is not, so the bytes are dropped here.
    let batch = match spans.filter(|_| rejections.changed == 0) {
        _ if forward => Payload::Forward(data),
        Some(spans) => Payload::Store(prepare_request_batch(&data, &spans)),
        None => Payload::Store(prepare_batch(data)),
    };
    Prepared {
        batch,
        received,
        rejections,
        sampled,
    }
}

/// The submit path for spans that arrive by another way than a receiver
/// (the store role's Kafka consumer): validation, analytics, sampling, the
/// pipeline, with `receiver`'s metrics. Resolves once the spans are durable;
/// returns how many were stored.
pub async fn ingest_batch(
    pipeline: &Pipeline,
    receiver: Receiver,
    data: TracesData,
) -> Result<usize, SubmitError> {
    let ingest = Ingest::new(pipeline.clone(), receiver, Duration::from_secs(1));
    match ingest.submit_decoded(data).await {
        Ok(accepted) => Ok(accepted.stored),
        Err(IngestError::Submit(error)) => Err(error),
        Err(other) => Err(SubmitError::Storage(other.to_string())),
    }
}

/// The submit path for spans a tail-sampling stage outside the store
/// already decided (the store role's event-time stage): `kept` is stored
/// through the pipeline, then the analytics count `kept` and `dropped`
/// (every span of the decided traces; counted only once `kept` is durable,
/// so a retried step is counted once). `kept` is shared so a retry copies
/// nothing. The caller validated both; no head sampling. Resolves once
/// `kept` is durable; returns how many spans were stored.
pub async fn ingest_decided(
    pipeline: &Pipeline,
    receiver: Receiver,
    kept: Arc<TracesData>,
    dropped: &TracesData,
) -> Result<usize, SubmitError> {
    let to_store = kept.span_count();
    if to_store > 0 {
        let spans = Arc::clone(&kept);
        let turn = pipeline.cpu_turn().await?;
        let batch = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            prepare_batch_of(&spans)
        })
        .await
        .map_err(|e| SubmitError::Storage(format!("preparing the batch failed: {e}")))?;
        if let Err(error) = pipeline.submit(receiver, batch).await {
            let rejection_reason = match error {
                SubmitError::Overloaded => reason::OVERLOADED,
                SubmitError::Storage(_) => reason::STORAGE_ERROR,
                SubmitError::ShuttingDown => reason::SHUTTING_DOWN,
            };
            metrics::spans_rejected(receiver, rejection_reason, to_store);
            return Err(error);
        }
    }
    let sampled_out = dropped.span_count();
    metrics::spans_received(receiver, to_store + sampled_out);
    metrics::spans_rejected(receiver, reason::SAMPLED, sampled_out);
    metrics::spans_accepted(receiver, to_store);
    if let Some(analytics) = pipeline.analytics() {
        analytics.observe(&kept);
        analytics.observe(dropped);
    }
    Ok(to_store)
}

fn rejection_message(rejected: usize, first_error: Option<String>) -> String {
    let spans = if rejected == 1 { "span" } else { "spans" };
    match first_error {
        Some(first) => format!("{rejected} {spans} rejected, first: {first}"),
        None => format!("{rejected} {spans} rejected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_message_counts_and_names_the_first_problem() {
        assert_eq!(
            rejection_message(2, Some("trace_id must be 16 bytes, got 15".to_string())),
            "2 spans rejected, first: trace_id must be 16 bytes, got 15"
        );
        assert_eq!(rejection_message(1, None), "1 span rejected");
    }
}
