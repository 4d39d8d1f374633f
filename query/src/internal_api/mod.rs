//! The internal API of a store node, which query nodes fan out to.
//!
//! In: HTTP requests under `/internal/v1/` (from [`crate::fanout`]) and the
//! node's [`TraceSource`] (its own store) and partition report. Out: the
//! source's answers, traces as protobuf ([`wire`]), everything else as
//! JSON. A bad request gets 400 with a plain-text message naming what is
//! wrong; a failed read 500 with the storage error.
//!
//! Routes: `GET traces/{id}`, `GET traces-by-low64/{low}` (16 hex digits),
//! `POST search` (a `TraceQuery`), `POST find-page` ([`wire::PageRequest`]),
//! `GET services`, `GET operations?service=&kind=` (kind: the enum number),
//! `GET dependencies?start_ms=&end_ms=`, `POST aggregate-buckets`
//! ([`wire::BucketsRequest`]), `POST archive/{id}` (JSON bool),
//! `GET archive/{id}`, `GET partitions` ([`PartitionReport`]). A trace that
//! is unknown is a 404 with an empty body.

pub mod wire;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::StatusCode;
use prost::Message;
use serde::Serialize;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, TracesData};
use spoor_storage::{StorageError, TraceQuery, TraceSource};

use crate::params::QueryParams;
pub use wire::{PartitionLag, PartitionReport};

/// Builds the partition report of a store node on request.
pub type ReportFn = Arc<dyn Fn() -> PartitionReport + Send + Sync>;

#[derive(Clone)]
struct InternalState {
    source: Arc<dyn TraceSource>,
    report: ReportFn,
}

/// The store node's internal API under `/internal/v1/`.
pub fn internal_router(source: Arc<dyn TraceSource>, report: ReportFn) -> Router {
    Router::new()
        .route("/internal/v1/traces/{id}", get(trace))
        .route("/internal/v1/traces-by-low64/{low}", get(trace_by_low64))
        .route("/internal/v1/search", post(search))
        .route("/internal/v1/find-page", post(find_page))
        .route("/internal/v1/services", get(services))
        .route("/internal/v1/operations", get(operations))
        .route("/internal/v1/dependencies", get(dependencies))
        .route("/internal/v1/aggregate-buckets", post(aggregate_buckets))
        .route("/internal/v1/archive/{id}", post(archive).get(archived))
        .route("/internal/v1/partitions", get(partitions))
        .with_state(InternalState { source, report })
}

/// Why an internal request failed.
#[derive(Debug)]
enum Failure {
    Bad(String),
    Storage(StorageError),
    Internal(String),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Storage(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Bad(msg) => (StatusCode::BAD_REQUEST, msg).into_response(),
            Failure::Storage(e) => {
                (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
            Failure::Internal(msg) => (StatusCode::INTERNAL_SERVER_ERROR, msg).into_response(),
        }
    }
}

async fn run<T, F>(work: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Failure> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Failure::Internal(format!("internal query task failed: {e}")))?
}

fn trace_id(text: &str) -> Result<TraceId, Failure> {
    TraceId::parse_hex(text).map_err(|e| Failure::Bad(format!("trace id {text:?}: {e}")))
}

fn protobuf(trace: Option<TracesData>) -> Response {
    match trace {
        Some(t) => ([(CONTENT_TYPE, wire::PROTOBUF)], t.encode_to_vec()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn json<T: Serialize>(value: &T) -> Result<Response, Failure> {
    let body = serde_json::to_vec(value).map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

fn json_body<T: serde::de::DeserializeOwned>(what: &str, body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::Bad(format!("invalid {what} body: {e}")))
}

fn ms_param(params: &QueryParams, name: &str) -> Result<u64, Failure> {
    let text = params
        .first(name)
        .ok_or_else(|| Failure::Bad(format!("{name} is required")))?;
    text.parse()
        .map_err(|_| Failure::Bad(format!("{name} {text:?} is not a whole number of ms")))
}

async fn trace(
    State(s): State<InternalState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = trace_id(&id)?;
    Ok(protobuf(run(move || Ok(s.source.get_trace(id)?)).await?))
}

async fn trace_by_low64(
    State(s): State<InternalState>,
    Path(low): Path<String>,
) -> Result<Response, Failure> {
    let value = u64::from_str_radix(&low, 16)
        .ok()
        .filter(|_| !low.is_empty() && low.len() <= 16)
        .ok_or_else(|| Failure::Bad(format!("low 64 bits {low:?}: want 1 to 16 hex digits")))?;
    Ok(protobuf(
        run(move || Ok(s.source.get_trace_by_low64(value)?)).await?,
    ))
}

async fn search(State(s): State<InternalState>, body: Bytes) -> Result<Response, Failure> {
    let query: TraceQuery = json_body("search", &body)?;
    let found = run(move || Ok(s.source.find_traces_page(&query, None)?)).await?;
    Ok(([(CONTENT_TYPE, wire::PROTOBUF)], wire::encode_found(&found)).into_response())
}

async fn find_page(State(s): State<InternalState>, body: Bytes) -> Result<Response, Failure> {
    let request: wire::PageRequest = json_body("find-page", &body)?;
    let after = match &request.after {
        Some(c) => Some(c.cursor().map_err(Failure::Bad)?),
        None => None,
    };
    let found = run(move || Ok(s.source.find_traces_page(&request.query, after)?)).await?;
    Ok(([(CONTENT_TYPE, wire::PROTOBUF)], wire::encode_found(&found)).into_response())
}

async fn services(State(s): State<InternalState>) -> Result<Response, Failure> {
    json(&run(move || Ok(s.source.services()?)).await?)
}

async fn operations(
    State(s): State<InternalState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = QueryParams::parse(query.as_deref());
    let service = params
        .first("service")
        .ok_or_else(|| Failure::Bad("service is required".into()))?
        .to_string();
    let kind = match params.first("kind") {
        None => None,
        Some(text) => Some(
            text.parse::<i32>()
                .ok()
                .and_then(|n| SpanKind::try_from(n).ok())
                .ok_or_else(|| Failure::Bad(format!("kind {text:?} is not a span kind number")))?,
        ),
    };
    json(&run(move || Ok(s.source.operations(&service, kind)?)).await?)
}

async fn dependencies(
    State(s): State<InternalState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = QueryParams::parse(query.as_deref());
    let start = ms_param(&params, "start_ms")?;
    let end = ms_param(&params, "end_ms")?;
    json(&run(move || Ok(s.source.dependencies(start, end)?)).await?)
}

async fn aggregate_buckets(
    State(s): State<InternalState>,
    body: Bytes,
) -> Result<Response, Failure> {
    let r: wire::BucketsRequest = json_body("aggregate-buckets", &body)?;
    json(
        &run(move || {
            Ok(s.source
                .aggregate_buckets(r.start_ms, r.end_ms, &r.filter)?)
        })
        .await?,
    )
}

async fn archive(
    State(s): State<InternalState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = trace_id(&id)?;
    json(&run(move || Ok(s.source.archive_trace(id)?)).await?)
}

async fn archived(
    State(s): State<InternalState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = trace_id(&id)?;
    Ok(protobuf(
        run(move || Ok(s.source.get_archived_trace(id)?)).await?,
    ))
}

async fn partitions(State(s): State<InternalState>) -> Result<Response, Failure> {
    json(&(s.report)())
}

#[cfg(test)]
mod tests;
