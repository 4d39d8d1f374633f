//! The endpoints of the Jaeger v1 HTTP API.
//!
//! In: HTTP requests routed by [`crate::jaeger_http_router`] (path segments
//! and raw query strings) and the shared [`TraceSource`]. Out: JSON responses in the
//! v1 envelope (`application/json`, 4-space indented with `prettyPrint`), or
//! an [`ApiError`] that [`crate::error`] turns into Jaeger's error response.
//!
//! Every store call is blocking and runs on tokio's blocking pool, together
//! with the CPU work on its result (conversion, adjusters, serialisation).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{self, span_kind_from_name, span_kind_name};
use spoor_storage::source::partial_notes;
use spoor_storage::TraceSource;

use crate::adjust::{adjust_trace, AdjustOptions};
use crate::cap::{cap_model_trace, cap_warning};
use crate::error::ApiError;
use crate::jaeger_json::{spans_from_model, Envelope, ErrorItem, OperationItem, Trace};
use crate::params::{parse_go_int, parse_trace_id, ParamError, QueryParams, SearchParams};
use crate::partial;
use crate::settings::QueryHttpSettings;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<dyn TraceSource>,
    pub(crate) settings: Arc<QueryHttpSettings>,
}

/// Runs store work (and the CPU work on its result) off the async threads;
/// the source's partial-answer notes go to the request ([`partial`]).
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
{
    let (result, notes) = tokio::task::spawn_blocking(move || partial::run_noted(work))
        .await
        .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?;
    partial::hand_over(notes);
    result
}

/// Serialises a response body, indented with 4 spaces when asked.
pub(crate) fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<Bytes, ApiError> {
    let result = if pretty {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        value.serialize(&mut serializer).map(|()| out)
    } else {
        serde_json::to_vec(value)
    };
    result
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("failed marshalling HTTP response to JSON: {e}")))
}

pub(crate) fn json_response(body: Bytes) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// A catalogue answer: `total` is the number of items.
fn catalogue<T: Serialize>(items: Vec<T>, pretty: bool) -> Result<Response, ApiError> {
    let total = items.len();
    let envelope = Envelope {
        data: items,
        total,
        limit: 0,
        offset: 0,
        errors: partial::error_items(&partial::current_notes()),
    };
    Ok(json_response(to_json(&envelope, pretty)?))
}

/// Converts a stored trace, running the adjusters unless `raw`; `None` when
/// the trace has no spans.
/// Cuts the trace to `max_spans` first (0 = no cap), warning when it cuts.
pub(crate) fn render_trace(
    mut data: model::TracesData,
    raw: bool,
    options: AdjustOptions,
    max_spans: usize,
) -> Option<Trace> {
    let cut = cap_model_trace(&mut data, max_spans);
    let mut spans = spans_from_model(&data);
    let mut warnings = if raw {
        Vec::new()
    } else {
        adjust_trace(&mut spans, options)
    };
    if cut > 0 {
        warnings.push(cap_warning(cut, max_spans));
    }
    Trace::assemble(spans, warnings)
}

pub(crate) fn path_segment(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(segment)| segment)
        .map_err(|rejection| ApiError::BadPath(rejection.body_text()))
}

/// `GET /api/services`: every service name, sorted.
pub(crate) async fn services(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref());
    let store = state.store.clone();
    let services = blocking(move || Ok(store.services()?)).await?;
    catalogue(services, params.pretty_print())
}

/// `GET /api/services/{service}/operations`: the service's operation names
/// across all span kinds, each once.
pub(crate) async fn service_operations(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let service = path_segment(path)?;
    let params = QueryParams::parse(query.as_deref());
    let store = state.store.clone();
    let operations = blocking(move || Ok(store.operations(&service, None)?)).await?;
    let mut names: Vec<String> = operations.into_iter().map(|op| op.name).collect();
    names.sort();
    names.dedup();
    catalogue(names, params.pretty_print())
}

/// `GET /api/operations?service=&spanKind=`: operations with their kind.
pub(crate) async fn operations(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref());
    let service = params
        .first("service")
        .ok_or(ParamError::Required("service"))?
        .to_string();
    let kind = match params.first("spanKind") {
        None => None,
        Some(name) => match span_kind_from_name(name) {
            Some(kind) => Some(kind),
            // No span has a kind Jaeger does not know.
            None => return catalogue(Vec::<OperationItem>::new(), params.pretty_print()),
        },
    };
    let store = state.store.clone();
    let operations = blocking(move || Ok(store.operations(&service, kind)?)).await?;
    let items: Vec<OperationItem> = operations
        .into_iter()
        .map(|op| OperationItem {
            name: op.name,
            span_kind: span_kind_name(op.kind).to_string(),
        })
        .collect();
    catalogue(items, params.pretty_print())
}

