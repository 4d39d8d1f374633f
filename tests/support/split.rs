//! Helpers of the end-to-end tests of the split deployment over Kafka: the
//! shared configuration, the processes of each role, the traces sent, and
//! what the stores and query nodes answer about them.
//!
//! In: a running tansu broker and Spoor processes. Out: their state as the
//! tests check it (spans per trace on each store, partition assignments,
//! RED calls and dependency edges summed over nodes).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    string_kv, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData,
};

use super::tansu::Tansu;
use super::{eventually, metrics_text, now_ns, random_trace, send_otlp, Spoor};

pub const PARTITIONS: u32 = 6;
pub const SPANS_PER_TRACE: usize = 4;
pub const SERVICE: &str = "split-frontend";
pub const BACKEND: &str = "split-backend";

/// The configuration every process of the deployment reads.
pub fn config_file(dir: &std::path::Path, broker: &Tansu, name: &str) -> String {
    let path = dir.join("spoor.yaml");
    let text = format!(
        "kafka:\n  brokers: \"{}\"\n  topic: spans-{name}\n  partitions: {PARTITIONS}\n  group_id: stores-{name}\n  consumer:\n    session_timeout: 4s\n    batch_wait: 10ms\n    commit_interval: 200ms\nlog_level: warn\n",
        broker.brokers()
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

pub fn start(config: &str, node: &str, role: &str) -> Spoor {
    Spoor::start_with(&["--config", config, "--node-name", node, role])
}

/// A trace of `SPANS_PER_TRACE` spans: a server root of `SERVICE` with
/// two internal children, and a server span of `BACKEND` it called (one
/// dependency edge); the first child failed when `failed`.
pub fn trace(id: TraceId, failed: bool) -> TracesData {
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
pub async fn edge_calls(client: &reqwest::Client, nodes: &[&Spoor]) -> u64 {
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
pub async fn send_wave(client: &reqwest::Client, collector: &Spoor, count: usize) -> Vec<TraceId> {
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
pub async fn spans_by_trace(client: &reqwest::Client, store: &Spoor) -> HashMap<String, usize> {
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
pub async fn every_trace_whole(client: &reqwest::Client, stores: &[&Spoor], ids: &[TraceId]) {
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
pub async fn assignments(client: &reqwest::Client, stores: &[&Spoor]) -> Vec<Vec<u32>> {
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
pub async fn balanced(client: &reqwest::Client, stores: &[&Spoor]) -> Vec<Vec<u32>> {
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
pub async fn red_calls(client: &reqwest::Client, stores: &[&Spoor]) -> f64 {
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

/// A query node over `stores`.
pub fn query_node(config: &str, stores: &[&Spoor]) -> Spoor {
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
pub async fn whole_through_query(client: &reqwest::Client, query: &Spoor, ids: &[TraceId]) {
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
pub async fn trace_ids(client: &reqwest::Client, stores: &[&Spoor]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for store in stores {
        ids.extend(spans_by_trace(client, store).await.into_keys());
    }
    ids
}

/// Server calls of `SERVICE` summed over `stores`, once they reach `count`
/// (a store counts a trace's spans when it decides the trace, kept or not,
/// so the sum grows until the last decision): the sum then, for the caller
/// to hold to `count` exactly.
pub async fn red_calls_once_at(client: &reqwest::Client, stores: &[&Spoor], count: usize) -> f64 {
    eventually(30, || async {
        let calls = red_calls(client, stores).await;
        (calls >= count as f64).then_some(calls)
    })
    .await
}

/// Checks that the dependency edges summed over `stores` and those of
/// all-in-one `single` both count `count` calls from `SERVICE` to `BACKEND`.
pub async fn assert_edges_like_all_in_one(
    client: &reqwest::Client,
    stores: &[&Spoor],
    single: &Spoor,
    count: usize,
) {
    let (split, alone) = eventually(30, || async {
        let split = edge_calls(client, stores).await;
        let alone = edge_calls(client, &[single]).await;
        (split >= count as u64 && alone >= count as u64).then_some((split, alone))
    })
    .await;
    assert_eq!(alone, count as u64, "all-in-one's dependency edges");
    assert_eq!(split, alone, "dependency edges differ from all-in-one");
}
