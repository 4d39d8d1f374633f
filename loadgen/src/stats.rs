//! Counters and latency histograms shared by the sending tasks, and their
//! printed form.
//!
//! In: one record per request outcome from every sending task. Out: periodic
//! progress lines, a final human summary and a machine-readable `RESULT`
//! line of `key=value` pairs (what `scripts/bench.sh` reads).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Whether a number of seconds (or a rate) is finite and above zero.
pub fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// CPU seconds (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux; USER_HZ = 100 ticks per second). `None`
/// elsewhere.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Requests recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// A latency histogram in microseconds, 1 µs – 10 min, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records a duration into a microsecond histogram (saturating).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// Reads percentiles from a microsecond histogram.
pub fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    Latency {
        count: h.len(),
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: h.max() as f64 / 1000.0,
    }
}

/// What the senders share.
pub struct Stats {
    /// Spans put into requests (once per batch, not per retry).
    pub spans_sent: AtomicU64,
    /// Spans the backend acknowledged (minus partial-success rejections).
    pub spans_accepted: AtomicU64,
    /// Spans the backend rejected in a partial success.
    pub spans_rejected: AtomicU64,
    /// Spans of requests that failed for good.
    pub spans_failed: AtomicU64,
    /// Requests acknowledged.
    pub requests_ok: AtomicU64,
    /// Body bytes sent (as on the wire, after gzip; once per batch).
    pub bytes_sent: AtomicU64,
    /// Body bytes before compression.
    pub bytes_raw: AtomicU64,
    /// Retryable answers by status, e.g. `http 503`, `grpc UNAVAILABLE`.
    pub retryable: Mutex<BTreeMap<String, u64>>,
    /// Failed requests by status.
    pub failed: Mutex<BTreeMap<String, u64>>,
    /// Ack latency of successful requests: (whole run, current interval).
    latency: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            spans_sent: AtomicU64::new(0),
            spans_accepted: AtomicU64::new(0),
            spans_rejected: AtomicU64::new(0),
            spans_failed: AtomicU64::new(0),
            requests_ok: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_raw: AtomicU64::new(0),
            retryable: Mutex::new(BTreeMap::new()),
            failed: Mutex::new(BTreeMap::new()),
            latency: Mutex::new((new_histogram(), new_histogram())),
        }
    }
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    *map.entry(key.to_string()).or_insert(0) += 1;
}

fn total(map: &Mutex<BTreeMap<String, u64>>) -> u64 {
    map.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
}

fn render(map: &Mutex<BTreeMap<String, u64>>) -> String {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    if map.is_empty() {
        return "none".to_string();
    }
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Stats {
    /// A successful request of `spans` spans of which `rejected` were refused.
    pub fn ok(&self, spans: u64, rejected: u64, took: Duration) {
        let rejected = rejected.min(spans);
        self.requests_ok.fetch_add(1, Relaxed);
        self.spans_accepted.fetch_add(spans - rejected, Relaxed);
        self.spans_rejected.fetch_add(rejected, Relaxed);
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        record(&mut l.0, took);
        record(&mut l.1, took);
    }

    /// A retryable answer (the request will be tried again).
    pub fn retryable(&self, status: &str) {
        bump(&self.retryable, status);
    }

    /// A request that failed for good.
    pub fn failed(&self, status: &str, spans: u64) {
        bump(&self.failed, status);
        self.spans_failed.fetch_add(spans, Relaxed);
    }

    /// Latency over the whole run.
    pub fn latency(&self) -> Latency {
        latency(&self.latency.lock().unwrap_or_else(|e| e.into_inner()).0)
    }

    /// Latency since the last call, and resets the interval.
    pub fn take_interval_latency(&self) -> Latency {
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let out = latency(&l.1);
        l.1.reset();
        out
    }

    /// Total retryable answers.
    pub fn retryable_total(&self) -> u64 {
        total(&self.retryable)
    }

    /// Total failed requests.
    pub fn failed_total(&self) -> u64 {
        total(&self.failed)
    }

    /// Retryable answers by status, rendered.
    pub fn retryable_by_status(&self) -> String {
        render(&self.retryable)
    }

    /// Failed requests by status, rendered.
    pub fn failed_by_status(&self) -> String {
        render(&self.failed)
    }
}

/// The result of a `send` run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Protocol name.
    pub protocol: String,
    /// Concurrent requests.
    pub concurrency: usize,
    /// Spans per request.
    pub batch_spans: usize,
    /// Wall time of the run in seconds.
    pub seconds: f64,
    /// Spans put into requests.
    pub spans_sent: u64,
    /// Spans acknowledged.
    pub spans_accepted: u64,
    /// Spans refused in partial successes.
    pub spans_rejected: u64,
    /// Spans of failed requests.
    pub spans_failed: u64,
    /// Successful requests.
    pub requests_ok: u64,
    /// Failed requests.
    pub requests_failed: u64,
    /// Retryable answers (retried).
    pub retryable: u64,
    /// Wire bytes per span.
    pub bytes_per_span: f64,
    /// Uncompressed body bytes per span.
    pub raw_bytes_per_span: f64,
    /// Acknowledged spans per second.
    pub spans_per_sec: f64,
    /// Ack latency.
    pub latency: Latency,
    /// Failed requests by status, rendered.
    pub failed_by_status: String,
    /// Retryable answers by status, rendered.
    pub retryable_by_status: String,
    /// Cores the load generator itself kept busy on average (0 when unknown).
    pub loadgen_cores: f64,
}

