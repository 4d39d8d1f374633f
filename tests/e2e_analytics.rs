//! End-to-end: RED metrics and the dependency graph from known traffic,
//! through every API, before and after a restart.
//!
//! In: OTLP and Zipkin batches sent to the real binary — errors, a late
//! server span, a duplicate batch, Zipkin shared spans, a call to an
//! uninstrumented database, and a messaging hop over a span link. Out:
//! assertions on `/api/dependencies`, Zipkin `/api/v2/dependencies`,
//! `/api/metrics/{calls,errors,latencies}` and the admin `/metrics`
//! (Prometheus text and OpenMetrics).

mod support;

use serde_json::{json, Value as Json};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    string_kv, Link, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData,
};
use support::{eventually, now_ns, random_trace, send_otlp, Spoor};

const MS: u64 = 1_000_000;

struct SpanSpec<'a> {
    trace: TraceId,
    id: u64,
    parent: u64,
    kind: i32,
    name: &'a str,
    duration_ms: u64,
    error: bool,
    attributes: Vec<(&'a str, &'a str)>,
    link: Option<(TraceId, u64)>,
}

fn spec<'a>(trace: TraceId, id: u64, parent: u64, kind: i32, name: &'a str) -> SpanSpec<'a> {
    SpanSpec {
        trace,
        id,
        parent,
        kind,
        name,
        duration_ms: 10,
        error: false,
        attributes: Vec::new(),
        link: None,
    }
}

/// Width of the analytics' buckets (the `analytics.bucket` default).
const BUCKET_MS: u64 = 60_000;

/// When every span of the test starts (ms): the middle of the newest bucket
/// whose middle is at least a second in the past, so all spans share one
/// bucket wherever the wall clock sits in the minute, and the metric
/// windows below are placed against that bucket, not against "now".
fn spans_ms() -> u64 {
    static ANCHOR: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let now = now_ms();
        let middle = now - now % BUCKET_MS + BUCKET_MS / 2;
        if middle + 1_000 > now {
            middle - BUCKET_MS
        } else {
            middle
        }
    })
}

