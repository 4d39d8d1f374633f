//! The Jaeger Service Performance Monitoring API (the UI's Monitor tab):
//! `GET /api/metrics/{latencies,calls,errors,minstep}`, answered from the
//! store's persisted RED aggregates, so no Prometheus is needed.
//!
//! In: the query string (`service` (repeatable), `quantile`,
//! `groupByOperation`, `endTs`, `lookback`, `step`, `ratePer` in ms,
//! `spanKind` (repeatable, default `server`)) and the store. Out: a
//! protobuf-JSON `MetricFamily`, not enveloped: `name` (`service_latencies`,
//! `service_call_rate`, `service_error_rate`, or `service_operation_…`),
//! `type` `GAUGE`, Jaeger's `help` text, and one metric per service (or
//! service and operation) with labels `service_name` (first) and
//! `operation`, and a point every `step` from `endTs − lookback` to `endTs`.
//! Errors are Jaeger's enveloped JSON sent as text/plain; 501 when analytics
//! are off.
//!
//! Each point at time t covers the buckets starting in `(t − ratePer, t]`:
//! calls/s over `ratePer`, errors / calls (NaN without calls; all zero for a
//! series without errors, like Jaeger's zero fill), and the quantile of the
//! merged latency histogram in ms (NaN without calls), interpolated inside
//! its bucket as Prometheus' `histogram_quantile` does. NaN is written as
//! the string `"NaN"`; `metrics` is `[]` when nothing matches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value as Json};
use spoor_proto::model::span_kind_from_name;
use spoor_storage::aggregates::SeriesStats;
use spoor_storage::{SeriesFilter, TraceSource};

use crate::jaeger_json::{Envelope, ErrorItem};
use crate::params::{parse_go_bool, parse_go_int, QueryParams};

/// Most points one series may have (Prometheus' limit).
const MAX_POINTS: u64 = 11_000;
/// Smallest step the store answers with (its finest bucket is 1 s).
const MIN_STEP_MS: u64 = 1_000;

#[derive(Clone)]
struct MetricsState {
    store: Arc<dyn TraceSource>,
    enabled: bool,
}

/// Builds the SPM routes under `base_path` ("/" or "" for none). With
/// `enabled` false every route answers 501 as Jaeger does without a
/// metrics backend. The routes are disjoint from `jaeger_http_router`'s, so
/// the two merge.
pub fn metrics_router(store: Arc<dyn TraceSource>, base_path: &str, enabled: bool) -> Router {
    let api = Router::new()
        .route("/api/metrics/latencies", get(latencies))
        .route("/api/metrics/calls", get(calls))
        .route("/api/metrics/errors", get(errors))
        .route("/api/metrics/minstep", get(minstep))
        .layer(axum::middleware::from_fn(crate::partial::mark_partial))
        .with_state(MetricsState { store, enabled });
    let base = base_path.trim_end_matches('/');
    if base.is_empty() {
        api
    } else {
        Router::new().nest(base, api)
    }
}

