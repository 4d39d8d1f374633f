//! The Zipkin v2 read API through its real router in-process
//! (`tower::ServiceExt::oneshot`) over a real store in a temporary directory.
//!
//! In: canonical-model spans written with `prepare_batch` + `write_batches`,
//! then HTTP requests. Out: assertions on status and JSON bodies — strict and
//! lenient trace ids, and `/traces` with more candidates than one page.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value as Json;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{self, string_kv};
use spoor_query::{zipkin_read_router, ZipkinReadSettings};
use spoor_storage::{prepare_batch, StorageConfig, Store};
use tower::ServiceExt;

const MS: u64 = 1_000_000;
const LOW: u64 = 0x48485a3953bb6124;
const HIGH: u64 = 0x463ac35c9f6413ad;
const LONG_HEX: &str = "463ac35c9f6413ad48485a3953bb6124";
const SHORT_HEX: &str = "48485a3953bb6124";

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    router: Router,
    /// A reference instant one minute ago, in ns.
    t0: u64,
}

impl Harness {
    fn new(settings: ZipkinReadSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StorageConfig {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap();
        let router = zipkin_read_router(store.clone(), settings);
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

    fn lenient() -> Self {
        Self::new(ZipkinReadSettings {
            strict_trace_id: false,
            ..Default::default()
        })
    }

    /// One span of `trace` in `service`, starting `offset_ms` after `t0`.
    fn write(&self, trace: u128, id: u64, parent: u64, service: &str, name: &str, offset_ms: u64) {
        let span = model::Span {
            trace_id: TraceId(trace).to_bytes().to_vec().into(),
            span_id: id.to_be_bytes().to_vec().into(),
            parent_span_id: if parent == 0 {
                Default::default()
            } else {
                parent.to_be_bytes().to_vec().into()
            },
            name: name.to_string(),
            start_time_unix_nano: self.t0 + offset_ms * MS,
            end_time_unix_nano: self.t0 + (offset_ms + 1) * MS,
            ..Default::default()
        };
        let data = model::TracesData {
            resource_spans: vec![model::ResourceSpans {
                resource: Some(model::Resource {
                    attributes: vec![string_kv("service.name", service)],
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![model::ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        self.store.write_batches(&[prepare_batch(data)]).unwrap();
    }

    async fn get(&self, uri: &str) -> (StatusCode, Json) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Json::String(text)),
        )
    }

    /// The sorted span names of `/trace/{id}`, or the status when not 200.
    async fn trace_names(&self, id: &str) -> Result<Vec<String>, StatusCode> {
        let (status, body) = self.get(&format!("/api/v2/trace/{id}")).await;
        if status != StatusCode::OK {
            return Err(status);
        }
        Ok(names(&body))
    }

    /// Per trace of a list answer, its sorted span names; traces sorted.
    async fn list_names(&self, uri: &str) -> Vec<Vec<String>> {
        let (status, body) = self.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let mut traces: Vec<Vec<String>> = body.as_array().unwrap().iter().map(names).collect();
        traces.sort();
        traces
    }

    /// The 64-bit and the 128-bit trace sharing `LOW`, one unrelated 128-bit
    /// trace, all in service `front`.
    fn seed_mixed_ids(&self) {
        self.write(u128::from(LOW), 1, 0, "front", "short-root", 0);
        self.write(
            TraceId::from_halves(HIGH, LOW).0,
            2,
            1,
            "front",
            "long-child",
            5,
        );
        self.write(TraceId::from_halves(HIGH, 7).0, 3, 0, "front", "other", 10);
    }
}

fn names(trace: &Json) -> Vec<String> {
    let mut names: Vec<String> = trace
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn strings(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|t| t.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn strict_trace_ids_match_in_full() {
    let h = Harness::new(ZipkinReadSettings::default());
    assert!(ZipkinReadSettings::default().strict_trace_id);
    h.seed_mixed_ids();
    for _ in 0..2 {
        assert_eq!(h.trace_names(SHORT_HEX).await.unwrap(), ["short-root"]);
        assert_eq!(h.trace_names(LONG_HEX).await.unwrap(), ["long-child"]);
        assert_eq!(
            h.list_names(&format!(
                "/api/v2/traceMany?traceIds={SHORT_HEX},{LONG_HEX}"
            ))
            .await,
            strings(&[&["long-child"], &["short-root"]])
        );
        assert_eq!(
            h.list_names("/api/v2/traces?serviceName=front").await,
            strings(&[&["long-child"], &["other"], &["short-root"]])
        );
        // Again from disk.
        h.store.flush(true).unwrap();
    }
}

#[tokio::test]
async fn lenient_trace_ids_match_by_the_low_64_bits() {
    let h = Harness::lenient();
    h.seed_mixed_ids();
    let both = ["long-child", "short-root"];
    for _ in 0..2 {
        assert_eq!(h.trace_names(SHORT_HEX).await.unwrap(), both);
        assert_eq!(h.trace_names(LONG_HEX).await.unwrap(), both);
        // Any high half names the same trace.
        assert_eq!(
            h.trace_names(&format!("00000000000000ff{SHORT_HEX}"))
                .await
                .unwrap(),
            both
        );
        assert_eq!(
            h.trace_names("000000000000000000000000000000aa").await,
            Err(StatusCode::NOT_FOUND)
        );
        // Spans keep the id they were stored with.
        let (_, spans) = h.get(&format!("/api/v2/trace/{SHORT_HEX}")).await;
        let mut ids: Vec<&str> = spans
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["traceId"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, [LONG_HEX, SHORT_HEX]);
        assert_eq!(
            h.list_names(&format!(
                "/api/v2/traceMany?traceIds={SHORT_HEX},{LONG_HEX},{HIGH:016x}0000000000000007"
            ))
            .await,
            strings(&[&both, &["other"]])
        );
        assert_eq!(
            h.list_names("/api/v2/traces?serviceName=front").await,
            strings(&[&both, &["other"]])
        );
        // Search finds the group by either member's span.
        assert_eq!(
            h.list_names("/api/v2/traces?serviceName=front&spanName=long-child")
                .await,
            strings(&[&both])
        );
        h.store.flush(true).unwrap();
    }
    // One half in memory, one on disk.
    h.write(TraceId::from_halves(HIGH, LOW).0, 4, 1, "front", "late", 6);
    assert_eq!(
        h.trace_names(SHORT_HEX).await.unwrap(),
        ["late", "long-child", "short-root"]
    );
}

#[tokio::test]
async fn upper_case_ids_are_read_leniently() {
    let h = Harness::new(ZipkinReadSettings::default());
    h.seed_mixed_ids();
    assert_eq!(
        h.trace_names(&LONG_HEX.to_uppercase()).await.unwrap(),
        ["long-child"]
    );
    assert_eq!(
        h.list_names(&format!(
            "/api/v2/traceMany?traceIds={},{SHORT_HEX}",
            LONG_HEX.to_uppercase()
        ))
        .await,
        strings(&[&["long-child"], &["short-root"]])
    );
    let (status, body) = h.get("/api/v2/trace/48485a3953bb612g").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = h.get("/api/v2/trace/0000000000000000").await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, Json::from("traceId is all zeros"))
    );
}

/// The trace ids of a list answer, in answer order.
async fn list_ids(h: &Harness, uri: &str) -> Vec<u128> {
    let (status, body) = h.get(uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| u128::from_str_radix(t[0]["traceId"].as_str().unwrap(), 16).unwrap())
        .collect()
}

#[tokio::test]
async fn traces_walks_past_the_first_candidates_until_the_limit_matches() {
    // Pages of 10 candidates; the 15 newest traces do not match.
    let h = Harness::new(ZipkinReadSettings {
        candidate_traces: 10,
        default_limit: 10,
        ..Default::default()
    });
    for i in 0..40u64 {
        let name = if i < 25 { "wanted" } else { "noise" };
        h.write(1000 + u128::from(i), 1, 0, "front", name, i * 10);
    }
    let newest_wanted = |n: u128| (0..n).map(|k| 1024 - k).collect::<Vec<_>>();
    for round in ["memory", "disk"] {
        assert_eq!(
            list_ids(
                &h,
                "/api/v2/traces?serviceName=front&spanName=wanted&limit=12"
            )
            .await,
            newest_wanted(12),
            "{round}"
        );
        assert_eq!(
            list_ids(&h, "/api/v2/traces?spanName=wanted&limit=3").await,
            newest_wanted(3),
            "{round}"
        );
        // Fewer matches than the limit: the whole window is walked.
        assert_eq!(
            list_ids(
                &h,
                "/zipkin/api/v2/traces?serviceName=front&spanName=wanted&limit=100"
            )
            .await,
            newest_wanted(25),
            "{round}"
        );
        h.store.flush(true).unwrap();
    }
}