fn batch(service: &str, specs: Vec<SpanSpec<'_>>) -> TracesData {
    let start = spans_ms() * MS;
    let spans = specs
        .into_iter()
        .map(|s| Span {
            trace_id: s.trace.to_bytes().to_vec().into(),
            span_id: s.id.to_be_bytes().to_vec().into(),
            parent_span_id: if s.parent == 0 {
                Vec::new().into()
            } else {
                s.parent.to_be_bytes().to_vec().into()
            },
            name: s.name.to_string(),
            kind: s.kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + s.duration_ms * MS,
            attributes: s
                .attributes
                .iter()
                .map(|(k, v)| string_kv(*k, *v))
                .collect(),
            status: s.error.then(|| Status {
                code: 2,
                message: "boom".into(),
            }),
            links: s
                .link
                .map(|(t, id)| Link {
                    trace_id: t.to_bytes().to_vec().into(),
                    span_id: id.to_be_bytes().to_vec().into(),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        })
        .collect();
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", service)],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

async fn send_traffic(client: &reqwest::Client, spoor: &Spoor) {
    let (t1, t2, t3, t4) = (
        random_trace(),
        random_trace(),
        random_trace(),
        random_trace(),
    );
    // T1: frontend calls orders (the server span arrives in a later batch);
    // orders queries an uninstrumented postgres and publishes a message.
    send_otlp(
        client,
        spoor,
        batch(
            "frontend",
            vec![
                spec(t1, 1, 0, SERVER, "GET /checkout"),
                spec(t1, 2, 1, CLIENT, "GET /orders"),
            ],
        ),
    )
    .await;
    let mut select = spec(t1, 4, 3, CLIENT, "SELECT");
    select.attributes = vec![("peer.service", "postgres"), ("db.system", "postgresql")];
    send_otlp(
        client,
        spoor,
        batch(
            "orders",
            vec![
                spec(t1, 3, 2, SERVER, "GET /orders"),
                select,
                spec(t1, 5, 3, PRODUCER, "publish"),
            ],
        ),
    )
    .await;
    // T2: the same call failing; the server span first, and sent twice.
    let mut failed_server = spec(t2, 3, 2, SERVER, "GET /orders");
    failed_server.error = true;
    failed_server.duration_ms = 30;
    let server_batch = batch("orders", vec![failed_server]);
    send_otlp(client, spoor, server_batch.clone()).await;
    send_otlp(client, spoor, server_batch).await;
    let mut failed_root = spec(t2, 1, 0, SERVER, "GET /checkout");
    failed_root.error = true;
    send_otlp(
        client,
        spoor,
        batch(
            "frontend",
            vec![failed_root, spec(t2, 2, 1, CLIENT, "GET /orders")],
        ),
    )
    .await;
    // T3: billing consumes the message of T1 (a link to the producer span).
    let mut consume = spec(t3, 1, 0, CONSUMER, "process");
    consume.link = Some((t1, 5));
    send_otlp(client, spoor, batch("billing", vec![consume])).await;
    // T4: a Zipkin client and server sharing one span id.
    let ts = spans_ms() * 1000;
    let zipkin = json!([
        {"traceId": t4.to_hex32(), "id": "00000000000000aa", "name": "get /stock", "kind": "CLIENT",
         "timestamp": ts, "duration": 8000, "localEndpoint": {"serviceName": "frontend"}},
        {"traceId": t4.to_hex32(), "id": "00000000000000aa", "name": "get /stock", "kind": "SERVER", "shared": true,
         "timestamp": ts + 500, "duration": 6000, "localEndpoint": {"serviceName": "stock"}}
    ]);
    let resp = client
        .post(format!("{}/api/v2/spans", spoor.zipkin_url()))
        .json(&zipkin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
}

fn now_ms() -> u64 {
    now_ns() / MS
}

async fn get_json(client: &reqwest::Client, url: String) -> Json {
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

fn expected_jaeger_links() -> Json {
    json!([
        {"parent": "frontend", "child": "orders", "callCount": 2},
        {"parent": "frontend", "child": "stock", "callCount": 1},
        {"parent": "orders", "child": "billing", "callCount": 1},
        {"parent": "orders", "child": "postgres", "callCount": 1},
    ])
}

/// Every read API shows exactly the traffic.
async fn check_apis(client: &reqwest::Client, spoor: &Spoor) {
    let end = now_ms() + 1000;
    let deps = get_json(
        client,
        format!(
            "{}/api/dependencies?endTs={end}&lookback=3600000",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(deps["data"], expected_jaeger_links());
    assert_eq!(deps["errors"], Json::Null);
    let only_stock = get_json(
        client,
        format!(
            "{}/api/dependencies?endTs={end}&lookback=3600000&service=stock",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(
        only_stock["data"],
        json!([{"parent": "frontend", "child": "stock", "callCount": 1}])
    );
    let zipkin = get_json(
        client,
        format!(
            "{}/api/v2/dependencies?endTs={end}&lookback=3600000",
            spoor.zipkin_url()
        ),
    )
    .await;
    assert_eq!(
        zipkin,
        json!([
            {"parent": "frontend", "child": "orders", "callCount": 2, "errorCount": 1},
            {"parent": "frontend", "child": "stock", "callCount": 1},
            {"parent": "orders", "child": "billing", "callCount": 1},
            {"parent": "orders", "child": "postgres", "callCount": 1},
        ])
    );
    // Two points: one a second after the spans (it covers their bucket) and
    // one a bucket earlier (it covers nothing that was sent).
    let window_end = spans_ms() + 1_000;
    let window = format!("endTs={window_end}&lookback=60000&step=60000&ratePer=600000");
    let calls = get_json(
        client,
        format!(
            "{}/api/metrics/calls?service=orders&{window}",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(calls["name"], "service_call_rate");
    assert_eq!(calls["type"], "GAUGE");
    assert_eq!(calls["help"], "calls/sec, grouped by service");
    assert_eq!(
        calls["metrics"][0]["labels"],
        json!([{"name": "service_name", "value": "orders"}])
    );
    let points = calls["metrics"][0]["metricPoints"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    // Two server calls (the duplicate counted once) over the 600 s rate window.
    assert_eq!(points[1]["gaugeValue"]["doubleValue"], json!(2.0 / 600.0));
    let errors = get_json(
        client,
        format!(
            "{}/api/metrics/errors?service=orders&{window}",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(errors["name"], "service_error_rate");
    assert_eq!(
        errors["metrics"][0]["metricPoints"][1]["gaugeValue"]["doubleValue"],
        json!(0.5)
    );
    let stock_errors = get_json(
        client,
        format!(
            "{}/api/metrics/errors?service=stock&{window}",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(
        stock_errors["metrics"][0]["metricPoints"][1]["gaugeValue"]["doubleValue"],
        json!(0.0)
    );
    let p50 = get_json(
        client,
        format!(
            "{}/api/metrics/latencies?service=frontend&quantile=0.5&{window}&groupByOperation=true",
            spoor.query_url()
        ),
    )
    .await;
    assert_eq!(p50["name"], "service_operation_latencies");
    assert_eq!(
        p50["help"],
        "0.50th quantile latency, grouped by service & operation"
    );
    assert_eq!(
        p50["metrics"][0]["labels"],
        json!([{"name": "service_name", "value": "frontend"}, {"name": "operation", "value": "GET /checkout"}])
    );
    let value = p50["metrics"][0]["metricPoints"][1]["gaugeValue"]["doubleValue"]
        .as_f64()
        .unwrap();
    assert!((9.0..=11.0).contains(&value), "p50 {value} ms, sent 10 ms");
    let p100 = get_json(
        client,
        format!(
            "{}/api/metrics/latencies?service=orders&quantile=1&{window}",
            spoor.query_url()
        ),
    )
    .await;
    let value = p100["metrics"][0]["metricPoints"][1]["gaugeValue"]["doubleValue"]
        .as_f64()
        .unwrap();
    assert!((27.0..=33.0).contains(&value), "max {value} ms, sent 30 ms");
    assert_eq!(
        p100["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
        json!("NaN")
    );
    let none = get_json(
        client,
        format!("{}/api/metrics/calls?service=nobody", spoor.query_url()),
    )
    .await;
    assert_eq!(none["metrics"], json!([]));
    let resp = client
        .get(format!(
            "{}/api/metrics/latencies?service=orders",
            spoor.query_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Json = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        body["errors"][0]["msg"],
        "please provide a quantile between (0, 1]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_metrics_and_dependencies_are_exact_through_every_api_and_survive_a_restart() {
    scenario("").await;
}

/// Analytics see every span before sampling: with 1% probabilistic sampling
/// at ingest and a tail policy keeping only errors, every answer is the same
/// as at 100%.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_changes_nothing_in_metrics_and_dependencies() {
    scenario(concat!(
        "sampling:\n",
        "  probabilistic:\n",
        "    sampling_percentage: 1\n",
        "  tail:\n",
        "    decision_wait: 1s\n",
        "    max_age: 2s\n",
        "    policies:\n",
        "      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n",
    ))
    .await;
}

/// Sends the traffic to a Spoor configured with `extra_config` (YAML) and
/// checks every API before and after a restart.
async fn scenario(extra_config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    let text =
        format!("analytics:\n  flush_interval: 1s\n  dependencies:\n    wait: 1s\n{extra_config}");
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let mut spoor = Spoor::start_with(&["--config", &config]);
    let client = reqwest::Client::new();
    send_traffic(&client, &spoor).await;

    // The call to postgres is known once the client span's wait is over.
    eventually(30, || {
        let client = client.clone();
        let url = format!("{}/api/dependencies?lookback=3600000", spoor.query_url());
        async move {
            let body: Json = client.get(url).send().await.ok()?.json().await.ok()?;
            (body["data"].as_array()?.len() == 4).then_some(())
        }
    })
    .await;
    check_apis(&client, &spoor).await;

    let text = client
        .get(format!("{}/metrics", spoor.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "traces_span_metrics_calls_total{service_name=\"orders\",span_name=\"GET /orders\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\"} 1\n",
        "traces_span_metrics_calls_total{service_name=\"orders\",span_name=\"GET /orders\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 1\n",
        "traces_span_metrics_duration_milliseconds_count{service_name=\"frontend\",span_name=\"GET /checkout\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\"} 1\n",
        "traces_service_graph_request_total{client=\"frontend\",server=\"orders\",connection_type=\"\"} 2\n",
        "traces_service_graph_request_failed_total{client=\"frontend\",server=\"orders\",connection_type=\"\"} 1\n",
        "traces_service_graph_request_total{client=\"orders\",server=\"postgres\",connection_type=\"database\"} 1\n",
        "traces_service_graph_request_total{client=\"orders\",server=\"billing\",connection_type=\"messaging_system\"} 1\n",
        "traces_service_graph_request_total{client=\"frontend\",server=\"stock\",connection_type=\"\"} 1\n",
        "spoor_analytics_spans_total{outcome=\"duplicate\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let resp = client
        .get(format!("{}/metrics", spoor.admin_url()))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let open = resp.text().await.unwrap();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(open.contains("# TYPE traces_span_metrics_calls counter\n"));
    assert!(open.contains("# TYPE traces_service_graph_request counter\n"));

    spoor.terminate();
    spoor.restart();
    check_apis(&client, &spoor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_analytics_the_metrics_api_answers_501() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(&config, "analytics:\n  enabled: false\n").unwrap();
    let spoor = Spoor::start_with(&["--config", &config.display().to_string()]);
    let resp = reqwest::get(format!("{}/api/metrics/calls?service=a", spoor.query_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let body: Json = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        body["errors"][0]["msg"],
        "trace metrics are currently disabled - no metrics backend configured"
    );
}