/// A failed metrics request.
#[derive(Debug, thiserror::Error)]
enum MetricsError {
    #[error("{0}")]
    BadRequest(String),
    #[error("trace metrics are currently disabled - no metrics backend configured")]
    Disabled,
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for MetricsError {
    fn into_response(self) -> Response {
        let status = match self {
            MetricsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MetricsError::Disabled => StatusCode::NOT_IMPLEMENTED,
            MetricsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(error = %self, "metrics request failed");
        }
        let envelope = Envelope {
            data: (),
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ErrorItem {
                code: Some(status.as_u16()),
                msg: self.to_string(),
                trace_id: None,
            }]),
        };
        let mut body = serde_json::to_string(&envelope).unwrap_or_default();
        body.push('\n');
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Latencies(f64),
    Calls,
    Errors,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
struct MetricsQuery {
    services: BTreeSet<String>,
    kinds: BTreeSet<i32>,
    group_by_operation: bool,
    end_ms: u64,
    lookback_ms: u64,
    step_ms: u64,
    rate_per_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ms_param(params: &QueryParams, name: &'static str, default: u64) -> Result<u64, MetricsError> {
    match params.first(name) {
        None => Ok(default),
        Some(text) => {
            let value = parse_go_int(name, text, 64)
                .map_err(|e| MetricsError::BadRequest(e.to_string()))?;
            u64::try_from(value).map_err(|_| {
                MetricsError::BadRequest(format!(
                    "unable to parse param '{name}': must not be negative"
                ))
            })
        }
    }
}

fn parse_query(params: &QueryParams, now: u64) -> Result<MetricsQuery, MetricsError> {
    let services: BTreeSet<String> = params
        .all("service")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if services.is_empty() {
        return Err(MetricsError::BadRequest(
            "please provide at least one service name".to_string(),
        ));
    }
    let group_by_operation = match params.first("groupByOperation") {
        None => false,
        Some(text) => parse_go_bool(text).ok_or_else(|| {
            MetricsError::BadRequest(format!(
                "unable to parse param 'groupByOperation': strconv.ParseBool: parsing {text:?}: invalid syntax"
            ))
        })?,
    };
    let mut kinds = BTreeSet::new();
    for name in params.all("spanKind").filter(|k| !k.is_empty()) {
        let kind = span_kind_from_name(name)
            .ok_or_else(|| MetricsError::BadRequest("unsupported span kind".to_string()))?;
        kinds.insert(kind as i32);
    }
    if kinds.is_empty() {
        kinds.insert(spoor_proto::model::SpanKind::Server as i32);
    }
    let query = MetricsQuery {
        services,
        kinds,
        group_by_operation,
        end_ms: ms_param(params, "endTs", now)?,
        lookback_ms: ms_param(params, "lookback", 3_600_000)?,
        step_ms: ms_param(params, "step", 5_000)?,
        rate_per_ms: ms_param(params, "ratePer", 600_000)?,
    };
    if query.step_ms == 0 || query.rate_per_ms == 0 {
        return Err(MetricsError::BadRequest(
            "step and ratePer must be greater than 0".to_string(),
        ));
    }
    if query.lookback_ms / query.step_ms >= MAX_POINTS {
        return Err(MetricsError::BadRequest(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)"
        )));
    }
    Ok(query)
}

fn parse_quantile(params: &QueryParams) -> Result<f64, MetricsError> {
    let missing =
        || MetricsError::BadRequest("please provide a quantile between (0, 1]".to_string());
    let text = params.first("quantile").ok_or_else(missing)?;
    let q: f64 = text.parse().map_err(|_| {
        MetricsError::BadRequest(format!(
            "unable to parse param 'quantile': strconv.ParseFloat: parsing {text:?}: invalid syntax"
        ))
    })?;
    if q > 0.0 && q <= 1.0 {
        Ok(q)
    } else {
        Err(missing())
    }
}

async fn latencies(state: State<MetricsState>, query: RawQuery) -> Result<Response, MetricsError> {
    let params = QueryParams::parse(query.0.as_deref());
    if !state.enabled {
        return Err(MetricsError::Disabled);
    }
    let q = parse_quantile(&params)?;
    answer(state, params, Metric::Latencies(q)).await
}

async fn calls(state: State<MetricsState>, query: RawQuery) -> Result<Response, MetricsError> {
    answer(state, QueryParams::parse(query.0.as_deref()), Metric::Calls).await
}

async fn errors(state: State<MetricsState>, query: RawQuery) -> Result<Response, MetricsError> {
    answer(
        state,
        QueryParams::parse(query.0.as_deref()),
        Metric::Errors,
    )
    .await
}

async fn minstep(State(state): State<MetricsState>) -> Result<Response, MetricsError> {
    if !state.enabled {
        return Err(MetricsError::Disabled);
    }
    Ok(json_response(
        &serde_json::to_string(&Envelope::data(MIN_STEP_MS)).unwrap_or_default(),
    ))
}

fn json_response(body: &str) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_string(),
    )
        .into_response()
}

