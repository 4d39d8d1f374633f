//! Test support shared by the receiver tests: a real store in a temporary
//! directory, span builders, and the metrics compliance check.
//!
//! In: a test scenario. Out: its result plus the metrics it emitted, checked
//! against the invariant "every received span is accepted or rejected with
//! a reason" ([`run_counted`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use spoor_proto::ids::{SpanId, TraceId};
use spoor_proto::model::{self, ResourceSpans, ScopeSpans, Span, TracesData};
use spoor_storage::{Decision, DecisionPolicy, StorageConfig, Store, TraceDecider};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::config::CollectorConfig;
use crate::metrics::{
    LABEL_OUTCOME, LABEL_REASON, LABEL_RECEIVER, RECEIVER_REQUESTS_TOTAL,
    RECEIVER_SPANS_ACCEPTED_TOTAL, RECEIVER_SPANS_RECEIVED_TOTAL, RECEIVER_SPANS_REJECTED_TOTAL,
};
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

/// A store on a temporary directory that lives as long as this value.
pub(crate) struct TestStore {
    pub store: Arc<Store>,
    hold: Option<Arc<FlusherHold>>,
    _dir: TempDir,
}

/// Holds a store's background flusher: set as its tail-sampling decider
/// (deciding only on the buffer's bounds), it keeps every trace, but not
/// before it is released, so until then the buffer keeps what it holds
/// (a test of a full buffer would otherwise race the flusher, which flushes
/// at once while the buffer is over its soft bound).
struct FlusherHold {
    released: std::sync::Mutex<bool>,
    wake: std::sync::Condvar,
}

impl FlusherHold {
    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

impl TraceDecider for FlusherHold {
    fn decide(&self, _trace_id: TraceId, _trace: &TracesData) -> Decision {
        let mut released = self.released.lock().unwrap();
        while !*released {
            released = self.wake.wait(released).unwrap();
        }
        Decision::keep("test")
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        self.release_flusher();
    }
}

impl TestStore {
    pub fn open() -> TestStore {
        TestStore::open_with(StorageConfig::default())
    }

    /// A store with `config`, on its own temporary directory.
    pub fn open_with(config: StorageConfig) -> TestStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = StorageConfig {
            data_dir: dir.path().to_path_buf(),
            ..config
        };
        let store = Store::open(config).expect("opening the test store");
        TestStore {
            store,
            hold: None,
            _dir: dir,
        }
    }

    /// A store with `config` whose background flusher keeps everything in
    /// the buffer until [`TestStore::release_flusher`] (or the end of the
    /// test); the buffer then holds exactly what was written.
    pub fn open_held(config: StorageConfig) -> TestStore {
        let mut held = TestStore::open_with(config);
        let hold = Arc::new(FlusherHold {
            released: std::sync::Mutex::new(false),
            wake: std::sync::Condvar::new(),
        });
        let hour = std::time::Duration::from_secs(3600);
        held.store.set_decider(
            Arc::clone(&hold) as Arc<dyn TraceDecider>,
            DecisionPolicy {
                decision_wait: hour,
                max_age: hour,
                late_span_ttl: hour,
                max_remembered: 1000,
            },
        );
        held.hold = Some(hold);
        held
    }

    /// A store whose buffer any held span puts over its hard bound, with
    /// its flusher held ([`TestStore::open_held`]): after one write it has
    /// no room until [`TestStore::release_flusher`] and a flush.
    pub fn open_full() -> TestStore {
        TestStore::open_held(StorageConfig {
            live_max_bytes: 1,
            live_hard_max_bytes: 1,
            ..StorageConfig::default()
        })
    }

    /// Lets a held flusher go on (and with it `Store::flush`).
    pub fn release_flusher(&self) {
        if let Some(hold) = &self.hold {
            hold.release();
        }
    }

    /// Spans of `trace` the store holds.
    pub fn span_count(&self, trace: u128) -> usize {
        self.store
            .get_trace(TraceId(trace))
            .expect("reading a trace")
            .map(|data| data.span_count())
            .unwrap_or(0)
    }
}

/// A store and a pipeline on it, configured by `config`.
pub(crate) fn pipeline_with(config: &CollectorConfig) -> (TestStore, Pipeline) {
    let store = TestStore::open();
    let pipeline = Pipeline::start(Arc::clone(&store.store), config);
    (store, pipeline)
}

/// Holds a pipeline's writer: nothing leaves the queue until this is
/// released or dropped.
pub(crate) struct WriterHold(std::sync::mpsc::Sender<()>);

impl WriterHold {
    pub fn release(self) {
        let _ = self.0.send(());
    }
}

/// A store and a pipeline on it whose writer waits for the returned hold.
pub(crate) fn held_pipeline_with(config: &CollectorConfig) -> (TestStore, Pipeline, WriterHold) {
    let store = TestStore::open();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let pipeline = Pipeline::start_after(Arc::clone(&store.store), config, move || {
        let _ = released.recv();
    });
    (store, pipeline, WriterHold(release))
}

