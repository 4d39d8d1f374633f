//! End to end: spans sent over OTLP gRPC, OTLP HTTP (protobuf and JSON, gzip
//! or not) and Zipkin v2 to the real binary come back through the Jaeger
//! query API with exactly the Jaeger JSON model.

mod support;

use std::io::Write;

use prost::Message;
use spoor_proto::otlp::trace_service_client::TraceServiceClient;
use spoor_proto::otlp::ExportTraceServiceRequest;
use support::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn otlp_grpc_spans_come_back_with_the_jaeger_model() {
    let spoor = Spoor::start();
    let trace = random_trace();
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_url())
        .await
        .unwrap();
    let data = sample_trace(trace, "checkout");
    let resp = client
        .export(ExportTraceServiceRequest {
            resource_spans: data.resource_spans,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.partial_success.is_none_or(|p| p.rejected_spans == 0));

    let http = reqwest::Client::new();
    // Searchable within two seconds of the acknowledgement.
    let found: serde_json::Value = eventually(2, || async {
        let url = format!(
            "{}/api/traces?service=checkout&limit=20&lookback=1h",
            spoor.query_url()
        );
        let body: serde_json::Value = http.get(url).send().await.ok()?.json().await.ok()?;
        (body["data"].as_array()?.len() == 1).then_some(body)
    })
    .await;
    assert_eq!(found["errors"], serde_json::Value::Null);
    let t = &found["data"][0];
    assert_eq!(t["traceID"], trace.to_jaeger_hex());
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    let parent = spans
        .iter()
        .find(|s| s["operationName"] == "GET /checkout")
        .unwrap();
    let child = spans
        .iter()
        .find(|s| s["operationName"] == "SELECT orders")
        .unwrap();
    assert_eq!(parent["spanID"], "0102030405060708");
    assert_eq!(parent["references"], serde_json::json!([]));
    assert_eq!(child["references"][0]["refType"], "CHILD_OF");
    assert_eq!(child["references"][0]["spanID"], "0102030405060708");
    assert_eq!(parent["duration"], 25_000);
    assert_eq!(tag(parent, "http.status_code").unwrap()["type"], "int64");
    assert_eq!(tag(parent, "http.status_code").unwrap()["value"], 200);
    assert_eq!(tag(parent, "sampler.param").unwrap()["value"], 0.25);
    assert_eq!(tag(parent, "cache.hit").unwrap()["value"], false);
    assert_eq!(tag(parent, "payload").unwrap()["type"], "binary");
    assert_eq!(tag(parent, "payload").unwrap()["value"], "3q2+7w==");
    assert_eq!(
        tag(parent, "big.counter").unwrap()["value"],
        "9223372036854775000"
    );
    assert_eq!(tag(parent, "span.kind").unwrap()["value"], "server");
    assert_eq!(tag(parent, "otel.scope.name").unwrap()["value"], "e2e.lib");
    assert_eq!(tag(child, "error").unwrap()["value"], true);
    assert_eq!(
        tag(child, "otel.status_description").unwrap()["value"],
        "deadlock"
    );
    assert_eq!(parent["logs"][0]["fields"][0]["key"], "event");
    assert_eq!(parent["logs"][0]["fields"][0]["value"], "cache miss");
    let pid = parent["processID"].as_str().unwrap();
    assert_eq!(t["processes"][pid]["serviceName"], "checkout");
    assert_eq!(
        child["processID"], parent["processID"],
        "identical processes are shared"
    );

    // Trace by id in both spellings.
    let by_id = fetch_trace(&http, &spoor, trace)
        .await
        .expect("trace by id");
    assert_eq!(by_id["spans"].as_array().unwrap().len(), 2);
    let upper = trace.to_hex32().to_uppercase();
    let resp = http
        .get(format!("{}/api/traces/{upper}", spoor.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Services and operations with span kinds.
    let services: serde_json::Value = http
        .get(format!("{}/api/services", spoor.query_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(services["data"], serde_json::json!(["checkout"]));
    assert_eq!(services["total"], 1);
    let ops: serde_json::Value = http
        .get(format!(
            "{}/api/operations?service=checkout&spanKind=client",
            spoor.query_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ops["data"],
        serde_json::json!([{"name": "SELECT orders", "spanKind": "client"}])
    );
}

#[tokio::test]
async fn otlp_http_accepts_protobuf_and_json_with_or_without_gzip() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let proto_trace = random_trace();
    let body = ExportTraceServiceRequest {
        resource_spans: sample_trace(proto_trace, "proto-svc").resource_spans,
    }
    .encode_to_vec();
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");

    let json_trace = random_trace();
    let json = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"json-svc"}}}}]}},
        "scopeSpans":[{{"scope":{{"name":"lib"}},"spans":[{{"traceId":"{}","spanId":"EEE19B7EC3C1B174","name":"GET /cart","kind":"SPAN_KIND_SERVER",
        "startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{{"key":"http.response.status_code","value":{{"intValue":"500"}}}}],
        "status":{{"code":2,"message":"upstream failed"}}}}]}}]}}]}}"#,
        json_trace.to_hex32().to_uppercase(),
        now_ns() - 1_000_000_000,
        now_ns()
    );
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));

    for id in [proto_trace, json_trace] {
        let t = eventually(2, || fetch_trace(&http, &spoor, id)).await;
        assert!(!t["spans"].as_array().unwrap().is_empty());
    }
    let t = fetch_trace(&http, &spoor, json_trace).await.unwrap();
    assert_eq!(
        tag(&t["spans"][0], "http.response.status_code").unwrap()["value"],
        500
    );
    assert_eq!(tag(&t["spans"][0], "span.kind").unwrap()["value"], "server");
}

