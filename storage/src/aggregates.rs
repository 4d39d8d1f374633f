//! Persisted analytics aggregates: RED series and dependency links in small
//! time buckets, in the `aggregates` column family.
//!
//! In: [`AggregateDelta`]s from the collector's analytics (one per ingest
//! batch, plus dependency links found later) through
//! [`Store::record_aggregates`]. Out: the buckets of a time window
//! ([`Store::aggregate_buckets`]) for the metrics (SPM) API, and summed
//! [`DependencyLink`]s ([`Store::dependencies`]) for the Jaeger, Zipkin and
//! gRPC dependency APIs.
//!
//! Deltas are merged into an in-memory pending map at once, so reads see
//! them immediately; [`Store::flush_aggregates`] (called periodically by the
//! analytics and at shutdown) merges the pending buckets into their records
//! on disk (read, add, write: only the flusher writes this column family).
//! A crash loses at most the pending buckets of one flush interval.
//! Retention deletes buckets older than the retention time.
//!
//! Latency histograms are stored with fixed exponential buckets (eight per
//! doubling, about 9% wide), independent of any configured Prometheus
//! buckets, so a configuration change never makes stored data unreadable.

use std::collections::{BTreeMap, HashMap};

use parking_lot::{Mutex, RwLock};
use prost::Message;
use rocksdb::{DBCompressionType, Options, WriteBatch};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::keys;
use crate::rocks::Store;

/// Histogram buckets per doubling of the duration.
const BUCKETS_PER_DOUBLING: f64 = 8.0;

/// Index of the exponential histogram bucket holding a duration in µs:
/// bucket `i > 0` holds `(2^((i-1)/8), 2^(i/8)]` µs, bucket 0 holds ≤ 1 µs.
pub fn duration_bucket(duration_us: u64) -> u32 {
    if duration_us <= 1 {
        return 0;
    }
    let index = ((duration_us as f64).log2() * BUCKETS_PER_DOUBLING).ceil();
    // Exact powers can land one bucket high through rounding; check below.
    let mut index = index.max(1.0) as u32;
    if index > 1 && bucket_upper_us(index - 1) >= duration_us as f64 {
        index -= 1;
    }
    index
}

/// Upper bound (µs) of histogram bucket `index`.
pub fn bucket_upper_us(index: u32) -> f64 {
    (f64::from(index) / BUCKETS_PER_DOUBLING).exp2()
}

/// Lower bound (µs) of histogram bucket `index`.
pub fn bucket_lower_us(index: u32) -> f64 {
    if index == 0 {
        0.0
    } else {
        bucket_upper_us(index - 1)
    }
}

/// What identifies a RED series: service, operation (span name), span kind
/// and status code (the model's enum values).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// Service name.
    pub service: String,
    /// Operation (span name); "" for the overflow series of a service.
    pub operation: String,
    /// Span kind (`SpanKind as i32`).
    pub kind: i32,
    /// Status code (`StatusCode as i32`).
    pub status: i32,
}

/// Calls, errors and the latency distribution of one series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Spans counted.
    pub calls: u64,
    /// Spans with status ERROR.
    pub errors: u64,
    /// Sum of durations in µs.
    pub sum_us: u64,
    /// Exponential histogram: bucket index → spans.
    pub histogram: BTreeMap<u32, u64>,
}

impl SeriesStats {
    /// Counts one span.
    pub fn record(&mut self, duration_us: u64, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        self.sum_us = self.sum_us.saturating_add(duration_us);
        *self
            .histogram
            .entry(duration_bucket(duration_us))
            .or_default() += 1;
    }

    /// Adds another series' counts.
    pub fn merge(&mut self, other: &SeriesStats) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        for (index, count) in &other.histogram {
            *self.histogram.entry(*index).or_default() += count;
        }
    }

    /// The `q` quantile of the durations in milliseconds, interpolated
    /// linearly inside the bucket that holds it (Prometheus'
    /// `histogram_quantile`); NaN without spans.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let total: u64 = self.histogram.values().sum();
        if total == 0 {
            return f64::NAN;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (index, count) in &self.histogram {
            let upto = below + count;
            if upto as f64 >= rank {
                let lower = bucket_lower_us(*index);
                let upper = bucket_upper_us(*index);
                let inside = (rank - below as f64) / *count as f64;
                return (lower + (upper - lower) * inside) / 1000.0;
            }
            below = upto;
        }
        self.histogram
            .keys()
            .next_back()
            .map_or(f64::NAN, |i| bucket_upper_us(*i) / 1000.0)
    }
}

