//! End to end: tail sampling on store nodes across a takeover. Traces are
//! still open (undecided) on the only store when a second store joins and
//! takes some partitions over; the rest of their spans arrive after that.
//!
//! In: the same requests sent to a split deployment (a real tansu broker,
//! one collector, two stores) and to all-in-one, both keeping only traces
//! with an error, where the error is in each trace's first half. Out: the
//! stores keep exactly the traces all-in-one keeps, each whole and each
//! span once across the stores (the new owner replayed the open traces from
//! the partition's progress and decided them on all their spans); RED calls
//! and dependency edges equal all-in-one's; spans arriving after the
//! decision follow it. The same through a store's kill -9 and return.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{ResourceSpans, ScopeSpans, TracesData};
use support::split::*;
use support::tansu::Tansu;
use support::{eventually, metrics_text, random_trace, send_otlp, Spoor};

/// The first half of a trace (the root and the child that may fail) and
/// the second (the other child and the backend's span).
fn halves(id: TraceId, failed: bool) -> (TracesData, TracesData) {
    let mut whole = trace(id, failed);
    let backend = whole.resource_spans.pop().expect("backend spans");
    let mut frontend = whole.resource_spans.pop().expect("frontend spans");
    let mut spans = std::mem::take(&mut frontend.scope_spans[0].spans);
    let later = spans.split_off(2);
    let with = |spans| ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..frontend.clone()
    };
    let first = TracesData {
        resource_spans: vec![with(spans)],
    };
    let second = TracesData {
        resource_spans: vec![with(later), backend],
    };
    (first, second)
}

/// Span ids of every trace on each of `stores`: trace → store → spans.
async fn placement(client: &reqwest::Client, stores: &[&Spoor]) -> BTreeMap<String, Vec<usize>> {
    let mut found: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, store) in stores.iter().enumerate() {
        for (id, spans) in spans_by_trace(client, store).await {
            found.entry(id).or_insert_with(|| vec![0; stores.len()])[i] = spans;
        }
    }
    found
}

/// The deployment's configuration with tail sampling: keep traces with an
/// error, decided 10 s after a trace's last span (by the partition's event
/// time), so every trace is still open when the stores change.
fn tail_config(dir: &std::path::Path, broker: &Tansu, name: &str) -> String {
    let config = config_file(dir, broker, &format!("{name}{}", std::process::id()));
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "    commit_interval: 200ms\n",
        "    commit_interval: 200ms\n    max_record_delay: 1s\n",
    );
    std::fs::write(
        &config,
        text + "sampling:\n  tail:\n    decision_wait: 10s\n    max_age: 60s\n    policies:\n      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n",
    )
    .unwrap();
    config
}

/// Sends the first halves of `traces` to every node of `to` (in requests
/// of five); returns the second halves.
async fn send_first_halves(
    client: &reqwest::Client,
    to: &[&Spoor],
    traces: &[(TraceId, bool)],
) -> Vec<TracesData> {
    let mut seconds = Vec::new();
    for chunk in traces.chunks(5) {
        let mut batch = TracesData::default();
        for (id, failed) in chunk {
            let (first, second) = halves(*id, *failed);
            batch.resource_spans.extend(first.resource_spans);
            seconds.push(second);
        }
        for node in to {
            send_otlp(client, node, batch.clone()).await;
        }
    }
    seconds
}

/// Sends `seconds` to every node of `to`, in requests of five.
async fn send_second_halves(client: &reqwest::Client, to: &[&Spoor], seconds: &[TracesData]) {
    for chunk in seconds.chunks(5) {
        let mut batch = TracesData::default();
        for second in chunk {
            batch.resource_spans.extend(second.resource_spans.clone());
        }
        for node in to {
            send_otlp(client, node, batch.clone()).await;
        }
    }
}

