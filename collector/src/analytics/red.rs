//! The cumulative Prometheus series: span metrics (RED) with a cardinality
//! limit, and service-graph metrics.
//!
//! In: per-batch span counts grouped by label set, and edges. Out: the
//! series [`crate::analytics::prometheus`] renders, and for each span group
//! the label set it was counted under (its own, or its service's overflow
//! series once `max_series` label sets exist).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use spoor_storage::aggregates::{duration_bucket, EdgeStats, SeriesKey, SeriesStats};
use spoor_storage::AggregateDelta;

use crate::analytics::graph::{Connection, Edge, FastMap, KeyedState};

/// Labels of a span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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

/// The labels of a group of spans, borrowed from the batch: looked up
/// without allocating, owned only when a new series is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesLabels<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub kind: i32,
    pub status: i32,
    pub dimensions: &'a [Option<Cow<'a, str>>],
    pub overflow: bool,
}

/// One hash for owned and borrowed labels (the map relies on it).
fn hash_labels<'a, H: Hasher>(
    state: &mut H,
    labels: (&str, &str, i32, i32, bool),
    dimensions: impl ExactSizeIterator<Item = Option<&'a str>>,
) {
    let (service, operation, kind, status, overflow) = labels;
    service.hash(state);
    operation.hash(state);
    kind.hash(state);
    status.hash(state);
    overflow.hash(state);
    state.write_usize(dimensions.len());
    for dimension in dimensions {
        dimension.hash(state);
    }
}

impl Hash for SpanSeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_labels(
            state,
            (
                &self.service,
                &self.operation,
                self.kind,
                self.status,
                self.overflow,
            ),
            self.dimensions.iter().map(Option::as_deref),
        );
    }
}

impl Hash for SeriesLabels<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_labels(
            state,
            (
                self.service,
                self.operation,
                self.kind,
                self.status,
                self.overflow,
            ),
            self.dimensions.iter().map(Option::as_deref),
        );
    }
}

impl hashbrown::Equivalent<SpanSeriesKey> for SeriesLabels<'_> {
    fn equivalent(&self, key: &SpanSeriesKey) -> bool {
        self.service == key.service
            && self.operation == key.operation
            && self.kind == key.kind
            && self.status == key.status
            && self.overflow == key.overflow
            && self.dimensions.len() == key.dimensions.len()
            && self
                .dimensions
                .iter()
                .zip(&key.dimensions)
                .all(|(a, b)| a.as_deref() == b.as_deref())
    }
}

impl SeriesLabels<'_> {
    fn to_key(self) -> SpanSeriesKey {
        SpanSeriesKey {
            service: self.service.to_string(),
            operation: self.operation.to_string(),
            kind: self.kind,
            status: self.status,
            dimensions: self
                .dimensions
                .iter()
                .map(|d| d.as_deref().map(str::to_string))
                .collect(),
            overflow: self.overflow,
        }
    }
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
    /// Index of its persisted key in [`Series::stored_series`].
    stored: u32,
}

/// Labels of a service-graph series.
pub(crate) type EdgeKey = (Arc<str>, Arc<str>, Connection);

/// The labels of an edge, borrowed: hashes exactly as [`EdgeKey`] does (a
/// tuple and a tuple struct hash their fields in order), so a known series
/// is found without touching the names' reference counts.
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) struct EdgeLabels<'a>(&'a str, &'a str, Connection);

impl hashbrown::Equivalent<EdgeKey> for EdgeLabels<'_> {
    fn equivalent(&self, key: &EdgeKey) -> bool {
        self.2 == key.2 && self.0 == &*key.0 && self.1 == &*key.1
    }
}

/// One service-graph series.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSeries {
    pub total: u64,
    pub failed: u64,
    pub server_seconds: Histogram,
    pub client_seconds: Histogram,
    /// Index of its persisted (client, server) in [`Series::stored_edges`].
    stored: u32,
}

