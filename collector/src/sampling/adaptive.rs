//! Adaptive sampling (Jaeger's §7.4): per service and operation, compute
//! the probability that makes SDKs send about `target_samples_per_second`
//! sampled root spans, from the throughput Spoor observes.
//!
//! In: every accepted batch (root spans are counted per service and
//! operation, before any ingest sampling), and a periodic
//! [`Adaptive::recalculate`]. Out: per-service strategy responses with one
//! probabilistic entry per known operation, and the probabilities persisted
//! through the store (`Store::put_setting`) so a restart keeps them.
//!
//! Each round: the counts of the last interval join a ring of
//! `aggregation_buckets`; an operation's throughput is the weighted average
//! of its newest `buckets_for_calculation` buckets (weights ∝ i⁴, newest
//! heaviest); within `delta_tolerance` of the target the probability stays;
//! no traffic doubles it; otherwise `new = old × target / qps`, increases
//! capped at +50 % per round; clamped to [`min_sampling_probability`, 1].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_proto::jaeger::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    SamplingStrategyResponse, SamplingStrategyType,
};
use spoor_proto::model::TracesData;
use spoor_storage::Store;

/// The store setting holding the probabilities.
const SETTING: &str = "sampling/adaptive_probabilities";
/// Largest relative increase of a probability per round.
const MAX_INCREASE: f64 = 0.5;

/// Settings of adaptive sampling (Jaeger's names and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Serve computed strategies instead of the strategies file.
    pub enabled: bool,
    /// Sampled root spans per second wanted per service and operation.
    pub target_samples_per_second: f64,
    /// How often probabilities are recomputed.
    #[serde(with = "humantime_serde")]
    pub calculation_interval: Duration,
    /// Intervals of counts kept.
    pub aggregation_buckets: usize,
    /// Newest intervals the throughput is computed from.
    pub buckets_for_calculation: usize,
    /// Relative distance from the target within which nothing changes.
    pub delta_tolerance: f64,
    /// Probability of operations not seen yet.
    pub initial_sampling_probability: f64,
    /// Lowest probability handed out.
    pub min_sampling_probability: f64,
    /// Lower bound of sampled traces per second per operation (served).
    pub min_samples_per_second: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            enabled: false,
            target_samples_per_second: 1.0,
            calculation_interval: Duration::from_secs(60),
            aggregation_buckets: 10,
            buckets_for_calculation: 1,
            delta_tolerance: 0.3,
            initial_sampling_probability: 0.001,
            min_sampling_probability: 0.00001,
            min_samples_per_second: 1.0 / 60.0,
        }
    }
}

impl AdaptiveConfig {
    /// Problems with the values, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let key = |k: &str| format!("sampling.adaptive.{k}");
        if self.target_samples_per_second.is_nan() || self.target_samples_per_second <= 0.0 {
            problems.push(format!(
                "{} must be greater than 0",
                key("target_samples_per_second")
            ));
        }
        if self.calculation_interval < Duration::from_millis(10) {
            problems.push(format!(
                "{} must be at least 10ms",
                key("calculation_interval")
            ));
        }
        if self.aggregation_buckets == 0 {
            problems.push(format!("{} must be at least 1", key("aggregation_buckets")));
        }
        if self.buckets_for_calculation == 0
            || self.buckets_for_calculation > self.aggregation_buckets
        {
            problems.push(format!(
                "{} must be between 1 and sampling.adaptive.aggregation_buckets",
                key("buckets_for_calculation")
            ));
        }
        if self.delta_tolerance.is_nan() || self.delta_tolerance < 0.0 {
            problems.push(format!("{} must not be negative", key("delta_tolerance")));
        }
        for (name, p) in [
            (
                "initial_sampling_probability",
                self.initial_sampling_probability,
            ),
            ("min_sampling_probability", self.min_sampling_probability),
        ] {
            if p.is_nan() || p <= 0.0 || p > 1.0 {
                problems.push(format!("{} must be in (0, 1], got {p}", key(name)));
            }
        }
        if self.min_samples_per_second.is_nan() || self.min_samples_per_second < 0.0 {
            problems.push(format!(
                "{} must not be negative",
                key("min_samples_per_second")
            ));
        }
        problems
    }
}

/// (service, operation).
type OpKey = (String, String);

