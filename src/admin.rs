//! The admin listener: health (`/`, `/status`), Prometheus metrics
//! (`/metrics`) and version (`/version`).
//!
//! In: the process's readiness flag, the metrics recorder, store figures,
//! the configured storage limits and the analytics series (RED and service
//! graph). Out: an axum router.
//! `/metrics` answers OpenMetrics text when the `Accept` header asks for
//! `application/openmetrics-text`, else the Prometheus text format.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use spoor_storage::Store;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct AdminState {
    /// True while Spoor accepts and serves traffic.
    pub ready: Arc<AtomicBool>,
    /// When the process started serving.
    pub up_since: chrono::DateTime<chrono::Utc>,
    /// Monotonic start, for the uptime.
    pub started: Instant,
    /// Renders the Prometheus text.
    pub metrics: PrometheusHandle,
    /// The store, for its gauges (none on collector and query nodes).
    pub store: Option<Arc<Store>>,
    /// RED and service-graph series, appended to the metrics (when on).
    pub analytics: Option<spoor_collector::Analytics>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(health))
        .route("/status", get(health))
        .route("/metrics", get(metrics))
        .route("/version", get(version))
        .with_state(state)
}

async fn health(State(s): State<AdminState>) -> impl IntoResponse {
    let json = |status: StatusCode, body: serde_json::Value| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
    };
    if s.ready.load(Ordering::SeqCst) {
        let uptime = humantime::format_duration(std::time::Duration::from_millis(
            s.started.elapsed().as_millis() as u64,
        ));
        json(
            StatusCode::OK,
            serde_json::json!({
                "status": "Server available",
                "upSince": s.up_since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "uptime": uptime.to_string(),
            }),
        )
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "Server not available", "upSince": "0001-01-01T00:00:00Z", "uptime": ""}),
        )
    }
}

async fn metrics(State(s): State<AdminState>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    if let Some(store) = s.store.clone() {
        let stats = tokio::task::spawn_blocking(move || store.stats())
            .await
            .unwrap_or_default();
        metrics::gauge!("spoor_storage_live_traces").set(stats.live_traces as f64);
        metrics::gauge!("spoor_storage_live_bytes").set(stats.live_bytes as f64);
        metrics::gauge!("spoor_storage_partitions").set(stats.partitions as f64);
        metrics::gauge!("spoor_storage_blocks").set(stats.blocks as f64);
        metrics::gauge!("spoor_storage_disk_bytes").set(stats.disk_bytes as f64);
        metrics::gauge!("spoor_storage_write_stalled").set(if stats.write_stalled {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("spoor_storage_wal_bytes").set(stats.wal_bytes as f64);
        for (part, bytes) in [
            ("live_buffer", stats.live_bytes),
            ("memtables", stats.memtable_bytes),
            ("table_readers", stats.table_reader_bytes),
            ("block_cache", stats.block_cache_bytes),
            ("bloom_cache", stats.bloom_cache_bytes),
        ] {
            metrics::gauge!("spoor_storage_memory_bytes", "part" => part).set(bytes as f64);
        }
    }
    if let Some(rss) = resident_bytes() {
        metrics::gauge!("spoor_process_resident_memory_bytes").set(rss as f64);
    }
    metrics::gauge!("spoor_process_uptime_seconds").set(s.started.elapsed().as_secs_f64());
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let analytics = s
        .analytics
        .as_ref()
        .map(|a| a.render_prometheus(openmetrics))
        .unwrap_or_default();
    if openmetrics {
        let mut text = spoor_collector::analytics::to_openmetrics(&s.metrics.render());
        text.push_str(&analytics);
        text.push_str("# EOF\n");
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
    } else {
        let mut text = s.metrics.render();
        text.push_str(&analytics);
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
    }
}

async fn version() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        spoor_query::version::version_json(),
    )
}

/// Publishes the configured limits as gauges, so dashboards and alerts can
/// compare what is used with what is allowed (set once at start).
pub fn publish_limits(storage: &spoor_storage::StorageConfig) {
    metrics::gauge!("spoor_storage_retention_seconds").set(storage.retention.as_secs_f64());
    metrics::gauge!("spoor_storage_disk_budget_bytes").set(storage.max_disk_bytes as f64);
    metrics::gauge!("spoor_storage_live_max_bytes").set(storage.live_max_bytes as f64);
    metrics::gauge!("spoor_storage_live_hard_max_bytes").set(storage.live_hard_max_bytes as f64);
    metrics::gauge!("spoor_storage_live_max_traces").set(storage.live_max_traces as f64);
}

/// Resident set size from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
