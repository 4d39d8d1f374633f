//! End to end: Zipkin Lens's read sequence (under `/zipkin/api/v2`) and
//! Grafana's Zipkin data source (under `/api/v2`) against spans posted to the
//! real binary's Zipkin port, checking the shapes and fields those clients
//! read (names lower-cased, µs timestamps and durations, 404 text for a
//! missing trace, 400 for invalid parameters).

mod support;

use serde_json::{json, Value};
use support::*;

const TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post_zipkin(client: &reqwest::Client, spoor: &Spoor, spans: Value) {
    let resp = client
        .post(format!("{}/api/v2/spans", spoor.zipkin_url()))
        .json(&spans)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn zipkin_lens_and_grafana_read_sequences() {
    let spoor = Spoor::start_with(&[
        "--config",
        &write_config("query:\n  zipkin:\n    autocomplete_keys: [environment]\n"),
    ]);
    let http = reqwest::Client::new();
    let now_us = now_ns() / 1000 - 5_000_000;
    post_zipkin(
        &http,
        &spoor,
        json!([
            {"traceId": TRACE, "id": "a2fb4a1d1a96d312", "kind": "CLIENT", "name": "GET /api",
             "timestamp": now_us, "duration": 20_000,
             "localEndpoint": {"serviceName": "Frontend", "ipv4": "10.0.0.1"},
             "remoteEndpoint": {"serviceName": "backend"},
             "tags": {"http.method": "GET", "environment": "prod"},
             "annotations": [{"timestamp": now_us + 10, "value": "retried"}]},
            {"traceId": TRACE, "id": "a2fb4a1d1a96d312", "kind": "SERVER", "name": "get /api", "shared": true,
             "timestamp": now_us + 1_000, "duration": 15_000,
             "localEndpoint": {"serviceName": "backend"}, "tags": {"environment": "prod", "error": "boom"}},
            {"traceId": TRACE, "parentId": "a2fb4a1d1a96d312", "id": "b3fb4a1d1a96d313", "kind": "CLIENT", "name": "select",
             "timestamp": now_us + 2_000, "duration": 5_000,
             "localEndpoint": {"serviceName": "backend"}, "remoteEndpoint": {"serviceName": "postgres"}}
        ]),
    )
    .await;
    let other = "0000000000000000000000000000beef";
    post_zipkin(
        &http,
        &spoor,
        json!([{"traceId": other, "id": "00000000000000ee", "name": "cron", "timestamp": now_us, "duration": 1_000,
                "localEndpoint": {"serviceName": "batch"}, "tags": {"environment": "staging"}}]),
    )
    .await;

    let lens = format!("{}/zipkin/api/v2", spoor.zipkin_url());
    // Service and name pickers.
    let (status, services) = eventually(5, || async {
        let (status, body) = get(&http, format!("{lens}/services")).await;
        (body.as_array().is_some_and(|a| a.len() == 3)).then_some((status, body))
    })
    .await;
    assert_eq!(
        (status, services),
        (200, json!(["backend", "batch", "frontend"]))
    );
    let (_, remote) = get(&http, format!("{lens}/remoteServices?serviceName=frontend")).await;
    assert_eq!(remote, json!(["backend"]));
    let (_, names) = get(&http, format!("{lens}/spans?serviceName=BACKEND")).await;
    assert_eq!(names, json!(["get /api", "select"]));
    let (status, _) = get(&http, format!("{lens}/spans")).await;
    assert_eq!(status, 400);

    // Search: criteria over the service's spans, terms may match different spans.
    let end_ms = now_ns() / 1_000_000 + 1000;
    let search =
        |query: &str| format!("{lens}/traces?endTs={end_ms}&lookback=3600000&limit=10&{query}");
    let (status, traces) = get(&http, search("serviceName=backend&spanName=select&annotationQuery=error and environment=prod&minDuration=1000")).await;
    assert_eq!(status, 200);
    let traces = traces.as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let spans = traces[0].as_array().unwrap();
    assert_eq!(spans.len(), 3, "the whole trace, not only matching spans");
    assert!(spans.iter().all(|s| s["traceId"] == TRACE));
    let client_span = spans
        .iter()
        .find(|s| s["kind"] == "CLIENT" && s["id"] == "a2fb4a1d1a96d312")
        .unwrap();
    assert_eq!(client_span["localEndpoint"]["serviceName"], "frontend");
    assert_eq!(client_span["timestamp"], now_us);
    assert_eq!(client_span["duration"], 20_000);
    let (_, none) = get(&http, search("serviceName=frontend&annotationQuery=error")).await;
    assert_eq!(none, json!([]));
    let (_, retried) = get(&http, search("annotationQuery=retried")).await;
    assert_eq!(retried.as_array().unwrap().len(), 1);
    let (_, all) = get(&http, search("")).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (status, message) = get(&http, search("maxDuration=5")).await;
    assert_eq!(
        (status, message),
        (400, json!("maxDuration is only valid with minDuration"))
    );

    // Trace view, lenient id spellings, and the missing-trace text.
    let (status, spans) = get(&http, format!("{lens}/trace/{}", TRACE.to_uppercase())).await;
    assert_eq!(status, 200);
    assert_eq!(spans.as_array().unwrap().len(), 3);
    let (status, spans) = get(&http, format!("{lens}/trace/beef")).await;
    assert_eq!((status, spans.as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(spans[0]["traceId"], "000000000000beef");
    let (status, message) = get(
        &http,
        format!("{lens}/trace/00000000000000000000000000000bad"),
    )
    .await;
    assert_eq!(
        (status, message),
        (404, json!("0000000000000bad not found"))
    );
    let (status, many) = get(
        &http,
        format!("{lens}/traceMany?traceIds={TRACE},beef,0bad"),
    )
    .await;
    assert_eq!((status, many.as_array().map(Vec::len)), (200, Some(2)));
    let (status, _) = get(&http, format!("{lens}/traceMany?traceIds={TRACE}")).await;
    assert_eq!(status, 400);

    // Dependencies and autocomplete.
    let (status, deps) = get(
        &http,
        format!("{lens}/dependencies?endTs={end_ms}&lookback=86400000"),
    )
    .await;
    assert_eq!(status, 200);
    for link in deps.as_array().expect("a list of links") {
        assert!(
            link["parent"].is_string() && link["child"].is_string() && link["callCount"].is_u64(),
            "{link}"
        );
    }
    let (status, _) = get(&http, format!("{lens}/dependencies")).await;
    assert_eq!(status, 400);
    let (_, keys) = get(&http, format!("{lens}/autocompleteKeys")).await;
    assert_eq!(keys, json!(["environment"]));
    let (_, values) = get(&http, format!("{lens}/autocompleteValues?key=environment")).await;
    assert_eq!(values, json!(["prod", "staging"]));
    let (_, values) = get(&http, format!("{lens}/autocompleteValues?key=http.method")).await;
    assert_eq!(values, json!([]));

    // Grafana's Zipkin data source: /api/v2 paths, no endTs/lookback/limit.
    let api = format!("{}/api/v2", spoor.zipkin_url());
    let (_, services) = get(&http, format!("{api}/services")).await;
    assert_eq!(services.as_array().unwrap().len(), 3);
    let (_, traces) = get(
        &http,
        format!("{api}/traces?serviceName=frontend&spanName=get%20%2Fapi"),
    )
    .await;
    let spans = traces[0].as_array().unwrap();
    let root = spans
        .iter()
        .find(|s| s.get("parentId").is_none() && s["kind"] == "CLIENT")
        .unwrap();
    assert_eq!(root["name"], "get /api");
    let (status, spans) = get(&http, format!("{api}/trace/{TRACE}")).await;
    assert_eq!((status, spans.as_array().map(Vec::len)), (200, Some(3)));
    // The ingest route still answers beside the read routes.
    post_zipkin(&http, &spoor, json!([])).await;
}

/// Zipkin's STRICT_TRACE_ID both ways: a 128-bit and a 64-bit span with the
/// same low half, posted to the real binary, read back by either id. Strict
/// (the default) keeps them apart; lenient answers both spans for either id
/// and groups them into one trace in `/traces` — from memory and, after the
/// flush, from disk through the low-64 index.
#[tokio::test]
async fn strict_and_lenient_trace_ids() {
    const LONG: &str = "5af7183fb1d4cf5f6ad1c2a9b3e4f501";
    const SHORT: &str = "6ad1c2a9b3e4f501";
    let http = reqwest::Client::new();
    for strict in [true, false] {
        let spoor = Spoor::start_with(&[
            "--config",
            &write_config(&format!(
                "storage:\n  trace_idle_timeout: 200ms\nquery:\n  zipkin:\n    strict_trace_id: {strict}\n"
            )),
        ]);
        let now_us = now_ns() / 1000 - 5_000_000;
        post_zipkin(
            &http,
            &spoor,
            json!([
                {"traceId": SHORT, "id": "0000000000000001", "name": "short root", "timestamp": now_us,
                 "duration": 10_000, "localEndpoint": {"serviceName": "front"}},
                {"traceId": LONG, "parentId": "0000000000000001", "id": "0000000000000002", "name": "long child",
                 "timestamp": now_us + 1_000, "duration": 5_000, "localEndpoint": {"serviceName": "front"}}
            ]),
        )
        .await;
        let api = format!("{}/api/v2", spoor.zipkin_url());
        let ids = |body: &Value| {
            let mut ids: Vec<String> = body
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["traceId"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        };
        // Once while the spans are buffered, once after they were flushed.
        for round in ["memory", "disk"] {
            if round == "disk" {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            }
            let (status, short) = get(&http, format!("{api}/trace/{SHORT}")).await;
            let (_, long) = get(&http, format!("{api}/trace/{}", LONG.to_uppercase())).await;
            let (_, traces) = get(&http, format!("{api}/traces?serviceName=front")).await;
            let traces = traces.as_array().unwrap();
            assert_eq!(status, 200, "{strict} {round}");
            if strict {
                assert_eq!(ids(&short), [SHORT], "{round}");
                assert_eq!(ids(&long), [LONG], "{round}");
                assert_eq!(traces.len(), 2, "{round}");
            } else {
                assert_eq!(ids(&short), [LONG, SHORT], "{round}");
                assert_eq!(ids(&long), [LONG, SHORT], "{round}");
                assert_eq!(traces.len(), 1, "{round}");
                assert_eq!(ids(&traces[0]), [LONG, SHORT], "{round}");
            }
        }
    }
}
