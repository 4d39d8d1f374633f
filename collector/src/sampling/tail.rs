//! Tail sampling: the store's [`TraceDecider`] built from the configured
//! policies.
//!
//! In: a whole trace leaving the store's assembly buffer (called on the
//! store's flusher thread). Out: keep or drop, with the name of the policy
//! that decided. Debug and forced traces are kept before any policy runs
//! (policy name `debug`). Installed with [`install`], which also hands the
//! store the decision wait, maximum age and late-span memory.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use spoor_storage::{Decision, DecisionPolicy, Store, TraceDecider};

use crate::sampling::config::SamplingConfig;
use crate::sampling::head::trace_is_forced;
use crate::sampling::policy::{combine, Policy, TraceFacts};

/// The policy label of traces kept because they are debug or forced.
pub const DEBUG_POLICY: &str = "debug";

/// Decides traces by the configured policies.
#[derive(Debug)]
pub struct TailSampler {
    policies: Arc<[Policy]>,
    envoy_forced: bool,
}

impl TailSampler {
    /// The sampler of the policies built when `config` was read; fails with
    /// every problem building them found.
    pub fn new(config: &SamplingConfig) -> Result<TailSampler, Vec<String>> {
        Ok(TailSampler {
            policies: config.tail.policies.built()?,
            envoy_forced: config.keep_envoy_forced,
        })
    }

    /// Decides as of wall-clock second `now_second` (rate budgets are per
    /// second).
    pub fn decide_at(&self, trace_id: TraceId, trace: &TracesData, now_second: u64) -> Decision {
        if trace_is_forced(trace, self.envoy_forced) {
            return Decision::keep(DEBUG_POLICY);
        }
        let facts = TraceFacts::new(trace_id, trace, now_second);
        let (keep, policy) = combine(&self.policies, &facts);
        Decision { keep, policy }
    }
}

impl TraceDecider for TailSampler {
    fn decide(&self, trace_id: TraceId, trace: &TracesData) -> Decision {
        let now_second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.decide_at(trace_id, trace, now_second)
    }
}

/// Installs tail sampling on `store` when the configuration has policies.
/// Returns whether it did.
pub fn install(store: &Store, config: &SamplingConfig) -> Result<bool, Vec<String>> {
    if !config.tail_enabled() {
        return Ok(false);
    }
    let sampler = TailSampler::new(config)?;
    store.set_decider(
        Arc::new(sampler),
        DecisionPolicy {
            decision_wait: config.tail.decision_wait,
            max_age: config.tail.max_age,
            late_span_ttl: config.tail.late_span_decision_ttl,
            max_remembered: config.tail.decision_cache_size,
        },
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_takes_the_policies_built_when_the_configuration_was_read() {
        let config: SamplingConfig = serde_yaml::from_str(
            "tail:\n  policies:\n    - {name: limit, type: rate_limiting, rate_limiting: {spans_per_second: 5}}\n",
        )
        .unwrap();
        let built = config.tail.policies.built().unwrap();
        let sampler = TailSampler::new(&config).unwrap();
        assert!(Arc::ptr_eq(&built, &sampler.policies));
        // A configuration with problems gives the sampler the same problems
        // validation reports, without building anything again.
        let bad: SamplingConfig =
            serde_yaml::from_str("tail:\n  policies:\n    - {name: x, type: latency}\n").unwrap();
        assert_eq!(
            TailSampler::new(&bad).unwrap_err(),
            bad.validate().unwrap_err()
        );
    }
}
