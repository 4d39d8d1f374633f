//! Analytics settings: the `analytics` section of Spoor's configuration tree.
//!
//! In: YAML (unknown keys rejected, every key defaulted). Out: an
//! [`AnalyticsConfig`] that [`AnalyticsConfig::validate`] checks in one pass.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the RED metrics and the dependency graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Derive RED metrics and dependency links from every received span.
    pub enabled: bool,
    /// Width of a persisted aggregates bucket (the finest time resolution of
    /// the metrics and dependencies APIs).
    #[serde(with = "humantime_serde")]
    pub bucket: Duration,
    /// How often aggregates are written to disk (a crash loses at most this
    /// much).
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// RED metrics (the OpenTelemetry spanmetrics connector's series).
    pub span_metrics: SpanMetricsConfig,
    /// The service dependency graph.
    pub dependencies: DependenciesConfig,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            enabled: true,
            bucket: Duration::from_secs(60),
            flush_interval: Duration::from_secs(5),
            span_metrics: SpanMetricsConfig::default(),
            dependencies: DependenciesConfig::default(),
        }
    }
}

/// Settings of the RED metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    /// Upper bounds (ms) of the Prometheus duration histogram buckets.
    pub histogram_buckets_ms: Vec<f64>,
    /// Span (then resource) attributes added as labels, dots turned into
    /// underscores; a span without the attribute has no such label.
    pub dimensions: Vec<String>,
    /// Prometheus series (distinct label sets) kept at most; spans of new
    /// label sets beyond it are counted in their service's overflow series.
    pub max_series: usize,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            histogram_buckets_ms: vec![
                2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0,
                5000.0, 10_000.0, 15_000.0,
            ],
            dimensions: Vec::new(),
            max_series: 10_000,
        }
    }
}

/// Settings of the dependency graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DependenciesConfig {
    /// How long a span waits in memory for the other span of its pair; a
    /// client span with no server span by then counts as a call to the
    /// service its peer attributes name.
    #[serde(with = "humantime_serde")]
    pub wait: Duration,
    /// Spans (and waiting references) held for pairing at most; the oldest
    /// are let go first. Each costs about 270 bytes with its map slot, so
    /// the default holds the whole wait up to 20k spans/s in about 55 MiB;
    /// above that rate the pairing window is shorter than `wait`. The
    /// default stays under 7/8 of 2^18, where the span map would double.
    pub max_pending_spans: usize,
    /// Attributes of a client or producer span that name the called service
    /// when no span of that service arrives, in order of preference.
    pub peer_attributes: Vec<String>,
}

impl Default for DependenciesConfig {
    fn default() -> Self {
        DependenciesConfig {
            wait: Duration::from_secs(10),
            max_pending_spans: 200_000,
            peer_attributes: [
                "peer.service",
                "service.peer.name",
                "server.address",
                "net.peer.name",
                "db.name",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AnalyticsConfig {
    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.bucket < Duration::from_secs(1) || self.bucket > Duration::from_secs(3600) {
            problems.push("analytics.bucket must be between 1s and 1h".to_string());
        }
        if self.bucket.as_millis() % 1000 != 0 {
            problems.push("analytics.bucket must be a whole number of seconds".to_string());
        }
        if self.flush_interval.is_zero() {
            problems.push("analytics.flush_interval must be greater than 0".to_string());
        }
        let buckets = &self.span_metrics.histogram_buckets_ms;
        if buckets.is_empty() {
            problems
                .push("analytics.span_metrics.histogram_buckets_ms must not be empty".to_string());
        }
        if buckets.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || buckets.windows(2).any(|w| w[0] >= w[1])
        {
            problems.push(
                "analytics.span_metrics.histogram_buckets_ms must be positive and strictly increasing"
                    .to_string(),
            );
        }
        if self.span_metrics.max_series == 0 {
            problems.push("analytics.span_metrics.max_series must be greater than 0".to_string());
        }
        if self.span_metrics.dimensions.iter().any(|d| d.is_empty()) {
            problems
                .push("analytics.span_metrics.dimensions must not hold an empty name".to_string());
        }
        if self.dependencies.wait.is_zero() {
            problems.push("analytics.dependencies.wait must be greater than 0".to_string());
        }
        if self.dependencies.max_pending_spans == 0 {
            problems.push(
                "analytics.dependencies.max_pending_spans must be greater than 0".to_string(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
