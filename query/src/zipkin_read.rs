//! The Zipkin v2 read API (spec ingest-and-zipkin §3), served on the Zipkin
//! port beside the ingest route, under `/api/v2/…` and `/zipkin/api/v2/…`.
//!
//! In: `GET /services`, `/spans?serviceName=`, `/remoteServices?serviceName=`,
//! `/traces?serviceName&spanName&remoteServiceName&annotationQuery&minDuration&maxDuration&endTs&lookback&limit`
//! (durations µs, `endTs`/`lookback` ms), `/trace/{traceId}`,
//! `/traceMany?traceIds=`, `/dependencies?endTs&lookback`,
//! `/autocompleteKeys`, `/autocompleteValues?key=`, and the shared [`TraceSource`].
//! Out: Zipkin v2 JSON (names lower-cased, spans in Zipkin's field order via
//! [`spoor_proto::zipkin_v2`]), `Access-Control-Allow-Origin: *`; 400/404
//! errors as `text/plain` messages.
//!
//! How `/traces` is answered: the store pages through the traces with a span
//! of the service in the window, newest first, `candidate_traces` at a time,
//! and each is checked with Zipkin's rules — trace timestamp (root span, else
//! the earliest) inside `[endTs − lookback, endTs]`, and every criterion over
//! the service's spans, where annotation-query terms may be met by different
//! spans — until `limit` traces match or the window is exhausted, keeping
//! only the best `limit` in memory.
//!
//! Trace ids (`query.zipkin.strict_trace_id`, Zipkin's `STRICT_TRACE_ID`):
//! strict (the default) looks traces up and groups spans by the full id;
//! lenient uses only the low 64 bits, so `/trace/{16 hex}` also returns the
//! spans stored under a 128-bit id with that low half (and the other way
//! round), through the store's low-64 index, and `/traces` and `/traceMany`
//! answer the spans of all those ids as one trace. Ids are read in any case
//! (upper-case hex is accepted, as the spec recommends for pasted ids).
//! `/remoteServices` and
//! `/autocompleteValues` are read from recent traces the same way;
//! `/dependencies` reads the links the analytics persisted
//! (`crate::dependencies`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use spoor_proto::ids::TraceId;
use spoor_proto::model;
use spoor_proto::zipkin_v2::{encode_json, encode_json_bytes};
use spoor_storage::{TraceQuery, TraceSource};

use crate::params::QueryParams;

/// Settings of the Zipkin read API (configuration section `query.zipkin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinReadSettings {
    /// Look-back of `/traces` and `/dependencies` without `lookback`.
    #[serde(with = "humantime_serde")]
    pub default_lookback: Duration,
    /// Traces `/traces` returns without `limit`.
    pub default_limit: usize,
    /// Candidate traces `/traces` reads from the store per step of its walk
    /// through the window (a memory bound, not a limit on the answer), and
    /// the recent traces `/remoteServices` and `/autocompleteValues` read.
    pub candidate_traces: usize,
    /// Tag keys offered by `/autocompleteKeys`.
    pub autocomplete_keys: Vec<String>,
    /// Zipkin's `STRICT_TRACE_ID`: match trace ids in full (true), or by
    /// their low 64 bits only (false, for a migration to 128-bit ids).
    pub strict_trace_id: bool,
}

impl Default for ZipkinReadSettings {
    fn default() -> Self {
        ZipkinReadSettings {
            default_lookback: Duration::from_secs(86_400),
            default_limit: 10,
            candidate_traces: 1000,
            autocomplete_keys: Vec::new(),
            strict_trace_id: true,
        }
    }
}

