//! End-to-end tests of the Jaeger v1 HTTP API: requests go through the real
//! router in-process (`tower::ServiceExt::oneshot`) to a real store opened in
//! a temporary directory.
//!
//! In: canonical-model spans written with `prepare_batch` + `write_batches`,
//! then HTTP requests. Out: assertions on status, headers and JSON bodies.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::Router;
use http::header::{ALLOW, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{self, kv, string_kv, SpanKind, StatusCode as OtelStatus, Value};
use spoor_query::{jaeger_http_router, QueryHttpSettings};
use spoor_storage::{prepare_batch, StorageConfig, Store};
use tower::ServiceExt;

const MS: u64 = 1_000_000;

/// A store in a temp dir plus a router over it.
struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    router: Router,
    /// A reference instant one minute ago, in ns.
    t0: u64,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_settings(QueryHttpSettings::default())
    }

    fn with_settings(settings: QueryHttpSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let store = Store::open(config).unwrap();
        let router = jaeger_http_router(store.clone(), settings);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Harness {
            _dir: dir,
            store,
            router,
            t0: now - 60_000 * MS,
        }
    }

    fn write(&self, data: model::TracesData) {
        self.store.write_batches(&[prepare_batch(data)]).unwrap();
    }

    async fn request(&self, method: Method, uri: &str) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri).await
    }
}

/// A span of `trace` starting `offset_ms` after `t0`.
fn span(
    trace: u128,
    id: u64,
    parent: u64,
    name: &str,
    t0: u64,
    offset_ms: u64,
    duration_ms: u64,
) -> model::Span {
    model::Span {
        trace_id: TraceId(trace).to_bytes().to_vec().into(),
        span_id: id.to_be_bytes().to_vec().into(),
        parent_span_id: if parent == 0 {
            Default::default()
        } else {
            parent.to_be_bytes().to_vec().into()
        },
        name: name.to_string(),
        start_time_unix_nano: t0 + offset_ms * MS,
        end_time_unix_nano: t0 + (offset_ms + duration_ms) * MS,
        ..Default::default()
    }
}

fn kind(mut s: model::Span, kind: SpanKind) -> model::Span {
    s.kind = kind as i32;
    s
}

/// One resource (service) with its spans.
fn service(name: &str, spans: Vec<model::Span>) -> model::ResourceSpans {
    model::ResourceSpans {
        resource: Some(model::Resource {
            attributes: vec![
                string_kv("service.name", name),
                string_kv("host.name", format!("{name}-1")),
            ],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![model::ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn batch(groups: Vec<model::ResourceSpans>) -> model::TracesData {
    model::TracesData {
        resource_spans: groups,
    }
}

const TRACE_A: u128 = 0xa1;
const TRACE_B: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;

/// frontend → orders, two traces; B is newer and has an error.
fn seed(h: &Harness) {
    let mut checkout_db = kind(
        span(TRACE_A, 2, 1, "SELECT orders", h.t0, 5, 10),
        SpanKind::Client,
    );
    checkout_db.attributes = vec![kv("http.status_code", Value::IntValue(200))];
    h.write(batch(vec![
        service(
            "frontend",
            vec![kind(
                span(TRACE_A, 1, 0, "GET /checkout", h.t0, 0, 30),
                SpanKind::Server,
            )],
        ),
        service("orders", vec![checkout_db]),
    ]));
    let mut failing = kind(
        span(TRACE_B, 0x11, 0, "GET /cart", h.t0, 1_000, 300),
        SpanKind::Server,
    );
    failing.attributes = vec![kv("http.status_code", Value::IntValue(500))];
    failing.status = Some(model::Status {
        message: "boom".into(),
        code: OtelStatus::Error as i32,
    });
    h.write(batch(vec![
        service("frontend", vec![failing]),
        service(
            "orders",
            vec![kind(
                span(TRACE_B, 0x12, 0x11, "redis.get", h.t0, 1_010, 5),
                SpanKind::Client,
            )],
        ),
    ]));
}

fn assert_jaeger_error(reply: &Reply, status: StatusCode, msg: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(reply.headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(reply.body.ends_with('\n'));
    assert_eq!(
        reply.json(),
        json!({"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":status.as_u16(),"msg":msg}]})
    );
}

#[tokio::test]
async fn services_are_sorted_and_counted() {
    let h = Harness::new();
    seed(&h);
    let reply = h.get("/api/services").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        reply.json(),
        json!({"data":["frontend","orders"],"total":2,"limit":0,"offset":0,"errors":null})
    );
}

#[tokio::test]
async fn an_empty_store_lists_no_services_as_an_empty_array() {
    let h = Harness::new();
    assert_eq!(
        h.get("/api/services").await.json(),
        json!({"data":[],"total":0,"limit":0,"offset":0,"errors":null})
    );
}

#[tokio::test]
async fn legacy_operations_decode_an_encoded_slash_and_list_each_name_once() {
    let h = Harness::new();
    h.write(batch(vec![service(
        "cart/shop v2",
        vec![
            kind(span(0x5, 1, 0, "GET /cart", h.t0, 0, 1), SpanKind::Server),
            kind(span(0x5, 2, 1, "GET /cart", h.t0, 0, 1), SpanKind::Client),
            span(0x5, 3, 1, "compute", h.t0, 0, 1),
        ],
    )]));
    let reply = h.get("/api/services/cart%2Fshop%20v2/operations").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"data":["GET /cart","compute"],"total":2,"limit":0,"offset":0,"errors":null})
    );
}

