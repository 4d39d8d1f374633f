//! Tail-sampling policies: built from their configuration, evaluated on a
//! whole trace.
//!
//! In: [`PolicyConfig`]s (checked here, every problem named with its path
//! and policy name) and, per decision, a whole trace as [`TracesData`] plus
//! the current second (for the rate budgets). Out: a [`Verdict`] per policy,
//! and [`combine`], which turns the verdicts of the top-level policies into
//! one decision with the OpenTelemetry collector's precedence: a `drop`
//! match beats everything, then an inverted match ("invert not sampled"),
//! then any sampled policy, then inverted non-matches when no policy said
//! "not sampled".
//!
//! Attributes are looked up on spans, their events, their scopes and their
//! resources.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{any_value::Value, KeyValue, StatusCode, TracesData};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::sampling::config::{PolicyConfig, PolicyType};

/// What one policy says about one trace (OpenTelemetry's decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Sampled,
    NotSampled,
    /// An inverted policy found no match: sampled unless another policy says no.
    InvertSampled,
    /// An inverted policy found a match: the trace is not sampled.
    InvertNotSampled,
    /// A `drop` policy matched: the trace is dropped whatever else says.
    Dropped,
}

/// A built policy.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) name: Arc<str>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    AlwaysSample,
    Probabilistic {
        seed: u64,
        threshold: Threshold,
    },
    Latency {
        threshold_ns: u64,
        upper_ns: Option<u64>,
    },
    StatusCode(Vec<StatusCode>),
    StringAttribute {
        key: String,
        values: HashSet<String>,
        regexes: Vec<Regex>,
        invert: bool,
    },
    NumericAttribute {
        key: String,
        min: Option<i64>,
        max: Option<i64>,
        invert: bool,
    },
    BooleanAttribute {
        key: String,
        value: bool,
        invert: bool,
    },
    SpanCount {
        min: u64,
        max: u64,
    },
    TraceState {
        key: String,
        values: HashSet<String>,
    },
    RateLimiting {
        spans_per_second: u64,
        used: Mutex<SecondBudget>,
    },
    And(Vec<Policy>),
    Not(Box<Policy>),
    Drop(Vec<Policy>),
    Composite {
        max_total: u64,
        subs: Vec<CompositeSub>,
    },
}

#[derive(Debug)]
struct CompositeSub {
    policy: Policy,
    allocated: u64,
    used: Mutex<SecondBudget>,
}

/// Spans sampled within one wall-clock second.
#[derive(Debug, Default)]
struct SecondBudget {
    second: u64,
    spans: u64,
}

impl SecondBudget {
    /// Takes `spans` from a budget of `limit` per second, if they fit.
    fn take(&mut self, now_second: u64, spans: u64, limit: u64) -> bool {
        if self.second != now_second {
            self.second = now_second;
            self.spans = 0;
        }
        let after = self.spans.saturating_add(spans);
        if after <= limit {
            self.spans = after;
            true
        } else {
            false
        }
    }
}

/// A share of the 64-bit hash space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threshold {
    All,
    None,
    Below(u64),
}

impl Threshold {
    /// The threshold keeping `percentage` (0–100) of hashes.
    pub(crate) fn from_percentage(percentage: f64) -> Threshold {
        if percentage >= 100.0 {
            Threshold::All
        } else if percentage <= 0.0 || percentage.is_nan() {
            Threshold::None
        } else {
            Threshold::Below((percentage / 100.0 * u64::MAX as f64) as u64)
        }
    }

    pub(crate) fn admits(self, hash: u64) -> bool {
        match self {
            Threshold::All => true,
            Threshold::None => false,
            Threshold::Below(t) => hash < t,
        }
    }
}

/// The hash every probabilistic decision compares: the trace id's bytes
/// under `seed`. The same on every collector and for every span of a trace.
pub(crate) fn trace_hash(trace_id: TraceId, seed: u64) -> u64 {
    xxh3_64_with_seed(&trace_id.to_bytes(), seed)
}

/// Builds every top-level policy, or reports every problem.
pub(crate) fn build_all(configs: &[PolicyConfig]) -> Result<Vec<Policy>, Vec<String>> {
    let mut problems = Vec::new();
    let mut policies = Vec::new();
    let mut names = HashSet::new();
    for (i, config) in configs.iter().enumerate() {
        let path = format!("sampling.tail.policies[{i}]");
        if !names.insert(config.name.as_str()) {
            problems.push(format!(
                "{path} (policy {:?}): the name is used by another policy",
                config.name
            ));
        }
        if let Some(policy) = build(config, &path, &mut problems) {
            policies.push(policy);
        }
    }
    if problems.is_empty() {
        Ok(policies)
    } else {
        Err(problems)
    }
}