async fn answer(
    State(state): State<MetricsState>,
    params: QueryParams,
    metric: Metric,
) -> Result<Response, MetricsError> {
    if !state.enabled {
        return Err(MetricsError::Disabled);
    }
    let query = parse_query(&params, now_ms())?;
    let store = state.store.clone();
    let (family, notes) = tokio::task::spawn_blocking(move || {
        crate::partial::run_noted(|| metric_family(&*store, &query, metric))
    })
    .await
    .map_err(|e| MetricsError::Internal(format!("metrics query failed: {e}")))?;
    crate::partial::hand_over(notes);
    let family = family?;
    Ok(json_response(&family.to_string()))
}

/// Per series (service, or service and operation): bucket start → stats.
type Grouped = BTreeMap<(String, Option<String>), BTreeMap<u64, SeriesStats>>;

fn metric_family(
    store: &dyn TraceSource,
    query: &MetricsQuery,
    metric: Metric,
) -> Result<Json, MetricsError> {
    let start = query.end_ms.saturating_sub(query.lookback_ms);
    let first_bucket = start.saturating_sub(query.rate_per_ms) + 1;
    let buckets = store
        .aggregate_buckets(
            first_bucket,
            query.end_ms,
            &SeriesFilter {
                services: query.services.clone(),
                kinds: query.kinds.clone(),
            },
        )
        .map_err(|e| MetricsError::Internal(e.to_string()))?;
    let mut grouped: Grouped = BTreeMap::new();
    for (bucket_start, bucket) in buckets {
        for (key, stats) in bucket.series {
            let group = (
                key.service,
                query.group_by_operation.then_some(key.operation),
            );
            grouped
                .entry(group)
                .or_default()
                .entry(bucket_start)
                .or_default()
                .merge(&stats);
        }
    }
    let (base, help) = match metric {
        Metric::Latencies(q) => (
            "latencies",
            format!("{q:.2}th quantile latency, grouped by service"),
        ),
        Metric::Calls => ("call_rate", "calls/sec, grouped by service".to_string()),
        Metric::Errors => (
            "error_rate",
            "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service"
                .to_string(),
        ),
    };
    let (name, help) = if query.group_by_operation {
        (
            format!("service_operation_{base}"),
            format!("{help} & operation"),
        )
    } else {
        (format!("service_{base}"), help)
    };
    let mut metrics = Vec::new();
    for ((service, operation), by_bucket) in &grouped {
        let any_errors = by_bucket.values().any(|s| s.errors > 0);
        let mut points = Vec::new();
        let mut t = start;
        while t <= query.end_ms {
            let from = t.saturating_sub(query.rate_per_ms) + 1;
            let mut window = SeriesStats::default();
            for stats in by_bucket.range(from..=t).map(|(_, s)| s) {
                window.merge(stats);
            }
            let value = match metric {
                Metric::Calls => window.calls as f64 / (query.rate_per_ms as f64 / 1000.0),
                Metric::Errors if !any_errors => 0.0,
                Metric::Errors if window.calls == 0 => f64::NAN,
                Metric::Errors => window.errors as f64 / window.calls as f64,
                Metric::Latencies(q) => window.quantile_ms(q),
            };
            points.push(json!({
                "gaugeValue": {"doubleValue": number(value)},
                "timestamp": rfc3339_ms(t),
            }));
            t += query.step_ms;
        }
        let mut labels = vec![json!({"name": "service_name", "value": service})];
        if let Some(operation) = operation {
            labels.push(json!({"name": "operation", "value": operation}));
        }
        metrics.push(json!({"labels": labels, "metricPoints": points}));
    }
    Ok(json!({
        "name": name,
        "type": "GAUGE",
        "help": help,
        "metrics": metrics,
    }))
}

/// A double as protobuf JSON writes it: NaN and infinities as strings.
fn number(value: f64) -> Json {
    if value.is_nan() {
        json!("NaN")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(value)
    }
}