#[tokio::test]
async fn legacy_operations_of_an_unknown_service_are_empty() {
    let h = Harness::new();
    let reply = h.get("/api/services/nobody/operations").await;
    assert_eq!(
        reply.json(),
        json!({"data":[],"total":0,"limit":0,"offset":0,"errors":null})
    );
}

#[tokio::test]
async fn operations_carry_their_span_kind_and_filter_by_it() {
    let h = Harness::new();
    seed(&h);
    h.write(batch(vec![service(
        "frontend",
        vec![span(0x6, 1, 0, "render", h.t0, 0, 1)],
    )]));
    let all = h.get("/api/operations?service=frontend").await.json();
    assert_eq!(
        all,
        json!({"data":[
            {"name":"GET /cart","spanKind":"server"},
            {"name":"GET /checkout","spanKind":"server"},
            {"name":"render","spanKind":""}
        ],"total":3,"limit":0,"offset":0,"errors":null})
    );
    let servers = h
        .get("/api/operations?service=orders&spanKind=server")
        .await
        .json();
    assert_eq!(servers["data"], json!([]));
    let clients = h
        .get("/api/operations?service=orders&spanKind=client")
        .await
        .json();
    assert_eq!(clients["total"], 2);
    let unknown_kind = h
        .get("/api/operations?service=orders&spanKind=sideways")
        .await;
    assert_eq!(unknown_kind.status, StatusCode::OK);
    assert_eq!(unknown_kind.json()["data"], json!([]));
}

#[tokio::test]
async fn operations_require_a_service() {
    let h = Harness::new();
    assert_jaeger_error(
        &h.get("/api/operations?spanKind=server").await,
        StatusCode::BAD_REQUEST,
        "parameter 'service' is required",
    );
}

