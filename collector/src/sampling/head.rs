//! Probabilistic sampling at ingest, and the "always keep" rule for debug
//! and forced traces.
//!
//! In: a validated batch ([`TracesData`]) on the receiving side, after the
//! analytics have seen it. Out: the batch without the spans of traces the
//! sampler drops, and the counts of kept and dropped spans.
//!
//! The decision is a hash of the trace id under a configured seed compared
//! with the service's rate, so every span of a trace and every collector
//! with the same seed agree. A span whose trace is marked debug or forced
//! anywhere in the batch is kept whatever the rate (see [`is_forced`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{any_value::Value, Span, TracesData};

use crate::sampling::adaptive::Adaptive;
use crate::sampling::config::SamplingConfig;
use crate::sampling::policy::{trace_hash, Threshold};

/// Envoy's `x-request-id` tag on its spans.
const ENVOY_REQUEST_ID: &str = "guid:x-request-id";

/// Whether a span asks for its trace to be kept whatever the sampling rate:
/// Zipkin `debug` (B3 `X-B3-Flags: 1` / `b3: …-d`), Jaeger's debug flag (2),
/// and, with `envoy`, Envoy's forced-trace mark.
///
/// Envoy records why it traced a request in the request id it generates or
/// passes on (a UUID, with the default `pack_trace_reason`): the character
/// at position 14, the UUID version digit, becomes `a` when
/// `x-envoy-force-trace` forced the trace and `b` when the client forced it
/// with `x-client-trace-id` (`9` is an ordinary sampled request). Envoy puts
/// that id on its spans as `guid:x-request-id`. A random UUIDv4 has `4`
/// there, so the mark does not occur by chance.
pub fn is_forced(span: &Span, envoy: bool) -> bool {
    span.debug
        || span.jaeger_flags & 2 != 0
        || (envoy
            && span.attributes.iter().any(|kv| {
                kv.key == ENVOY_REQUEST_ID
                    && matches!(
                        kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Value::StringValue(id)) if envoy_forced_request_id(id)
                    )
            }))
}

fn envoy_forced_request_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36 && bytes[8] == b'-' && bytes[13] == b'-' && matches!(bytes[14], b'a' | b'b')
}

/// Whether any span of a trace is debug or forced.
pub fn trace_is_forced(data: &TracesData, envoy: bool) -> bool {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .any(|s| is_forced(s, envoy))
}

/// Spans kept and dropped by one [`HeadSampler::apply`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadOutcome {
    /// Kept by the rate.
    pub kept: usize,
    /// Kept because their trace is debug or forced.
    pub kept_forced: usize,
    /// Dropped by the rate.
    pub dropped: usize,
}

/// The ingest sampler: consistent probabilistic by trace id, per service.
#[derive(Debug, Clone)]
pub struct HeadSampler {
    seed: u64,
    default: Threshold,
    services: HashMap<String, Threshold>,
    envoy_forced: bool,
    /// Adaptive sampling counts the root spans of every batch here.
    observer: Option<Arc<Adaptive>>,
}

impl Default for HeadSampler {
    /// Keeps everything.
    fn default() -> Self {
        HeadSampler {
            seed: 0,
            default: Threshold::All,
            services: HashMap::new(),
            envoy_forced: true,
            observer: None,
        }
    }
}

impl HeadSampler {
    /// The sampler the (validated) configuration describes.
    pub fn new(config: &SamplingConfig) -> HeadSampler {
        let p = &config.probabilistic;
        HeadSampler {
            seed: p.hash_seed,
            default: Threshold::from_percentage(p.sampling_percentage),
            services: p
                .services
                .iter()
                .map(|(s, pct)| (s.clone(), Threshold::from_percentage(*pct)))
                .collect(),
            envoy_forced: config.keep_envoy_forced,
            observer: None,
        }
    }

    /// Lets `adaptive` count the root spans of every batch (before this
    /// sampler drops any).
    pub fn observed_by(mut self, adaptive: Option<Arc<Adaptive>>) -> HeadSampler {
        self.observer = adaptive;
        self
    }

    /// Whether [`HeadSampler::apply`] does nothing: every span is kept and
    /// nothing observes the batches.
    pub fn keeps_everything(&self) -> bool {
        self.observer.is_none() && self.keeps_every_span()
    }

    fn keeps_every_span(&self) -> bool {
        self.default == Threshold::All && self.services.values().all(|t| *t == Threshold::All)
    }

    /// Removes the spans the sampler drops from `data`.
    pub fn apply(&self, data: &mut TracesData) -> HeadOutcome {
        let mut outcome = HeadOutcome::default();
        if let Some(adaptive) = &self.observer {
            adaptive.observe(data);
        }
        if self.keeps_every_span() {
            outcome.kept = data.span_count();
            return outcome;
        }
        let forced: HashSet<TraceId> = data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|s| is_forced(s, self.envoy_forced))
            .map(Span::trace_id)
            .collect();
        let mut hashes: HashMap<TraceId, u64> = HashMap::new();
        for rs in &mut data.resource_spans {
            let threshold = self
                .services
                .get(rs.service_name())
                .copied()
                .unwrap_or(self.default);
            for ss in &mut rs.scope_spans {
                ss.spans.retain(|span| {
                    let id = span.trace_id();
                    if forced.contains(&id) {
                        outcome.kept_forced += 1;
                        return true;
                    }
                    let hash = *hashes
                        .entry(id)
                        .or_insert_with(|| trace_hash(id, self.seed));
                    let keep = threshold.admits(hash);
                    if keep {
                        outcome.kept += 1;
                    } else {
                        outcome.dropped += 1;
                    }
                    keep
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
        outcome
    }
}