/// Calls and errors over one dependency link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// Calls (span pairs) counted.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
}

/// The aggregates of one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketAggregates {
    /// Width of the bucket in ms.
    pub width_ms: u64,
    /// RED series (a list of pairs on the wire: JSON keys are strings).
    #[serde(with = "crate::source::map_as_pairs")]
    pub series: HashMap<SeriesKey, SeriesStats>,
    /// Dependency links: (parent service, child service) → counts.
    #[serde(with = "crate::source::map_as_pairs")]
    pub edges: HashMap<(String, String), EdgeStats>,
}

impl BucketAggregates {
    /// Adds another bucket's aggregates.
    pub fn merge(&mut self, other: BucketAggregates) {
        self.width_ms = self.width_ms.max(other.width_ms);
        for (key, stats) in other.series {
            match self.series.get_mut(&key) {
                Some(mine) => mine.merge(&stats),
                None => {
                    self.series.insert(key, stats);
                }
            }
        }
        for (key, stats) in other.edges {
            let mine = self.edges.entry(key).or_default();
            mine.calls += stats.calls;
            mine.errors += stats.errors;
        }
    }

    fn is_empty(&self) -> bool {
        self.series.is_empty() && self.edges.is_empty()
    }
}

/// New aggregates to add, by bucket start (ms since the epoch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateDelta {
    /// Bucket start (ms) → aggregates.
    pub buckets: BTreeMap<u64, BucketAggregates>,
}

impl AggregateDelta {
    /// The bucket holding `time_ms`, created empty when new.
    pub fn bucket_at(&mut self, time_ms: u64, width_ms: u64) -> &mut BucketAggregates {
        let width_ms = width_ms.max(1);
        let start = time_ms - time_ms % width_ms;
        let bucket = self.buckets.entry(start).or_default();
        bucket.width_ms = width_ms;
        bucket
    }

    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.buckets.values().all(BucketAggregates::is_empty)
    }
}

/// One summed dependency link of a window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DependencyLink {
    /// The calling service.
    pub parent: String,
    /// The called service.
    pub child: String,
    /// Calls in the window.
    pub call_count: u64,
    /// Failed calls in the window.
    pub error_count: u64,
}

/// Aggregates waiting to be written, and the lock that keeps readers from
/// seeing a bucket neither in memory nor on disk while it is being flushed.
#[derive(Default)]
pub(crate) struct PendingAggregates {
    flushing: RwLock<()>,
    buckets: Mutex<BTreeMap<u64, BucketAggregates>>,
}

/// Options of the aggregates column family.
pub(crate) fn aggregates_options() -> Options {
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_write_buffer_size(16 << 20);
    opts
}

impl Store {
    /// Adds aggregates; visible to reads at once, on disk after the next
    /// [`Store::flush_aggregates`].
    pub fn record_aggregates(&self, delta: AggregateDelta) {
        if delta.is_empty() {
            return;
        }
        let mut pending = self.aggregates.buckets.lock();
        for (start, bucket) in delta.buckets {
            pending.entry(start).or_default().merge(bucket);
        }
    }

    /// Merges the pending aggregates into their records on disk.
    pub fn flush_aggregates(&self) -> Result<(), StorageError> {
        let _flushing = self.aggregates.flushing.write();
        let pending = std::mem::take(&mut *self.aggregates.buckets.lock());
        if pending.is_empty() {
            return Ok(());
        }
        let cf = self.cf(keys::AGGREGATES_CF)?;
        let mut batch = WriteBatch::default();
        let mut failed = None;
        for (start, bucket) in &pending {
            let key = keys::aggregate_key(*start);
            let merged = match self.db.get_cf(&cf, key) {
                Ok(Some(bytes)) => match decode_bucket(&bytes) {
                    Ok(mut stored) => {
                        stored.merge(bucket.clone());
                        stored
                    }
                    Err(error) => {
                        tracing::warn!(%error, bucket = start, "replacing a corrupt aggregates bucket");
                        bucket.clone()
                    }
                },
                Ok(None) => bucket.clone(),
                Err(error) => {
                    failed = Some(StorageError::from(error));
                    break;
                }
            };
            batch.put_cf(&cf, key, encode_bucket(&merged));
        }
        let result = match failed {
            Some(error) => Err(error),
            None => self.db.write(batch).map_err(StorageError::from),
        };
        if result.is_err() {
            // Keep the aggregates for the next attempt.
            let mut again = self.aggregates.buckets.lock();
            for (start, bucket) in pending {
                again.entry(start).or_default().merge(bucket);
            }
        }
        result
    }

