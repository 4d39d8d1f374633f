//! End to end: Spoor split over Kafka (a real tansu broker on loopback), one
//! collector, three store processes and a query node, through a store's
//! crash (kill -9) mid-wave and restart, a fourth store joining, and a store
//! paused (SIGSTOP).
//!
//! In: traces sent over OTLP/HTTP to the collector, each answered only once
//! the broker acknowledged it. Out: every acknowledged trace is whole on
//! the stores (each on the store that owns its partition) and returns whole,
//! exactly once, by id through the query node; the stores' partitions cover
//! the topic without overlap; a paused store makes answers partial and says
//! so; RED counts summed over the stores equal the spans sent; tail sampling
//! on the stores keeps what all-in-one keeps from the same requests.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    string_kv, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData,
};
use support::tansu::Tansu;
use support::{eventually, metrics_text, now_ns, random_trace, send_otlp, Spoor};

const PARTITIONS: u32 = 6;
const SPANS_PER_TRACE: usize = 4;
const SERVICE: &str = "split-frontend";
const BACKEND: &str = "split-backend";

/// The configuration every process of the deployment reads.
fn config_file(dir: &std::path::Path, broker: &Tansu, name: &str) -> String {
    let path = dir.join("spoor.yaml");
    let text = format!(
        "kafka:\n  brokers: \"{}\"\n  topic: spans-{name}\n  partitions: {PARTITIONS}\n  group_id: stores-{name}\n  consumer:\n    session_timeout: 4s\n    batch_wait: 10ms\n    commit_interval: 200ms\nlog_level: warn\n",
        broker.brokers()
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn start(config: &str, node: &str, role: &str) -> Spoor {
    Spoor::start_with(&["--config", config, "--node-name", node, role])
}

/// A trace of `SPANS_PER_TRACE` spans: a server root of `SERVICE` with
/// two internal children, and a server span of `BACKEND` it called (one
/// dependency edge); the first child failed when `failed`.
fn trace(id: TraceId, failed: bool) -> TracesData {
    let start = now_ns() - 2_000_000_000;
    let span = |i: u64| Span {
        trace_id: id.to_bytes().to_vec().into(),
        span_id: (0x100 + i).to_be_bytes().to_vec().into(),
        parent_span_id: if i == 0 {
            Vec::new().into()
        } else {
            0x100u64.to_be_bytes().to_vec().into()
        },
        name: if i == 0 {
            "GET /cart".into()
        } else {
            format!("step-{i}")
        },
        kind: if i == 0 || i == 3 { 2 } else { 1 },
        start_time_unix_nano: start + i * 1_000_000,
        end_time_unix_nano: start + i * 1_000_000 + 500_000,
        status: (failed && i == 1).then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Span::default()
    };
    let resource = |service: &str, spans: Vec<Span>| ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string_kv("service.name", service)],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    };
    TracesData {
        resource_spans: vec![
            resource(SERVICE, vec![span(0), span(1), span(2)]),
            resource(BACKEND, vec![span(3)]),
        ],
    }
}

/// Calls from `SERVICE` to `BACKEND` summed over `nodes`' dependency API.
async fn edge_calls(client: &reqwest::Client, nodes: &[&Spoor]) -> u64 {
    let mut total = 0;
    for node in nodes {
        let url = format!(
            "{}/api/dependencies?endTs={}&lookback=3600000",
            node.query_url(),
            now_ns() / 1_000_000 + 60_000
        );
        let body: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
        total += body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["parent"] == SERVICE && l["child"] == BACKEND)
            .map(|l| l["callCount"].as_u64().unwrap_or(0))
            .sum::<u64>();
    }
    total
}

/// Sends `count` traces in requests of five; returns their ids.
async fn send_wave(client: &reqwest::Client, collector: &Spoor, count: usize) -> Vec<TraceId> {
    let mut ids = Vec::new();
    for chunk in 0..count.div_ceil(5) {
        let mut batch = TracesData::default();
        for i in 0..5.min(count - chunk * 5) {
            let id = random_trace();
            ids.push(id);
            batch
                .resource_spans
                .extend(trace(id, (chunk + i) % 10 == 0).resource_spans);
        }
        send_otlp(client, collector, batch).await;
    }
    ids
}

