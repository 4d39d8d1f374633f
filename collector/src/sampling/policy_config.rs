//! The tail-sampling policy settings: one entry of `sampling.tail.policies`.
//!
//! In: YAML with the names and fields of the OpenTelemetry collector's
//! `tail_sampling` processor (unknown keys rejected with their path). Out:
//! [`PolicyConfig`]s, which `policy` builds (and checks) once, when the
//! configuration is read ([`crate::sampling::TailPolicies`]).

use serde::{Deserialize, Serialize};

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