/// `GET /api/traces`: search, or multi-get with `traceID=`.
pub(crate) async fn search(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref());
    let pretty = params.pretty_print();
    let request =
        SearchParams::parse(&params, state.settings.search_defaults(), SystemTime::now())?;
    let options = state.settings.adjust_options();
    let cap = state.settings.max_spans_per_trace;
    let store = state.store.clone();
    let body = blocking(move || match request {
        SearchParams::ByIds { trace_ids, raw } => {
            let mut data = Vec::with_capacity(trace_ids.len());
            let mut errors = Vec::new();
            for id in trace_ids {
                let found = trace_or_archived(&*store, id)?;
                match found.and_then(|trace| render_trace(trace, raw, options, cap)) {
                    Some(trace) => data.push(trace),
                    None => errors.push(trace_not_found_item(id)),
                }
            }
            errors.extend(partial::error_items(&partial_notes()).unwrap_or_default());
            let errors = (!errors.is_empty()).then_some(errors);
            to_json(
                &Envelope {
                    data,
                    total: 0,
                    limit: 0,
                    offset: 0,
                    errors,
                },
                pretty,
            )
        }
        SearchParams::Find { query, raw } => {
            let traces = store.find_traces(&query)?;
            let data: Vec<Trace> = traces
                .into_iter()
                .filter_map(|trace| render_trace(trace, raw, options, cap))
                .collect();
            to_json(&noted(data), pretty)
        }
    })
    .await?;
    Ok(json_response(body))
}

/// A data envelope with the partial-answer notes of the work so far (on
/// this blocking thread) in `errors`.
fn noted<T>(data: T) -> Envelope<T> {
    Envelope {
        errors: partial::error_items(&partial_notes()),
        ..Envelope::data(data)
    }
}

fn trace_not_found_item(id: TraceId) -> ErrorItem {
    ErrorItem {
        code: None,
        msg: "trace not found".to_string(),
        trace_id: Some(id.to_jaeger_hex()),
    }
}

/// `GET /api/traces/{traceID}`: one trace. `start`/`end` are validated but
/// only hints: the lookup is never narrowed by them.
pub(crate) async fn get_trace(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&path_segment(path)?)?;
    let params = QueryParams::parse(query.as_deref());
    let pretty = params.pretty_print();
    let raw = params.raw()?;
    params.micros("start")?;
    params.micros("end")?;
    let options = state.settings.adjust_options();
    let cap = state.settings.max_spans_per_trace;
    let store = state.store.clone();
    let body = blocking(move || {
        let stored = trace_or_archived(&*store, trace_id)?.ok_or(ApiError::TraceNotFound)?;
        let trace = render_trace(stored, raw, options, cap).ok_or(ApiError::TraceNotFound)?;
        to_json(&noted([trace]), pretty)
    })
    .await?;
    Ok(json_response(body))
}

/// `GET /api/dependencies?endTs=&lookback=[&service=][&errors=true]` (ms):
/// the service dependency links of the window, from the persisted analytics
/// (`crate::dependencies`); parameters validated like Jaeger's. `errors`
/// (Spoor's extension, for its UI's service map) adds `errorCount`.
pub(crate) async fn dependencies(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref());
    let mut window = [None, None];
    for (slot, name) in window.iter_mut().zip(["endTs", "lookback"]) {
        if let Some(value) = params.first(name) {
            *slot = Some(parse_go_int(name, value, 64)?);
        }
    }
    let service = params.first("service").map(str::to_string);
    let with_errors = params.errors()?;
    let store = state.store.clone();
    let body = blocking(move || {
        let links = crate::dependencies::links_in_window(
            &*store,
            window[0],
            window[1],
            crate::dependencies::DEFAULT_LOOKBACK_MS,
        )?;
        let links = crate::dependencies::jaeger_links_with(links, service.as_deref(), with_errors);
        to_json(&noted(links), params.pretty_print())
    })
    .await?;
    Ok(json_response(body))
}