impl ZipkinReadSettings {
    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.default_lookback.is_zero() {
            problems.push("query.zipkin.default_lookback must be greater than 0".to_string());
        }
        if self.default_limit == 0 {
            problems.push("query.zipkin.default_limit must be greater than 0".to_string());
        }
        if self.candidate_traces < self.default_limit {
            problems.push(
                "query.zipkin.candidate_traces must not be below query.zipkin.default_limit"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[derive(Clone)]
struct ZipkinState {
    store: Arc<dyn TraceSource>,
    settings: Arc<ZipkinReadSettings>,
}

/// A failed read request: 400 or 404 with a plain-text message, or 500.
#[derive(Debug, thiserror::Error)]
enum ZipkinError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for ZipkinError {
    fn into_response(self) -> Response {
        let status = match self {
            ZipkinError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ZipkinError::NotFound(_) => StatusCode::NOT_FOUND,
            ZipkinError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "zipkin read request failed");
        }
        (
            status,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            ],
            self.to_string(),
        )
            .into_response()
    }
}

fn bad(message: impl Into<String>) -> ZipkinError {
    ZipkinError::BadRequest(message.into())
}

async fn blocking<T, F>(work: F) -> Result<T, ZipkinError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, spoor_storage::StorageError> + Send + 'static,
{
    let (result, notes) = tokio::task::spawn_blocking(move || crate::partial::run_noted(work))
        .await
        .map_err(|e| ZipkinError::Internal(format!("query task failed: {e}")))?;
    crate::partial::hand_over(notes);
    result.map_err(|e| ZipkinError::Internal(e.to_string()))
}

fn json_body(body: Vec<u8>, cache: bool) -> Response {
    let mut response = (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        body,
    )
        .into_response();
    if cache {
        response.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("max-age=300, must-revalidate"),
        );
    }
    response
}

/// A sorted name list; cacheable once it names more than three entries.
fn names_body(names: BTreeSet<String>) -> Response {
    let cache = names.len() > 3;
    json_body(
        serde_json::to_vec(&names).unwrap_or_else(|_| b"[]".to_vec()),
        cache,
    )
}

/// Builds the read API, mounted at `/api/v2` and `/zipkin/api/v2`. It claims
/// only those GET routes, so it merges with the Zipkin ingest router (which
/// owns `POST /api/v2/spans`).
pub fn zipkin_read_router(store: Arc<dyn TraceSource>, settings: ZipkinReadSettings) -> Router {
    let state = ZipkinState {
        store,
        settings: Arc::new(settings),
    };
    let mut router = Router::new();
    for base in ["/api/v2", "/zipkin/api/v2"] {
        router = router
            .route(&format!("{base}/services"), get(services))
            .route(&format!("{base}/spans"), get(span_names))
            .route(&format!("{base}/remoteServices"), get(remote_services))
            .route(&format!("{base}/traces"), get(traces))
            .route(&format!("{base}/trace/{{trace_id}}"), get(trace))
            .route(&format!("{base}/traceMany"), get(trace_many))
            .route(&format!("{base}/dependencies"), get(dependencies))
            .route(&format!("{base}/autocompleteKeys"), get(autocomplete_keys))
            .route(
                &format!("{base}/autocompleteValues"),
                get(autocomplete_values),
            );
    }
    router
        .layer(axum::middleware::from_fn(crate::partial::mark_partial))
        .with_state(state)
}

/// Stored service names whose lower-case form is `wanted` (Zipkin names are
/// case-insensitive on read).
fn stored_services(
    store: &dyn TraceSource,
    wanted: &str,
) -> Result<Vec<String>, spoor_storage::StorageError> {
    Ok(store
        .services()?
        .into_iter()
        .filter(|s| s.to_lowercase() == wanted)
        .collect())
}

fn required(params: &QueryParams, name: &str) -> Result<String, ZipkinError> {
    params
        .first(name)
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad(format!("{name} is required")))
}

