//! api_v3 over HTTP (`/api/v3/...` on the query port), as the current Jaeger
//! UI and Grafana's backend mode call it (spec §5).
//!
//! In: `GET /api/v3/services`, `/api/v3/operations?service=&spanKind=`,
//! `/api/v3/traces/{trace_id}`, `/api/v3/traces?query.…`,
//! `/api/v3/trace-summaries?query.…`, `/api/v3/dependencies?startTime&endTime`; parameters in
//! camelCase or the older snake_case. Out: v3's own JSON shapes — traces as
//! one OTLP/JSON document under `result`, summaries under `summaries`,
//! `services`/`operations` arrays always present — and v3 errors
//! (`{"error":{"httpCode":…,"message":…}}`, plain-text content type like
//! Jaeger's gateway). A search that finds nothing is a 404, unlike v1.
//!
//! Decisions: a search without `query.startTimeMin`/`Max` looks back over
//! the default lookback window instead of failing (the current UI omits
//! them); a search without a service name searches every service
//! (capability `searchWithoutServiceName`); `query.filter` is rejected, not
//! ignored. Traces are served as stored, minus byte-identical duplicate spans
//! (unless `rawTraces`); the Jaeger-model adjusters apply only to the v1 and
//! api_v2 views.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value as Json};
use spoor_proto::model::{self, span_kind_from_name, span_kind_name};
use spoor_storage::StorageError;

use crate::duration::parse_go_duration;
use crate::error::ApiError;
use crate::handlers::{blocking, json_response, path_segment, trace_or_archived, AppState};
use crate::params::{parse_go_bool, parse_go_int, parse_json_tags, parse_trace_id, QueryParams};
use crate::rfc3339::parse_rfc3339;
use crate::search::SearchRequest;
use crate::summary::{remove_duplicate_spans, summarize, summary_json};

/// A failed v3 request; `Display` is the `message` sent.
#[derive(Debug, thiserror::Error)]
pub enum V3Error {
    /// A malformed or missing parameter (400).
    #[error("malformed parameter {name}: {detail}")]
    BadParam { name: &'static str, detail: String },
    /// Nothing to return (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// The store or the server failed (500).
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for V3Error {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::TraceNotFound => V3Error::NotFound("trace not found"),
            other if other.status() == StatusCode::BAD_REQUEST => V3Error::BadParam {
                name: "request",
                detail: other.to_string(),
            },
            other => V3Error::Internal(other.to_string()),
        }
    }
}

impl From<StorageError> for V3Error {
    fn from(error: StorageError) -> Self {
        V3Error::Internal(error.to_string())
    }
}

