//! Request metrics for the HTTP query API: a middleware that counts requests
//! by route and status and records their duration.
//!
//! In: every request to the wrapped router. Out:
//! `spoor_query_requests_total{route,status}` and
//! `spoor_query_request_duration_seconds{route}`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Records one request.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("spoor_query_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("spoor_query_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