async fn services(State(state): State<ZipkinState>) -> Result<Response, ZipkinError> {
    let store = state.store.clone();
    let services = blocking(move || store.services()).await?;
    Ok(names_body(
        services
            .into_iter()
            .map(|s| s.to_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

async fn span_names(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let service = required(&QueryParams::parse(query.as_deref()), "serviceName")?;
    let store = state.store.clone();
    let names = blocking(move || {
        let mut names = BTreeSet::new();
        for service in stored_services(&*store, &service)? {
            for op in store.operations(&service, None)? {
                names.insert(op.name.to_lowercase());
            }
        }
        Ok(names)
    })
    .await?;
    Ok(names_body(names))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Recent traces with a span of one of `services` (all services when `None`)
/// starting in `[start_ms, end_ms]`, newest first, Zipkin-encoded.
fn recent_traces(
    store: &dyn TraceSource,
    services: Option<Vec<String>>,
    start_ms: u64,
    end_ms: u64,
    limit: usize,
) -> Result<Vec<(model::TracesData, Vec<Json>)>, spoor_storage::StorageError> {
    let query = |service: Option<String>| TraceQuery {
        service,
        start_min_ns: Some(start_ms.saturating_mul(1_000_000)),
        start_max_ns: Some(end_ms.saturating_mul(1_000_000).saturating_add(999_999)),
        limit,
        ..Default::default()
    };
    let mut found = Vec::new();
    match services {
        None => found.extend(store.find_traces(&query(None))?),
        Some(services) => {
            for service in services {
                found.extend(store.find_traces(&query(Some(service)))?);
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|data| {
            let spans = encode_json(&data);
            (data, spans)
        })
        .collect())
}

async fn remote_services(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let service = required(&QueryParams::parse(query.as_deref()), "serviceName")?;
    let store = state.store.clone();
    let lookback = state.settings.default_lookback.as_millis() as u64;
    let limit = state.settings.candidate_traces;
    let names = blocking(move || {
        let services = stored_services(&*store, &service)?;
        let end = now_ms();
        let traces = recent_traces(
            &*store,
            Some(services),
            end.saturating_sub(lookback),
            end,
            limit,
        )?;
        Ok(traces
            .iter()
            .flat_map(|(_, spans)| spans)
            .filter(|span| span["localEndpoint"]["serviceName"] == service.as_str())
            .filter_map(|span| span["remoteEndpoint"]["serviceName"].as_str())
            .map(str::to_string)
            .collect::<BTreeSet<_>>())
    })
    .await?;
    Ok(names_body(names))
}

/// One `annotationQuery` term.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// `key=value`: a tag with exactly that value.
    Tag(String, String),
    /// A bare word: an annotation value or a tag key.
    Word(String),
}

/// Parses Zipkin's `annotationQuery` (`term and term …`): a later `key=value`
/// for the same key wins; bare words never override a `key=value`.
fn parse_annotation_query(text: &str) -> Vec<Term> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    let mut words: Vec<String> = Vec::new();
    for term in text.split(" and ").take(100) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        match term.split_once('=') {
            Some((key, value)) if !value.trim().is_empty() => {
                tags.insert(key.trim().to_string(), value.trim().to_string());
            }
            Some((key, _)) => words.push(key.trim().to_string()),
            None => words.push(term.to_string()),
        }
    }
    let mut terms: Vec<Term> = tags
        .iter()
        .map(|(k, v)| Term::Tag(k.clone(), v.clone()))
        .collect();
    for word in words {
        if !tags.contains_key(&word) && !terms.contains(&Term::Word(word.clone())) {
            terms.push(Term::Word(word));
        }
    }
    terms
}

/// The criteria of `/traces` after validation.
#[derive(Debug, Clone, Default, PartialEq)]
struct TraceCriteria {
    service: Option<String>,
    remote_service: Option<String>,
    span_name: Option<String>,
    terms: Vec<Term>,
    min_duration_us: Option<u64>,
    max_duration_us: Option<u64>,
    end_ts_ms: u64,
    lookback_ms: u64,
    limit: usize,
}

fn positive(params: &QueryParams, name: &str) -> Result<Option<u64>, ZipkinError> {
    match params.first(name) {
        None => Ok(None),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(0) | Err(_) => Err(bad(format!(
                "{name} should be a positive integer, was {text}"
            ))),
            Ok(value) => Ok(Some(value)),
        },
    }
}

impl TraceCriteria {
    fn parse(
        params: &QueryParams,
        settings: &ZipkinReadSettings,
        now_ms: u64,
    ) -> Result<Self, ZipkinError> {
        let lower = |name: &str| {
            params
                .first(name)
                .map(|v| v.trim().to_lowercase())
                .filter(|v| !v.is_empty())
        };
        let min_duration_us = positive(params, "minDuration")?;
        let max_duration_us = positive(params, "maxDuration")?;
        match (min_duration_us, max_duration_us) {
            (None, Some(_)) => return Err(bad("maxDuration is only valid with minDuration")),
            (Some(min), Some(max)) if max < min => {
                return Err(bad("maxDuration should be >= minDuration"))
            }
            _ => {}
        }
        let limit = positive(params, "limit")?
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
            .unwrap_or(settings.default_limit);
        Ok(TraceCriteria {
            service: lower("serviceName"),
            remote_service: lower("remoteServiceName"),
            span_name: lower("spanName").filter(|n| n != "all"),
            terms: params
                .first("annotationQuery")
                .map(parse_annotation_query)
                .unwrap_or_default(),
            min_duration_us,
            max_duration_us,
            end_ts_ms: positive(params, "endTs")?.unwrap_or(now_ms),
            lookback_ms: positive(params, "lookback")?
                .unwrap_or(settings.default_lookback.as_millis() as u64),
            limit,
        })
    }

    /// Zipkin's trace timestamp (µs) when `spans` match every criterion.
    fn matches(&self, spans: &[Json]) -> Option<u64> {
        let timestamp = trace_timestamp(spans)?;
        let end_us = self.end_ts_ms.saturating_mul(1000);
        let start_us = self
            .end_ts_ms
            .saturating_sub(self.lookback_ms)
            .saturating_mul(1000);
        if timestamp < start_us || timestamp > end_us {
            return None;
        }
        let eligible: Vec<&Json> = match &self.service {
            None => spans.iter().collect(),
            Some(service) => spans
                .iter()
                .filter(|s| s["localEndpoint"]["serviceName"] == service.as_str())
                .collect(),
        };
        if eligible.is_empty() {
            return None;
        }
        let any = |f: &dyn Fn(&Json) -> bool| eligible.iter().any(|s| f(s));
        if let Some(remote) = &self.remote_service {
            if !any(&|s| s["remoteEndpoint"]["serviceName"] == remote.as_str()) {
                return None;
            }
        }
        if let Some(name) = &self.span_name {
            if !any(&|s| s["name"] == name.as_str()) {
                return None;
            }
        }
        for term in &self.terms {
            let met = match term {
                Term::Tag(key, value) => any(&|s| s["tags"][key.as_str()] == value.as_str()),
                Term::Word(word) => any(&|s| {
                    s["tags"].get(word.as_str()).is_some()
                        || s["annotations"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x["value"] == word.as_str()))
                }),
            };
            if !met {
                return None;
            }
        }
        if let Some(min) = self.min_duration_us {
            let max = self.max_duration_us.unwrap_or(u64::MAX);
            if !any(&|s| s["duration"].as_u64().is_some_and(|d| d >= min && d <= max)) {
                return None;
            }
        }
        Some(timestamp)
    }
}

/// The root span's timestamp, else the earliest non-zero one (µs).
fn trace_timestamp(spans: &[Json]) -> Option<u64> {
    let root = spans
        .iter()
        .filter(|s| s.get("parentId").is_none())
        .filter_map(|s| s["timestamp"].as_u64())
        .filter(|t| *t > 0)
        .min();
    root.or_else(|| {
        spans
            .iter()
            .filter_map(|s| s["timestamp"].as_u64())
            .filter(|t| *t > 0)
            .min()
    })
}

/// Concatenates per-trace span lists into `[[…],[…]]`.
fn trace_list(traces: &[model::TracesData]) -> Vec<u8> {
    let mut out = vec![b'['];
    for (i, trace) in traces.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(encode_json_bytes(trace));
    }
    out.push(b']');
    out
}