#[derive(Debug, Default)]
struct State {
    /// Root spans counted since the last round.
    current: HashMap<OpKey, u64>,
    /// Finished intervals, newest last.
    history: VecDeque<HashMap<OpKey, u64>>,
    /// service → operation → probability.
    probabilities: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Counts root spans and computes per-operation probabilities.
#[derive(Debug)]
pub struct Adaptive {
    config: AdaptiveConfig,
    state: Mutex<State>,
    store: Option<Arc<Store>>,
}

impl Adaptive {
    /// The adaptive sampler the configuration asks for, if enabled.
    pub fn from_config(
        config: &crate::sampling::SamplingConfig,
        store: &Arc<Store>,
    ) -> Option<Arc<Adaptive>> {
        config.adaptive.enabled.then(|| {
            Arc::new(Adaptive::new(
                config.adaptive.clone(),
                Some(Arc::clone(store)),
            ))
        })
    }

    /// Starts from the probabilities persisted in `store`, if any.
    pub fn new(config: AdaptiveConfig, store: Option<Arc<Store>>) -> Adaptive {
        let mut state = State::default();
        if let Some(store) = &store {
            match store.setting(SETTING) {
                Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                    Ok(probabilities) => state.probabilities = probabilities,
                    Err(error) => {
                        tracing::warn!(%error, "ignoring unreadable adaptive sampling probabilities")
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cannot read adaptive sampling probabilities"),
            }
        }
        Adaptive {
            config,
            state: Mutex::new(state),
            store,
        }
    }

    /// The settings.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// Counts the root spans of a batch.
    pub fn observe(&self, data: &TracesData) {
        let mut roots: Vec<OpKey> = Vec::new();
        for rs in &data.resource_spans {
            let service = rs.service_name();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    if span.parent_span_id.is_empty() {
                        roots.push((service.to_string(), span.name.clone()));
                    }
                }
            }
        }
        if roots.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        for key in roots {
            *state.current.entry(key).or_insert(0) += 1;
        }
    }