/// Milliseconds since the epoch as an RFC 3339 UTC timestamp, with
/// milliseconds only when there are any (protobuf JSON's Timestamp).
fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_storage::aggregates::SeriesKey;
    use spoor_storage::{AggregateDelta, StorageConfig, Store};

    fn store() -> (Arc<Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StorageConfig {
            data_dir: dir.path().join("data"),
            ..Default::default()
        })
        .unwrap();
        (store, dir)
    }

    fn query(text: &str) -> MetricsQuery {
        parse_query(&QueryParams::parse(Some(text)), 1_718_000_000_000).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339_ms(1_718_000_000_000), "2024-06-10T06:13:20Z");
        assert_eq!(rfc3339_ms(1_718_000_000_250), "2024-06-10T06:13:20.250Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn parameters_follow_jaeger() {
        let q = query("service=a&service=b");
        assert_eq!(q.services.len(), 2);
        assert_eq!(q.kinds, BTreeSet::from([2]));
        assert_eq!(
            (q.end_ms, q.lookback_ms, q.step_ms, q.rate_per_ms),
            (1_718_000_000_000, 3_600_000, 5_000, 600_000)
        );
        let bad = |text: &str| {
            parse_query(&QueryParams::parse(Some(text)), 0)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("spanKind=server"),
            "please provide at least one service name"
        );
        assert_eq!(bad("service=a&spanKind=weird"), "unsupported span kind");
        assert!(bad("service=a&endTs=x").starts_with("unable to parse param 'endTs'"));
        assert_eq!(
            parse_quantile(&QueryParams::parse(Some("quantile=0")))
                .unwrap_err()
                .to_string(),
            "please provide a quantile between (0, 1]"
        );
    }

    #[test]
    fn rates_quantiles_and_zero_filled_error_rates_come_from_the_buckets() {
        let (store, _dir) = store();
        let end = 1_718_000_040_000u64;
        let mut delta = AggregateDelta::default();
        let bucket = delta.bucket_at(end - 30_000, 60_000);
        for (op, status, ms) in [("a", 0, 10), ("a", 0, 20), ("a", 2, 30), ("b", 0, 40)] {
            let key = SeriesKey {
                service: "svc".into(),
                operation: op.into(),
                kind: 2,
                status,
            };
            bucket
                .series
                .entry(key)
                .or_default()
                .record(ms * 1000, status == 2);
        }
        store.record_aggregates(delta);
        let q = query(&format!(
            "service=svc&endTs={end}&lookback=120000&step=120000&ratePer=600000"
        ));
        let calls = metric_family(&*store, &q, Metric::Calls).unwrap();
        assert_eq!(calls["name"], "service_call_rate");
        assert_eq!(
            calls["metrics"][0]["labels"][0],
            json!({"name": "service_name", "value": "svc"})
        );
        let points = calls["metrics"][0]["metricPoints"].as_array().unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[1]["gaugeValue"]["doubleValue"], json!(4.0 / 600.0));
        assert_eq!(points[0]["gaugeValue"]["doubleValue"], json!(0.0));
        let errors = metric_family(
            &*store,
            &query(&format!(
                "service=svc&endTs={end}&lookback=0&groupByOperation=true"
            )),
            Metric::Errors,
        )
        .unwrap();
        assert_eq!(errors["name"], "service_operation_error_rate");
        assert_eq!(errors["help"], "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service & operation");
        assert_eq!(
            errors["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
            json!(1.0 / 3.0)
        );
        assert_eq!(
            errors["metrics"][1]["labels"][1],
            json!({"name": "operation", "value": "b"})
        );
        assert_eq!(
            errors["metrics"][1]["metricPoints"][0]["gaugeValue"]["doubleValue"],
            json!(0.0)
        );
        let p95 = metric_family(
            &*store,
            &query(&format!(
                "service=svc&endTs={end}&lookback=120000&step=120000"
            )),
            Metric::Latencies(0.95),
        )
        .unwrap();
        assert_eq!(p95["help"], "0.95th quantile latency, grouped by service");
        let points = p95["metrics"][0]["metricPoints"].as_array().unwrap();
        assert_eq!(points[0]["gaugeValue"]["doubleValue"], json!("NaN"));
        let value = points[1]["gaugeValue"]["doubleValue"].as_f64().unwrap();
        assert!((36.0..=44.0).contains(&value), "{value}");
        let none = metric_family(&*store, &query("service=other"), Metric::Calls).unwrap();
        assert_eq!(none["metrics"], json!([]));
    }
}