/// Every cumulative series since start, plus what was counted since the
/// last hand-off to the store ([`Series::take_delta`]).
#[derive(Debug)]
pub(crate) struct Series {
    pub bounds_ms: Vec<f64>,
    pub bounds_seconds: Vec<f64>,
    pub dimension_labels: Vec<String>,
    pub spans: hashbrown::HashMap<SpanSeriesKey, SpanSeries, KeyedState>,
    pub edges: hashbrown::HashMap<EdgeKey, EdgeSeries, KeyedState>,
    max_series: usize,
    overflow_series: usize,
    /// The persisted key (no dimensions) of each span series.
    stored_series: Vec<SeriesKey>,
    /// The persisted (client, server) of each edge series.
    stored_edges: Vec<(Arc<str>, Arc<str>)>,
    /// Index of each (client, server) in `stored_edges`.
    stored_edge_ids: FastMap<(Arc<str>, Arc<str>), u32>,
    /// (stored series, bucket start ms) → counts not yet handed off.
    pending_series: FastMap<(u32, u64), PendingStats>,
    /// (stored edge, bucket start ms) → counts not yet handed off.
    pending_edges: FastMap<(u32, u64), EdgeStats>,
}

impl Series {
    pub(crate) fn new(bounds_ms: Vec<f64>, dimensions: &[String], max_series: usize) -> Series {
        Series {
            bounds_seconds: bounds_ms.iter().map(|b| b / 1000.0).collect(),
            bounds_ms,
            dimension_labels: dimensions.iter().map(|d| label_name(d)).collect(),
            spans: hashbrown::HashMap::default(),
            edges: hashbrown::HashMap::default(),
            max_series: max_series.max(1),
            overflow_series: 0,
            stored_series: Vec::new(),
            stored_edges: Vec::new(),
            stored_edge_ids: FastMap::default(),
            pending_series: FastMap::default(),
            pending_edges: FastMap::default(),
        }
    }

    /// Counts a group of spans with the same labels that started in the
    /// bucket beginning at `bucket_ms`; each span is (duration µs, error).
    /// Returns whether they went to an overflow series: a new label set
    /// gets its own series while the limit allows, else its service's
    /// overflow series (and once even those reach the limit, one overflow
    /// series for all services).
    pub(crate) fn count_spans(
        &mut self,
        labels: SeriesLabels<'_>,
        bucket_ms: u64,
        spans: &[(u64, bool)],
    ) -> bool {
        let mut labels = labels;
        let no_dimensions: Vec<Option<Cow<'_, str>>>;
        // A known series (nearly every call) is looked up twice: here and
        // to count below.
        if !self.spans.contains_key(&labels) {
            if self.spans.len() - self.overflow_series >= self.max_series {
                no_dimensions = vec![None; self.dimension_labels.len()];
                labels = SeriesLabels {
                    operation: "",
                    dimensions: &no_dimensions,
                    overflow: true,
                    ..labels
                };
                if !self.spans.contains_key(&labels) && self.overflow_series >= self.max_series {
                    labels.service = "";
                }
                if !self.spans.contains_key(&labels) {
                    self.overflow_series += 1;
                }
            }
            if !self.spans.contains_key(&labels) {
                let key = labels.to_key();
                self.stored_series.push(SeriesKey {
                    service: key.service.clone(),
                    operation: key.operation.clone(),
                    kind: key.kind,
                    status: key.status,
                });
                let series = SpanSeries {
                    calls: 0,
                    duration_ms: Histogram::new(self.bounds_ms.len()),
                    stored: (self.stored_series.len() - 1) as u32,
                };
                self.spans.insert(key, series);
            }
        }
        let bounds = &self.bounds_ms;
        let Some(series) = self.spans.get_mut(&labels) else {
            return labels.overflow;
        };
        series.calls += spans.len() as u64;
        let pending = self
            .pending_series
            .entry((series.stored, bucket_ms))
            .or_default();
        for (us, error) in spans {
            series.duration_ms.record(bounds, *us as f64 / 1000.0);
            pending.record(*us, *error);
        }
        labels.overflow
    }