/// Splits a batch into one document per trace id (first-appearance order),
/// keeping each span's resource and scope.
fn split_by_trace(data: model::TracesData) -> Vec<model::TracesData> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut traces: std::collections::HashMap<TraceId, model::TracesData> =
        std::collections::HashMap::new();
    for rs in data.resource_spans {
        for ss in rs.scope_spans {
            for span in ss.spans {
                let id = span.trace_id();
                let trace = traces.entry(id).or_insert_with(|| {
                    order.push(id);
                    model::TracesData::default()
                });
                let group = trace
                    .resource_spans
                    .iter_mut()
                    .find(|g| g.resource == rs.resource && g.schema_url == rs.schema_url);
                let group = match group {
                    Some(group) => group,
                    None => {
                        trace.resource_spans.push(model::ResourceSpans {
                            resource: rs.resource.clone(),
                            scope_spans: Vec::new(),
                            schema_url: rs.schema_url.clone(),
                        });
                        trace.resource_spans.last_mut().expect("just pushed")
                    }
                };
                match group
                    .scope_spans
                    .iter_mut()
                    .find(|g| g.scope == ss.scope && g.schema_url == ss.schema_url)
                {
                    Some(scope) => scope.spans.push(span),
                    None => group.scope_spans.push(model::ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: vec![span],
                        schema_url: ss.schema_url.clone(),
                    }),
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| traces.remove(&id))
        .collect()
}

/// `POST /api/transform`: an OTLP/JSON document in, its traces in the Jaeger
/// UI model out (the UI's "upload OTLP file" feature). Bad JSON → 400.
pub(crate) async fn transform(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref());
    let pretty = params.pretty_print();
    let options = state.settings.adjust_options();
    let cap = state.settings.max_spans_per_trace;
    let body = blocking(move || {
        let data = spoor_proto::otlp_json::decode_traces(&body)
            .map_err(|e| ApiError::BadBody(format!("cannot parse OTLP/JSON: {e}")))?;
        let traces: Vec<Trace> = split_by_trace(data)
            .into_iter()
            .filter_map(|trace| render_trace(trace, false, options, cap))
            .collect();
        to_json(&Envelope::data(traces), pretty)
    })
    .await?;
    Ok(json_response(body))
}

/// A trace from the primary store, else its archived copy.
pub(crate) fn trace_or_archived(
    store: &dyn TraceSource,
    id: TraceId,
) -> Result<Option<model::TracesData>, spoor_storage::StorageError> {
    match store.get_trace(id)?.filter(|t| t.span_count() > 0) {
        Some(trace) => Ok(Some(trace)),
        None => store.get_archived_trace(id),
    }
}

/// `POST /api/archive/{traceID}`: keeps a copy of the trace outside
/// retention. Success is `{"data":[],…,"errors":[]}`; unknown trace → 404.
pub(crate) async fn archive(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&path_segment(path)?)?;
    let params = QueryParams::parse(query.as_deref());
    params.micros("start")?;
    params.micros("end")?;
    let store = state.store.clone();
    let archived = blocking(move || Ok(store.archive_trace(trace_id)?)).await?;
    if !archived {
        return Err(ApiError::TraceNotFound);
    }
    let envelope = Envelope {
        data: Vec::<()>::new(),
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(Vec::new()),
    };
    Ok(json_response(to_json(&envelope, params.pretty_print())?))
}

/// Any other path under `/api/`: a JSON 404, never the UI's HTML.
pub(crate) async fn unknown_api_path() -> ApiError {
    ApiError::UnknownEndpoint
}

/// Gives the router's bare 405 answers the JSON error body (keeping `Allow`).
pub(crate) async fn json_method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let mut replaced = ApiError::MethodNotAllowed.into_response();
    if let Some(allow) = allow {
        replaced.headers_mut().insert(ALLOW, allow);
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_uses_four_space_indentation() {
        let body = to_json(&Envelope::data(vec!["a"]), true).unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.starts_with("{\n    \"data\": [\n        \"a\"\n    ],"),
            "{text}"
        );
        let compact = to_json(&Envelope::data(vec!["a"]), false).unwrap();
        assert_eq!(
            &compact[..],
            br#"{"data":["a"],"total":0,"limit":0,"offset":0,"errors":null}"#
        );
    }

    #[test]
    fn an_empty_stored_trace_renders_as_nothing() {
        assert!(render_trace(
            model::TracesData::default(),
            false,
            AdjustOptions::default(),
            0
        )
        .is_none());
    }

    #[test]
    fn raw_rendering_keeps_the_stored_spans_untouched() {
        let span = |kind: model::SpanKind| model::Span {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 9].into(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 0x20].into(),
            kind: kind as i32,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            ..Default::default()
        };
        let data = model::TracesData {
            resource_spans: vec![model::ResourceSpans {
                scope_spans: vec![model::ScopeSpans {
                    spans: vec![span(model::SpanKind::Client), span(model::SpanKind::Server)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let raw = render_trace(data.clone(), true, AdjustOptions::default(), 0).unwrap();
        assert!(raw
            .spans
            .iter()
            .all(|s| s.span_id.0 == 0x20 && s.warnings.is_empty()));
        let adjusted = render_trace(data, false, AdjustOptions::default(), 0).unwrap();
        assert_eq!(adjusted.spans[1].span_id.0, 1);
    }
}
