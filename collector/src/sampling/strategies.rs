//! Remote sampling strategies for SDKs: Jaeger's strategies file, turned
//! into `SamplingStrategyResponse`s, and reloaded when the file changes.
//!
//! In: the strategies file (Jaeger's JSON format: a default strategy,
//! per-service strategies, per-operation probabilistic strategies) or, without
//! one, the configured default probability. Out: the response for a service
//! ([`StrategyProvider::strategy`]) and its proto-JSON form
//! ([`response_json`]).
//!
//! Rules (Jaeger's file provider): `probabilistic` param = probability,
//! `ratelimiting` param = traces per second (truncated); an unknown type
//! gives the default probabilistic response; operation strategies are
//! probabilistic only (a rate-limiting one is dropped with a warning); a
//! service without operation strategies inherits the default strategy's (with
//! its own probability as the default), a service with its own gets the
//! default's merged in, its own winning on the same operation name. Lookup:
//! exact service name, else the default.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::json;
use spoor_proto::jaeger::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

use crate::sampling::adaptive::Adaptive;
use crate::sampling::config::SamplingConfig;

/// Why strategies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("cannot read strategies file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("strategies file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
struct FileStrategies {
    #[serde(default)]
    default_strategy: Option<FileStrategy>,
    #[serde(default)]
    service_strategies: Vec<FileServiceStrategy>,
}

#[derive(Debug, Deserialize)]
struct FileStrategy {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    param: f64,
    #[serde(default)]
    operation_strategies: Vec<FileOperationStrategy>,
}

#[derive(Debug, Deserialize)]
struct FileServiceStrategy {
    service: String,
    #[serde(flatten)]
    strategy: FileStrategy,
}

#[derive(Debug, Deserialize)]
struct FileOperationStrategy {
    operation: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    param: f64,
}

/// Every strategy, ready to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default: SamplingStrategyResponse,
    services: HashMap<String, SamplingStrategyResponse>,
}

fn probabilistic(rate: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
            sampling_rate: rate,
        }),
        ..Default::default()
    }
}

impl Strategies {
    /// Every service gets probabilistic sampling at `rate`.
    pub fn fixed(rate: f64) -> Strategies {
        Strategies {
            default: probabilistic(rate),
            services: HashMap::new(),
        }
    }

    /// Parses a strategies file's text; `default_probability` is used where
    /// the file gives no usable strategy.
    pub fn parse(text: &str, default_probability: f64) -> Result<Strategies, String> {
        let file: FileStrategies = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let parse_one = |kind: &str, param: f64, what: &str| match kind {
            "probabilistic" => probabilistic(param),
            "ratelimiting" => SamplingStrategyResponse {
                strategy_type: SamplingStrategyType::RateLimiting as i32,
                rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                    max_traces_per_second: param as i32,
                }),
                ..Default::default()
            },
            other => {
                tracing::warn!(
                    strategy = what,
                    r#type = other,
                    "unknown sampling strategy type; using the default probability"
                );
                probabilistic(default_probability)
            }
        };
        let parse_with_operations = |s: &FileStrategy, what: &str| {
            let mut response = parse_one(&s.kind, s.param, what);
            if s.operation_strategies.is_empty() {
                return response;
            }
            let mut ops = PerOperationSamplingStrategies {
                default_sampling_probability: response
                    .probabilistic_sampling
                    .as_ref()
                    .map_or(default_probability, |p| p.sampling_rate),
                ..Default::default()
            };
            for op in &s.operation_strategies {
                let parsed = parse_one(&op.kind, op.param, what);
                match parsed.probabilistic_sampling {
                    Some(p) if parsed.rate_limiting_sampling.is_none() => {
                        ops.per_operation_strategies
                            .push(OperationSamplingStrategy {
                                operation: op.operation.clone(),
                                probabilistic_sampling: Some(p),
                            });
                    }
                    _ => tracing::warn!(strategy = what, operation = %op.operation,
                        "operation strategies can only be probabilistic; ignoring this one"),
                }
            }
            response.operation_sampling = Some(ops);
            response
        };
        let default = file.default_strategy.as_ref().map_or_else(
            || probabilistic(default_probability),
            |d| parse_with_operations(d, "default_strategy"),
        );
        let default_ops = default
            .operation_sampling
            .as_ref()
            .filter(|o| !o.per_operation_strategies.is_empty());
        let mut services = HashMap::new();
        for s in &file.service_strategies {
            let mut response = parse_with_operations(&s.strategy, &s.service);
            match (&mut response.operation_sampling, default_ops) {
                (None, Some(inherited)) => {
                    if let Some(p) = &response.probabilistic_sampling {
                        let mut ops = inherited.clone();
                        ops.default_sampling_probability = p.sampling_rate;
                        response.operation_sampling = Some(ops);
                    }
                }
                (Some(own), Some(inherited)) => {
                    for op in &inherited.per_operation_strategies {
                        if !own
                            .per_operation_strategies
                            .iter()
                            .any(|o| o.operation == op.operation)
                        {
                            own.per_operation_strategies.push(op.clone());
                        }
                    }
                }
                _ => {}
            }
            services.insert(s.service.clone(), response);
        }
        Ok(Strategies { default, services })
    }

    /// The strategy of `service` (the default for unknown services).
    pub fn get(&self, service: &str) -> &SamplingStrategyResponse {
        self.services.get(service).unwrap_or(&self.default)
    }
}