#[tokio::test]
async fn a_trace_is_served_as_a_one_element_array_in_the_ui_model() {
    let h = Harness::new();
    seed(&h);
    let reply = h.get("/api/traces/4bf92f3577b34da6a3ce929d0e0e4736").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.headers[CONTENT_TYPE], "application/json");
    let body = reply.json();
    assert_eq!(
        (body["total"].clone(), body["errors"].clone()),
        (json!(0), json!(null))
    );
    let traces = body["data"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace["traceID"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let root = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spanID"] == "0000000000000011")
        .unwrap();
    assert_eq!(root["operationName"], "GET /cart");
    assert_eq!(root["references"], json!([]));
    assert_eq!(root["startTime"], json!((h.t0 + 1_000 * MS) / 1_000));
    assert_eq!(root["duration"], json!(300_000));
    assert_eq!(root["logs"], json!([]));
    assert_eq!(root["warnings"], json!(null));
    // Adjusted: tags sorted by key, error status synthesised.
    assert_eq!(
        root["tags"],
        json!([
            {"key":"error","type":"bool","value":true},
            {"key":"http.status_code","type":"int64","value":500},
            {"key":"otel.status_code","type":"string","value":"ERROR"},
            {"key":"otel.status_description","type":"string","value":"boom"},
            {"key":"span.kind","type":"string","value":"server"}
        ])
    );
    let child = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spanID"] == "0000000000000012")
        .unwrap();
    assert_eq!(
        child["references"],
        json!([{"refType":"CHILD_OF","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"0000000000000011"}])
    );
    let process_of = |s: &Json| trace["processes"][s["processID"].as_str().unwrap()].clone();
    assert_eq!(
        process_of(root),
        json!({"serviceName":"frontend","tags":[{"key":"host.name","type":"string","value":"frontend-1"}]})
    );
    assert_eq!(process_of(child)["serviceName"], "orders");
}

#[tokio::test]
async fn short_padded_and_upper_case_trace_ids_find_the_same_trace() {
    let h = Harness::new();
    seed(&h);
    for id in [
        "a1",
        "A1",
        "00000000000000a1",
        "000000000000000000000000000000A1",
    ] {
        let reply = h.get(&format!("/api/traces/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.body);
        // A 64-bit id prints as 16 hex chars.
        assert_eq!(reply.json()["data"][0]["traceID"], "00000000000000a1");
    }
}

#[tokio::test]
async fn an_unknown_trace_is_a_json_404() {
    let h = Harness::new();
    assert_jaeger_error(
        &h.get("/api/traces/123456").await,
        StatusCode::NOT_FOUND,
        "trace not found",
    );
}

#[tokio::test]
async fn a_malformed_trace_id_is_a_400() {
    let h = Harness::new();
    assert_jaeger_error(
        &h.get("/api/traces/not-hex").await,
        StatusCode::BAD_REQUEST,
        "cannot parse traceID param: strconv.ParseUint: parsing \"not-hex\": invalid syntax",
    );
}

#[tokio::test]
async fn time_hints_never_hide_a_trace() {
    let h = Harness::new();
    seed(&h);
    // Grafana's backend sends ms where µs are expected: a window in 1970.
    let reply = h
        .get("/api/traces/a1?start=1718000000000&end=1718000360000")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["data"][0]["traceID"], "00000000000000a1");
    // Malformed hints are still rejected.
    assert_jaeger_error(
        &h.get("/api/traces/a1?start=yesterday").await,
        StatusCode::BAD_REQUEST,
        "unable to parse param 'start': strconv.ParseInt: parsing \"yesterday\": invalid syntax",
    );
}

/// A Zipkin-style trace: client and server share span id 0x20, plus an exact
/// duplicate of the client span.
fn seed_shared_span_trace(h: &Harness) {
    let client = kind(
        span(0x77, 0x20, 0x10, "call", h.t0, 0, 10),
        SpanKind::Client,
    );
    h.write(batch(vec![
        service(
            "caller",
            vec![
                span(0x77, 0x10, 0, "root", h.t0, 0, 20),
                client.clone(),
                client,
            ],
        ),
        service(
            "callee",
            vec![
                kind(
                    span(0x77, 0x20, 0x10, "handle", h.t0, 1, 8),
                    SpanKind::Server,
                ),
                span(0x77, 0x30, 0x20, "work", h.t0, 2, 1),
            ],
        ),
    ]));
}

#[tokio::test]
async fn shared_client_server_span_ids_are_split_and_duplicates_removed() {
    let h = Harness::new();
    seed_shared_span_trace(&h);
    let trace = h.get("/api/traces/77").await.json()["data"][0].clone();
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 4);
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("handle")["spanID"], "0000000000000001");
    assert_eq!(
        by_name("handle")["references"][0]["spanID"],
        "0000000000000020"
    );
    assert_eq!(
        by_name("work")["references"][0]["spanID"],
        "0000000000000001"
    );
    assert_eq!(by_name("call")["spanID"], "0000000000000020");
}

#[tokio::test]
async fn raw_returns_the_stored_spans_untouched() {
    let h = Harness::new();
    seed_shared_span_trace(&h);
    let trace = h.get("/api/traces/77?raw=true").await.json()["data"][0].clone();
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 5);
    assert!(spans.iter().all(|s| s["warnings"].is_null()));
    assert_eq!(
        spans
            .iter()
            .filter(|s| s["spanID"] == "0000000000000020")
            .count(),
        3
    );
}

#[tokio::test]
async fn clock_skew_warnings_appear_although_adjustment_is_disabled() {
    let h = Harness::new();
    // The child starts 50 ms before its parent.
    h.write(batch(vec![service(
        "svc",
        vec![
            span(0x88, 1, 0, "parent", h.t0, 100, 100),
            span(0x88, 2, 1, "child", h.t0, 50, 50),
        ],
    )]));
    let trace = h.get("/api/traces/88").await.json()["data"][0].clone();
    let child = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operationName"] == "child")
        .unwrap()
        .clone();
    assert_eq!(
        child["warnings"],
        json!(["clock skew adjustment disabled; not applying calculated delta of 75ms"])
    );
    assert_eq!(child["startTime"], json!((h.t0 + 50 * MS) / 1_000));
}

#[tokio::test]
async fn search_requires_a_service() {
    let h = Harness::new();
    assert_jaeger_error(
        &h.get("/api/traces?operation=x&lookback=1h").await,
        StatusCode::BAD_REQUEST,
        "parameter 'service' is required",
    );
}

#[tokio::test]
async fn a_search_without_matches_is_200_with_an_empty_array() {
    let h = Harness::new();
    seed(&h);
    let reply = h.get("/api/traces?service=nobody").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!({"data":[],"total":0,"limit":0,"offset":0,"errors":null})
    );
}

#[tokio::test]
async fn search_returns_whole_traces_newest_first_up_to_the_limit() {
    let h = Harness::new();
    seed(&h);
    let body = h
        .get("/api/traces?service=orders&lookback=1h&unknownParam=1")
        .await
        .json();
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].clone())
        .collect();
    assert_eq!(
        ids,
        [
            json!("4bf92f3577b34da6a3ce929d0e0e4736"),
            json!("00000000000000a1")
        ]
    );
    // Whole traces: the frontend spans come along.
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 2);
    assert_eq!(body["total"], 0);
    let limited = h.get("/api/traces?service=orders&limit=1").await.json();
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        limited["data"][0]["traceID"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[tokio::test]
async fn search_filters_by_operation_tags_duration_and_time() {
    let h = Harness::new();
    seed(&h);
    let only = |uri: String| {
        let h = &h;
        async move {
            let body = h.get(&uri).await.json();
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["traceID"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let b = "4bf92f3577b34da6a3ce929d0e0e4736";
    let a = "00000000000000a1";
    assert_eq!(
        only("/api/traces?service=frontend&operation=GET%20%2Fcheckout".into()).await,
        [a]
    );
    assert_eq!(
        only("/api/traces?service=frontend&tags=%7B%22error%22%3A%22true%22%7D".into()).await,
        [b]
    );
    assert_eq!(
        only("/api/traces?service=orders&tag=http.status_code:200".into()).await,
        [a]
    );
    assert_eq!(
        only("/api/traces?service=frontend&minDuration=100ms".into()).await,
        [b]
    );
    assert_eq!(
        only("/api/traces?service=frontend&maxDuration=100ms".into()).await,
        [a]
    );
    let start_us = (h.t0 + 500 * MS) / 1_000;
    assert_eq!(
        only(format!("/api/traces?service=frontend&start={start_us}")).await,
        [b]
    );
    assert_eq!(
        only(format!("/api/traces?service=frontend&end={start_us}")).await,
        [a]
    );
}

#[tokio::test]
async fn search_parameter_errors_use_jaeger_messages() {
    let h = Harness::new();
    let cases = [
        ("/api/traces?service=s&limit=many", "unable to parse param 'limit': strconv.ParseInt: parsing \"many\": invalid syntax"),
        ("/api/traces?service=s&minDuration=100", "unable to parse param 'minDuration': time: missing unit in duration \"100\""),
        ("/api/traces?service=s&minDuration=2s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"),
        ("/api/traces?service=s&tag=nocolon", "malformed 'tag' parameter, expecting key:value, received: nocolon"),
        (
            "/api/traces?service=s&tags=%7B%22error%22%3Atrue%7D",
            "malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal bool into Go value of type string",
        ),
    ];
    for (uri, msg) in cases {
        assert_jaeger_error(&h.get(uri).await, StatusCode::BAD_REQUEST, msg);
    }
}

#[tokio::test]
async fn multi_get_returns_found_traces_and_per_id_errors_with_200() {
    let h = Harness::new();
    seed(&h);
    let reply = h
        .get("/api/traces?traceID=a1&traceID=dead&start=1&end=2")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["traceID"], "00000000000000a1");
    assert_eq!(
        body["errors"],
        json!([{"msg":"trace not found","traceID":"000000000000dead"}])
    );
    let all_found = h.get("/api/traces?traceID=a1").await.json();
    assert_eq!(all_found["errors"], json!(null));
}

#[tokio::test]
async fn multi_get_with_a_malformed_id_is_a_400() {
    let h = Harness::new();
    assert_jaeger_error(
        &h.get("/api/traces?traceID=a1&traceID=zz").await,
        StatusCode::BAD_REQUEST,
        "cannot parse traceID param: strconv.ParseUint: parsing \"zz\": invalid syntax",
    );
}

#[tokio::test]
async fn pretty_print_indents_with_four_spaces() {
    let h = Harness::new();
    seed(&h);
    let reply = h.get("/api/services?prettyPrint=true").await;
    assert!(
        reply
            .body
            .starts_with("{\n    \"data\": [\n        \"frontend\","),
        "{}",
        reply.body
    );
    assert_eq!(
        h.get("/api/services?prettyPrint=false").await.body,
        r#"{"data":["frontend","orders"],"total":2,"limit":0,"offset":0,"errors":null}"#
    );
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let h = Harness::new();
    for uri in [
        "/api/nothing",
        "/api/v1/traces",
        "/api/traces/",
        "/api/services/a/b/operations",
    ] {
        assert_jaeger_error(
            &h.get(uri).await,
            StatusCode::NOT_FOUND,
            "404 page not found",
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_with_a_json_body() {
    let h = Harness::new();
    let reply = h.request(Method::POST, "/api/services").await;
    assert_jaeger_error(
        &reply,
        StatusCode::METHOD_NOT_ALLOWED,
        "405 method not allowed",
    );
    assert!(reply.headers[ALLOW].to_str().unwrap().contains("GET"));
    let reply = h.request(Method::DELETE, "/api/traces/a1").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_route_moves_under_the_base_path() {
    let settings = QueryHttpSettings {
        base_path: "/jaeger/".to_string(),
        ..Default::default()
    };
    let h = Harness::with_settings(settings);
    seed(&h);
    assert_eq!(h.get("/jaeger/api/services").await.json()["total"], 2);
    assert_eq!(h.get("/jaeger/api/traces/a1").await.status, StatusCode::OK);
    assert_eq!(
        h.get("/jaeger/api/traces?service=orders").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_jaeger_error(
        &h.get("/jaeger/api/nothing").await,
        StatusCode::NOT_FOUND,
        "404 page not found",
    );
    assert_eq!(h.get("/api/services").await.status, StatusCode::NOT_FOUND);
}
