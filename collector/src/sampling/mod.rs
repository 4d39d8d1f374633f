//! Sampling: which traces Spoor stores, and which strategies SDKs are told
//! to use.
//!
//! In: validated batches on the ingest path (after the analytics saw them),
//! whole traces leaving the store's assembly buffer, and SDKs' strategy
//! requests. Out: smaller batches, keep/drop decisions per trace, strategy
//! responses, and the `spoor_sampling_*` metrics (docs/metrics.md).
//!
//! Three independent parts, all off by default (everything is kept):
//! - [`head`]: consistent probabilistic sampling at ingest by a seeded hash
//!   of the trace id, per-service rates; debug and forced traces are always
//!   kept. Installed on the pipeline with [`crate::Pipeline::set_head_sampler`].
//! - [`tail`]: policies with the OpenTelemetry collector's `tail_sampling`
//!   names and fields ([`policy_config`], built once into [`TailPolicies`]
//!   by [`policy`]), run by the store when a trace leaves the
//!   buffer (`spoor_storage::TraceDecider`), so memory stays within the
//!   store's buffer bounds and a restart replays undecided traces.
//! - [`strategies`] and [`remote`]: Jaeger's strategies file served over
//!   HTTP (`/sampling`, `/api/sampling`) and gRPC (`SamplingManager`),
//!   reloaded when the file changes; or, with [`adaptive`], per-operation
//!   probabilities computed from the observed root-span throughput.
//!
//! Settings: [`SamplingConfig`], the `sampling` section of the configuration.

pub mod adaptive;
pub mod config;
pub mod head;
pub(crate) mod policy;
pub mod policy_config;
pub mod remote;
pub mod strategies;
pub mod tail;

#[cfg(test)]
mod tests;

pub use adaptive::{Adaptive, AdaptiveConfig};
pub use config::SamplingConfig;
pub use head::{HeadOutcome, HeadSampler};
pub use policy::TailPolicies;
pub use remote::{sampling_agent_router, sampling_grpc_service, sampling_http_router};
pub use strategies::{StrategyError, StrategyProvider};
pub use tail::TailSampler;

use spoor_storage::decider::{SAMPLING_SPANS_DROPPED_TOTAL, SAMPLING_SPANS_KEPT_TOTAL};

/// The `stage` label of the span counters for ingest decisions.
pub const STAGE_HEAD: &str = "head";
/// The `policy` label of spans kept or dropped by the ingest rate.
pub const HEAD_POLICY: &str = "probabilistic";

/// Counts one ingest decision in the sampling metrics.
pub(crate) fn count_head(outcome: HeadOutcome) {
    if outcome.kept > 0 {
        metrics::counter!(SAMPLING_SPANS_KEPT_TOTAL, "stage" => STAGE_HEAD, "policy" => HEAD_POLICY)
            .increment(outcome.kept as u64);
    }
    if outcome.kept_forced > 0 {
        metrics::counter!(SAMPLING_SPANS_KEPT_TOTAL, "stage" => STAGE_HEAD, "policy" => tail::DEBUG_POLICY)
            .increment(outcome.kept_forced as u64);
    }
    if outcome.dropped > 0 {
        metrics::counter!(SAMPLING_SPANS_DROPPED_TOTAL, "stage" => STAGE_HEAD, "policy" => HEAD_POLICY)
            .increment(outcome.dropped as u64);
    }
}
