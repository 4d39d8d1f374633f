//! End to end: Spoor configured as the Istio addon replacement
//! (deploy/istio/spoor.yaml's ConfigMap: base path `/jaeger`) receives Zipkin
//! v2 JSON shaped as Envoy sends it — 128-bit trace ids, client and server
//! halves of a call with their own span ids, services named
//! `<app>.<namespace>`, Istio's tags — on the Zipkin port, and Kiali's gRPC
//! calls read it back: GetServices, FindTraces with `istio.cluster_id`,
//! GetTrace; the dependency links (gRPC, and HTTP under `/jaeger`) show the
//! call from productpage to reviews.

mod support;

use std::collections::HashMap;

use serde::Deserialize as _;
use serde_json::json;
use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient;
use spoor_proto::jaeger::api_v2::{
    self, FindTracesRequest, GetDependenciesRequest, GetServicesRequest, GetTraceRequest,
    TraceQueryParameters,
};
use support::*;

/// The Spoor settings of deploy/istio/spoor.yaml's ConfigMap, read from the
/// file itself so the test follows the manifest.
fn istio_config() -> String {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/istio/spoor.yaml"),
    )
    .expect("deploy/istio/spoor.yaml");
    for doc in serde_yaml::Deserializer::from_str(&manifest) {
        let value = serde_yaml::Value::deserialize(doc).expect("yaml");
        if value["kind"] == "ConfigMap" && value["metadata"]["name"] == "spoor" {
            return value["data"]["config.yaml"]
                .as_str()
                .expect("config.yaml")
                .to_string();
        }
    }
    panic!("no ConfigMap spoor in deploy/istio/spoor.yaml");
}

/// One Envoy span (Zipkin v2 JSON) of `service` = `<app>.<namespace>`.
#[allow(clippy::too_many_arguments)]
fn envoy_span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    service: &str,
    kind: &str,
    name: &str,
    start_us: u64,
    duration_us: u64,
    status: u16,
) -> serde_json::Value {
    let (app, namespace) = service.split_once('.').unwrap();
    let mut tags = json!({
        "istio.cluster_id": "Kubernetes",
        "istio.mesh_id": "cluster.local",
        "istio.canonical_service": app,
        "istio.canonical_revision": "v1",
        "istio.namespace": namespace,
        "node_id": format!("sidecar~10.1.2.3~{app}-v1-7f9c.{namespace}~{namespace}.svc.cluster.local"),
        "guid:x-request-id": "5c8b6c4e-7a8c-9c6b-a9a4-0d1f2e3a4b5c",
        "component": "proxy",
        "http.method": "GET",
        "http.protocol": "HTTP/1.1",
        "http.status_code": status.to_string(),
        "response_flags": "-",
        "upstream_cluster": format!("inbound|9080||{app}.{namespace}.svc.cluster.local"),
    });
    if status >= 500 {
        tags["error"] = json!("true");
    }
    let mut span = json!({
        "traceId": trace,
        "id": id,
        "kind": kind,
        "name": name,
        "timestamp": start_us,
        "duration": duration_us,
        "localEndpoint": {"serviceName": service, "ipv4": "10.1.2.3"},
        "tags": tags,
    });
    if let Some(parent) = parent {
        span["parentId"] = json!(parent);
    }
    if kind == "CLIENT" {
        span["remoteEndpoint"] = json!({"ipv4": "10.1.2.4", "port": 9080});
    }
    span
}

/// A Bookinfo request through the mesh: the ingress gateway calls
/// productpage, whose sidecar calls reviews (which fails with 503).
fn bookinfo_request(trace: &str, start_us: u64) -> Vec<serde_json::Value> {
    let ids = |n: u64| {
        format!(
            "{:016x}",
            u64::from_str_radix(&trace[16..], 16).unwrap() ^ n
        )
    };
    let (gateway, productpage, outbound, reviews) = (ids(1), ids(2), ids(3), ids(4));
    vec![
        envoy_span(
            trace,
            &gateway,
            None,
            "istio-ingressgateway.istio-system",
            "CLIENT",
            "productpage.default.svc.cluster.local:9080/productpage",
            start_us,
            40_000,
            200,
        ),
        envoy_span(
            trace,
            &productpage,
            Some(&gateway),
            "productpage.default",
            "SERVER",
            "productpage.default.svc.cluster.local:9080/productpage",
            start_us + 1_000,
            38_000,
            200,
        ),
        envoy_span(
            trace,
            &outbound,
            Some(&productpage),
            "productpage.default",
            "CLIENT",
            "reviews.default.svc.cluster.local:9080/*",
            start_us + 2_000,
            30_000,
            503,
        ),
        envoy_span(
            trace,
            &reviews,
            Some(&outbound),
            "reviews.default",
            "SERVER",
            "reviews.default.svc.cluster.local:9080/*",
            start_us + 3_000,
            28_000,
            503,
        ),
    ]
}

fn kiali_query(service: &str, cluster: &str) -> FindTracesRequest {
    let now_s = (now_ns() / 1_000_000_000) as i64;
    FindTracesRequest {
        query: Some(TraceQueryParameters {
            service_name: service.to_string(),
            tags: HashMap::from([("istio.cluster_id".to_string(), cluster.to_string())]),
            start_time_min: Some(prost_types::Timestamp {
                seconds: now_s - 3600,
                nanos: 0,
            }),
            start_time_max: Some(prost_types::Timestamp {
                seconds: now_s + 60,
                nanos: 0,
            }),
            search_depth: 20,
            ..Default::default()
        }),
    }
}

