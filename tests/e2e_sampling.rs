//! End-to-end sampling against the real binary: probabilistic sampling at
//! ingest keeps debug traces at 0 %, tail policies decide traces (also the
//! ones a kill -9 left in the buffer, after the restart), late spans follow
//! the decision taken, and SDKs poll strategies over HTTP and gRPC and see a
//! changed strategies file.
//!
//! In: spans over OTLP/HTTP and Zipkin JSON, strategy requests. Out:
//! assertions on the Jaeger query API, the admin metrics and the strategy
//! answers. No timed assertions: everything is polled with generous
//! deadlines.

mod support;

use std::path::Path;

use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use spoor_proto::jaeger::api_v2::SamplingStrategyParameters;
use spoor_proto::model::{
    string_kv, Resource, ResourceSpans, ScopeSpans, Span, Status, TracesData,
};
use support::*;

/// One span of `trace` (id `span`) of service `shop`, failed when `error`.
fn one_span(trace: TraceId, span: u64, error: bool) -> TracesData {
    let start = now_ns() - 1_000_000_000;
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", "shop")],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace.to_bytes().to_vec().into(),
                    span_id: span.to_be_bytes().to_vec().into(),
                    name: format!("op-{span}"),
                    kind: 2,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 2_000_000,
                    status: error.then(|| Status {
                        code: 2,
                        message: "failed".into(),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The value of the metric series `name` whose labels contain every one of
/// `labels` (`key="value"`), 0 when absent.
async fn metric(client: &reqwest::Client, spoor: &Spoor, name: &str, labels: &[&str]) -> f64 {
    let text = client
        .get(format!("{}/metrics", spoor.admin_url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_metric(
    client: &reqwest::Client,
    spoor: &Spoor,
    name: &str,
    labels: &[&str],
    at_least: f64,
) {
    eventually(60, || async {
        (metric(client, spoor, name, labels).await >= at_least).then_some(())
    })
    .await;
}

fn write_config(path: &Path, yaml: &str) {
    std::fs::write(path, yaml).expect("writing the config file");
}

#[tokio::test]
async fn debug_traces_are_kept_at_zero_percent_and_the_rest_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    write_config(
        &config,
        "sampling:\n  probabilistic:\n    sampling_percentage: 0\n",
    );
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let debug = random_trace();
    let plain = random_trace();
    let now_us = now_ns() / 1000;
    let body = serde_json::json!([
        {"traceId": debug.to_hex32(), "id": "00000000000000a1", "name": "forced",
         "timestamp": now_us, "duration": 1000, "debug": true,
         "localEndpoint": {"serviceName": "edge"}},
        {"traceId": plain.to_hex32(), "id": "00000000000000b1", "name": "ordinary",
         "timestamp": now_us, "duration": 1000,
         "localEndpoint": {"serviceName": "edge"}}
    ]);
    let resp = client
        .post(format!("{}/api/v2/spans", spoor.zipkin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // Sampling at ingest happens before the answer: the kept trace is
    // readable now and the other was never stored.
    assert!(fetch_trace(&client, &spoor, debug).await.is_some());
    assert!(fetch_trace(&client, &spoor, plain).await.is_none());
    let dropped = metric(
        &client,
        &spoor,
        "spoor_sampling_spans_dropped_total",
        &["stage=\"head\""],
    )
    .await;
    assert_eq!(dropped, 1.0);
    let rejected = metric(
        &client,
        &spoor,
        "spoor_receiver_spans_rejected_total",
        &["reason=\"sampled\""],
    )
    .await;
    assert_eq!(rejected, 1.0);
}

const TAIL_POLICIES: &str = "    policies:\n      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n";

#[tokio::test]
async fn traces_buffered_at_a_kill_9_are_decided_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    // A wait no test reaches: nothing is decided before the crash.
    write_config(
        &config,
        &format!("sampling:\n  tail:\n    decision_wait: 1h\n    max_age: 2h\n{TAIL_POLICIES}"),
    );
    let mut spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let failed = random_trace();
    let fine = random_trace();
    send_otlp(&client, &spoor, one_span(failed, 1, true)).await;
    send_otlp(&client, &spoor, one_span(fine, 1, false)).await;
    spoor.kill9();

    write_config(
        &config,
        &format!("sampling:\n  tail:\n    decision_wait: 200ms\n    max_age: 1s\n{TAIL_POLICIES}"),
    );
    spoor.restart();
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_traces_kept_total",
        &["policy=\"errors\""],
        1.0,
    )
    .await;
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_traces_dropped_total",
        &["policy=\"none\""],
        1.0,
    )
    .await;
    assert!(fetch_trace(&client, &spoor, failed).await.is_some());
    assert!(fetch_trace(&client, &spoor, fine).await.is_none());

    // The decisions stand after another crash: the kept trace is on disk,
    // and the dropped one stays dropped (were its write-ahead record not yet
    // trimmed at the kill, it is replayed and dropped again).
    spoor.kill9();
    spoor.restart();
    assert!(fetch_trace(&client, &spoor, failed).await.is_some());
    eventually(60, || async {
        fetch_trace(&client, &spoor, fine)
            .await
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn late_spans_follow_the_decision_taken_for_their_trace() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    write_config(
        &config,
        &format!("sampling:\n  tail:\n    decision_wait: 200ms\n    max_age: 1s\n{TAIL_POLICIES}"),
    );
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let kept = random_trace();
    let dropped = random_trace();
    send_otlp(&client, &spoor, one_span(kept, 1, true)).await;
    send_otlp(&client, &spoor, one_span(dropped, 1, false)).await;
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_traces_kept_total",
        &["policy=\"errors\""],
        1.0,
    )
    .await;
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_traces_dropped_total",
        &["policy=\"none\""],
        1.0,
    )
    .await;

    // A late OK span of the kept trace is stored; a late failed span of the
    // dropped trace is dropped although alone it would be kept.
    send_otlp(&client, &spoor, one_span(kept, 2, false)).await;
    send_otlp(&client, &spoor, one_span(dropped, 2, true)).await;
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_late_spans_total",
        &["decision=\"kept\""],
        1.0,
    )
    .await;
    wait_metric(
        &client,
        &spoor,
        "spoor_sampling_late_spans_total",
        &["decision=\"dropped\""],
        1.0,
    )
    .await;
    let trace = fetch_trace(&client, &spoor, kept)
        .await
        .expect("kept trace");
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2);
    assert!(fetch_trace(&client, &spoor, dropped).await.is_none());
    assert_eq!(
        metric(&client, &spoor, "spoor_sampling_traces_kept_total", &[]).await,
        1.0,
        "late spans are not decided again"
    );
}

const STRATEGIES_V1: &str = r#"{
  "default_strategy": {"type": "probabilistic", "param": 0.5},
  "service_strategies": [
    {"service": "checkout", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "POST /pay", "type": "probabilistic", "param": 1.0}]}
  ]
}"#;