#[tokio::test]
async fn zipkin_envoy_shared_spans_are_accepted_with_202_and_kept_apart() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let ts = now_ns() / 1000 - 2_000_000;
    // What an Istio sidecar pair sends: client and server with one span id.
    let body = format!(
        r#"[{{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","kind":"CLIENT",
        "name":"checkout.shop.svc.cluster.local:5050/*","timestamp":{ts},"duration":8412,
        "localEndpoint":{{"serviceName":"frontend.shop","ipv4":"10.1.2.3","port":0}},
        "remoteEndpoint":{{"serviceName":"checkout.shop","ipv4":"10.1.9.9","port":5050}},
        "tags":{{"http.method":"GET","http.status_code":"200","upstream_cluster":"outbound|5050||checkout.shop.svc.cluster.local","istio.canonical_service":"frontend"}}}},
        {{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","parentId":"0020000000000001","kind":"SERVER","shared":true,
        "name":"checkout.shop.svc.cluster.local:5050/*","timestamp":{},"duration":7000,
        "localEndpoint":{{"serviceName":"checkout.shop","ipv4":"10.1.9.9"}},
        "tags":{{"http.method":"GET","http.status_code":"200","upstream_cluster":"inbound|5050||"}}}}]"#,
        ts + 500
    );
    let resp = http
        .post(format!("{}/api/v2/spans", spoor.zipkin_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(status, 202, "{}", resp.text().await.unwrap());
    let id = spoor_proto::ids::TraceId::parse_hex("463ac35c9f6413ad48485a3953bb6124").unwrap();
    let t = eventually(2, || fetch_trace(&http, &spoor, id)).await;
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        2,
        "client and server sharing an id are two spans"
    );
    let services: Vec<&str> = t["processes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["serviceName"].as_str().unwrap())
        .collect();
    assert!(
        services.contains(&"frontend.shop") && services.contains(&"checkout.shop"),
        "{services:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    // Unsupported content type.
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    // Malformed JSON names the problem.
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "application/json")
        .body("{\"resourceSpans\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(!resp.text().await.unwrap().is_empty());
    // A gzip bomb that inflates past the limit is refused, not inflated.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Invalid id lengths: partial success, the valid span kept.
    let good = random_trace();
    let json = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"partial"}}}}]}},"scopeSpans":[{{"spans":[
        {{"traceId":"{}","spanId":"0000000000000001","name":"ok","startTimeUnixNano":"{}","endTimeUnixNano":"{}"}},
        {{"traceId":"abcd","spanId":"0000000000000002","name":"bad","startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#,
        good.to_hex32(),
        now_ns() - 1000,
        now_ns()
    );
    let resp = http
        .post(spoor.otlp_http_url())
        .header("content-type", "application/json")
        .body(json)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
    eventually(2, || fetch_trace(&http, &spoor, good)).await;
    // Bad query parameters: Jaeger's error envelope.
    let resp = http
        .get(format!(
            "{}/api/traces?service=x&minDuration=abc",
            spoor.query_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["errors"][0]["code"], 400);
    let resp = http
        .get(format!("{}/api/traces?limit=5", spoor.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .get(format!(
            "{}/api/traces/{}",
            spoor.query_url(),
            random_trace().to_hex32()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn admin_reports_health_and_metrics() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/", spoor.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "Server available");
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_url())
        .await
        .unwrap();
    client
        .export(ExportTraceServiceRequest {
            resource_spans: sample_trace(random_trace(), "m").resource_spans,
        })
        .await
        .unwrap();
    let text = http
        .get(format!("{}/metrics", spoor.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("spoor_receiver_spans_received_total"),
        "{text}"
    );
    assert!(text.contains("spoor_storage_live_traces"), "{text}");
    // The store's memory by part; RocksDB's memtables are never empty.
    let part = |name: &str| -> f64 {
        let prefix = format!("spoor_storage_memory_bytes{{part=\"{name}\"}} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix}in\n{text}"));
        line[prefix.len()..].trim().parse().unwrap()
    };
    assert!(part("memtables") > 0.0);
    for name in ["live_buffer", "table_readers", "block_cache", "bloom_cache"] {
        assert!(part(name) >= 0.0, "{name}");
    }
}