    /// The buckets starting in `[start_ms, end_ms]`, disk and memory merged,
    /// oldest first, keeping only the series `keep` accepts.
    pub fn aggregate_buckets(
        &self,
        start_ms: u64,
        end_ms: u64,
        keep: impl Fn(&SeriesKey) -> bool,
    ) -> Result<Vec<(u64, BucketAggregates)>, StorageError> {
        if end_ms < start_ms {
            return Ok(Vec::new());
        }
        let _reading = self.aggregates.flushing.read();
        let cf = self.cf(keys::AGGREGATES_CF)?;
        let mut out: BTreeMap<u64, BucketAggregates> = BTreeMap::new();
        let iter = self.db.iterator_cf(
            &cf,
            rocksdb::IteratorMode::From(
                &keys::aggregate_key(start_ms),
                rocksdb::Direction::Forward,
            ),
        );
        for item in iter {
            let (key, value) = item?;
            let Some(start) = keys::aggregate_start(&key) else {
                continue;
            };
            if start > end_ms {
                break;
            }
            let mut bucket = decode_bucket(&value)?;
            bucket.series.retain(|k, _| keep(k));
            out.insert(start, bucket);
        }
        let pending = self.aggregates.buckets.lock();
        for (start, bucket) in pending.range(start_ms..=end_ms) {
            let mut bucket = bucket.clone();
            bucket.series.retain(|k, _| keep(k));
            out.entry(*start).or_default().merge(bucket);
        }
        Ok(out.into_iter().collect())
    }

    /// Dependency links of the buckets that overlap `[start_ms, end_ms]`,
    /// summed per (parent, child), sorted by parent then child.
    pub fn dependencies(
        &self,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        // A bucket starting before the window may still overlap it; buckets
        // are small, so look back by the widest configured one (1 h at most).
        let buckets =
            self.aggregate_buckets(start_ms.saturating_sub(3_600_000), end_ms, |_| false)?;
        let mut links: BTreeMap<(String, String), EdgeStats> = BTreeMap::new();
        for (start, bucket) in buckets {
            if start + bucket.width_ms.max(1) <= start_ms {
                continue;
            }
            for (pair, stats) in bucket.edges {
                let link = links.entry(pair).or_default();
                link.calls += stats.calls;
                link.errors += stats.errors;
            }
        }
        Ok(links
            .into_iter()
            .map(|((parent, child), stats)| DependencyLink {
                parent,
                child,
                call_count: stats.calls,
                error_count: stats.errors,
            })
            .collect())
    }

