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

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use support::split::*;
use support::tansu::Tansu;
use support::{eventually, random_trace, send_otlp, Spoor};

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
    let calls = red_calls_once_at(&client, &[&store1, &store2, &store3], first.len()).await;
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
    // Analytics count every span before sampling, on both sides alike (on
    // the stores once a trace is decided, kept or not: a step of dropped
    // traces may come after the last kept one).
    let split_calls = red_calls_once_at(&client, &[&store1, &store2], all.len()).await;
    let alone_calls = red_calls(&client, &[&single]).await;
    assert_eq!(alone_calls, all.len() as f64);
    assert_eq!(split_calls, alone_calls);
    assert_edges_like_all_in_one(&client, &[&store1, &store2], &single, all.len()).await;
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
