//! Forwarding instead of storing: how the collector role of a split
//! deployment hands its batches on (to Kafka) rather than to a local store.
//!
//! In: a validated, head-sampled batch from the submit path (`ingest`).
//! Out: a future that resolves once the batch is durable elsewhere (for
//! Kafka: every record acknowledged by the brokers), or a [`SubmitError`]:
//! [`SubmitError::Overloaded`] when the way out is full, so the receiver
//! answers with its protocol's "slow down" exactly as for a full pipeline.

use std::future::Future;
use std::pin::Pin;

use spoor_proto::model::TracesData;

use crate::pipeline::SubmitError;

/// The future a [`Forwarder`] returns.
pub type Forwarding = Pin<Box<dyn Future<Output = Result<(), SubmitError>> + Send + 'static>>;

/// Somewhere batches go instead of the local store.
pub trait Forwarder: Send + Sync + 'static {
    /// Sends `data` on; resolves once it is durable there.
    fn forward(&self, data: TracesData) -> Forwarding;
}