async fn traces(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let params = QueryParams::parse(query.as_deref());
    let criteria = TraceCriteria::parse(&params, &state.settings, now_ms())?;
    let store = state.store.clone();
    let page = state.settings.candidate_traces.max(1);
    let strict = state.settings.strict_trace_id;
    let body = blocking(move || {
        let services = match criteria.service.as_ref() {
            Some(s) => Some(stored_services(&*store, s)?),
            None => None,
        };
        if services.as_ref().is_some_and(Vec::is_empty) {
            return Ok(b"[]".to_vec());
        }
        let traces = search_traces(&*store, &criteria, services, page, strict)?;
        Ok(trace_list(&traces))
    })
    .await?;
    Ok(json_body(body, false))
}

/// The newest `criteria.limit` traces matching `criteria`, newest first.
///
/// Candidates (traces with a span of one of `services`, or of any service,
/// in the window) come from the store `page` at a time, newest latest
/// matching span first, and are checked one by one; only the best `limit`
/// matches are kept, so memory is bounded by `page + limit` traces whatever
/// the number of candidates. The walk stops when the window is exhausted, or
/// when `limit` traces matched and the next candidates' spans all started
/// before the oldest kept trace timestamp (a trace's timestamp, its root
/// span's start, is not after its spans' starts). Leniently, a candidate
/// stands for every trace sharing its low 64 bits, checked and answered as
/// one trace.
fn search_traces(
    store: &dyn TraceSource,
    criteria: &TraceCriteria,
    services: Option<Vec<String>>,
    page: usize,
    strict: bool,
) -> Result<Vec<model::TracesData>, spoor_storage::StorageError> {
    // Spans may start up to the window's length before the trace timestamp
    // bound; the candidate search widens the window by one lookback.
    let end = criteria.end_ts_ms;
    let start = end.saturating_sub(criteria.lookback_ms.saturating_mul(2));
    let streams: Vec<Option<String>> = match services {
        None => vec![None],
        Some(services) => services.into_iter().map(Some).collect(),
    };
    let mut best = Best::new(criteria.limit);
    for service in streams {
        let query = TraceQuery {
            service,
            start_min_ns: Some(start.saturating_mul(1_000_000)),
            start_max_ns: Some(end.saturating_mul(1_000_000).saturating_add(999_999)),
            limit: page,
            ..Default::default()
        };
        let mut after = None;
        loop {
            let found = store.find_traces_page(&query, after)?;
            let exhausted = found.len() < page;
            after = found.last().map(|f| f.cursor);
            for candidate in found {
                let id = candidate.cursor.trace_id;
                let key = if strict { id.0 } else { u128::from(id.low()) };
                if best.holds(key) {
                    continue;
                }
                let data = if strict {
                    candidate.data
                } else {
                    store
                        .get_trace_by_low64(id.low())?
                        .unwrap_or(candidate.data)
                };
                let Some(ts) = criteria.matches(&encode_json(&data)) else {
                    continue;
                };
                best.offer(ts, key, data);
            }
            let Some(cursor) = after.filter(|_| !exhausted) else {
                break;
            };
            if best
                .oldest_if_full()
                .is_some_and(|ts| cursor.latest_match_ns / 1000 < ts)
            {
                break;
            }
        }
    }
    Ok(best.newest_first())
}