/// The failed traces of `traces` (what the policy keeps) and all of them.
fn kept_and_all(traces: &[(TraceId, bool)]) -> (BTreeSet<String>, BTreeSet<String>) {
    let expected = traces
        .iter()
        .filter(|(_, failed)| *failed)
        .map(|(id, _)| id.to_hex32())
        .collect();
    (
        expected,
        traces.iter().map(|(id, _)| id.to_hex32()).collect(),
    )
}

/// Waits until all-in-one has decided: it holds the traces of `expected`
/// whole and no other of `all` (undecided traces are searchable too).
async fn all_in_one_decided(
    client: &reqwest::Client,
    single: &Spoor,
    expected: &BTreeSet<String>,
    all: &BTreeSet<String>,
) {
    eventually(90, || async {
        let alone = spans_by_trace(client, single).await;
        let settled = alone.keys().filter(|id| all.contains(*id)).count() == expected.len();
        let whole = expected
            .iter()
            .all(|id| alone.get(id) == Some(&SPANS_PER_TRACE));
        (settled && whole).then_some(())
    })
    .await;
}

/// Waits until `stores` hold the traces of `expected`, each whole over the
/// stores, and no other of `all`; then checks that no span is on two
/// stores. Returns where each trace's spans are.
async fn stores_decided(
    client: &reqwest::Client,
    stores: &[&Spoor],
    expected: &BTreeSet<String>,
    all: &BTreeSet<String>,
) -> BTreeMap<String, Vec<usize>> {
    let found = eventually(90, || async {
        let found = placement(client, stores).await;
        let settled = found.keys().filter(|id| all.contains(*id)).count() == expected.len();
        let whole = expected.iter().all(|id| {
            found
                .get(id)
                .is_some_and(|per| per.iter().sum::<usize>() == SPANS_PER_TRACE)
        });
        (settled && whole).then_some(found)
    })
    .await;
    let kept: BTreeSet<String> = found
        .keys()
        .filter(|id| all.contains(*id))
        .cloned()
        .collect();
    assert_eq!(
        &kept, expected,
        "the stores kept another set than all-in-one"
    );
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_open_across_a_takeover_are_decided_on_all_their_spans_once() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let config = tail_config(dir.path(), &broker, "over");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let store1 = start(&config, "store-1", "store");
    let collector = start(&config, "collector-1", "collector");
    let single = Spoor::start_with(&["--config", &config]);
    balanced(&client, &[&store1]).await;

    // First halves of 60 traces, a quarter of them with the error.
    let traces: Vec<(TraceId, bool)> = (0..60).map(|i| (random_trace(), i % 4 == 0)).collect();
    let seconds = send_first_halves(&client, &[&collector, &single], &traces).await;

    // A second store joins and takes partitions over while the traces are
    // open; then their second halves arrive.
    let store2 = start(&config, "store-2", "store");
    let moved = balanced(&client, &[&store1, &store2]).await;
    assert!(!moved[1].is_empty(), "the second store owns partitions");
    send_second_halves(&client, &[&collector, &single], &seconds).await;

    let (expected, all) = kept_and_all(&traces);
    all_in_one_decided(&client, &single, &expected, &all).await;
    let alone: BTreeSet<String> = spans_by_trace(&client, &single)
        .await
        .into_keys()
        .filter(|id| all.contains(id))
        .collect();
    assert_eq!(alone, expected, "all-in-one kept another set");
    stores_decided(&client, &[&store1, &store2], &expected, &all).await;

    // The analytics counted every span once, on whichever store decided.
    let split_calls = red_calls_once_at(&client, &[&store1, &store2], all.len()).await;
    assert_eq!(red_calls(&client, &[&single]).await, all.len() as f64);
    assert_eq!(
        split_calls,
        all.len() as f64,
        "server calls over the stores"
    );
    assert_edges_like_all_in_one(&client, &[&store1, &store2], &single, all.len()).await;

    // A late span for every trace, after all were decided: each follows its
    // trace's decision (kept traces gain it, dropped ones stay dropped), on
    // the stores as on all-in-one.
    let mut late = TracesData::default();
    for (id, _) in &traces {
        late.resource_spans.extend(late_span(*id).resource_spans);
    }
    send_otlp(&client, &collector, late.clone()).await;
    send_otlp(&client, &single, late).await;
    eventually(60, || async {
        let found = placement(&client, &[&store1, &store2]).await;
        let alone = spans_by_trace(&client, &single).await;
        let grown = |spans: Option<usize>| spans == Some(SPANS_PER_TRACE + 1);
        let split_ok = expected
            .iter()
            .all(|id| grown(found.get(id).map(|per| per.iter().sum())))
            && found.keys().filter(|id| all.contains(*id)).count() == expected.len();
        let alone_ok = expected.iter().all(|id| grown(alone.get(id).copied()))
            && alone.keys().filter(|id| all.contains(*id)).count() == expected.len();
        (split_ok && alone_ok).then_some(())
    })
    .await;

    // Read to the end, the stores report no lag (how a tail-sampling store
    // counts it is unit-tested in the kafka crate).
    eventually(30, || async {
        let mut lagging = Vec::new();
        for store in [&store1, &store2] {
            let url = format!("{}/internal/v1/partitions", store.query_url());
            let report: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
            lagging.extend(report["lagging"].as_array()?.clone());
        }
        lagging.is_empty().then_some(())
    })
    .await;
}

