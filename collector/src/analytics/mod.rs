//! Analytics: RED metrics and the service dependency graph, derived from
//! every received span before anything else happens to it.
//!
//! In: each accepted batch ([`Analytics::observe`], called by the ingest
//! path on the receiving side, after invalid spans are dropped and before
//! the batch is handed to the writer), and the clock (a background thread
//! lets unpaired spans go and flushes aggregates). Out: cumulative
//! Prometheus series ([`Analytics::render_prometheus`], names of the
//! OpenTelemetry spanmetrics and servicegraph connectors), and
//! [`spoor_storage::AggregateDelta`]s handed to the store on every tick of
//! the background thread (a few times a second, not per batch), which the
//! query side reads for the Jaeger SPM API and the dependency APIs.
//!
//! A span seen again while it is still held for pairing (a client retrying
//! a batch) is counted once. Layout: [`config`] the settings, `graph` the
//! pairing of spans into edges, `red` the series and the cardinality limit,
//! `prometheus` the exposition.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spoor_proto::model::{search_string, KeyValue, SpanKind, StatusCode, TracesData, Value};
use spoor_storage::Store;

pub mod config;
mod graph;
mod prometheus;
mod red;
#[cfg(test)]
mod tests;

pub use config::AnalyticsConfig;
pub use prometheus::to_openmetrics;

use graph::{Edge, Graph, SpanFacts, SpanKey};
use red::{Series, SeriesLabels};

/// A span whose start is further than this from its arrival is counted in
/// the bucket of its arrival (clock trouble or very late data).
const MAX_CLOCK_DISTANCE_MS: u64 = 3_600_000;