fn build(config: &PolicyConfig, path: &str, problems: &mut Vec<String>) -> Option<Policy> {
    let here = format!("{path} (policy {:?})", config.name);
    let type_name = config.kind.name();
    let mut problem = |message: String| problems.push(format!("{here}: {message}"));
    if config.name.is_empty() {
        problem("name must not be empty".into());
    }
    // Exactly the section named after the type may be present.
    let sections: [(&str, bool); 13] = [
        ("probabilistic", config.probabilistic.is_some()),
        ("latency", config.latency.is_some()),
        ("status_code", config.status_code.is_some()),
        ("string_attribute", config.string_attribute.is_some()),
        ("numeric_attribute", config.numeric_attribute.is_some()),
        ("boolean_attribute", config.boolean_attribute.is_some()),
        ("span_count", config.span_count.is_some()),
        ("trace_state", config.trace_state.is_some()),
        ("rate_limiting", config.rate_limiting.is_some()),
        ("and", config.and.is_some()),
        ("not", config.not.is_some()),
        ("drop", config.drop.is_some()),
        ("composite", config.composite.is_some()),
    ];
    for (section, present) in sections {
        if present && section != type_name {
            problem(format!(
                "section `{section}` does not belong to a policy of type {type_name}"
            ));
        }
    }
    let missing = |problems: &mut Vec<String>| {
        problems.push(format!(
            "{here}: type {type_name} needs a `{type_name}` section"
        ));
    };
    let kind = match config.kind {
        PolicyType::AlwaysSample => Kind::AlwaysSample,
        PolicyType::Probabilistic => {
            let Some(p) = &config.probabilistic else {
                missing(problems);
                return None;
            };
            if !(0.0..=100.0).contains(&p.sampling_percentage) {
                problems.push(format!(
                    "{here}: probabilistic.sampling_percentage must be between 0 and 100, got {}",
                    p.sampling_percentage
                ));
            }
            Kind::Probabilistic {
                seed: xxh3_64(p.hash_salt.as_bytes()),
                threshold: Threshold::from_percentage(p.sampling_percentage),
            }
        }
        PolicyType::Latency => {
            let Some(p) = &config.latency else {
                missing(problems);
                return None;
            };
            if p.threshold_ms < 0 || p.upper_threshold_ms < 0 {
                problems.push(format!(
                    "{here}: latency.threshold_ms and latency.upper_threshold_ms must not be negative"
                ));
            }
            if p.upper_threshold_ms != 0 && p.upper_threshold_ms < p.threshold_ms {
                problems.push(format!(
                    "{here}: latency.upper_threshold_ms ({}) must not be below latency.threshold_ms ({})",
                    p.upper_threshold_ms, p.threshold_ms
                ));
            }
            Kind::Latency {
                threshold_ns: p.threshold_ms.max(0) as u64 * 1_000_000,
                upper_ns: (p.upper_threshold_ms > 0)
                    .then(|| p.upper_threshold_ms as u64 * 1_000_000),
            }
        }
        PolicyType::StatusCode => {
            let Some(p) = &config.status_code else {
                missing(problems);
                return None;
            };
            let mut codes = Vec::new();
            for code in &p.status_codes {
                match code.as_str() {
                    "OK" => codes.push(StatusCode::Ok),
                    "ERROR" => codes.push(StatusCode::Error),
                    "UNSET" => codes.push(StatusCode::Unset),
                    other => problems.push(format!(
                        "{here}: status_code.status_codes: unknown status code {other:?}, expected OK, ERROR or UNSET"
                    )),
                }
            }
            if p.status_codes.is_empty() {
                problems.push(format!(
                    "{here}: status_code.status_codes must not be empty"
                ));
            }
            Kind::StatusCode(codes)
        }
        PolicyType::StringAttribute => {
            let Some(p) = &config.string_attribute else {
                missing(problems);
                return None;
            };
            if p.key.is_empty() {
                problems.push(format!("{here}: string_attribute.key must not be empty"));
            }
            let mut regexes = Vec::new();
            if p.enabled_regex_matching {
                for value in &p.values {
                    match Regex::new(value) {
                        Ok(r) => regexes.push(r),
                        Err(error) => problems.push(format!(
                            "{here}: string_attribute.values: {value:?} is not a valid regular expression: {error}"
                        )),
                    }
                }
            }
            Kind::StringAttribute {
                key: p.key.clone(),
                values: if p.enabled_regex_matching {
                    HashSet::new()
                } else {
                    p.values.iter().cloned().collect()
                },
                regexes,
                invert: p.invert_match,
            }
        }
        PolicyType::NumericAttribute => {
            let Some(p) = &config.numeric_attribute else {
                missing(problems);
                return None;
            };
            if p.key.is_empty() {
                problems.push(format!("{here}: numeric_attribute.key must not be empty"));
            }
            if p.min_value.is_none() && p.max_value.is_none() {
                problems.push(format!(
                    "{here}: numeric_attribute needs min_value, max_value or both"
                ));
            }
            if let (Some(min), Some(max)) = (p.min_value, p.max_value) {
                if max < min {
                    problems.push(format!(
                        "{here}: numeric_attribute.max_value ({max}) must not be below min_value ({min})"
                    ));
                }
            }
            Kind::NumericAttribute {
                key: p.key.clone(),
                min: p.min_value,
                max: p.max_value,
                invert: p.invert_match,
            }
        }
        PolicyType::BooleanAttribute => {
            let Some(p) = &config.boolean_attribute else {
                missing(problems);
                return None;
            };
            if p.key.is_empty() {
                problems.push(format!("{here}: boolean_attribute.key must not be empty"));
            }
            Kind::BooleanAttribute {
                key: p.key.clone(),
                value: p.value,
                invert: p.invert_match,
            }
        }
        PolicyType::SpanCount => {
            let Some(p) = &config.span_count else {
                missing(problems);
                return None;
            };
            if p.max_spans != 0 && p.max_spans < p.min_spans {
                problems.push(format!(
                    "{here}: span_count.max_spans ({}) must not be below span_count.min_spans ({})",
                    p.max_spans, p.min_spans
                ));
            }
            Kind::SpanCount {
                min: p.min_spans,
                max: if p.max_spans == 0 {
                    u64::MAX
                } else {
                    p.max_spans
                },
            }
        }
        PolicyType::TraceState => {
            let Some(p) = &config.trace_state else {
                missing(problems);
                return None;
            };
            if p.key.is_empty() {
                problems.push(format!("{here}: trace_state.key must not be empty"));
            }
            Kind::TraceState {
                key: p.key.clone(),
                values: p.values.iter().cloned().collect(),
            }
        }
        PolicyType::RateLimiting => {
            let Some(p) = &config.rate_limiting else {
                missing(problems);
                return None;
            };
            if p.spans_per_second == 0 {
                problems.push(format!(
                    "{here}: rate_limiting.spans_per_second must be greater than 0"
                ));
            }
            Kind::RateLimiting {
                spans_per_second: p.spans_per_second,
                used: Mutex::default(),
            }
        }
        PolicyType::And => {
            let Some(p) = &config.and else {
                missing(problems);
                return None;
            };
            if p.and_sub_policy.is_empty() {
                problems.push(format!("{here}: and.and_sub_policy must not be empty"));
            }
            Kind::And(build_subs(
                &p.and_sub_policy,
                &format!("{path}.and.and_sub_policy"),
                problems,
            )?)
        }
        PolicyType::Not => {
            let Some(p) = &config.not else {
                missing(problems);
                return None;
            };
            let sub = build(
                &p.not_sub_policy,
                &format!("{path}.not.not_sub_policy"),
                problems,
            )?;
            Kind::Not(Box::new(sub))
        }
        PolicyType::Drop => {
            let Some(p) = &config.drop else {
                missing(problems);
                return None;
            };
            if p.drop_sub_policy.is_empty() {
                problems.push(format!("{here}: drop.drop_sub_policy must not be empty"));
            }
            Kind::Drop(build_subs(
                &p.drop_sub_policy,
                &format!("{path}.drop.drop_sub_policy"),
                problems,
            )?)
        }
        PolicyType::Composite => {
            let Some(p) = &config.composite else {
                missing(problems);
                return None;
            };
            build_composite(p, path, &here, problems)?
        }
    };
    Some(Policy {
        name: Arc::from(config.name.as_str()),
        kind,
    })
}