/// A matched trace kept by [`Best`].
struct Kept {
    timestamp_us: u64,
    key: u128,
    data: model::TracesData,
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Kept {}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Kept {
    /// Reversed, so the heap's top is the oldest trace kept.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.timestamp_us, other.key).cmp(&(self.timestamp_us, self.key))
    }
}

/// The `limit` newest matched traces seen so far (a min-heap by trace
/// timestamp plus the keys held, so each offer costs O(log limit)).
struct Best {
    limit: usize,
    heap: std::collections::BinaryHeap<Kept>,
    keys: std::collections::HashSet<u128>,
}

impl Best {
    fn new(limit: usize) -> Self {
        Best {
            limit,
            heap: Default::default(),
            keys: Default::default(),
        }
    }

    /// Whether a trace (full id, or low half when lenient) is kept.
    fn holds(&self, key: u128) -> bool {
        self.keys.contains(&key)
    }

    /// Keeps the trace if it is among the `limit` newest.
    fn offer(&mut self, timestamp_us: u64, key: u128, data: model::TracesData) {
        if self.heap.len() >= self.limit
            && self
                .heap
                .peek()
                .is_some_and(|oldest| oldest.timestamp_us >= timestamp_us)
        {
            return;
        }
        self.keys.insert(key);
        self.heap.push(Kept {
            timestamp_us,
            key,
            data,
        });
        if self.heap.len() > self.limit {
            if let Some(evicted) = self.heap.pop() {
                self.keys.remove(&evicted.key);
            }
        }
    }