/// Trace id → span count on one store, from a search of its own API.
async fn spans_by_trace(client: &reqwest::Client, store: &Spoor) -> HashMap<String, usize> {
    let url = format!(
        "{}/api/traces?service={SERVICE}&limit=100000&lookback=1h",
        store.query_url()
    );
    let Ok(resp) = client.get(url).send().await else {
        return HashMap::new();
    };
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    body["data"]
        .as_array()
        .map(|traces| {
            traces
                .iter()
                .map(|t| {
                    let spans = t["spans"].as_array().unwrap();
                    let unique: BTreeSet<&str> = spans
                        .iter()
                        .map(|s| s["spanID"].as_str().unwrap())
                        .collect();
                    // A span stored twice on one store would be a replay
                    // the store failed to recognise.
                    assert_eq!(unique.len(), spans.len(), "a span twice on one store");
                    (t["traceID"].as_str().unwrap().to_string(), unique.len())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until every trace of `ids` is whole on some store of `stores`.
async fn every_trace_whole(client: &reqwest::Client, stores: &[&Spoor], ids: &[TraceId]) {
    eventually(90, || async {
        let mut best: HashMap<String, usize> = HashMap::new();
        for store in stores {
            for (id, spans) in spans_by_trace(client, store).await {
                let entry = best.entry(id).or_default();
                *entry = (*entry).max(spans);
            }
        }
        let missing = ids
            .iter()
            .filter(|id| best.get(&id.to_hex32()).copied() != Some(SPANS_PER_TRACE))
            .count();
        (missing == 0).then_some(())
    })
    .await;
}

/// The partitions each store reports as its own now.
async fn assignments(client: &reqwest::Client, stores: &[&Spoor]) -> Vec<Vec<u32>> {
    let mut all = Vec::new();
    for store in stores {
        let url = format!("{}/internal/v1/partitions", store.query_url());
        let report: serde_json::Value = match client.get(url).send().await {
            Ok(resp) => resp.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let assigned = report["assigned"]
            .as_array()
            .map(|a| a.iter().map(|p| p.as_u64().unwrap() as u32).collect())
            .unwrap_or_default();
        all.push(assigned);
    }
    all
}

/// Waits until the stores own every partition exactly once, each store at
/// least one.
async fn balanced(client: &reqwest::Client, stores: &[&Spoor]) -> Vec<Vec<u32>> {
    eventually(60, || async {
        let all = assignments(client, stores).await;
        let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
        for p in all.iter().flatten() {
            *seen.entry(*p).or_default() += 1;
        }
        let covered = seen.len() == PARTITIONS as usize && seen.values().all(|n| *n == 1);
        (covered && all.iter().all(|a| !a.is_empty())).then_some(all)
    })
    .await
}

/// Server-span calls of `SERVICE` summed over the stores' span metrics
/// (`traces_span_metrics_calls_total` on each admin port).
async fn red_calls(client: &reqwest::Client, stores: &[&Spoor]) -> f64 {
    let mut total = 0.0;
    for store in stores {
        total += metrics_text(client, store)
            .await
            .lines()
            .filter(|l| l.starts_with("traces_span_metrics_calls_total{"))
            .filter(|l| l.contains(&format!("service_name=\"{SERVICE}\"")))
            .filter(|l| l.contains("span_kind=\"SPAN_KIND_SERVER\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_keep_every_acknowledged_trace_through_a_crash_and_a_join() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &broker, &format!("e2e{}", std::process::id()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut store1 = start(&config, "store-1", "store");
    let store2 = start(&config, "store-2", "store");
    let store3 = start(&config, "store-3", "store");
    let collector = start(&config, "collector-1", "collector");
    balanced(&client, &[&store1, &store2, &store3]).await;

    // Wave 1: every acknowledged trace whole, each on one store.
    let first = send_wave(&client, &collector, 120).await;
    every_trace_whole(&client, &[&store1, &store2, &store3], &first).await;
    let mut owners: HashMap<String, usize> = HashMap::new();
    for store in [&store1, &store2, &store3] {
        for (id, _) in spans_by_trace(&client, store).await {
            *owners.entry(id).or_default() += 1;
        }
    }
    assert!(
        first
            .iter()
            .all(|id| owners.get(&id.to_hex32()) == Some(&1)),
        "a trace is on more than one store before any failure"
    );
    // RED: the analytics on the stores counted every server span once.
    let calls = eventually(30, || async {
        let calls = red_calls(&client, &[&store1, &store2, &store3]).await;
        (calls >= first.len() as f64).then_some(calls)
    })
    .await;
    assert_eq!(
        calls,
        first.len() as f64,
        "server calls summed over the stores"
    );

    // A store dies in the middle of a wave, with records it consumed but
    // had not committed; the others take its partitions over, read them
    // again from the last commit, and keep ingesting.
    let mut second = send_wave(&client, &collector, 30).await;
    store1.kill9();
    second.extend(send_wave(&client, &collector, 30).await);
    balanced(&client, &[&store2, &store3]).await;
    every_trace_whole(&client, &[&store2, &store3], &second).await;

    // It comes back on its data, and a fourth store joins.
    store1.restart();
    let store4 = start(&config, "store-4", "store");
    let stores = [&store1, &store2, &store3, &store4];
    balanced(&client, &stores).await;
    let third = send_wave(&client, &collector, 60).await;
    let all: Vec<TraceId> = first.iter().chain(&second).chain(&third).copied().collect();
    every_trace_whole(&client, &stores, &all).await;

    // A query node over the four: every acknowledged trace whole, once,
    // by id; a search finds each once.
    let query = query_node(&config, &stores);
    whole_through_query(&client, &query, &all).await;
    let found = spans_by_trace(&client, &query).await;
    assert!(all
        .iter()
        .all(|id| found.get(&id.to_hex32()) == Some(&SPANS_PER_TRACE)));

    // A paused store: the answer carries what the others hold and says
    // it is partial.
    let paused = store2.pid().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-STOP", &paused])
        .status()
        .unwrap()
        .success());
    let url = format!(
        "{}/api/traces?service={SERVICE}&limit=100000&lookback=1h",
        query.query_url()
    );
    let resp = client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-spoor-partial")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    let notes = body["errors"].as_array().expect("errors listed");
    assert!(
        notes.iter().any(|e| e["msg"]
            .as_str()
            .unwrap_or("")
            .contains(&store2.query_url().replace("http://", ""))),
        "the note names the paused store: {notes:?}"
    );
    assert!(
        !body["data"].as_array().unwrap().is_empty(),
        "the other stores still answer"
    );
    assert!(std::process::Command::new("kill")
        .args(["-CONT", &paused])
        .status()
        .unwrap()
        .success());
    whole_through_query(&client, &query, &all).await;
}

/// A query node over `stores`.
fn query_node(config: &str, stores: &[&Spoor]) -> Spoor {
    let urls: Vec<String> = stores.iter().map(|s| s.query_url()).collect();
    Spoor::start_with(&[
        "--config",
        config,
        "--cluster-stores",
        &urls.join(","),
        "query",
    ])
}

/// Every trace of `ids` returns whole, each span once, by id through the
/// query node.
async fn whole_through_query(client: &reqwest::Client, query: &Spoor, ids: &[TraceId]) {
    for id in ids {
        let url = format!(
            "{}/api/traces/{}?raw=true",
            query.query_url(),
            id.to_hex32()
        );
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "trace {} by id", id.to_hex32());
        assert!(resp.headers().get("x-spoor-partial").is_none());
        let body: serde_json::Value = resp.json().await.unwrap();
        let traces = body["data"].as_array().unwrap();
        assert_eq!(traces.len(), 1);
        let spans: Vec<&str> = traces[0]["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["spanID"].as_str().unwrap())
            .collect();
        let unique: BTreeSet<&&str> = spans.iter().collect();
        assert_eq!(
            spans.len(),
            SPANS_PER_TRACE,
            "trace {} not whole or a span twice",
            id.to_hex32()
        );
        assert_eq!(unique.len(), SPANS_PER_TRACE);
    }
}

/// Trace ids `store` finds for `SERVICE`.
async fn trace_ids(client: &reqwest::Client, stores: &[&Spoor]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for store in stores {
        ids.extend(spans_by_trace(client, store).await.into_keys());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_sampling_on_the_stores_keeps_what_all_in_one_keeps() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &broker, &format!("tail{}", std::process::id()));
    // Both deployments keep only traces with an error, decided 1 s after
    // their last span.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "sampling:\n  tail:\n    decision_wait: 1s\n    max_age: 30s\n    policies:\n      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n",
    );
    std::fs::write(&config, text).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let store1 = start(&config, "store-1", "store");
    let store2 = start(&config, "store-2", "store");
    let collector = start(&config, "collector-1", "collector");
    let single = Spoor::start_with(&["--config", &config]);
    balanced(&client, &[&store1, &store2]).await;

    // The same requests to both.
    let mut expected = BTreeSet::new();
    let mut all = BTreeSet::new();
    for chunk in 0..20 {
        let mut batch = TracesData::default();
        for i in 0..5 {
            let id = random_trace();
            let failed = (chunk * 5 + i) % 4 == 0;
            all.insert(id.to_hex32());
            if failed {
                expected.insert(id.to_hex32());
            }
            batch
                .resource_spans
                .extend(trace(id, failed).resource_spans);
        }
        send_otlp(&client, &collector, batch.clone()).await;
        send_otlp(&client, &single, batch).await;
    }
    assert_eq!(expected.len(), 25);

    // Once decided, each side holds exactly the traces the policy keeps.
    let (split, alone) = eventually(60, || async {
        let split = trace_ids(&client, &[&store1, &store2]).await;
        let alone = trace_ids(&client, &[&single]).await;
        let settled = |found: &BTreeSet<String>| found.intersection(&all).count() == expected.len();
        (settled(&split) && settled(&alone)).then_some((split, alone))
    })
    .await;
    let split: BTreeSet<String> = split.intersection(&all).cloned().collect();
    let alone: BTreeSet<String> = alone.intersection(&all).cloned().collect();
    assert_eq!(alone, expected, "all-in-one kept another set");
    assert_eq!(
        split, expected,
        "the stores kept another set than all-in-one"
    );
    // Analytics count every span before sampling, on both sides alike.
    let split_calls = red_calls(&client, &[&store1, &store2]).await;
    let alone_calls = red_calls(&client, &[&single]).await;
    assert_eq!(alone_calls, all.len() as f64);
    assert_eq!(split_calls, alone_calls);
    let (split_edges, alone_edges) = eventually(30, || async {
        let split = edge_calls(&client, &[&store1, &store2]).await;
        let alone = edge_calls(&client, &[&single]).await;
        (split >= all.len() as u64 && alone >= all.len() as u64).then_some((split, alone))
    })
    .await;
    assert_eq!(alone_edges, all.len() as u64);
    assert_eq!(
        split_edges, alone_edges,
        "dependency edges differ from all-in-one"
    );
}

/// Runs `spoor` with `args` until it exits; (success, stderr).
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(["--data-dir", &dir.path().join("data").display().to_string()])
        .args([
            "--admin-addr",
            "127.0.0.1:0",
            "--query-http-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--query-grpc-addr",
            "127.0.0.1:0",
            "--zipkin-addr",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("SPOOR_LOG_LEVEL", "error")
        .output()
        .expect("running spoor");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn split_roles_refuse_bad_settings_naming_them() {
    // A query node needs its store nodes, as plain http URLs.
    let (ok, stderr) = run_to_exit(&["query"]);
    assert!(!ok);
    assert!(
        stderr.contains("cluster.query.stores must list at least one store node URL"),
        "{stderr}"
    );
    let (ok, stderr) = run_to_exit(&["--cluster-stores", "https://store-1:16686", "query"]);
    assert!(!ok);
    assert!(
        stderr.contains("cluster.query.stores[0] must start with http://"),
        "{stderr}"
    );
    // Kafka settings are checked before anything starts.
    let (ok, stderr) = run_to_exit(&["--kafka-brokers", "no-port", "collector"]);
    assert!(!ok);
    assert!(
        stderr.contains("kafka.brokers: \"no-port\" is not host:port"),
        "{stderr}"
    );
}