fn build_subs(
    configs: &[PolicyConfig],
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<Policy>> {
    let before = problems.len();
    let subs: Vec<Policy> = configs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| build(c, &format!("{path}[{i}]"), problems))
        .collect();
    (problems.len() == before).then_some(subs)
}

fn build_composite(
    p: &crate::sampling::config::CompositePolicy,
    path: &str,
    here: &str,
    problems: &mut Vec<String>,
) -> Option<Kind> {
    let before = problems.len();
    if p.max_total_spans_per_second == 0 {
        problems.push(format!(
            "{here}: composite.max_total_spans_per_second must be greater than 0"
        ));
    }
    let sub_path = format!("{path}.composite.composite_sub_policy");
    let mut built: Vec<Option<Policy>> = p
        .composite_sub_policy
        .iter()
        .enumerate()
        .map(|(i, c)| build(c, &format!("{sub_path}[{i}]"), problems))
        .collect();
    let names: Vec<&str> = p
        .composite_sub_policy
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut percent_total = 0;
    for allocation in &p.rate_allocation {
        if !names.contains(&allocation.policy.as_str()) {
            problems.push(format!(
                "{here}: composite.rate_allocation names {:?}, which is not a composite_sub_policy",
                allocation.policy
            ));
        }
        percent_total += allocation.percent;
    }
    if percent_total > 100 {
        problems.push(format!(
            "{here}: composite.rate_allocation percentages add up to {percent_total}, more than 100"
        ));
    }
    let mut subs = Vec::new();
    for name in &p.policy_order {
        match names.iter().position(|n| n == name) {
            None => problems.push(format!(
                "{here}: composite.policy_order names {name:?}, which is not a composite_sub_policy"
            )),
            Some(i) => {
                let Some(policy) = built[i].take() else {
                    if !problems.iter().any(|m| m.contains(&format!("{name:?}"))) {
                        problems.push(format!(
                            "{here}: composite.policy_order names {name:?} twice"
                        ));
                    }
                    continue;
                };
                let percent = p
                    .rate_allocation
                    .iter()
                    .find(|a| &a.policy == name)
                    .map_or(0, |a| a.percent);
                subs.push(CompositeSub {
                    allocated: p.max_total_spans_per_second.saturating_mul(percent) / 100,
                    policy,
                    used: Mutex::default(),
                });
            }
        }
    }
    if p.policy_order.len() != p.composite_sub_policy.len() && problems.len() == before {
        problems.push(format!(
            "{here}: composite.policy_order must name every composite_sub_policy once"
        ));
    }
    (problems.len() == before).then_some(Kind::Composite {
        max_total: p.max_total_spans_per_second,
        subs,
    })
}