    /// The oldest kept trace timestamp once `limit` traces are kept.
    fn oldest_if_full(&self) -> Option<u64> {
        (self.heap.len() >= self.limit)
            .then(|| self.heap.peek().map(|k| k.timestamp_us))
            .flatten()
    }

    fn newest_first(self) -> Vec<model::TracesData> {
        // Ascending in the reversed order is newest first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|k| k.data)
            .collect()
    }
}

/// Zipkin's normalised id text: lower-case hex, 16 or 32 characters, a
/// 32-character id with 16 leading zeros shortened to 16. Upper-case hex is
/// accepted (zipkin-server answers 400; the spec recommends accepting ids
/// pasted from other tools); an all-zero id is refused, as zipkin-server and
/// ingest do.
fn normalize_trace_id(text: &str) -> Result<(TraceId, String), ZipkinError> {
    let text = text.trim();
    let id = TraceId::parse_hex(text).map_err(|_| {
        bad(format!(
            "{text} should be a 1 to 32 character lower-hex string"
        ))
    })?;
    if id.is_zero() {
        return Err(bad("traceId is all zeros"));
    }
    Ok((id, id.to_jaeger_hex()))
}

/// The spans of trace `id`: of exactly that id when `strict`, else of every
/// id sharing its low 64 bits. `None` when there are none.
fn lookup(
    store: &dyn TraceSource,
    id: TraceId,
    strict: bool,
) -> Result<Option<model::TracesData>, spoor_storage::StorageError> {
    let found = if strict {
        store.get_trace(id)?
    } else {
        store.get_trace_by_low64(id.low())?
    };
    Ok(found.filter(|t| t.span_count() > 0))
}

async fn trace(
    State(state): State<ZipkinState>,
    Path(text): Path<String>,
) -> Result<Response, ZipkinError> {
    let (id, normalized) = normalize_trace_id(&text)?;
    let store = state.store.clone();
    let strict = state.settings.strict_trace_id;
    let found = blocking(move || lookup(&*store, id, strict)).await?;
    match found {
        Some(trace) => Ok(json_body(encode_json_bytes(&trace), false)),
        None => Err(ZipkinError::NotFound(normalized)),
    }
}

