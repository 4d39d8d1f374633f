//! The cumulative Prometheus series: span metrics (RED) with a cardinality
//! limit, and service-graph metrics.
//!
//! In: per-batch span counts grouped by label set, and edges. Out: the
//! series [`crate::analytics::prometheus`] renders, and for each span group
//! the label set it was counted under (its own, or its service's overflow
//! series once `max_series` label sets exist).

use std::collections::HashMap;
use std::sync::Arc;

use crate::analytics::graph::{Connection, Edge};

/// Labels of a span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SpanSeriesKey {
    pub service: String,
    pub operation: String,
    pub kind: i32,
    pub status: i32,
    /// Values of the configured dimensions (None: the span had none).
    pub dimensions: Vec<Option<String>>,
    /// The overflow series of a service (label `otel_metric_overflow`).
    pub overflow: bool,
}

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    /// Per bound, then one for +Inf (not cumulative).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: usize) -> Histogram {
        Histogram {
            counts: vec![0; bounds + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub(crate) fn record(&mut self, bounds: &[f64], value: f64) {
        let index = bounds.partition_point(|b| *b < value);
        if let Some(slot) = self.counts.get_mut(index) {
            *slot += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// One span-metrics series.
#[derive(Debug, Clone)]
pub(crate) struct SpanSeries {
    pub calls: u64,
    pub duration_ms: Histogram,
}

/// Labels of a service-graph series.
pub(crate) type EdgeKey = (Arc<str>, Arc<str>, Connection);

/// One service-graph series.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSeries {
    pub total: u64,
    pub failed: u64,
    pub server_seconds: Histogram,
    pub client_seconds: Histogram,
}

/// Every cumulative series since start.
#[derive(Debug)]
pub(crate) struct Series {
    pub bounds_ms: Vec<f64>,
    pub bounds_seconds: Vec<f64>,
    pub dimension_labels: Vec<String>,
    pub spans: HashMap<SpanSeriesKey, SpanSeries>,
    pub edges: HashMap<EdgeKey, EdgeSeries>,
    max_series: usize,
    overflow_series: usize,
}

impl Series {
    pub(crate) fn new(bounds_ms: Vec<f64>, dimensions: &[String], max_series: usize) -> Series {
        Series {
            bounds_seconds: bounds_ms.iter().map(|b| b / 1000.0).collect(),
            bounds_ms,
            dimension_labels: dimensions.iter().map(|d| label_name(d)).collect(),
            spans: HashMap::new(),
            edges: HashMap::new(),
            max_series: max_series.max(1),
            overflow_series: 0,
        }
    }

    /// The series a new group of spans is counted under: its own while the
    /// limit allows, else its service's overflow series (and once even those
    /// reach the limit, one overflow series for all services).
    pub(crate) fn admit(&mut self, key: SpanSeriesKey) -> SpanSeriesKey {
        if self.spans.contains_key(&key)
            || self.spans.len() - self.overflow_series < self.max_series
        {
            return key;
        }
        let mut overflow = SpanSeriesKey {
            service: key.service,
            operation: String::new(),
            kind: key.kind,
            status: key.status,
            dimensions: vec![None; self.dimension_labels.len()],
            overflow: true,
        };
        if !self.spans.contains_key(&overflow) && self.overflow_series >= self.max_series {
            overflow.service = String::new();
        }
        if !self.spans.contains_key(&overflow) {
            self.overflow_series += 1;
        }
        overflow
    }

    /// Counts spans of one (admitted) series; durations in ms.
    pub(crate) fn add_spans(&mut self, key: SpanSeriesKey, durations_ms: &[f64]) {
        let bounds = &self.bounds_ms;
        let series = self.spans.entry(key).or_insert_with(|| SpanSeries {
            calls: 0,
            duration_ms: Histogram::new(bounds.len()),
        });
        series.calls += durations_ms.len() as u64;
        for d in durations_ms {
            series.duration_ms.record(bounds, *d);
        }
    }

    /// Counts one call between services.
    pub(crate) fn add_edge(&mut self, edge: &Edge) {
        let bounds = &self.bounds_seconds;
        let series = self
            .edges
            .entry((edge.client.clone(), edge.server.clone(), edge.connection))
            .or_insert_with(|| EdgeSeries {
                total: 0,
                failed: 0,
                server_seconds: Histogram::new(bounds.len()),
                client_seconds: Histogram::new(bounds.len()),
            });
        series.total += 1;
        series.failed += u64::from(edge.failed);
        if let Some(ns) = edge.server_ns {
            series.server_seconds.record(bounds, ns as f64 / 1e9);
        }
        if let Some(ns) = edge.client_ns {
            series.client_seconds.record(bounds, ns as f64 / 1e9);
        }
    }
}

/// A Prometheus label name for an attribute key: every character other than
/// a letter, digit or underscore becomes an underscore.
pub(crate) fn label_name(attribute: &str) -> String {
    let mut name: String = attribute
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}