impl Summary {
    /// The multi-line human summary.
    pub fn human(&self) -> String {
        format!(
            "protocol {} concurrency {} batch {} spans, {:.1} s\n\
             spans sent      {}\n\
             spans accepted  {} (rejected {}, in failed requests {})\n\
             sustained       {:.0} spans/s\n\
             ack latency     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} requests ok)\n\
             wire bytes/span {:.1} ({:.1} uncompressed)\n\
             retryable       {} ({})\n\
             failed          {} ({})\n\
             loadgen cpu     {:.2} cores",
            self.protocol,
            self.concurrency,
            self.batch_spans,
            self.seconds,
            self.spans_sent,
            self.spans_accepted,
            self.spans_rejected,
            self.spans_failed,
            self.spans_per_sec,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.requests_ok,
            self.bytes_per_span,
            self.raw_bytes_per_span,
            self.retryable,
            self.retryable_by_status,
            self.requests_failed,
            self.failed_by_status,
            self.loadgen_cores,
        )
    }

    /// One `RESULT key=value ...` line for scripts.
    pub fn result_line(&self) -> String {
        format!(
            "RESULT send protocol={} concurrency={} batch_spans={} seconds={:.2} spans_sent={} spans_accepted={} \
             spans_rejected={} spans_failed={} requests_ok={} requests_failed={} retryable={} spans_per_sec={:.0} \
             p50_ms={:.3} p99_ms={:.3} max_ms={:.3} bytes_per_span={:.1} raw_bytes_per_span={:.1} loadgen_cores={:.2}",
            self.protocol,
            self.concurrency,
            self.batch_spans,
            self.seconds,
            self.spans_sent,
            self.spans_accepted,
            self.spans_rejected,
            self.spans_failed,
            self.requests_ok,
            self.requests_failed,
            self.retryable,
            self.spans_per_sec,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.bytes_per_span,
            self.raw_bytes_per_span,
            self.loadgen_cores,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_latencies() {
        let stats = Stats::default();
        for ms in 1..=100u64 {
            stats.ok(10, 0, Duration::from_millis(ms));
        }
        stats.ok(10, 4, Duration::from_millis(1));
        let l = stats.latency();
        assert_eq!(l.count, 101);
        assert!((l.p50_ms - 50.0).abs() < 1.0, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 1.5, "{l:?}");
        assert!((l.max_ms - 100.0).abs() < 0.2, "{l:?}");
        assert_eq!(stats.spans_accepted.load(Relaxed), 1006);
        assert_eq!(stats.spans_rejected.load(Relaxed), 4);
        assert_eq!(stats.take_interval_latency().count, 101);
        assert_eq!(stats.take_interval_latency().count, 0);
    }

    #[test]
    fn own_cpu_time_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            let a = process_cpu_seconds().expect("/proc/self/stat");
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i * i));
            }
            assert!(process_cpu_seconds().expect("/proc/self/stat") >= a);
        }
    }

    #[test]
    fn statuses_are_counted_separately() {
        let stats = Stats::default();
        stats.retryable("http 503");
        stats.retryable("http 503");
        stats.retryable("http 429");
        stats.failed("http 400", 100);
        assert_eq!(stats.retryable_total(), 3);
        assert_eq!(stats.retryable_by_status(), "http 429: 1, http 503: 2");
        assert_eq!(stats.failed_by_status(), "http 400: 1");
        assert_eq!(stats.spans_failed.load(Relaxed), 100);
    }
}