    /// Counts one call between services that happened in the bucket
    /// beginning at `bucket_ms`.
    pub(crate) fn add_edge(&mut self, edge: &Edge, bucket_ms: u64) {
        let labels = EdgeLabels(&edge.client, &edge.server, edge.connection);
        if !self.edges.contains_key(&labels) {
            let next = self.stored_edges.len() as u32;
            let stored_edges = &mut self.stored_edges;
            let stored = *self
                .stored_edge_ids
                .entry((edge.client.clone(), edge.server.clone()))
                .or_insert_with(|| {
                    stored_edges.push((edge.client.clone(), edge.server.clone()));
                    next
                });
            let buckets = self.bounds_seconds.len();
            self.edges.insert(
                (edge.client.clone(), edge.server.clone(), edge.connection),
                EdgeSeries {
                    total: 0,
                    failed: 0,
                    server_seconds: Histogram::new(buckets),
                    client_seconds: Histogram::new(buckets),
                    stored,
                },
            );
        }
        let bounds = &self.bounds_seconds;
        let Some(series) = self.edges.get_mut(&labels) else {
            return;
        };
        series.total += 1;
        series.failed += u64::from(edge.failed);
        if let Some(ns) = edge.server_ns {
            series.server_seconds.record(bounds, ns as f64 / 1e9);
        }
        if let Some(ns) = edge.client_ns {
            series.client_seconds.record(bounds, ns as f64 / 1e9);
        }
        let pending = self
            .pending_edges
            .entry((series.stored, bucket_ms))
            .or_default();
        pending.calls += 1;
        pending.errors += u64::from(edge.failed);
    }

    /// What was counted since the last call, as a delta for the store.
    pub(crate) fn take_delta(&mut self, width_ms: u64) -> AggregateDelta {
        let mut delta = AggregateDelta::default();
        for ((stored, bucket), stats) in self.pending_series.drain() {
            let key = self.stored_series[stored as usize].clone();
            let slot = delta
                .bucket_at(bucket, width_ms)
                .series
                .entry(key)
                .or_default();
            slot.merge(&stats.into_stats());
        }
        for ((stored, bucket), stats) in self.pending_edges.drain() {
            let (client, server) = &self.stored_edges[stored as usize];
            let slot = delta
                .bucket_at(bucket, width_ms)
                .edges
                .entry((client.to_string(), server.to_string()))
                .or_default();
            slot.calls += stats.calls;
            slot.errors += stats.errors;
        }
        delta
    }
}

/// The counts of one series in one time bucket not yet handed to the
/// store: the stored form ([`SeriesStats`]) with its histogram as a dense
/// list by bucket index, so a span is counted with one addition instead of
/// a search of an ordered map.
#[derive(Debug, Default)]
struct PendingStats {
    calls: u64,
    errors: u64,
    sum_us: u64,
    /// Spans per exponential histogram bucket (`duration_bucket`).
    histogram: Vec<u64>,
}

impl PendingStats {
    fn record(&mut self, duration_us: u64, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        self.sum_us = self.sum_us.saturating_add(duration_us);
        let bucket = duration_bucket(duration_us) as usize;
        if bucket >= self.histogram.len() {
            self.histogram.resize(bucket + 1, 0);
        }
        self.histogram[bucket] += 1;
    }

    fn into_stats(self) -> SeriesStats {
        SeriesStats {
            calls: self.calls,
            errors: self.errors,
            sum_us: self.sum_us,
            histogram: (0u32..)
                .zip(self.histogram)
                .filter(|(_, n)| *n > 0)
                .collect(),
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

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn borrowed_labels_hash_and_compare_as_their_owned_keys() {
        let state = KeyedState::default();
        let edge: EdgeKey = (Arc::from("front"), Arc::from("db"), Connection::Database);
        let labels = EdgeLabels("front", "db", Connection::Database);
        assert_eq!(state.hash_one(&edge), state.hash_one(labels));
        assert!(hashbrown::Equivalent::equivalent(&labels, &edge));
        let other = EdgeLabels("front", "db", Connection::Direct);
        assert!(!hashbrown::Equivalent::equivalent(&other, &edge));

        let dimensions = [Some(Cow::Borrowed("GET")), None];
        let span = SeriesLabels {
            service: "svc",
            operation: "op",
            kind: 2,
            status: 0,
            dimensions: &dimensions,
            overflow: false,
        };
        let owned = span.to_key();
        assert_eq!(state.hash_one(&owned), state.hash_one(span));
        assert!(hashbrown::Equivalent::equivalent(&span, &owned));
    }

    #[test]
    fn pending_counts_hand_off_as_the_stored_form_counts_them() {
        let spans = [
            (0u64, false),
            (1, true),
            (7, false),
            (7, true),
            (1_000, false),
            (3_600_000_000, true),
        ];
        let mut pending = PendingStats::default();
        let mut stored = SeriesStats::default();
        for (us, error) in spans {
            pending.record(us, error);
            stored.record(us, error);
        }
        assert_eq!(pending.into_stats(), stored);
        assert_eq!(PendingStats::default().into_stats(), SeriesStats::default());
    }
}