const STRATEGIES_V2: &str = r#"{
  "default_strategy": {"type": "probabilistic", "param": 0.5},
  "service_strategies": [
    {"service": "checkout", "type": "ratelimiting", "param": 7}
  ]
}"#;

#[tokio::test]
async fn sdks_poll_the_strategies_file_over_http_and_grpc_and_see_it_change() {
    let dir = tempfile::tempdir().unwrap();
    let strategies = dir.path().join("strategies.json");
    std::fs::write(&strategies, STRATEGIES_V1).unwrap();
    let config = dir.path().join("spoor.yaml");
    write_config(
        &config,
        &format!(
            "sampling:\n  strategies_file: {}\n  reload_interval: 100ms\n",
            strategies.display()
        ),
    );
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let http = |path: &str| {
        let url = format!("{}{path}", spoor.sampling_http_url());
        let client = client.clone();
        async move {
            let resp = client.get(url).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let (status, body) = http("/sampling?service=checkout").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["strategyType"], "PROBABILISTIC");
    assert_eq!(json["probabilisticSampling"]["samplingRate"], 0.8);
    assert_eq!(
        json["operationSampling"]["perOperationStrategies"][0]["operation"],
        "POST /pay"
    );
    let (status, body) = http("/api/sampling?service=unknown").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["probabilisticSampling"]["samplingRate"], 0.5);
    let (status, body) = http("/sampling?service=a&service=b").await;
    assert_eq!(status, 400);
    assert!(body.contains("'service' parameter must be provided once"));

    let mut grpc = SamplingManagerClient::connect(spoor.sampling_grpc_url())
        .await
        .expect("connecting to the sampling gRPC port");
    let answer = grpc
        .get_sampling_strategy(SamplingStrategyParameters {
            service_name: "checkout".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.probabilistic_sampling.unwrap().sampling_rate, 0.8);

    // Jaeger's collector ports answer too: HTTP on 14268, gRPC on 14250.
    let resp = client
        .get(format!(
            "http://{}/api/sampling?service=checkout",
            spoor.addr("jaeger_thrift_http")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["probabilisticSampling"]["samplingRate"], 0.8);
    let mut collector_grpc =
        SamplingManagerClient::connect(format!("http://{}", spoor.addr("jaeger_grpc")))
            .await
            .expect("connecting to the Jaeger gRPC collector port");
    let answer = collector_grpc
        .get_sampling_strategy(SamplingStrategyParameters {
            service_name: "checkout".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.probabilistic_sampling.unwrap().sampling_rate, 0.8);

    // Replace the file (a new modification time) and poll until both
    // transports serve the new strategy.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let replacement = dir.path().join("strategies.json.new");
    std::fs::write(&replacement, STRATEGIES_V2).unwrap();
    std::fs::rename(&replacement, &strategies).unwrap();
    eventually(60, || {
        let http = &http;
        async move {
            let (_, body) = http("/sampling?service=checkout").await;
            let json: serde_json::Value = serde_json::from_str(&body).ok()?;
            (json["strategyType"] == "RATE_LIMITING"
                && json["rateLimitingSampling"]["maxTracesPerSecond"] == 7)
                .then_some(())
        }
    })
    .await;
    let answer = grpc
        .get_sampling_strategy(SamplingStrategyParameters {
            service_name: "checkout".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.rate_limiting_sampling.unwrap().max_traces_per_second,
        7
    );
}

#[tokio::test]
async fn sdks_get_adaptive_probabilities_computed_from_the_observed_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    write_config(
        &config,
        "sampling:\n  adaptive:\n    enabled: true\n    calculation_interval: 200ms\n",
    );
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let url = format!("{}/sampling?service=shop", spoor.sampling_http_url());
    let before: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(before["strategyType"], "PROBABILISTIC");
    assert_eq!(
        before["operationSampling"]["defaultSamplingProbability"],
        0.001
    );
    assert_eq!(
        before["operationSampling"]["perOperationStrategies"],
        serde_json::json!([])
    );
    // Root spans of one operation: it gets its own probability.
    for _ in 0..20 {
        send_otlp(&client, &spoor, one_span(random_trace(), 1, false)).await;
    }
    let ops = eventually(60, || async {
        let json: serde_json::Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        let ops = json["operationSampling"]["perOperationStrategies"]
            .as_array()?
            .clone();
        (!ops.is_empty()).then_some(ops)
    })
    .await;
    assert_eq!(ops[0]["operation"], "op-1");
    let rate = ops[0]["probabilisticSampling"]["samplingRate"]
        .as_f64()
        .unwrap();
    assert!(rate > 0.0 && rate <= 1.0, "{rate}");
    let mut grpc = SamplingManagerClient::connect(spoor.sampling_grpc_url())
        .await
        .unwrap();
    let answer = grpc
        .get_sampling_strategy(SamplingStrategyParameters {
            service_name: "shop".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let ops = answer.operation_sampling.unwrap().per_operation_strategies;
    assert_eq!(ops[0].operation, "op-1");
}
