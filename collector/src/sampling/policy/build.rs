//! Building tail-sampling policies from their settings, once.
//!
//! In: the [`PolicyConfig`]s of `sampling.tail.policies`, as the
//! configuration is read. Out: [`TailPolicies`]: the settings as written
//! (for `print-config`) and the built [`Policy`] tree, or every problem
//! found, each named with its path and policy name (reported by
//! `SamplingConfig::validate`, never found again at startup).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;
use serde::{Deserialize, Serialize};
use spoor_proto::model::StatusCode;
use xxhash_rust::xxh3::xxh3_64;

use super::{CompositeSub, Kind, Policy, Threshold};
use crate::sampling::policy_config::{PolicyConfig, PolicyType};

/// The configured tail policies, built when the configuration is read: the
/// settings as written and either the built policies or every problem
/// building them found. Clones share the built policies (and so their
/// per-second rate budgets): one configuration, one tail sampler.
#[derive(Clone, Serialize, Deserialize)]
#[serde(from = "Vec<PolicyConfig>", into = "Vec<PolicyConfig>")]
pub struct TailPolicies {
    configs: Vec<PolicyConfig>,
    built: Result<Arc<[Policy]>, Arc<[String]>>,
}

impl TailPolicies {
    /// The settings as written.
    pub fn configs(&self) -> &[PolicyConfig] {
        &self.configs
    }

    /// Whether no policy is configured (tail sampling off).
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Every problem found building the policies; empty when they are valid.
    pub fn problems(&self) -> &[String] {
        match &self.built {
            Ok(_) => &[],
            Err(problems) => &problems[..],
        }
    }

    /// The built top-level policies, or every problem.
    pub(crate) fn built(&self) -> Result<Arc<[Policy]>, Vec<String>> {
        match &self.built {
            Ok(policies) => Ok(policies.clone()),
            Err(problems) => Err(problems.to_vec()),
        }
    }
}

impl From<Vec<PolicyConfig>> for TailPolicies {
    fn from(configs: Vec<PolicyConfig>) -> TailPolicies {
        let built = build_all(&configs).map(Arc::from).map_err(Arc::from);
        TailPolicies { configs, built }
    }
}

impl From<TailPolicies> for Vec<PolicyConfig> {
    fn from(policies: TailPolicies) -> Vec<PolicyConfig> {
        policies.configs
    }
}

impl Default for TailPolicies {
    fn default() -> TailPolicies {
        TailPolicies::from(Vec::new())
    }
}

/// Settings are what a configuration is compared and printed by.
impl PartialEq for TailPolicies {
    fn eq(&self, other: &TailPolicies) -> bool {
        self.configs == other.configs
    }
}

impl fmt::Debug for TailPolicies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.configs, f)
    }
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
