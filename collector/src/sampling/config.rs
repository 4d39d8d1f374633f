//! Sampling settings: the `sampling` section of Spoor's configuration tree.
//!
//! In: YAML (unknown keys rejected with their path, every key defaulted).
//! Out: a [`SamplingConfig`] that [`SamplingConfig::validate`] checks in one
//! pass, naming the key (and, for tail policies, the policy) of every
//! problem. Tail policies (`policy_config`) keep the names and fields of the
//! OpenTelemetry collector's `tail_sampling` processor so configurations can
//! be ported; they are built as they are read ([`TailPolicies`]), and
//! validation reports what building them found.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sampling::policy::TailPolicies;

/// Every sampling setting. The default keeps every span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// Consistent probabilistic sampling at ingest, by trace id.
    pub probabilistic: ProbabilisticConfig,
    /// Treat Envoy spans whose `guid:x-request-id` carries Envoy's "forced"
    /// or "client-forced" trace mark as debug traces (always kept).
    pub keep_envoy_forced: bool,
    /// Tail sampling: per-trace decisions by policy when a trace leaves the
    /// assembly buffer.
    pub tail: TailConfig,
    /// Jaeger strategies file served to SDKs (`/sampling`, `SamplingManager`).
    /// Without it every service gets `default_sampling_probability`.
    pub strategies_file: Option<PathBuf>,
    /// How often the strategies file is checked for changes.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// Probability served when there is no strategies file.
    pub default_sampling_probability: f64,
    /// Adaptive sampling: computed per-operation probabilities served
    /// instead of the strategies file.
    pub adaptive: crate::sampling::adaptive::AdaptiveConfig,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            probabilistic: ProbabilisticConfig::default(),
            keep_envoy_forced: true,
            tail: TailConfig::default(),
            strategies_file: None,
            reload_interval: Duration::from_secs(10),
            default_sampling_probability: 1.0,
            adaptive: crate::sampling::adaptive::AdaptiveConfig::default(),
        }
    }
}

/// Probabilistic sampling at ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbabilisticConfig {
    /// Percentage of traces kept (0–100).
    pub sampling_percentage: f64,
    /// Seed of the trace-id hash; collectors sharing a seed agree on every trace.
    pub hash_seed: u64,
    /// Percentage per service name, overriding `sampling_percentage` for the
    /// spans of that service. The same hash is compared against each rate, so
    /// a trace kept at a low rate is kept at every higher one.
    pub services: BTreeMap<String, f64>,
}

impl Default for ProbabilisticConfig {
    fn default() -> Self {
        ProbabilisticConfig {
            sampling_percentage: 100.0,
            hash_seed: 0,
            services: BTreeMap::new(),
        }
    }
}

/// Tail sampling. On when `policies` is not empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// A trace is decided once no span arrived for this long
    /// (replaces `storage.trace_idle_timeout` while tail sampling is on).
    #[serde(with = "humantime_serde")]
    pub decision_wait: Duration,
    /// A trace is decided at the latest this long after its first span
    /// (replaces `storage.trace_max_age` while tail sampling is on).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How long a decision is remembered, so late spans follow it.
    #[serde(with = "humantime_serde")]
    pub late_span_decision_ttl: Duration,
    /// Decisions remembered at most (the oldest are forgotten first).
    pub decision_cache_size: usize,
    /// The policies; a trace is kept when one samples it (OpenTelemetry
    /// `tail_sampling` semantics, including inverted and drop decisions).
    /// Built once, as the configuration is read.
    pub policies: TailPolicies,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            decision_wait: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            late_span_decision_ttl: Duration::from_secs(600),
            decision_cache_size: 200_000,
            policies: TailPolicies::default(),
        }
    }
}

impl SamplingConfig {
    /// Whether tail sampling is on.
    pub fn tail_enabled(&self) -> bool {
        !self.tail.policies.is_empty()
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut check_percentage = |key: String, value: f64| {
            if !(0.0..=100.0).contains(&value) {
                problems.push(format!("{key} must be between 0 and 100, got {value}"));
            }
        };
        check_percentage(
            "sampling.probabilistic.sampling_percentage".into(),
            self.probabilistic.sampling_percentage,
        );
        for (service, pct) in &self.probabilistic.services {
            check_percentage(format!("sampling.probabilistic.services.{service:?}"), *pct);
        }
        if !(0.0..=1.0).contains(&self.default_sampling_probability) {
            problems.push(format!(
                "sampling.default_sampling_probability must be between 0 and 1, got {}",
                self.default_sampling_probability
            ));
        }
        if self.reload_interval.is_zero() {
            problems.push("sampling.reload_interval must be greater than 0".to_string());
        }
        let tail = &self.tail;
        if tail.decision_wait.is_zero() {
            problems.push("sampling.tail.decision_wait must be greater than 0".to_string());
        }
        if tail.max_age < tail.decision_wait {
            problems.push(
                "sampling.tail.max_age must not be shorter than sampling.tail.decision_wait"
                    .to_string(),
            );
        }
        problems.extend(self.adaptive.problems());
        problems.extend(tail.policies.problems().iter().cloned());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