async fn trace_many(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let params = QueryParams::parse(query.as_deref());
    let text = params
        .first("traceIds")
        .ok_or_else(|| bad("traceIds parameter is empty"))?;
    let mut ids = Vec::new();
    let mut seen = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, normalized) = normalize_trace_id(part)?;
        if !seen.insert(normalized.clone()) {
            return Err(bad(format!("redundant traceId: {normalized}")));
        }
        ids.push(id);
    }
    match ids.len() {
        0 => return Err(bad("traceIds parameter is empty")),
        1 => {
            return Err(bad(
                "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace",
            ))
        }
        _ => {}
    }
    let store = state.store.clone();
    let strict = state.settings.strict_trace_id;
    let traces = blocking(move || {
        let mut found = Vec::new();
        let mut groups = BTreeSet::new();
        for id in ids {
            // Leniently, two ids with one low half name one trace.
            if !strict && !groups.insert(id.low()) {
                continue;
            }
            found.extend(lookup(&*store, id, strict)?);
        }
        Ok(found)
    })
    .await?;
    Ok(json_body(trace_list(&traces), false))
}

async fn dependencies(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let params = QueryParams::parse(query.as_deref());
    if params.first("endTs").is_none() {
        return Err(bad("endTs is required"));
    }
    let end = positive(&params, "endTs")?.map(|v| v.min(i64::MAX as u64) as i64);
    let lookback = positive(&params, "lookback")?.map(|v| v.min(i64::MAX as u64) as i64);
    let default_lookback = state.settings.default_lookback.as_millis() as u64;
    let store = state.store.clone();
    let links = blocking(move || {
        crate::dependencies::links_in_window(&*store, end, lookback, default_lookback)
    })
    .await?;
    let body = serde_json::to_vec(&crate::dependencies::zipkin_links(links))
        .map_err(|e| ZipkinError::Internal(e.to_string()))?;
    Ok(json_body(body, false))
}

async fn autocomplete_keys(State(state): State<ZipkinState>) -> Response {
    let keys: BTreeSet<String> = state.settings.autocomplete_keys.iter().cloned().collect();
    json_body(
        serde_json::to_vec(&keys).unwrap_or_else(|_| b"[]".to_vec()),
        true,
    )
}