    /// Deletes the buckets that start before `cutoff_ms`.
    pub(crate) fn expire_aggregates(&self, cutoff_ms: u64) -> Result<(), StorageError> {
        let cf = self.cf(keys::AGGREGATES_CF)?;
        self.db
            .delete_range_cf(&cf, keys::aggregate_key(0), keys::aggregate_key(cutoff_ms))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// On-disk record

#[derive(Clone, PartialEq, Message)]
struct BucketRecord {
    #[prost(uint64, tag = "1")]
    width_ms: u64,
    #[prost(message, repeated, tag = "2")]
    series: Vec<SeriesRecord>,
    #[prost(message, repeated, tag = "3")]
    edges: Vec<EdgeRecord>,
}

#[derive(Clone, PartialEq, Message)]
struct SeriesRecord {
    #[prost(string, tag = "1")]
    service: String,
    #[prost(string, tag = "2")]
    operation: String,
    #[prost(int32, tag = "3")]
    kind: i32,
    #[prost(int32, tag = "4")]
    status: i32,
    #[prost(uint64, tag = "5")]
    calls: u64,
    #[prost(uint64, tag = "6")]
    errors: u64,
    #[prost(uint64, tag = "7")]
    sum_us: u64,
    #[prost(uint32, repeated, tag = "8")]
    histogram_index: Vec<u32>,
    #[prost(uint64, repeated, tag = "9")]
    histogram_count: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct EdgeRecord {
    #[prost(string, tag = "1")]
    parent: String,
    #[prost(string, tag = "2")]
    child: String,
    #[prost(uint64, tag = "3")]
    calls: u64,
    #[prost(uint64, tag = "4")]
    errors: u64,
}

fn encode_bucket(bucket: &BucketAggregates) -> Vec<u8> {
    let record = BucketRecord {
        width_ms: bucket.width_ms,
        series: bucket
            .series
            .iter()
            .map(|(key, stats)| SeriesRecord {
                service: key.service.clone(),
                operation: key.operation.clone(),
                kind: key.kind,
                status: key.status,
                calls: stats.calls,
                errors: stats.errors,
                sum_us: stats.sum_us,
                histogram_index: stats.histogram.keys().copied().collect(),
                histogram_count: stats.histogram.values().copied().collect(),
            })
            .collect(),
        edges: bucket
            .edges
            .iter()
            .map(|((parent, child), stats)| EdgeRecord {
                parent: parent.clone(),
                child: child.clone(),
                calls: stats.calls,
                errors: stats.errors,
            })
            .collect(),
    };
    record.encode_to_vec()
}

fn decode_bucket(bytes: &[u8]) -> Result<BucketAggregates, StorageError> {
    let record = BucketRecord::decode(bytes)?;
    let mut bucket = BucketAggregates {
        width_ms: record.width_ms,
        ..Default::default()
    };
    for s in record.series {
        if s.histogram_index.len() != s.histogram_count.len() {
            return Err(StorageError::Corrupt(
                "aggregates histogram has mismatched lengths".to_string(),
            ));
        }
        let stats = SeriesStats {
            calls: s.calls,
            errors: s.errors,
            sum_us: s.sum_us,
            histogram: s
                .histogram_index
                .into_iter()
                .zip(s.histogram_count)
                .collect(),
        };
        let key = SeriesKey {
            service: s.service,
            operation: s.operation,
            kind: s.kind,
            status: s.status,
        };
        bucket.series.entry(key).or_default().merge(&stats);
    }
    for e in record.edges {
        let link = bucket.edges.entry((e.parent, e.child)).or_default();
        link.calls += e.calls;
        link.errors += e.errors;
    }
    Ok(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_buckets_hold_their_duration_and_are_about_nine_percent_wide() {
        for us in [
            0u64,
            1,
            2,
            3,
            7,
            8,
            9,
            100,
            1_000,
            1_024,
            12_345,
            1_000_000,
            3_600_000_000,
        ] {
            let i = duration_bucket(us);
            assert!(
                bucket_lower_us(i) < us as f64 || us <= 1,
                "{us} above lower of {i}"
            );
            assert!(bucket_upper_us(i) >= us as f64, "{us} below upper of {i}");
        }
        let i = duration_bucket(10_000);
        assert!(bucket_upper_us(i) / bucket_lower_us(i) < 1.0906);
    }

    #[test]
    fn quantiles_fall_within_one_bucket_of_the_truth() {
        let mut stats = SeriesStats::default();
        for ms in 1..=100u64 {
            stats.record(ms * 1000, false);
        }
        for (q, truth) in [(0.5, 50.0), (0.95, 95.0), (1.0, 100.0)] {
            let got = stats.quantile_ms(q);
            assert!((got - truth).abs() / truth < 0.1, "q{q}: {got} vs {truth}");
        }
        assert!(SeriesStats::default().quantile_ms(0.5).is_nan());
    }

    #[test]
    fn buckets_round_trip_through_the_record() {
        let mut delta = AggregateDelta::default();
        let bucket = delta.bucket_at(61_500, 60_000);
        let key = SeriesKey {
            service: "a".into(),
            operation: "GET /".into(),
            kind: 2,
            status: 2,
        };
        bucket
            .series
            .entry(key.clone())
            .or_default()
            .record(1500, true);
        bucket.edges.insert(
            ("a".into(), "b".into()),
            EdgeStats {
                calls: 3,
                errors: 1,
            },
        );
        let (start, bucket) = delta.buckets.iter().next().unwrap();
        assert_eq!(*start, 60_000);
        let decoded = decode_bucket(&encode_bucket(bucket)).unwrap();
        assert_eq!(&decoded, bucket);
        assert_eq!(decoded.series[&key].errors, 1);
    }
}