impl V3Error {
    fn status(&self) -> StatusCode {
        match self {
            V3Error::BadParam { .. } => StatusCode::BAD_REQUEST,
            V3Error::NotFound(_) => StatusCode::NOT_FOUND,
            V3Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "api_v3 request failed");
        }
        let body = json!({"error": {"httpCode": status.as_u16(), "message": self.to_string()}});
        let mut response = (status, format!("{body}\n")).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

fn bad(name: &'static str, detail: impl ToString) -> V3Error {
    V3Error::BadParam {
        name,
        detail: detail.to_string(),
    }
}

/// The first non-empty value among a parameter's accepted spellings, with the
/// canonical (first) name for error messages.
fn param<'a>(params: &'a QueryParams, names: &[&'static str]) -> Option<(&'static str, &'a str)> {
    names
        .iter()
        .find_map(|name| params.first(name).map(|v| (names[0], v)))
}

fn bool_param(params: &QueryParams, names: &[&'static str]) -> Result<bool, V3Error> {
    match param(params, names) {
        None => Ok(false),
        Some((name, value)) => parse_go_bool(value).ok_or_else(|| {
            bad(
                name,
                format!("strconv.ParseBool: parsing {value:?}: invalid syntax"),
            )
        }),
    }
}

fn time_param(params: &QueryParams, names: &[&'static str]) -> Result<Option<i128>, V3Error> {
    param(params, names)
        .map(|(name, value)| parse_rfc3339(value).map_err(|e| bad(name, e)))
        .transpose()
}

fn duration_param(params: &QueryParams, names: &[&'static str]) -> Result<Option<i128>, V3Error> {
    param(params, names)
        .map(|(name, value)| {
            parse_go_duration(value)
                .map(i128::from)
                .map_err(|e| bad(name, e))
        })
        .transpose()
}

fn now_ns(now: SystemTime) -> i128 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// A parsed v3 search: the request and `rawTraces`.
fn parse_search(
    params: &QueryParams,
    state: &AppState,
    now: SystemTime,
) -> Result<(SearchRequest, bool), V3Error> {
    if param(params, &["query.filter"]).is_some() {
        return Err(bad("query.filter", "structured filters are not supported"));
    }
    let raw = bool_param(params, &["query.rawTraces", "query.raw_traces"])?;
    let min = time_param(params, &["query.startTimeMin", "query.start_time_min"])?;
    let max = time_param(params, &["query.startTimeMax", "query.start_time_max"])?;
    let now = now_ns(now);
    let lookback = state.settings.default_search_lookback.as_nanos() as i128;
    let (min, max) = match (min, max) {
        (Some(min), Some(max)) if max <= min => {
            return Err(bad(
                "query.startTimeMax",
                "must be after query.startTimeMin",
            ))
        }
        (min, max) => {
            let max = max.unwrap_or(now);
            (min.unwrap_or(max - lookback), max)
        }
    };
    let duration_min = duration_param(params, &["query.durationMin", "query.duration_min"])?;
    let duration_max = duration_param(params, &["query.durationMax", "query.duration_max"])?;
    if let (Some(lo), Some(hi)) = (duration_min, duration_max) {
        if lo > 0 && hi > 0 && hi < lo {
            return Err(bad(
                "query.durationMax",
                "must not be less than query.durationMin",
            ));
        }
    }
    let depth = match param(
        params,
        &[
            "query.searchDepth",
            "query.search_depth",
            "query.num_traces",
        ],
    ) {
        None => 0,
        Some((name, value)) => parse_go_int("query.searchDepth", value, 32).map_err(|e| {
            bad(
                name,
                e.to_string()
                    .replace("unable to parse param 'query.searchDepth': ", ""),
            )
        })?,
    };
    let tags = match param(params, &["query.attributes"]) {
        None => Vec::new(),
        Some((name, json)) => parse_json_tags(json)
            .map_err(|e| {
                bad(
                    name,
                    e.to_string().replace("malformed 'tags' parameter, ", ""),
                )
            })?
            .into_iter()
            .collect(),
    };
    let request = SearchRequest {
        service: param(params, &["query.serviceName", "query.service_name"])
            .map(|(_, v)| v.to_string()),
        operation: param(params, &["query.operationName", "query.operation_name"])
            .map(|(_, v)| v.to_string()),
        tags,
        start_min_ns: Some(min),
        start_max_ns: Some(max),
        duration_min_ns: duration_min,
        duration_max_ns: duration_max,
        depth,
    };
    Ok((request, raw))
}

fn json_body(value: &Json) -> Response {
    json_response(serde_json::to_vec(value).unwrap_or_default().into())
}

/// Merges traces into one OTLP document (one resource group per stored group).
fn merge(traces: Vec<model::TracesData>, raw: bool) -> model::TracesData {
    let mut merged = model::TracesData::default();
    for mut trace in traces {
        if !raw {
            remove_duplicate_spans(&mut trace);
        }
        merged.resource_spans.extend(trace.resource_spans);
    }
    merged
}

/// `GET /api/v3/services` → `{"services":[…]}` (always present).
pub(crate) async fn services(State(state): State<AppState>) -> Result<Response, V3Error> {
    let store = state.store.clone();
    let services = blocking(move || Ok(store.services()?)).await?;
    Ok(json_body(&json!({ "services": services })))
}

/// `GET /api/v3/operations?service=&spanKind=` → `{"operations":[{name, spanKind}]}`;
/// an unknown kind in the store reads as `internal`, as in Jaeger.
pub(crate) async fn operations(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let params = QueryParams::parse(query.as_deref());
    let service = params.first("service").unwrap_or("").to_string();
    let kind = match param(&params, &["spanKind", "span_kind"]) {
        None => None,
        Some((_, name)) => match span_kind_from_name(name) {
            Some(kind) => Some(kind),
            None => return Ok(json_body(&json!({ "operations": [] }))),
        },
    };
    let store = state.store.clone();
    let operations = blocking(move || Ok(store.operations(&service, kind)?)).await?;
    let items: Vec<Json> = operations
        .into_iter()
        .map(|op| {
            let kind = match span_kind_name(op.kind) {
                "" => "internal",
                name => name,
            };
            json!({"name": op.name, "spanKind": kind})
        })
        .collect();
    Ok(json_body(&json!({ "operations": items })))
}

/// `GET /api/v3/traces/{trace_id}` → `{"result": OTLP}`; 404 when unknown.
/// `startTime`/`endTime` are validated but only hints.
pub(crate) async fn get_trace(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let text = path_segment(path)?;
    let trace_id = parse_trace_id(&text).map_err(|e| bad("trace_id", e))?;
    let params = QueryParams::parse(query.as_deref());
    time_param(&params, &["startTime", "start_time"])?;
    time_param(&params, &["endTime", "end_time"])?;
    let raw = bool_param(&params, &["rawTraces", "raw_traces"])?;
    let store = state.store.clone();
    let cap = state.settings.max_spans_per_trace;
    let found = blocking(move || Ok(trace_or_archived(&*store, trace_id)?)).await?;
    let Some(mut trace) = found.filter(|t| t.span_count() > 0) else {
        return Err(V3Error::NotFound("trace not found"));
    };
    crate::cap::cap_model_trace(&mut trace, cap);
    let merged = merge(vec![trace], raw);
    Ok(json_body(
        &json!({ "result": spoor_proto::otlp_json::encode_traces(&merged) }),
    ))
}

async fn run_search(
    state: &AppState,
    query: Option<String>,
) -> Result<(Vec<model::TracesData>, bool), V3Error> {
    let params = QueryParams::parse(query.as_deref());
    let (request, raw) = parse_search(&params, state, SystemTime::now())?;
    let query = request.into_query(state.settings.search_defaults());
    let store = state.store.clone();
    let cap = state.settings.max_spans_per_trace;
    let mut traces = blocking(move || Ok(store.find_traces(&query)?)).await?;
    for trace in &mut traces {
        crate::cap::cap_model_trace(trace, cap);
    }
    Ok((traces, raw))
}

/// `GET /api/v3/traces?query.…` → `{"result": OTLP}` with every match
/// merged; 404 `No traces found` when nothing matches.
pub(crate) async fn find_traces(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let (traces, raw) = run_search(&state, query).await?;
    if traces.is_empty() {
        return Err(V3Error::NotFound("No traces found"));
    }
    let merged = merge(traces, raw);
    Ok(json_body(
        &json!({ "result": spoor_proto::otlp_json::encode_traces(&merged) }),
    ))
}

/// `GET /api/v3/trace-summaries?query.…` → `{"summaries":[…]}` (200 and an
/// empty list when nothing matches).
pub(crate) async fn trace_summaries(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let (traces, _raw) = run_search(&state, query).await?;
    let summaries: Vec<Json> = traces
        .iter()
        .filter_map(summarize)
        .map(|s| summary_json(&s))
        .collect();
    Ok(json_body(&json!({ "summaries": summaries })))
}

/// `GET /api/v3/dependencies?startTime=&endTime=` (RFC 3339; default the
/// last 24 hours) → `{"dependencies":[{parent, child, callCount}]}`, from the
/// persisted analytics links.
pub(crate) async fn dependencies(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let params = QueryParams::parse(query.as_deref());
    let start = time_param(&params, &["startTime", "start_time"])?;
    let end = time_param(&params, &["endTime", "end_time"])?;
    let end_ms = end.map(|ns| (ns / 1_000_000) as i64);
    let lookback_ms = match (start, end) {
        (Some(start), Some(end)) => Some(((end - start) / 1_000_000) as i64),
        (Some(start), None) => Some(((now_ns(SystemTime::now()) - start) / 1_000_000) as i64),
        _ => None,
    };
    let store = state.store.clone();
    let links = blocking(move || {
        let links = crate::dependencies::links_in_window(
            &*store,
            end_ms,
            lookback_ms,
            crate::dependencies::DEFAULT_LOOKBACK_MS,
        )?;
        Ok(crate::dependencies::jaeger_links(links, None))
    })
    .await?;
    Ok(json_body(&json!({ "dependencies": links })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn state() -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = spoor_storage::Store::open(spoor_storage::StorageConfig {
            data_dir: dir.path().join("data"),
            ..Default::default()
        })
        .unwrap();
        let state = AppState {
            store,
            settings: std::sync::Arc::new(crate::QueryHttpSettings::default()),
        };
        (state, dir)
    }

    fn parse(text: &str) -> Result<(SearchRequest, bool), V3Error> {
        let (state, _dir) = state();
        let now = UNIX_EPOCH + Duration::from_secs(1_718_000_000);
        parse_search(&QueryParams::parse(Some(text)), &state, now)
    }

    #[test]
    fn camel_and_snake_case_parameters_mean_the_same() {
        let camel = parse("query.serviceName=a&query.operationName=op&query.startTimeMin=2024-06-10T06:00:00Z&query.startTimeMax=2024-06-10T07:00:00Z&query.durationMin=10ms&query.searchDepth=5&query.attributes=%7B%22error%22%3A%22true%22%7D").unwrap();
        let snake = parse("query.service_name=a&query.operation_name=op&query.start_time_min=2024-06-10T06:00:00Z&query.start_time_max=2024-06-10T07:00:00Z&query.duration_min=10ms&query.num_traces=5&query.attributes=%7B%22error%22%3A%22true%22%7D").unwrap();
        assert_eq!(camel, snake);
        let (request, raw) = camel;
        assert!(!raw);
        assert_eq!(request.service.as_deref(), Some("a"));
        assert_eq!(request.duration_min_ns, Some(10_000_000));
        assert_eq!(request.depth, 5);
        assert_eq!(request.tags, [("error".to_string(), "true".to_string())]);
        assert_eq!(request.start_min_ns, Some(1_717_999_200_000_000_000));
    }

    #[test]
    fn grafanas_unescaped_offsets_parse() {
        let (request, _) =
            parse("query.start_time_min=2024-06-10T08:00:00+02:00&query.start_time_max=2024-06-10T09:00:00+02:00")
                .unwrap();
        assert_eq!(request.start_min_ns, Some(1_717_999_200_000_000_000));
    }

    #[test]
    fn missing_bounds_default_to_the_lookback_window() {
        let (request, _) = parse("query.serviceName=a").unwrap();
        let now = 1_718_000_000i128 * 1_000_000_000;
        assert_eq!(request.start_max_ns, Some(now));
        assert_eq!(request.start_min_ns, Some(now - 48 * 3600 * 1_000_000_000));
    }

    #[test]
    fn bad_parameters_are_400_with_the_parameter_named() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert!(message("query.startTimeMin=yesterday")
            .starts_with("malformed parameter query.startTimeMin"));
        assert!(message(
            "query.start_time_min=2024-06-10T07:00:00Z&query.start_time_max=2024-06-10T06:00:00Z"
        )
        .starts_with("malformed parameter query.startTimeMax"));
        assert!(message("query.durationMin=5").starts_with("malformed parameter query.durationMin"));
        assert!(message("query.searchDepth=x").starts_with("malformed parameter query.searchDepth"));
        assert!(
            message("query.attributes=%5B1%5D").starts_with("malformed parameter query.attributes")
        );
        assert!(message("query.filter=%7B%7D").starts_with("malformed parameter query.filter"));
        assert_eq!(
            parse("query.filter=x").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }
}
