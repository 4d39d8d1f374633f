//! Spoor's query side: every API the Jaeger UI, Grafana, Kiali and Zipkin
//! clients read traces through.
//!
//! In: HTTP and gRPC requests and a [`TraceSource`] (the local store, or
//! the fan-out over the store nodes, [`fanout`]). Out:
//! - [`jaeger_http_router`] (query port, under the base path): the Jaeger v1
//!   JSON API (`/api/services`, `/api/operations`, `/api/traces`,
//!   `/api/archive/{id}`, `/api/dependencies`, `/api/transform`) with traces in
//!   the Jaeger UI model ([`jaeger_json`]) repaired by the query-time
//!   adjusters ([`adjust`]) unless `raw=true`, and api_v3 over HTTP
//!   (`api_v3`: `/api/v3/services`, `/operations`, `/traces`,
//!   `/trace-summaries`, `/dependencies`) with OTLP/JSON traces;
//! - [`builtin_ui_router`]: Spoor's own web UI (`spoor-ui`) with Jaeger UI's
//!   URL scheme ([`builtin_ui`]);
//! - [`jaeger_ui_router`]: a Jaeger UI build with its injected configuration
//!   ([`ui_assets`]);
//! - [`query_grpc_routes`] (gRPC query port): api_v2 and api_v3
//!   `QueryService`, health and reflection ([`grpc`], spans converted by
//!   [`jaeger_proto`]);
//! - [`zipkin_read_router`] (Zipkin port): the Zipkin v2 read API
//!   ([`zipkin_read`]).
//!
//! Layout: [`params`], [`duration`] and [`rfc3339`] read request values
//! (with Jaeger's exact error messages), `search` turns any API's search into
//! one store query, [`summary`] computes trace summaries, [`cap`] the
//! per-trace span cap, `handlers` the v1 endpoints and `error` the single
//! place a v1 failure becomes a response (api_v3 has its own error shape).
//! Settings live in [`QueryHttpSettings`] and [`ZipkinReadSettings`].
//!
//! The HTTP router only claims `{base_path}/api/...`, so it merges with the
//! UI's router, which serves everything else under the base path.

use std::sync::Arc;

use axum::routing::{any, get, post};
use axum::{middleware, Router};
use spoor_storage::TraceSource;

pub mod adjust;
mod api_v3;
pub mod builtin_ui;
pub mod cap;
pub mod dependencies;
pub mod duration;
mod error;
pub mod fanout;
pub mod grpc;
mod handlers;
pub mod internal_api;
pub mod jaeger_json;
pub mod jaeger_proto;
pub mod metrics_api;
pub mod params;
pub mod partial;
pub mod rfc3339;
mod search;
mod settings;
pub mod summary;
pub mod ui_assets;
pub mod version;
pub mod zipkin_read;

pub use api_v3::V3Error;
pub use builtin_ui::builtin_ui_router;
pub use error::ApiError;
pub use fanout::{ClusterQuerySettings, FanOut};
pub use grpc::query_grpc_routes;
pub use internal_api::{internal_router, PartitionLag, PartitionReport};
pub use settings::QueryHttpSettings;
pub use ui_assets::jaeger_ui_router;
pub use zipkin_read::{zipkin_read_router, ZipkinReadSettings};

/// Builds the Jaeger v1 HTTP API under `settings.base_path`.
///
/// Routes (`GET` unless noted; another method → 405 with a JSON error body):
/// `/api/services`, `/api/services/{service}/operations`, `/api/operations`,
/// `/api/traces`, `/api/traces/{traceID}`, `/api/dependencies`,
/// `POST /api/archive/{traceID}`, `POST /api/transform`, and the `/api/v3/…`
/// endpoints. Any other path under `/api/` → 404
/// with a JSON error body. The router has no fallback of its own, so it
/// merges with the UI's router. The caller validates `settings` first
/// ([`QueryHttpSettings::validate`]).
pub fn jaeger_http_router(store: Arc<dyn TraceSource>, settings: QueryHttpSettings) -> Router {
    let base_path = settings.normalized_base_path().to_string();
    let state = handlers::AppState {
        store,
        settings: Arc::new(settings),
    };
    let api = Router::new()
        .route("/api/services", get(handlers::services))
        .route(
            "/api/services/{service}/operations",
            get(handlers::service_operations),
        )
        .route("/api/operations", get(handlers::operations))
        .route("/api/traces", get(handlers::search))
        .route("/api/traces/{trace_id}", get(handlers::get_trace))
        .route("/api/dependencies", get(handlers::dependencies))
        .route("/api/archive/{trace_id}", post(handlers::archive))
        .route("/api/transform", post(handlers::transform))
        .route("/api/v3/services", get(api_v3::services))
        .route("/api/v3/operations", get(api_v3::operations))
        .route("/api/v3/traces", get(api_v3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(api_v3::get_trace))
        .route("/api/v3/trace-summaries", get(api_v3::trace_summaries))
        .route("/api/v3/dependencies", get(api_v3::dependencies))
        .route("/api/{*rest}", any(handlers::unknown_api_path))
        .layer(middleware::map_response(handlers::json_method_not_allowed))
        .layer(middleware::from_fn(partial::mark_partial))
        .with_state(state);
    if base_path.is_empty() {
        api
    } else {
        Router::new().nest(&base_path, api)
    }
}