/// Handle to the analytics; cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    bucket_ms: u64,
    peer_attributes: Vec<String>,
    dimensions: Vec<String>,
    graph: Mutex<Graph>,
    series: Mutex<Series>,
    stop: AtomicBool,
    wake: Mutex<Option<mpsc::Sender<()>>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Analytics {
    /// Builds the analytics without a background thread (tests drive
    /// [`Analytics::tick`] themselves). `config` is expected to be validated.
    pub fn new(store: Arc<Store>, config: &AnalyticsConfig) -> Analytics {
        Analytics {
            inner: Arc::new(Inner {
                store,
                bucket_ms: config.bucket.as_millis().max(1) as u64,
                peer_attributes: config.dependencies.peer_attributes.clone(),
                dimensions: config.span_metrics.dimensions.clone(),
                graph: Mutex::new(Graph::new(
                    config.dependencies.wait.as_millis() as u64,
                    config.dependencies.max_pending_spans,
                )),
                series: Mutex::new(Series::new(
                    config.span_metrics.histogram_buckets_ms.clone(),
                    &config.span_metrics.dimensions,
                    config.span_metrics.max_series,
                )),
                stop: AtomicBool::new(false),
                wake: Mutex::new(None),
                ticker: Mutex::new(None),
            }),
        }
    }

    /// Builds the analytics and starts its background thread, which lets
    /// unpaired spans go once their wait is over and writes aggregates to
    /// disk every `flush_interval`.
    pub fn start(store: Arc<Store>, config: &AnalyticsConfig) -> Analytics {
        let analytics = Analytics::new(store, config);
        let (wake, woken) = mpsc::channel::<()>();
        let tick = Duration::from_millis(250).min(config.flush_interval);
        let flush_every = config.flush_interval;
        let background = analytics.clone();
        let handle = std::thread::Builder::new()
            .name("spoor-analytics".to_string())
            .spawn(move || {
                let mut since_flush = Duration::ZERO;
                loop {
                    match woken.recv_timeout(tick) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    if background.inner.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    background.tick();
                    since_flush += tick;
                    if since_flush >= flush_every {
                        since_flush = Duration::ZERO;
                        if let Err(error) = background.inner.store.flush_aggregates() {
                            tracing::error!(%error, "writing analytics aggregates failed; retrying");
                        }
                    }
                }
            })
            .expect("spawning the analytics thread");
        *lock(&analytics.inner.wake) = Some(wake);
        *lock(&analytics.inner.ticker) = Some(handle);
        analytics
    }

    /// Counts a batch: RED series, dependency edges it completes.
    pub fn observe(&self, data: &TracesData) {
        let inner = &*self.inner;
        let now = now_ms();
        let (facts, spans) = self.extract(data);
        if facts.is_empty() {
            return;
        }
        let mut edges = Vec::new();
        let new = {
            let mut graph = lock(&inner.graph);
            let new = graph.observe(now, facts, &mut edges);
            metrics::gauge!("spoor_analytics_pending_spans").set(graph.len() as f64);
            new
        };
        // Group the new spans by labels and bucket (borrowing the batch).
        type Group<'a> = (&'a str, &'a str, i32, i32, Vec<Option<Cow<'a, str>>>, u64);
        let mut groups: graph::FastMap<Group<'_>, Vec<(u64, bool)>> = graph::FastMap::default();
        let mut duplicates = 0u64;
        for (span, is_new) in spans.iter().zip(new) {
            if !is_new {
                duplicates += 1;
                continue;
            }
            let (service, s, resource_attributes) = *span;
            let dimensions = inner
                .dimensions
                .iter()
                .map(|d| attribute(&s.attributes, d).or_else(|| attribute(resource_attributes, d)))
                .collect();
            let bucket = self.bucket_start(s.start_time_unix_nano, now);
            groups
                .entry((
                    service,
                    s.name.as_str(),
                    s.kind,
                    status_of(s),
                    dimensions,
                    bucket,
                ))
                .or_default()
                .push((
                    s.duration_nanos() / 1000,
                    s.status_code() == StatusCode::Error,
                ));
        }
        let counted = spans.len() as u64 - duplicates;
        metrics::counter!("spoor_analytics_spans_total", "outcome" => "counted").increment(counted);
        if duplicates > 0 {
            metrics::counter!("spoor_analytics_spans_total", "outcome" => "duplicate")
                .increment(duplicates);
        }
        let mut series = lock(&inner.series);
        let mut overflowed = 0u64;
        for ((service, operation, kind, status, dimensions, bucket), durations) in &groups {
            let labels = SeriesLabels {
                service,
                operation,
                kind: *kind,
                status: *status,
                dimensions,
                overflow: false,
            };
            if series.count_spans(labels, *bucket, durations) {
                overflowed += durations.len() as u64;
            }
        }
        if overflowed > 0 {
            metrics::counter!("spoor_analytics_overflow_spans_total").increment(overflowed);
        }
        for edge in &edges {
            series.add_edge(edge, self.bucket_start(edge.time_ns, now));
        }
    }

    /// Lets spans whose wait is over go (counting the calls they stand for
    /// on their own). The background thread calls this a few times a second.
    pub fn tick(&self) {
        let now = now_ms();
        let mut edges = Vec::new();
        {
            let mut graph = lock(&self.inner.graph);
            graph.expire(now, &mut edges);
            metrics::gauge!("spoor_analytics_pending_spans").set(graph.len() as f64);
        }
        self.hand_off(&edges, now);
    }

    /// Stops the background thread, lets every held span go and writes all
    /// aggregates to disk. Call before the store shuts down.
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        drop(lock(&self.inner.wake).take());
        if let Some(handle) = lock(&self.inner.ticker).take() {
            if handle.join().is_err() {
                tracing::error!("the analytics thread panicked");
            }
        }
        let mut edges = Vec::new();
        lock(&self.inner.graph).drain(&mut edges);
        self.hand_off(&edges, now_ms());
        if let Err(error) = self.inner.store.flush_aggregates() {
            tracing::error!(%error, "writing analytics aggregates at shutdown failed");
        }
    }

    /// The analytics series as Prometheus text (or OpenMetrics text without
    /// the final `# EOF`).
    pub fn render_prometheus(&self, openmetrics: bool) -> String {
        prometheus::render(&lock(&self.inner.series), openmetrics)
    }

    /// Counts `edges`, then hands everything counted since the last hand-off
    /// to the store (which writes it to disk every `flush_interval`).
    fn hand_off(&self, edges: &[Edge], now: u64) {
        let delta = {
            let mut series = lock(&self.inner.series);
            for edge in edges {
                series.add_edge(edge, self.bucket_start(edge.time_ns, now));
            }
            series.take_delta(self.inner.bucket_ms)
        };
        self.inner.store.record_aggregates(delta);
    }

    /// The start (ms) of the bucket that counts a span starting at
    /// `start_ns` (the bucket of `now_ms` when the span's clock is far off).
    fn bucket_start(&self, start_ns: u64, now_ms: u64) -> u64 {
        let start_ms = start_ns / 1_000_000;
        let time = if start_ms.abs_diff(now_ms) > MAX_CLOCK_DISTANCE_MS {
            now_ms
        } else {
            start_ms
        };
        time - time % self.inner.bucket_ms
    }

    /// The pairing facts of every span, and for RED the span with its
    /// service and resource attributes.
    #[allow(clippy::type_complexity)]
    fn extract<'a>(
        &self,
        data: &'a TracesData,
    ) -> (
        Vec<SpanFacts>,
        Vec<(&'a str, &'a spoor_proto::model::Span, &'a [KeyValue])>,
    ) {
        let count = data.span_count();
        // One shared name per distinct service or peer in the batch.
        let mut names: graph::FastMap<&'a str, Arc<str>> = graph::FastMap::default();
        let mut shared_name = move |name: &'a str| -> Arc<str> {
            names.entry(name).or_insert_with(|| Arc::from(name)).clone()
        };
        let mut facts = Vec::with_capacity(count);
        let mut spans = Vec::with_capacity(count);
        for rs in &data.resource_spans {
            let service_name = rs.service_name();
            let service = shared_name(service_name);
            let resource_attributes: &[KeyValue] = rs
                .resource
                .as_ref()
                .map_or(&[], |r| r.attributes.as_slice());
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let kind = s.span_kind();
                    let database = kind == SpanKind::Client
                        && string_attribute(&s.attributes, "db.system").is_some();
                    let peer = match kind {
                        SpanKind::Client | SpanKind::Producer => self
                            .inner
                            .peer_attributes
                            .iter()
                            .find_map(|key| string_attribute(&s.attributes, key)),
                        SpanKind::Server | SpanKind::Consumer => {
                            ["peer.service", "service.peer.name"]
                                .iter()
                                .find_map(|key| string_attribute(&s.attributes, key))
                        }
                        _ => None,
                    };
                    let links = if kind == SpanKind::Consumer {
                        s.links
                            .iter()
                            .map(|l| (id128(&l.trace_id), id64(&l.span_id)))
                            .filter(|(t, sp)| *t != 0 && *sp != 0)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    facts.push(SpanFacts {
                        key: SpanKey {
                            trace: id128(&s.trace_id),
                            span: id64(&s.span_id),
                            shared: s.shared,
                        },
                        parent: id64(&s.parent_span_id),
                        links,
                        service: service.clone(),
                        kind,
                        error: s.status_code() == StatusCode::Error,
                        start_ns: s.start_time_unix_nano,
                        duration_ns: s.duration_nanos(),
                        peer: peer.map(&mut shared_name),
                        database,
                    });
                    spans.push((service_name, s, resource_attributes));
                }
            }
        }
        (facts, spans)
    }
}

fn status_of(s: &spoor_proto::model::Span) -> i32 {
    s.status_code() as i32
}

/// An id of up to 16 bytes as a number (64-bit trace ids read as their
/// 128-bit form with zero high bits).
fn id128(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .take(16)
        .fold(0u128, |id, b| (id << 8) | u128::from(*b))
}

fn id64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0u64, |id, b| (id << 8) | u64::from(*b))
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<Cow<'a, str>> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match &value.value {
        Some(Value::StringValue(s)) => Some(Cow::Borrowed(s.as_str())),
        _ => Some(Cow::Owned(search_string(value))),
    }
}