/// A span of `SERVICE` under the root of trace `id`, sent after the trace
/// was decided.
fn late_span(id: TraceId) -> TracesData {
    let mut data = trace(id, false);
    data.resource_spans.truncate(1);
    let spans = &mut data.resource_spans[0].scope_spans[0].spans;
    spans.truncate(1);
    spans[0].span_id = 0x200u64.to_be_bytes().to_vec().into();
    spans[0].parent_span_id = 0x100u64.to_be_bytes().to_vec().into();
    spans[0].name = "late".into();
    spans[0].kind = 1;
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_open_across_a_crash_are_decided_whole_once_by_the_next_owner() {
    let broker = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let config = tail_config(dir.path(), &broker, "crash");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let store1 = start(&config, "store-1", "store");
    let mut store2 = start(&config, "store-2", "store");
    let collector = start(&config, "collector-1", "collector");
    balanced(&client, &[&store1, &store2]).await;

    // First halves; the second store dies (kill -9) while the traces are
    // open; the first takes its partitions over, replays them from their
    // progress, and gets the second halves.
    let traces: Vec<(TraceId, bool)> = (0..60).map(|i| (random_trace(), i % 4 == 0)).collect();
    let seconds = send_first_halves(&client, &[&collector], &traces).await;
    store2.kill9();
    balanced(&client, &[&store1]).await;
    send_second_halves(&client, &[&collector], &seconds).await;
    let (expected, all) = kept_and_all(&traces);
    stores_decided(&client, &[&store1], &expected, &all).await;

    // The dead store comes back on its data and gets partitions back: it
    // replays them from the progress the first published when it let them
    // go, and writes and counts nothing again.
    store2.restart();
    balanced(&client, &[&store1, &store2]).await;
    // Once it has replayed them (it read records, and reads no more), the
    // stores still hold each span once.
    let consumed = || async {
        metrics_text(&client, &store2)
            .await
            .lines()
            .filter(|l| l.starts_with("spoor_kafka_records_consumed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    eventually(60, || async {
        let before = consumed().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        (before > 0.0 && consumed().await == before).then_some(())
    })
    .await;
    stores_decided(&client, &[&store1, &store2], &expected, &all).await;
    // Dropped traces are counted when decided, maybe after the last kept.
    let calls = red_calls_once_at(&client, &[&store1, &store2], all.len()).await;
    assert_eq!(calls, all.len() as f64, "server calls over the stores");
}
