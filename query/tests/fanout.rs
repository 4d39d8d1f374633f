//! The query node's fan-out end to end: three real stores in temp dirs,
//! each served by `internal_router` on its own loopback listener, a Jaeger
//! HTTP router over a `FanOut` of them on another, and real HTTP requests.
//!
//! In: traces written into the stores (one different per store, one split
//! across two stores with a span stored on both, as a log replay would),
//! dependency aggregates, and partition reports. Out: assertions that the
//! query node answers as one store would (whole traces without duplicates,
//! merged and limited searches, unioned services, summed dependencies), and
//! that a stopped or lagging store makes answers partial: data plus a note
//! in the envelope's `errors` and `X-Spoor-Partial: true`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient;
use spoor_proto::jaeger::api_v2::GetServicesRequest;
use spoor_proto::model::{self, string_kv};
use spoor_query::metrics_api::metrics_router;
use spoor_query::{
    internal_router, jaeger_http_router, query_grpc_routes, zipkin_read_router,
    ClusterQuerySettings, FanOut, PartitionLag, PartitionReport, QueryHttpSettings,
    ZipkinReadSettings,
};
use spoor_storage::aggregates::SeriesKey;
use spoor_storage::routing::log_partition;
use spoor_storage::{prepare_batch, AggregateDelta, StorageConfig, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const MS: u64 = 1_000_000;
const PARTITIONS: u32 = 4;
/// End of the RED metrics window the test asks for, ms.
const SPM_END: u64 = 1_718_000_040_000;

/// A trace id in the given log partition (so that each test trace has a
/// partition of its own and routing by partition is exercised).
fn id_in(partition: u32) -> u128 {
    (0x5000_0000_0000_0000_0000_0000_0000_0001u128..)
        .find(|&id| log_partition(TraceId(id), PARTITIONS) == partition)
        .unwrap()
}

fn span(trace: u128, id: u64, name: &str, start_ns: u64) -> model::Span {
    model::Span {
        trace_id: TraceId(trace).to_bytes().to_vec().into(),
        span_id: id.to_be_bytes().to_vec().into(),
        parent_span_id: if id == 1 {
            Default::default()
        } else {
            1u64.to_be_bytes().to_vec().into()
        },
        name: name.into(),
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + 5 * MS,
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<model::Span>) -> model::TracesData {
    model::TracesData {
        resource_spans: vec![model::ResourceSpans {
            resource: Some(model::Resource {
                attributes: vec![string_kv("service.name", service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![model::ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One store node: its store, its internal API server and its report.
struct Node {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    url: String,
    lag: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Node {
    async fn start(name: &str, traces: &[u128]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StorageConfig {
            data_dir: dir.path().join("data"),
            ..Default::default()
        })
        .unwrap();
        let mut held: Vec<u32> = traces
            .iter()
            .map(|t| log_partition(TraceId(*t), PARTITIONS))
            .collect();
        held.sort_unstable();
        held.dedup();
        let lag = Arc::new(AtomicU64::new(0));
        let report_lag = lag.clone();
        let node = name.to_string();
        let report = Arc::new(move || {
            let behind = report_lag.load(Ordering::SeqCst);
            PartitionReport {
                node: node.clone(),
                partition_count: PARTITIONS,
                assigned: held.clone(),
                held: held.clone(),
                lagging: held
                    .iter()
                    .filter(|_| behind > 0)
                    .map(|&partition| PartitionLag {
                        partition,
                        records_behind: behind,
                    })
                    .collect(),
            }
        });
        let router = internal_router(store.clone(), report);
        let (url, stop, server) = serve(router).await;
        Node {
            _dir: dir,
            store,
            url,
            lag,
            stop: Some(stop),
            server: Some(server),
        }
    }

    fn write(&self, data: model::TracesData) {
        self.store.write_batches(&[prepare_batch(data)]).unwrap();
    }

    fn edge(&self, parent: &str, child: &str, calls: u64, now_ms: u64) {
        let mut delta = AggregateDelta::default();
        let edge = delta
            .bucket_at(now_ms - 60_000, 10_000)
            .edges
            .entry((parent.into(), child.into()))
            .or_default();
        edge.calls = calls;
        edge.errors = 1;
        self.store.record_aggregates(delta);
    }

    /// Records `calls` server spans of `frontend` in the minute before `end_ms`.
    fn series(&self, calls: u64, end_ms: u64) {
        let mut delta = AggregateDelta::default();
        let key = SeriesKey {
            service: "frontend".into(),
            operation: "GET /".into(),
            kind: model::SpanKind::Server as i32,
            status: 0,
        };
        let stats = delta
            .bucket_at(end_ms - 30_000, 60_000)
            .series
            .entry(key)
            .or_default();
        for _ in 0..calls {
            stats.record(10_000, false);
        }
        self.store.record_aggregates(delta);
    }

    /// Stops serving (open connections are closed) and waits until done.
    async fn stop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap();
    }
}

/// Serves a router on a fresh loopback port until told to stop.
async fn serve(router: axum::Router) -> (String, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, stop, server)
}

struct Answer {
    status: u16,
    partial: Option<String>,
    body: Json,
}

async fn get(http: &reqwest::Client, url: String) -> Answer {
    let response = http.get(&url).send().await.unwrap();
    let status = response.status().as_u16();
    let partial = response
        .headers()
        .get("x-spoor-partial")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    Answer {
        status,
        partial,
        body,
    }
}

fn span_ids(trace: &Json) -> Vec<String> {
    let mut ids: Vec<String> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spanID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn error_messages(body: &Json) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["msg"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_node_answers_over_the_stores_and_says_when_an_answer_is_partial() {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let t0 = (now_ms - 60_000) * MS;
    let [t_split, t_a, t_b, t_c] = [0, 1, 2, 3].map(id_in);
    let a = Node::start("store-a", &[t_split, t_a]).await;
    let b = Node::start("store-b", &[t_split, t_b]).await;
    let mut c = Node::start("store-c", &[t_c]).await;

    // The split trace: spans 1 and 2 on A; span 2 again (a replay) and 3 on B.
    a.write(batch(
        "frontend",
        vec![
            span(t_split, 1, "GET /split", t0),
            span(t_split, 2, "db", t0 + MS),
        ],
    ));
    b.write(batch(
        "frontend",
        vec![
            span(t_split, 2, "db", t0 + MS),
            span(t_split, 3, "cache", t0 + 2 * MS),
        ],
    ));
    // One trace per store, newest on C.
    a.write(batch(
        "frontend",
        vec![span(t_a, 1, "GET /a", t0 + 10 * MS)],
    ));
    b.write(batch(
        "frontend",
        vec![span(t_b, 1, "GET /b", t0 + 20 * MS)],
    ));
    c.write(batch(
        "frontend",
        vec![span(t_c, 1, "GET /c", t0 + 30 * MS)],
    ));
    c.write(batch("db", vec![span(t_c, 2, "SELECT", t0 + 31 * MS)]));
    a.edge("frontend", "backend", 2, now_ms);
    b.edge("frontend", "backend", 3, now_ms);
    c.edge("frontend", "db", 4, now_ms);
    a.series(3, SPM_END);
    b.series(2, SPM_END);

    let settings = ClusterQuerySettings {
        stores: vec![a.url.clone(), b.url.clone(), c.url.clone()],
        timeout: Duration::from_secs(5),
        report_ttl: Duration::ZERO,
        ..Default::default()
    };
    settings.validate().unwrap();
    let fanout = Arc::new(FanOut::new(settings).unwrap());
    let (query, _stop_query, _query_server) = serve(jaeger_http_router(
        fanout.clone(),
        QueryHttpSettings::default(),
    ))
    .await;
    let (zipkin, _stop_zipkin, _zipkin_server) = serve(zipkin_read_router(
        fanout.clone(),
        ZipkinReadSettings::default(),
    ))
    .await;
    let (metrics, _stop_metrics, _metrics_server) = serve(metrics_router(fanout, "/", true)).await;
    let http = reqwest::Client::new();

    // Trace by id: whole, each span once (raw: the adjusters, which also
    // drop repeated spans, stay out of it).
    let split = TraceId(t_split).to_jaeger_hex();
    let answer = get(&http, format!("{query}/api/traces/{split}?raw=true")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.partial, None);
    assert!(answer.body["errors"].is_null(), "{}", answer.body);
    assert_eq!(
        span_ids(&answer.body["data"][0]),
        ["0000000000000001", "0000000000000002", "0000000000000003"]
    );

    // Search: merged from all stores, newest first, limited.
    let answer = get(
        &http,
        format!("{query}/api/traces?service=frontend&limit=2"),
    )
    .await;
    let ids: Vec<&str> = answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [TraceId(t_c).to_jaeger_hex(), TraceId(t_b).to_jaeger_hex()]
    );
    let answer = get(
        &http,
        format!("{query}/api/traces?service=frontend&limit=10"),
    )
    .await;
    let traces = answer.body["data"].as_array().unwrap();
    assert_eq!(traces.len(), 4, "{}", answer.body);
    let split_hit = traces
        .iter()
        .find(|t| t["traceID"] == split.as_str())
        .unwrap();
    assert_eq!(span_ids(split_hit).len(), 3);

    // A hit whose other fragment does not match is completed by id.
    let answer = get(
        &http,
        format!("{query}/api/traces?service=frontend&operation=cache&limit=10"),
    )
    .await;
    let traces = answer.body["data"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{}", answer.body);
    assert_eq!(span_ids(&traces[0]).len(), 3);

    // Catalogue and dependencies.
    let answer = get(&http, format!("{query}/api/services")).await;
    assert_eq!(answer.body["data"], serde_json::json!(["db", "frontend"]));
    let answer = get(
        &http,
        format!("{query}/api/dependencies?endTs={now_ms}&lookback=3600000&errors=true"),
    )
    .await;
    let links = answer.body["data"].as_array().unwrap();
    let backend = links.iter().find(|l| l["child"] == "backend").unwrap();
    assert_eq!(backend["callCount"], 5, "{}", answer.body);
    assert_eq!(backend["errorCount"], 2, "{}", answer.body);
    let db = links.iter().find(|l| l["child"] == "db").unwrap();
    assert_eq!(db["callCount"], 4);

    // RED metrics: the series of every store summed.
    let answer = get(
        &http,
        format!("{metrics}/api/metrics/calls?service=frontend&endTs={SPM_END}&lookback=120000&step=120000&ratePer=600000"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let points = answer.body["metrics"][0]["metricPoints"]
        .as_array()
        .unwrap();
    assert_eq!(
        points[1]["gaugeValue"]["doubleValue"],
        5.0 / 600.0,
        "{}",
        answer.body
    );

    // A lagging store makes answers partial and says on which partition.
    b.lag.store(5_000, Ordering::SeqCst);
    let answer = get(&http, format!("{query}/api/services")).await;
    assert_eq!(answer.partial.as_deref(), Some("true"));
    let notes = error_messages(&answer.body);
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&b.url) && n.contains("5000 records behind")),
        "{notes:?}"
    );
    b.lag.store(0, Ordering::SeqCst);

    // C stops: answers carry what A and B gave, and say C is missing.
    c.stop().await;
    let answer = get(
        &http,
        format!("{query}/api/traces?service=frontend&limit=10"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.partial.as_deref(), Some("true"));
    assert_eq!(answer.body["data"].as_array().unwrap().len(), 3);
    let notes = error_messages(&answer.body);
    let c_partition = log_partition(TraceId(t_c), PARTITIONS);
    assert!(
        notes.iter().any(|n| n.contains(&c.url)
            && n.contains("did not answer")
            && n.contains(&format!("partitions {c_partition} may be incomplete"))),
        "{notes:?}"
    );
    assert!(answer.body["errors"][0]["code"].is_number());

    let answer = get(&http, format!("{query}/api/services")).await;
    assert_eq!(answer.partial.as_deref(), Some("true"));
    assert_eq!(answer.body["data"], serde_json::json!(["frontend"]));
    assert!(!error_messages(&answer.body).is_empty());
    // The Zipkin API over the same fan-out marks its answer too.
    let answer = get(&http, format!("{zipkin}/api/v2/services")).await;
    assert_eq!(answer.partial.as_deref(), Some("true"));
    assert_eq!(answer.body, serde_json::json!(["frontend"]));

    // A trace on the healthy stores is still whole and not partial.
    let answer = get(&http, format!("{query}/api/traces/{split}")).await;
    assert_eq!(answer.partial, None);
    assert_eq!(span_ids(&answer.body["data"][0]).len(), 3);
}

/// A store that accepts connections but never answers: the fan-out gives
/// up after its timeout and answers with the others, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_times_out_into_a_partial_answer() {
    let a = Node::start("store-a", &[id_in(0)]).await;
    a.write(batch("frontend", vec![span(id_in(0), 1, "GET /", 1_000)]));
    // Bound but never accepted: connections queue in the backlog, requests
    // are never read.
    let stuck = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}", stuck.local_addr().unwrap());
    let settings = ClusterQuerySettings {
        stores: vec![a.url.clone(), stuck_url.clone()],
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let fanout = Arc::new(FanOut::new(settings).unwrap());
    let (query, _stop, _server) = serve(jaeger_http_router(
        fanout.clone(),
        QueryHttpSettings::default(),
    ))
    .await;
    let grpc_routes = query_grpc_routes(fanout, QueryHttpSettings::default())
        .await
        .unwrap();
    let (grpc, _stop_grpc, _grpc_server) = serve(grpc_routes.into_axum_router()).await;
    let answer = get(&reqwest::Client::new(), format!("{query}/api/services")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.partial.as_deref(), Some("true"));
    assert_eq!(answer.body["data"], serde_json::json!(["frontend"]));
    let notes = error_messages(&answer.body);
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&stuck_url) && n.contains("timed out")),
        "{notes:?}"
    );
    // The gRPC query service says so in the response metadata.
    let mut client = QueryServiceClient::connect(grpc).await.unwrap();
    let response = client.get_services(GetServicesRequest {}).await.unwrap();
    assert_eq!(response.metadata().get("x-spoor-partial").unwrap(), "true");
    assert_eq!(response.into_inner().services, ["frontend"]);
    drop(stuck);
}