async fn spans_of(mut stream: tonic::Streaming<api_v2::SpansResponseChunk>) -> Vec<api_v2::Span> {
    let mut spans = Vec::new();
    while let Some(chunk) = stream.message().await.expect("stream") {
        spans.extend(chunk.spans);
    }
    spans
}

#[tokio::test]
async fn envoy_zipkin_spans_read_back_through_kialis_grpc_calls() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    let text = istio_config();
    assert!(text.contains("base_path: /jaeger"), "{text}");
    // The manifest's data_dir is the pod's volume; here a temp dir wins (flag).
    std::fs::write(&config, text).unwrap();
    let spoor = Spoor::start_with(&["--config", config.to_str().unwrap()]);
    let http = reqwest::Client::new();

    let trace = TraceId(rand::random::<u128>() | 1 << 120);
    let trace_hex = trace.to_hex32();
    let start_us = now_ns() / 1_000 - 5_000_000;
    let resp = http
        .post(format!("{}/api/v2/spans", spoor.zipkin_url()))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&bookinfo_request(&trace_hex, start_us)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);

    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();
    // GetServices: Kiali's health probe and service list.
    let services = eventually(10, || {
        let mut client = client.clone();
        async move {
            let s = client
                .get_services(GetServicesRequest {})
                .await
                .ok()?
                .into_inner()
                .services;
            (s.len() == 3).then_some(s)
        }
    })
    .await;
    for want in [
        "istio-ingressgateway.istio-system",
        "productpage.default",
        "reviews.default",
    ] {
        assert!(services.iter().any(|s| s == want), "{services:?}");
    }

    // FindTraces as Kiali sends it for reviews in cluster "Kubernetes".
    let spans = eventually(10, || {
        let mut client = client.clone();
        async move {
            let stream = client
                .find_traces(kiali_query("reviews.default", "Kubernetes"))
                .await
                .ok()?
                .into_inner();
            let spans = spans_of(stream).await;
            (spans.len() == 4).then_some(spans)
        }
    })
    .await;
    assert!(spans.iter().all(|s| s.trace_id[..] == trace.to_bytes()));
    let other_cluster = client
        .find_traces(kiali_query("reviews.default", "east"))
        .await
        .unwrap()
        .into_inner();
    assert!(spans_of(other_cluster).await.is_empty());

    // GetTrace with the 16-byte id: both halves of the call, each with its
    // own span id and its own service.
    let stream = client
        .get_trace(GetTraceRequest {
            trace_id: trace.to_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let spans = spans_of(stream).await;
    assert_eq!(spans.len(), 4);
    let service_of = |s: &api_v2::Span| s.process.as_ref().unwrap().service_name.clone();
    let tag = |s: &api_v2::Span, key: &str| {
        s.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.v_str.clone())
    };
    let reviews = spans
        .iter()
        .find(|s| service_of(s) == "reviews.default")
        .unwrap();
    // The parent of reviews' server half is productpage's client half.
    let outbound = spans
        .iter()
        .find(|s| s.span_id == reviews.references[0].span_id)
        .expect("the parent span is in the trace");
    assert_eq!(service_of(outbound), "productpage.default");
    assert_ne!(reviews.span_id, outbound.span_id);
    assert_ne!(outbound.references[0].span_id, outbound.span_id);
    assert_eq!(
        tag(reviews, "istio.cluster_id").as_deref(),
        Some("Kubernetes")
    );
    assert_eq!(tag(reviews, "http.status_code").as_deref(), Some("503"));
    assert!(reviews
        .tags
        .iter()
        .any(|t| t.key == "error" && (t.v_bool || t.v_str == "true")));

    // The dependency links show the call, over gRPC ...
    let now_s = (now_ns() / 1_000_000_000) as i64;
    let links = eventually(30, || {
        let mut client = client.clone();
        async move {
            let links = client
                .get_dependencies(GetDependenciesRequest {
                    start_time: Some(prost_types::Timestamp {
                        seconds: now_s - 3600,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: now_s + 60,
                        nanos: 0,
                    }),
                })
                .await
                .ok()?
                .into_inner()
                .dependencies;
            links
                .iter()
                .any(|l| l.parent == "productpage.default" && l.child == "reviews.default")
                .then_some(links)
        }
    })
    .await;
    let call = links
        .iter()
        .find(|l| l.parent == "productpage.default" && l.child == "reviews.default")
        .unwrap();
    assert_eq!(call.call_count, 1);

    // ... and over HTTP at the base path, where Grafana's data source and
    // Kiali's HTTP mode look.
    let url = format!(
        "{}/jaeger/api/dependencies?endTs={}&lookback=3600000",
        spoor.query_url(),
        now_ns() / 1_000_000 + 60_000
    );
    let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    let data = body["data"].as_array().expect("data");
    assert!(
        data.iter()
            .any(|l| l["parent"] == "productpage.default" && l["child"] == "reviews.default"),
        "{body}"
    );
    let services: serde_json::Value = http
        .get(format!("{}/jaeger/api/services", spoor.query_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(services["total"], 3, "{services}");
}
