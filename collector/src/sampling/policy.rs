//! Tail-sampling policies: built from their configuration, evaluated on a
//! whole trace.
//!
//! In: `PolicyConfig`s, built (and checked, every problem named with its
//! path and policy name) once, by `build`, into [`TailPolicies`]; and, per
//! decision, a whole trace as [`TracesData`] plus the current second (for
//! the rate budgets). Out: a [`Verdict`] per policy,
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
use xxhash_rust::xxh3::xxh3_64_with_seed;

mod build;

#[cfg(test)]
pub(crate) use build::build_all;
pub use build::TailPolicies;

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
