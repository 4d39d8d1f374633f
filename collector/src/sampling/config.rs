//! Sampling settings: the `sampling` section of Spoor's configuration tree.
//!
//! In: YAML (unknown keys rejected with their path, every key defaulted).
//! Out: a [`SamplingConfig`] that [`SamplingConfig::validate`] checks in one
//! pass, naming the key (and, for tail policies, the policy) of every
//! problem. Tail policies keep the names and fields of the OpenTelemetry
//! collector's `tail_sampling` processor so configurations can be ported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    pub policies: Vec<PolicyConfig>,
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig {
            decision_wait: Duration::from_secs(30),
            max_age: Duration::from_secs(300),
            late_span_decision_ttl: Duration::from_secs(600),
            decision_cache_size: 200_000,
            policies: Vec::new(),
        }
    }
}

/// The policy types, named as in the OpenTelemetry collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    AlwaysSample,
    Probabilistic,
    Latency,
    StatusCode,
    StringAttribute,
    NumericAttribute,
    BooleanAttribute,
    SpanCount,
    TraceState,
    RateLimiting,
    And,
    Not,
    Drop,
    Composite,
}

impl PolicyType {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            PolicyType::AlwaysSample => "always_sample",
            PolicyType::Probabilistic => "probabilistic",
            PolicyType::Latency => "latency",
            PolicyType::StatusCode => "status_code",
            PolicyType::StringAttribute => "string_attribute",
            PolicyType::NumericAttribute => "numeric_attribute",
            PolicyType::BooleanAttribute => "boolean_attribute",
            PolicyType::SpanCount => "span_count",
            PolicyType::TraceState => "trace_state",
            PolicyType::RateLimiting => "rate_limiting",
            PolicyType::And => "and",
            PolicyType::Not => "not",
            PolicyType::Drop => "drop",
            PolicyType::Composite => "composite",
        }
    }
}

/// One policy: a name, a type, and the section named after the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Unique name; the `policy` label of the sampling metrics.
    pub name: String,
    /// What the policy checks.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilistic: Option<ProbabilisticPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<StatusCodePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_attribute: Option<StringAttributePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_attribute: Option<NumericAttributePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean_attribute: Option<BooleanAttributePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_count: Option<SpanCountPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_state: Option<TraceStatePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimitingPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<AndPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<NotPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite: Option<CompositePolicy>,
}

/// `probabilistic`: a share of traces by a hash of the trace id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticPolicy {
    /// Salt of the hash (so several policies pick different traces).
    #[serde(default)]
    pub hash_salt: String,
    /// Percentage of traces sampled (0–100).
    pub sampling_percentage: f64,
}

/// `latency`: the trace's duration (first span start to last span end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPolicy {
    /// Sampled when the duration is at least this.
    pub threshold_ms: i64,
    /// When not 0, sampled only up to this duration.
    #[serde(default)]
    pub upper_threshold_ms: i64,
}

/// `status_code`: a span with one of these status codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCodePolicy {
    /// `OK`, `ERROR` or `UNSET`.
    pub status_codes: Vec<String>,
}

/// `string_attribute`: an attribute with one of these values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringAttributePolicy {
    pub key: String,
    pub values: Vec<String>,
    /// Treat `values` as regular expressions.
    #[serde(default)]
    pub enabled_regex_matching: bool,
    /// Accepted for compatibility; regex results are not cached.
    #[serde(default)]
    pub cache_max_size: usize,
    /// Sample the traces that do NOT match (a match vetoes the trace).
    #[serde(default)]
    pub invert_match: bool,
}

/// `numeric_attribute`: an integer (or float) attribute within a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericAttributePolicy {
    pub key: String,
    /// Lowest value sampled (none when absent).
    #[serde(default)]
    pub min_value: Option<i64>,
    /// Highest value sampled (none when absent).
    #[serde(default)]
    pub max_value: Option<i64>,
    #[serde(default)]
    pub invert_match: bool,
}

/// `boolean_attribute`: a boolean attribute with this value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooleanAttributePolicy {
    pub key: String,
    pub value: bool,
    #[serde(default)]
    pub invert_match: bool,
}

/// `span_count`: the number of spans of the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanCountPolicy {
    pub min_spans: u64,
    /// 0: no upper bound.
    #[serde(default)]
    pub max_spans: u64,
}

/// `trace_state`: a W3C tracestate entry with one of these values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceStatePolicy {
    pub key: String,
    pub values: Vec<String>,
}

/// `rate_limiting`: at most this many spans per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingPolicy {
    pub spans_per_second: u64,
}

/// `and`: every sub-policy samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndPolicy {
    pub and_sub_policy: Vec<PolicyConfig>,
}

/// `not`: the sub-policy does not sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotPolicy {
    pub not_sub_policy: Box<PolicyConfig>,
}

/// `drop`: every sub-policy matches → the trace is dropped, whatever any
/// other policy says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropPolicy {
    pub drop_sub_policy: Vec<PolicyConfig>,
}

/// `composite`: ordered sub-policies, each with a share of a span budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositePolicy {
    pub max_total_spans_per_second: u64,
    /// Names of the sub-policies, in evaluation order.
    pub policy_order: Vec<String>,
    pub composite_sub_policy: Vec<PolicyConfig>,
    /// Share of `max_total_spans_per_second` per sub-policy; a sub-policy
    /// without an entry gets no budget.
    #[serde(default)]
    pub rate_allocation: Vec<RateAllocation>,
}

/// One sub-policy's share of a composite budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateAllocation {
    pub policy: String,
    pub percent: u64,
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
        if let Err(policy_problems) = crate::sampling::policy::build_all(&tail.policies) {
            problems.extend(policy_problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