    /// Closes the current interval, recomputes every probability and
    /// persists them.
    pub fn recalculate(&self) {
        let snapshot = {
            let mut state = self.state.lock();
            let finished = std::mem::take(&mut state.current);
            state.history.push_back(finished);
            while state.history.len() > self.config.aggregation_buckets {
                state.history.pop_front();
            }
            let mut keys: Vec<OpKey> = state
                .history
                .iter()
                .flat_map(|bucket| bucket.keys().cloned())
                .collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let qps = self.throughput(&state.history, &key);
                let old = state
                    .probabilities
                    .get(&key.0)
                    .and_then(|ops| ops.get(&key.1))
                    .copied()
                    .unwrap_or(self.config.initial_sampling_probability);
                let new = self.next_probability(old, qps);
                state
                    .probabilities
                    .entry(key.0)
                    .or_default()
                    .insert(key.1, new);
            }
            serde_json::to_vec(&state.probabilities).unwrap_or_default()
        };
        if let Some(store) = &self.store {
            if let Err(error) = store.put_setting(SETTING, &snapshot) {
                tracing::warn!(%error, "cannot persist adaptive sampling probabilities");
            }
        }
    }

    /// Weighted sampled root spans per second of one operation.
    fn throughput(&self, history: &VecDeque<HashMap<OpKey, u64>>, key: &OpKey) -> f64 {
        let interval = self.config.calculation_interval.as_secs_f64();
        let newest: Vec<&HashMap<OpKey, u64>> = history
            .iter()
            .rev()
            .take(self.config.buckets_for_calculation)
            .collect();
        let n = newest.len();
        let (mut sum, mut weights) = (0.0, 0.0);
        for (age, bucket) in newest.iter().enumerate() {
            let weight = ((n - age) as f64).powi(4);
            let count = bucket.get(key).copied().unwrap_or(0) as f64;
            sum += weight * count / interval;
            weights += weight;
        }
        if weights == 0.0 {
            0.0
        } else {
            sum / weights
        }
    }

    /// One round of Jaeger's update rule.
    pub fn next_probability(&self, old: f64, qps: f64) -> f64 {
        let target = self.config.target_samples_per_second;
        let new = if qps == 0.0 {
            old * 2.0
        } else if ((qps - target) / target).abs() < self.config.delta_tolerance {
            old
        } else {
            (old * target / qps).min(old * (1.0 + MAX_INCREASE))
        };
        new.clamp(self.config.min_sampling_probability, 1.0)
    }

    /// The strategy of `service`: the initial probability by default, one
    /// entry per known operation.
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        let state = self.state.lock();
        let initial = self.config.initial_sampling_probability;
        let per_operation_strategies = state
            .probabilities
            .get(service)
            .map(|ops| {
                ops.iter()
                    .map(|(operation, p)| OperationSamplingStrategy {
                        operation: operation.clone(),
                        probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                            sampling_rate: *p,
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::Probabilistic as i32,
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                sampling_rate: initial,
            }),
            rate_limiting_sampling: None,
            operation_sampling: Some(PerOperationSamplingStrategies {
                default_sampling_probability: initial,
                default_lower_bound_traces_per_second: self.config.min_samples_per_second,
                per_operation_strategies,
                default_upper_bound_traces_per_second: 0.0,
            }),
        }
    }

    /// Recalculates every `calculation_interval` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.calculation_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let adaptive = Arc::clone(&self);
            if let Err(error) = tokio::task::spawn_blocking(move || adaptive.recalculate()).await {
                tracing::warn!(%error, "adaptive sampling round failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{span, traces};

    fn adaptive() -> Adaptive {
        Adaptive::new(
            AdaptiveConfig {
                enabled: true,
                calculation_interval: Duration::from_secs(10),
                ..AdaptiveConfig::default()
            },
            None,
        )
    }

    fn rate(a: &Adaptive, service: &str, op: &str) -> Option<f64> {
        a.strategy(service)
            .operation_sampling
            .unwrap()
            .per_operation_strategies
            .iter()
            .find(|o| o.operation == op)
            .map(|o| o.probabilistic_sampling.as_ref().unwrap().sampling_rate)
    }

    #[test]
    fn the_update_rule_follows_jaeger() {
        let a = adaptive();
        // Too much traffic: scaled down at once.
        assert!((a.next_probability(0.1, 10.0) - 0.01).abs() < 1e-12);
        // Too little: scaled up, but by at most 50 %.
        assert!((a.next_probability(0.1, 0.1) - 0.15).abs() < 1e-12);
        // Within tolerance: unchanged.
        assert_eq!(a.next_probability(0.1, 1.2), 0.1);
        // No traffic: doubled; always within [min, 1].
        assert_eq!(a.next_probability(0.3, 0.0), 0.6);
        assert_eq!(a.next_probability(0.8, 0.0), 1.0);
        assert_eq!(a.next_probability(0.00001, 1e9), 0.00001);
    }

    #[test]
    fn busy_operations_get_lower_probabilities_than_quiet_ones() {
        let a = adaptive();
        // 10 s interval: "busy" sends 100 sampled roots (10/s), "quiet" 2 (0.2/s).
        let mut busy = Vec::new();
        for i in 0..100u64 {
            busy.push(span(i as u128 + 1, 1, "busy"));
        }
        a.observe(&traces("shop", busy));
        a.observe(&traces(
            "shop",
            vec![span(500, 1, "quiet"), span(501, 1, "quiet")],
        ));
        // Child spans are not roots.
        let mut child = span(502, 2, "child");
        child.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, 1].into();
        a.observe(&traces("shop", vec![child]));
        a.recalculate();
        assert!((rate(&a, "shop", "busy").unwrap() - 0.0001).abs() < 1e-12);
        assert!((rate(&a, "shop", "quiet").unwrap() - 0.0015).abs() < 1e-12);
        assert_eq!(rate(&a, "shop", "child"), None);
        let strategy = a.strategy("nobody");
        assert_eq!(
            strategy.probabilistic_sampling.unwrap().sampling_rate,
            0.001
        );
        let ops = strategy.operation_sampling.unwrap();
        assert!(ops.per_operation_strategies.is_empty());
        assert!((ops.default_lower_bound_traces_per_second - 1.0 / 60.0).abs() < 1e-12);
        // A silent round doubles the probability.
        a.recalculate();
        assert!((rate(&a, "shop", "busy").unwrap() - 0.0002).abs() < 1e-12);
    }

    #[test]
    fn probabilities_are_persisted_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let config = spoor_storage::StorageConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let store = Store::open(config.clone()).unwrap();
        let settings = AdaptiveConfig {
            enabled: true,
            calculation_interval: Duration::from_secs(1),
            ..AdaptiveConfig::default()
        };
        let a = Adaptive::new(settings.clone(), Some(store.clone()));
        a.observe(&traces("shop", vec![span(1, 1, "op")]));
        a.recalculate();
        let before = rate(&a, "shop", "op").unwrap();
        drop(a);
        store.shutdown().unwrap();
        drop(store);
        let store = Store::open(config).unwrap();
        let again = Adaptive::new(settings, Some(store));
        assert_eq!(rate(&again, "shop", "op"), Some(before));
        assert!(AdaptiveConfig::default().problems().is_empty());
        let bad = AdaptiveConfig {
            buckets_for_calculation: 20,
            min_sampling_probability: 0.0,
            ..AdaptiveConfig::default()
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
