//! Tests of the internal API against a real store: answers round-trip and
//! bad requests get a 400 naming what is wrong.

use super::*;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use spoor_proto::model::{ResourceSpans, ScopeSpans, Span};
use spoor_storage::{prepare_batch, StorageConfig, Store};
use tower::ServiceExt;

fn router() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StorageConfig {
        data_dir: dir.path().join("data"),
        ..Default::default()
    })
    .unwrap();
    let span = Span {
        trace_id: TraceId(0x77).to_bytes().to_vec().into(),
        span_id: 1u64.to_be_bytes().to_vec().into(),
        name: "op".into(),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        ..Default::default()
    };
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    store.write_batches(&[prepare_batch(data)]).unwrap();
    let report: ReportFn = Arc::new(|| PartitionReport {
        node: "n1".into(),
        partition_count: 2,
        assigned: vec![1],
        held: vec![0, 1],
        lagging: Vec::new(),
    });
    (internal_router(store, report), dir)
}

async fn call(router: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn reads_round_trip() {
    let (router, _dir) = router();
    let id = TraceId(0x77).to_hex32();
    let (status, body) = call(&router, "GET", &format!("/internal/v1/traces/{id}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(TracesData::decode(body).unwrap().span_count(), 1);
    let (status, _) = call(
        &router,
        "GET",
        &format!("/internal/v1/traces/{}", TraceId(9).to_hex32()),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&router, "GET", "/internal/v1/traces-by-low64/77", "").await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let (status, body) = call(&router, "POST", "/internal/v1/search", r#"{"limit":5}"#).await;
    assert_eq!(status, StatusCode::OK);
    let found = wire::decode_found(body).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].cursor.trace_id, TraceId(0x77));
    let page = format!(
        r#"{{"query":{{"limit":5}},"after":{{"latest_match_ns":1000,"trace_id":"{id}"}}}}"#
    );
    let (status, body) = call(&router, "POST", "/internal/v1/find-page", &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(wire::decode_found(body).unwrap().is_empty());
    let (_, body) = call(&router, "GET", "/internal/v1/partitions", "").await;
    let report: PartitionReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(report.held, [0, 1]);
    let (status, body) = call(&router, "POST", &format!("/internal/v1/archive/{id}"), "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"true"[..]));
    let (status, _) = call(&router, "GET", &format!("/internal/v1/archive/{id}"), "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &router,
        "POST",
        "/internal/v1/aggregate-buckets",
        r#"{"start_ms":0,"end_ms":10,"filter":{"services":["a"],"kinds":[2]}}"#,
    )
    .await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"[]"[..]));
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let (router, _dir) = router();
    let cases = [
        ("GET", "/internal/v1/traces/xyz", "", "trace id \"xyz\""),
        (
            "GET",
            "/internal/v1/traces-by-low64/12345678901234567",
            "",
            "1 to 16 hex digits",
        ),
        (
            "POST",
            "/internal/v1/search",
            r#"{"limit":5,"servce":"a"}"#,
            "invalid search body",
        ),
        (
            "POST",
            "/internal/v1/find-page",
            r#"{"query":{"limit":1},"after":{"latest_match_ns":1,"trace_id":"q"}}"#,
            "after.trace_id",
        ),
        ("GET", "/internal/v1/operations", "", "service is required"),
        (
            "GET",
            "/internal/v1/operations?service=a&kind=99",
            "",
            "kind \"99\"",
        ),
        (
            "GET",
            "/internal/v1/dependencies?start_ms=1",
            "",
            "end_ms is required",
        ),
        (
            "GET",
            "/internal/v1/dependencies?start_ms=x&end_ms=1",
            "",
            "start_ms \"x\"",
        ),
        (
            "POST",
            "/internal/v1/aggregate-buckets",
            "{}",
            "invalid aggregate-buckets body",
        ),
    ];
    for (method, uri, body, wanted) in cases {
        let (status, text) = call(&router, method, uri, body).await;
        let text = String::from_utf8_lossy(&text);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
        assert!(text.contains(wanted), "{uri}: {text:?} lacks {wanted:?}");
    }
}