/// Facts of one trace, computed once per decision.
pub(crate) struct TraceFacts<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) data: &'a TracesData,
    pub(crate) span_count: u64,
    pub(crate) duration_ns: u64,
    /// Wall-clock second of the decision (for rate budgets).
    pub(crate) now_second: u64,
}

impl<'a> TraceFacts<'a> {
    pub(crate) fn new(trace_id: TraceId, data: &'a TracesData, now_second: u64) -> Self {
        let mut start = u64::MAX;
        let mut end = 0;
        let mut spans = 0;
        for rs in &data.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans += 1;
                    start = start.min(span.start_time_unix_nano);
                    end = end.max(span.end_time_unix_nano);
                }
            }
        }
        TraceFacts {
            trace_id,
            data,
            span_count: spans,
            duration_ns: end.saturating_sub(start),
            now_second,
        }
    }

    /// Whether any attribute named `key` (on a span, event, scope or
    /// resource) has a value for which `test` holds.
    fn any_attribute(&self, key: &str, test: &mut dyn FnMut(&Value) -> bool) -> bool {
        let mut check = |attrs: &[KeyValue]| {
            attrs.iter().any(|kv| {
                kv.key == key
                    && kv
                        .value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .is_some_and(&mut *test)
            })
        };
        for rs in &self.data.resource_spans {
            if rs.resource.as_ref().is_some_and(|r| check(&r.attributes)) {
                return true;
            }
            for ss in &rs.scope_spans {
                if ss.scope.as_ref().is_some_and(|s| check(&s.attributes)) {
                    return true;
                }
                for span in &ss.spans {
                    if check(&span.attributes) || span.events.iter().any(|e| check(&e.attributes)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn any_span(&self, mut test: impl FnMut(&spoor_proto::model::Span) -> bool) -> bool {
        self.data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .any(&mut test)
    }
}

fn matched(found: bool, invert: bool) -> Verdict {
    match (found, invert) {
        (true, false) => Verdict::Sampled,
        (false, false) => Verdict::NotSampled,
        (true, true) => Verdict::InvertNotSampled,
        (false, true) => Verdict::InvertSampled,
    }
}

fn sampled(yes: bool) -> Verdict {
    if yes {
        Verdict::Sampled
    } else {
        Verdict::NotSampled
    }
}

impl Policy {
    pub(crate) fn evaluate(&self, t: &TraceFacts<'_>) -> Verdict {
        match &self.kind {
            Kind::AlwaysSample => Verdict::Sampled,
            Kind::Probabilistic { seed, threshold } => {
                sampled(threshold.admits(trace_hash(t.trace_id, *seed)))
            }
            Kind::Latency {
                threshold_ns,
                upper_ns,
            } => sampled(
                t.duration_ns >= *threshold_ns && upper_ns.is_none_or(|u| t.duration_ns <= u),
            ),
            Kind::StatusCode(codes) => sampled(t.any_span(|s| codes.contains(&s.status_code()))),
            Kind::StringAttribute {
                key,
                values,
                regexes,
                invert,
            } => {
                let found = t.any_attribute(key, &mut |v| match v {
                    Value::StringValue(s) => {
                        values.contains(s) || regexes.iter().any(|r| r.is_match(s))
                    }
                    _ => false,
                });
                matched(found, *invert)
            }
            Kind::NumericAttribute {
                key,
                min,
                max,
                invert,
            } => {
                let found = t.any_attribute(key, &mut |v| {
                    let (low, high) = (min.map(|m| m as f64), max.map(|m| m as f64));
                    let x = match v {
                        Value::IntValue(i) => {
                            return min.is_none_or(|m| *i >= m) && max.is_none_or(|m| *i <= m)
                        }
                        Value::DoubleValue(d) => *d,
                        _ => return false,
                    };
                    low.is_none_or(|m| x >= m) && high.is_none_or(|m| x <= m)
                });
                matched(found, *invert)
            }
            Kind::BooleanAttribute { key, value, invert } => {
                let found =
                    t.any_attribute(key, &mut |v| matches!(v, Value::BoolValue(b) if b == value));
                matched(found, *invert)
            }
            Kind::SpanCount { min, max } => sampled(t.span_count >= *min && t.span_count <= *max),
            Kind::TraceState { key, values } => sampled(t.any_span(|s| {
                s.trace_state.split(',').any(|member| {
                    member
                        .trim()
                        .split_once('=')
                        .is_some_and(|(k, v)| k == key && values.contains(v))
                })
            })),
            Kind::RateLimiting {
                spans_per_second,
                used,
            } => sampled(
                used.lock()
                    .take(t.now_second, t.span_count, *spans_per_second),
            ),
            Kind::And(subs) => {
                for sub in subs {
                    let verdict = sub.evaluate(t);
                    if matches!(verdict, Verdict::NotSampled | Verdict::InvertNotSampled) {
                        return verdict;
                    }
                }
                Verdict::Sampled
            }
            Kind::Not(sub) => match sub.evaluate(t) {
                Verdict::Sampled | Verdict::InvertSampled => Verdict::NotSampled,
                Verdict::NotSampled | Verdict::InvertNotSampled => Verdict::Sampled,
                Verdict::Dropped => Verdict::NotSampled,
            },
            Kind::Drop(subs) => {
                for sub in subs {
                    if matches!(
                        sub.evaluate(t),
                        Verdict::NotSampled | Verdict::InvertNotSampled
                    ) {
                        return Verdict::NotSampled;
                    }
                }
                Verdict::Dropped
            }
            Kind::Composite { max_total, subs } => {
                for sub in subs {
                    if matches!(
                        sub.policy.evaluate(t),
                        Verdict::Sampled | Verdict::InvertSampled
                    ) && sub.used.lock().take(
                        t.now_second,
                        t.span_count,
                        sub.allocated.min(*max_total),
                    ) {
                        return Verdict::Sampled;
                    }
                    // Over this sub-policy's budget: a later one may still sample.
                }
                Verdict::NotSampled
            }
        }
    }
}

/// The final decision over the top-level policies: keep or not, and the
/// name of the policy that decided ("none" when no policy sampled).
pub(crate) fn combine(policies: &[Policy], t: &TraceFacts<'_>) -> (bool, Arc<str>) {
    let mut dropped = None;
    let mut vetoed = None;
    let mut first_sampled = None;
    let mut first_invert_sampled = None;
    let mut any_not_sampled = false;
    for policy in policies {
        match policy.evaluate(t) {
            Verdict::Dropped => {
                dropped.get_or_insert(&policy.name);
            }
            Verdict::InvertNotSampled => {
                vetoed.get_or_insert(&policy.name);
            }
            Verdict::Sampled => {
                first_sampled.get_or_insert(&policy.name);
            }
            Verdict::InvertSampled => {
                first_invert_sampled.get_or_insert(&policy.name);
            }
            Verdict::NotSampled => any_not_sampled = true,
        }
    }
    if let Some(name) = dropped.or(vetoed) {
        return (false, name.clone());
    }
    if let Some(name) = first_sampled {
        return (true, name.clone());
    }
    if let Some(name) = first_invert_sampled {
        if !any_not_sampled {
            return (true, name.clone());
        }
    }
    (false, Arc::from("none"))
}