/// The proto-JSON form of a response: enum as its name and always present,
/// zero numbers present, absent sub-messages omitted.
pub fn response_json(r: &SamplingStrategyResponse) -> serde_json::Value {
    let strategy_type = match SamplingStrategyType::try_from(r.strategy_type) {
        Ok(SamplingStrategyType::RateLimiting) => "RATE_LIMITING",
        _ => "PROBABILISTIC",
    };
    with_strategy_type(r, json!(strategy_type))
}

/// The legacy agent form (`GET /?service=`, "Thrift 0.9.2" JSON): the same
/// shape with `strategyType` as an integer, for old jaeger-client libraries.
pub fn legacy_response_json(r: &SamplingStrategyResponse) -> serde_json::Value {
    let strategy_type = match SamplingStrategyType::try_from(r.strategy_type) {
        Ok(SamplingStrategyType::RateLimiting) => 1,
        _ => 0,
    };
    with_strategy_type(r, json!(strategy_type))
}

fn with_strategy_type(
    r: &SamplingStrategyResponse,
    strategy_type: serde_json::Value,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("strategyType".into(), strategy_type);
    let probabilistic_json =
        |p: &ProbabilisticSamplingStrategy| json!({ "samplingRate": number(p.sampling_rate) });
    if let Some(p) = &r.probabilistic_sampling {
        out.insert("probabilisticSampling".into(), probabilistic_json(p));
    }
    if let Some(l) = &r.rate_limiting_sampling {
        out.insert(
            "rateLimitingSampling".into(),
            json!({ "maxTracesPerSecond": l.max_traces_per_second }),
        );
    }
    if let Some(o) = &r.operation_sampling {
        let per_operation: Vec<serde_json::Value> = o
            .per_operation_strategies
            .iter()
            .map(|op| {
                let mut m = serde_json::Map::new();
                m.insert("operation".into(), json!(op.operation));
                if let Some(p) = &op.probabilistic_sampling {
                    m.insert("probabilisticSampling".into(), probabilistic_json(p));
                }
                serde_json::Value::Object(m)
            })
            .collect();
        out.insert(
            "operationSampling".into(),
            json!({
                "defaultSamplingProbability": number(o.default_sampling_probability),
                "defaultLowerBoundTracesPerSecond": number(o.default_lower_bound_traces_per_second),
                "perOperationStrategies": per_operation,
                "defaultUpperBoundTracesPerSecond": number(o.default_upper_bound_traces_per_second),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// A double as Go's JSON writes it: integral values without a fraction.
fn number(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// The strategies being served, reloaded from the file when it changes.
#[derive(Debug, Clone)]
pub struct StrategyProvider {
    current: Arc<RwLock<Arc<Strategies>>>,
    file: Option<PathBuf>,
    default_probability: f64,
    reload_interval: Duration,
    loaded_mtime: Arc<RwLock<Option<SystemTime>>>,
    adaptive: Option<Arc<Adaptive>>,
}

impl StrategyProvider {
    /// Loads the strategies the (validated) configuration names; a missing
    /// or invalid file is an error here (and only a warning on reload).
    pub fn new(config: &SamplingConfig) -> Result<StrategyProvider, StrategyError> {
        let provider = StrategyProvider {
            current: Arc::new(RwLock::new(Arc::new(Strategies::fixed(
                config.default_sampling_probability,
            )))),
            file: config.strategies_file.clone(),
            default_probability: config.default_sampling_probability,
            reload_interval: config.reload_interval,
            loaded_mtime: Arc::new(RwLock::new(None)),
            adaptive: None,
        };
        if provider.file.is_some() {
            provider.reload_if_changed()?;
        }
        Ok(provider)
    }

    /// Serves `adaptive`'s computed strategies (when given) instead of the
    /// file's.
    pub fn with_adaptive(mut self, adaptive: Option<Arc<Adaptive>>) -> StrategyProvider {
        self.adaptive = adaptive;
        self
    }

    /// The strategy to hand to `service`.
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        if let Some(adaptive) = &self.adaptive {
            return adaptive.strategy(service);
        }
        self.current.read().get(service).clone()
    }

    /// Reads the file again when its modification time changed; returns
    /// whether new strategies are served.
    pub fn reload_if_changed(&self) -> Result<bool, StrategyError> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let read_error = |source| StrategyError::Read {
            path: path.clone(),
            source,
        };
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(read_error)?;
        if *self.loaded_mtime.read() == Some(mtime) {
            return Ok(false);
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let strategies = Strategies::parse(&text, self.default_probability).map_err(|message| {
            StrategyError::Parse {
                path: path.clone(),
                message,
            }
        })?;
        *self.current.write() = Arc::new(strategies);
        *self.loaded_mtime.write() = Some(mtime);
        Ok(true)
    }

    /// Polls the file every `reload_interval` until `stop` turns true.
    /// Problems are logged; the last good strategies stay in force.
    pub async fn watch(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.file.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(self.reload_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let provider = self.clone();
            match tokio::task::spawn_blocking(move || provider.reload_if_changed()).await {
                Ok(Ok(true)) => tracing::info!(file = %path_text(self.file.as_deref()),
                    "reloaded sampling strategies"),
                Ok(Ok(false)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "keeping the previous sampling strategies")
                }
                Err(error) => tracing::warn!(%error, "reloading sampling strategies failed"),
            }
        }
    }
}

fn path_text(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
      "default_strategy": {
        "type": "probabilistic", "param": 0.1,
        "operation_strategies": [
          {"operation": "GET /health", "type": "probabilistic", "param": 0.0},
          {"operation": "POST /pay", "type": "probabilistic", "param": 0.3}
        ]
      },
      "service_strategies": [
        {"service": "checkout", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [
           {"operation": "POST /pay", "type": "probabilistic", "param": 1.0},
           {"operation": "GET /slow", "type": "ratelimiting", "param": 3}
         ]},
        {"service": "web", "type": "probabilistic", "param": 0.5},
        {"service": "batch-worker", "type": "ratelimiting", "param": 5.9},
        {"service": "odd", "type": "lottery", "param": 0.7}
      ]
    }"#;

    fn ops(r: &SamplingStrategyResponse) -> Vec<(String, f64)> {
        r.operation_sampling
            .as_ref()
            .unwrap()
            .per_operation_strategies
            .iter()
            .map(|o| {
                (
                    o.operation.clone(),
                    o.probabilistic_sampling.as_ref().unwrap().sampling_rate,
                )
            })
            .collect()
    }

    #[test]
    fn a_service_with_its_own_operations_merges_the_default_ones_and_wins_on_names() {
        let s = Strategies::parse(FILE, 0.001).unwrap();
        let checkout = s.get("checkout");
        assert_eq!(
            ops(checkout),
            [
                ("POST /pay".to_string(), 1.0),
                ("GET /health".to_string(), 0.0)
            ]
        );
        let o = checkout.operation_sampling.as_ref().unwrap();
        assert_eq!(o.default_sampling_probability, 0.8);
    }

    #[test]
    fn a_service_without_operations_inherits_the_default_ones_with_its_own_rate() {
        let s = Strategies::parse(FILE, 0.001).unwrap();
        let web = s.get("web");
        assert_eq!(
            web.probabilistic_sampling.as_ref().unwrap().sampling_rate,
            0.5
        );
        assert_eq!(
            ops(web),
            [
                ("GET /health".to_string(), 0.0),
                ("POST /pay".to_string(), 0.3)
            ]
        );
        assert_eq!(
            web.operation_sampling
                .as_ref()
                .unwrap()
                .default_sampling_probability,
            0.5
        );
    }

    #[test]
    fn rate_limited_services_truncate_and_inherit_nothing() {
        let s = Strategies::parse(FILE, 0.001).unwrap();
        let batch = s.get("batch-worker");
        assert_eq!(
            batch.strategy_type,
            SamplingStrategyType::RateLimiting as i32
        );
        assert_eq!(
            batch
                .rate_limiting_sampling
                .as_ref()
                .unwrap()
                .max_traces_per_second,
            5
        );
        assert!(batch.operation_sampling.is_none());
        assert_eq!(
            response_json(batch),
            json!({"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}})
        );
        assert_eq!(
            legacy_response_json(batch),
            json!({"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}})
        );
    }

    #[test]
    fn unknown_types_and_unknown_services_get_defaults() {
        let s = Strategies::parse(FILE, 0.001).unwrap();
        let odd = s.get("odd");
        assert_eq!(
            odd.probabilistic_sampling.as_ref().unwrap().sampling_rate,
            0.001
        );
        let unknown = s.get("nobody");
        assert_eq!(
            unknown
                .probabilistic_sampling
                .as_ref()
                .unwrap()
                .sampling_rate,
            0.1
        );
        assert_eq!(ops(unknown).len(), 2);
    }

    #[test]
    fn json_emits_the_enum_and_zeros_and_omits_absent_messages() {
        let s = Strategies::parse(FILE, 0.001).unwrap();
        assert_eq!(
            response_json(s.get("nobody")),
            json!({
                "strategyType": "PROBABILISTIC",
                "probabilisticSampling": {"samplingRate": 0.1},
                "operationSampling": {
                    "defaultSamplingProbability": 0.1,
                    "defaultLowerBoundTracesPerSecond": 0,
                    "perOperationStrategies": [
                        {"operation": "GET /health", "probabilisticSampling": {"samplingRate": 0}},
                        {"operation": "POST /pay", "probabilisticSampling": {"samplingRate": 0.3}}
                    ],
                    "defaultUpperBoundTracesPerSecond": 0
                }
            })
        );
        assert_eq!(
            response_json(&probabilistic(0.25)),
            json!({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}})
        );
    }

    #[test]
    fn a_file_without_a_default_uses_the_configured_probability() {
        let s = Strategies::parse(r#"{"service_strategies": []}"#, 0.42).unwrap();
        assert_eq!(
            s.get("x")
                .probabilistic_sampling
                .as_ref()
                .unwrap()
                .sampling_rate,
            0.42
        );
        assert!(Strategies::parse("{", 1.0).is_err());
    }
}