/// Drives an overload without racing the writer: runs `first` until its
/// batch fills the queue of the held pipeline, then runs `refused` (whose
/// requests all find the queue full), then releases the writer so `first`
/// can finish. Returns both results.
pub(crate) async fn with_queue_full<A, B>(
    pipeline: &Pipeline,
    hold: WriterHold,
    first: impl Future<Output = A>,
    refused: impl Future<Output = B>,
) -> (A, B) {
    let rest = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while pipeline.queue_depth() < pipeline.queue_capacity() {
            assert!(
                std::time::Instant::now() < deadline,
                "the first request never reached the queue"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let answers = refused.await;
        hold.release();
        answers
    };
    tokio::join!(first, rest)
}

/// Overfills an HTTP receiver whose pipeline (queue of one) is held:
/// `request(1)` is queued, answered `accepted` once the writer runs, and its
/// 50 spans are stored; `request(2..=64)` all find the queue full and are
/// answered 429 with `Retry-After: retry_after`, and none of them is stored.
/// Returns the refused replies for checks of the protocol's own body.
pub(crate) async fn overload_http(
    (store, pipeline, hold): (TestStore, Pipeline, WriterHold),
    router: &Router,
    request: impl Fn(u64) -> http::Request<Body>,
    accepted: StatusCode,
    retry_after: &str,
) -> Vec<HttpReply> {
    let refused = futures::future::join_all((2..=64).map(|trace| send(router, request(trace))));
    let (first, refused) =
        with_queue_full(&pipeline, hold, send(router, request(1)), refused).await;
    assert_eq!(first.status, accepted, "{}", first.text());
    assert_eq!(store.span_count(1), 50, "acknowledged trace is missing");
    for reply in &refused {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.text()
        );
        assert_eq!(reply.header("retry-after"), retry_after);
    }
    for trace in 2..=64u128 {
        assert_eq!(store.span_count(trace), 0, "refused trace {trace} stored");
    }
    refused
}

/// A valid span of `trace` with id `span`.
pub(crate) fn span(trace: u128, span: u64, name: &str) -> Span {
    Span {
        trace_id: TraceId(trace).to_bytes().to_vec().into(),
        span_id: SpanId(span).to_bytes().to_vec().into(),
        name: name.to_string(),
        kind: model::SpanKind::Server as i32,
        start_time_unix_nano: 1_717_000_000_000_000_000,
        end_time_unix_nano: 1_717_000_000_005_000_000,
        ..Span::default()
    }
}

/// One resource (service `service`) holding `spans`.
pub(crate) fn traces(service: &str, spans: Vec<Span>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(model::Resource {
                attributes: vec![model::string_kv(model::SERVICE_NAME, service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// Counter values by metric name and sorted labels.
#[derive(Debug, Default)]
pub(crate) struct Counters(BTreeMap<(String, Vec<(String, String)>), u64>);

impl Counters {
    /// The counter `name` with exactly `labels` (0 when never incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.0
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0)
    }

    /// The sum of counter `name` over all series with `receiver`.
    pub fn sum(&self, name: &str, receiver: Receiver) -> u64 {
        self.0
            .iter()
            .filter(|((metric, labels), _)| {
                metric == name
                    && labels
                        .iter()
                        .any(|(k, v)| k == LABEL_RECEIVER && v == receiver.label())
            })
            .map(|(_, value)| value)
            .sum()
    }

    pub fn requests(&self, receiver: Receiver, outcome: &str) -> u64 {
        self.get(
            RECEIVER_REQUESTS_TOTAL,
            &[(LABEL_RECEIVER, receiver.label()), (LABEL_OUTCOME, outcome)],
        )
    }

    pub fn rejected(&self, receiver: Receiver, reason: &str) -> u64 {
        self.get(
            RECEIVER_SPANS_REJECTED_TOTAL,
            &[(LABEL_RECEIVER, receiver.label()), (LABEL_REASON, reason)],
        )
    }

    pub fn accepted(&self, receiver: Receiver) -> u64 {
        self.get(
            RECEIVER_SPANS_ACCEPTED_TOTAL,
            &[(LABEL_RECEIVER, receiver.label())],
        )
    }

    pub fn received(&self, receiver: Receiver) -> u64 {
        self.get(
            RECEIVER_SPANS_RECEIVED_TOTAL,
            &[(LABEL_RECEIVER, receiver.label())],
        )
    }
}

/// Runs `scenario` on a current-thread runtime with its own metrics recorder,
/// then asserts the receiver compliance invariant for `receiver`: every
/// received span was accepted or rejected with a reason. Returns the
/// scenario's result and the counters.
///
/// Receiver metrics are recorded on the async tasks, which all run on this
/// thread, so concurrent tests do not see each other's counts.
pub(crate) fn run_counted<T, Fut>(
    receiver: Receiver,
    scenario: impl FnOnce() -> Fut,
) -> (T, Counters)
where
    Fut: Future<Output = T>,
{
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime");
    let output = metrics::with_local_recorder(&recorder, || runtime.block_on(scenario()));
    drop(runtime);

    let mut counters = Counters::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(count) = value {
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|label| (label.key().to_string(), label.value().to_string()))
                .collect();
            labels.sort();
            counters
                .0
                .insert((key.key().name().to_string(), labels), count);
        }
    }
    let received = counters.received(receiver);
    let accounted =
        counters.accepted(receiver) + counters.sum(RECEIVER_SPANS_REJECTED_TOTAL, receiver);
    assert_eq!(
        received, accounted,
        "{} spans received but {accounted} accepted or rejected: {counters:?}",
        received
    );
    (output, counters)
}

/// An HTTP answer, read whole.
pub(crate) struct HttpReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` to `router` in-process.
pub(crate) async fn send(router: &Router, request: http::Request<Body>) -> HttpReply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("routers are infallible");
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .expect("reading the response body")
        .to_bytes();
    HttpReply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A POST to `path` with `headers`.
pub(crate) fn post(
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> http::Request<Body> {
    let mut request = http::Request::post(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body.into()).expect("a valid test request")
}

/// `data` gzip-compressed.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("compressing in memory");
    encoder.finish().expect("compressing in memory")
}

/// A gzip body of `inflated` zero bytes (compresses about 1000:1).
pub(crate) fn gzip_bomb(inflated: usize) -> Vec<u8> {
    gzip(&vec![0u8; inflated])
}