async fn autocomplete_values(
    State(state): State<ZipkinState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ZipkinError> {
    let params = QueryParams::parse(query.as_deref());
    let key = params
        .first("key")
        .map(str::to_string)
        .ok_or_else(|| bad("key is required"))?;
    if !state.settings.autocomplete_keys.contains(&key) {
        return Ok(names_body(BTreeSet::new()));
    }
    let store = state.store.clone();
    let lookback = state.settings.default_lookback.as_millis() as u64;
    let limit = state.settings.candidate_traces;
    let values = blocking(move || {
        let end = now_ms();
        let traces = recent_traces(&*store, None, end.saturating_sub(lookback), end, limit)?;
        Ok(traces
            .iter()
            .flat_map(|(_, spans)| spans)
            .filter_map(|span| span["tags"][key.as_str()].as_str())
            .map(str::to_string)
            .collect::<BTreeSet<_>>())
    })
    .await?;
    Ok(names_body(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_query_terms_follow_zipkin() {
        assert_eq!(
            parse_annotation_query(
                "http.method=GET and error and retried and http.method=POST and http.method"
            ),
            [
                Term::Tag("http.method".into(), "POST".into()),
                Term::Word("error".into()),
                Term::Word("retried".into()),
            ]
        );
        assert_eq!(
            parse_annotation_query("error= "),
            [Term::Word("error".into())]
        );
        assert_eq!(
            parse_annotation_query("a AND b"),
            [Term::Word("a AND b".into())]
        );
    }

    fn criteria(text: &str) -> Result<TraceCriteria, ZipkinError> {
        TraceCriteria::parse(
            &QueryParams::parse(Some(text)),
            &ZipkinReadSettings::default(),
            10_000,
        )
    }

    #[test]
    fn trace_parameters_are_validated_like_zipkin() {
        let c = criteria("serviceName=Front&spanName=all&minDuration=5").unwrap();
        assert_eq!(c.service.as_deref(), Some("front"));
        assert_eq!(c.span_name, None);
        assert_eq!(
            (c.limit, c.end_ts_ms, c.lookback_ms),
            (10, 10_000, 86_400_000)
        );
        assert_eq!(
            criteria("maxDuration=5").unwrap_err().to_string(),
            "maxDuration is only valid with minDuration"
        );
        assert!(criteria("minDuration=10&maxDuration=5").is_err());
        assert!(criteria("limit=0").is_err());
        assert!(criteria("endTs=-1").is_err());
    }

    #[test]
    fn matching_uses_the_services_spans_and_the_root_timestamp() {
        let spans = vec![
            json!({"id":"1","name":"get","timestamp":5_000_000u64,"duration":300,
                   "localEndpoint":{"serviceName":"front"},"tags":{"http.method":"GET"}}),
            json!({"id":"2","parentId":"1","name":"query","timestamp":4_000_000u64,"duration":100,
                   "localEndpoint":{"serviceName":"db"},"remoteEndpoint":{"serviceName":"pg"},
                   "annotations":[{"timestamp":1,"value":"retried"}],"tags":{"error":""}}),
        ];
        let c = |text: &str| criteria(&format!("endTs=10000&lookback=6000&{text}")).unwrap();
        assert_eq!(c("serviceName=front").matches(&spans), Some(5_000_000));
        assert_eq!(
            c("serviceName=db&remoteServiceName=pg&annotationQuery=retried and error")
                .matches(&spans),
            Some(5_000_000)
        );
        assert_eq!(
            c("annotationQuery=http.method=GET and retried").matches(&spans),
            Some(5_000_000)
        );
        assert_eq!(
            c("serviceName=front&annotationQuery=retried").matches(&spans),
            None
        );
        assert_eq!(
            c("serviceName=front&minDuration=200&maxDuration=400").matches(&spans),
            Some(5_000_000)
        );
        assert_eq!(c("serviceName=db&minDuration=200").matches(&spans), None);
        assert_eq!(c("spanName=query").matches(&spans), Some(5_000_000));
        // Outside the window by the root's timestamp.
        assert_eq!(
            criteria("endTs=4500&lookback=1000")
                .unwrap()
                .matches(&spans),
            None
        );
    }

    #[test]
    fn best_keeps_the_newest_traces_once_each() {
        let mut best = Best::new(2);
        assert_eq!(best.oldest_if_full(), None);
        let data = model::TracesData::default;
        best.offer(5, 1, data());
        best.offer(9, 2, data());
        assert_eq!(best.oldest_if_full(), Some(5));
        best.offer(3, 3, data());
        assert!(!best.holds(3));
        best.offer(7, 4, data());
        assert!(!best.holds(1) && best.holds(2) && best.holds(4));
        assert_eq!(best.oldest_if_full(), Some(7));
        assert_eq!(best.newest_first().len(), 2);
        let mut one = Best::new(3);
        for (ts, key) in [(4, 10), (8, 11), (6, 12)] {
            one.offer(ts, key, data());
        }
        let order: Vec<u64> = one
            .heap
            .into_sorted_vec()
            .iter()
            .map(|k| k.timestamp_us)
            .collect();
        assert_eq!(order, [8, 6, 4]);
    }

    #[test]
    fn trace_ids_are_normalised() {
        assert_eq!(normalize_trace_id("ABC").unwrap().1, "0000000000000abc");
        assert_eq!(
            normalize_trace_id("00000000000000000000000000000abc")
                .unwrap()
                .1,
            "0000000000000abc"
        );
        assert_eq!(
            normalize_trace_id("5b8efff798038103d269b633813fc60c")
                .unwrap()
                .1,
            "5b8efff798038103d269b633813fc60c"
        );
        assert!(normalize_trace_id("xyz").is_err());
        assert_eq!(
            normalize_trace_id("0000").unwrap_err().to_string(),
            "traceId is all zeros"
        );
        assert_eq!(
            normalize_trace_id(" 463AC35C9F6413AD48485A3953BB6124 ")
                .unwrap()
                .1,
            "463ac35c9f6413ad48485a3953bb6124"
        );
    }
}
