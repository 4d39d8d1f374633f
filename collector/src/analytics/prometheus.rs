//! Text exposition of the analytics series, in the Prometheus text format or
//! OpenMetrics, with the names of the OpenTelemetry spanmetrics and
//! servicegraph connectors.
//!
//! In: the cumulative [`Series`]. Out: exposition text; and
//! [`to_openmetrics`], which turns the Prometheus text of the rest of the
//! process's metrics into OpenMetrics (counter families without `_total`,
//! a final `# EOF`).

use std::fmt::Write as _;

use spoor_proto::model::{SpanKind, StatusCode};

use crate::analytics::red::{Histogram, Series, SpanSeriesKey};

/// Metric names (see docs/metrics.md).
pub(crate) const CALLS: &str = "traces_span_metrics_calls_total";
pub(crate) const DURATION: &str = "traces_span_metrics_duration_milliseconds";
pub(crate) const REQUESTS: &str = "traces_service_graph_request_total";
pub(crate) const FAILED: &str = "traces_service_graph_request_failed_total";
pub(crate) const SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
pub(crate) const CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";

/// `SPAN_KIND_…` as the spanmetrics connector writes it.
pub(crate) fn kind_label(kind: i32) -> &'static str {
    SpanKind::try_from(kind)
        .unwrap_or(SpanKind::Unspecified)
        .as_str_name()
}

/// `STATUS_CODE_…` as the spanmetrics connector writes it.
pub(crate) fn status_label(status: i32) -> &'static str {
    StatusCode::try_from(status)
        .unwrap_or(StatusCode::Unset)
        .as_str_name()
}

fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape(value, &mut out);
        out.push('"');
    }
    out.push('}');
    out
}

fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str, openmetrics: bool) {
    let family = if openmetrics && kind == "counter" {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    let _ = writeln!(out, "# HELP {family} {help}");
    let _ = writeln!(out, "# TYPE {family} {kind}");
}

fn histogram(out: &mut String, name: &str, pairs: &[(&str, &str)], bounds: &[f64], h: &Histogram) {
    let mut cumulative = 0;
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        let le = bounds
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| number(*b));
        let mut with_le = pairs.to_vec();
        with_le.push(("le", &le));
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&with_le));
    }
    let _ = writeln!(out, "{name}_sum{} {}", labels(pairs), number(h.sum));
    let _ = writeln!(out, "{name}_count{} {}", labels(pairs), h.count);
}

fn span_labels<'a>(series: &'a Series, key: &'a SpanSeriesKey) -> Vec<(&'a str, &'a str)> {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("service_name", key.service.as_str()),
        ("span_name", key.operation.as_str()),
        ("span_kind", kind_label(key.kind)),
        ("status_code", status_label(key.status)),
    ];
    for (name, value) in series.dimension_labels.iter().zip(&key.dimensions) {
        if let Some(value) = value {
            pairs.push((name.as_str(), value.as_str()));
        }
    }
    if key.overflow {
        pairs.push(("otel_metric_overflow", "true"));
    }
    pairs
}

/// Renders every analytics series.
pub(crate) fn render(series: &Series, openmetrics: bool) -> String {
    let mut out = String::new();
    let mut spans: Vec<_> = series.spans.iter().collect();
    spans.sort_by(|a, b| a.0.cmp(b.0));
    let span_labels = |key| span_labels(series, key);
    if !spans.is_empty() {
        header(
            &mut out,
            CALLS,
            "counter",
            "Spans received, by service, span name, span kind and status code.",
            openmetrics,
        );
        for (key, s) in &spans {
            let _ = writeln!(out, "{CALLS}{} {}", labels(&span_labels(key)), s.calls);
        }
        header(
            &mut out,
            DURATION,
            "histogram",
            "Span durations in milliseconds, by service, span name, span kind and status code.",
            openmetrics,
        );
        for (key, s) in &spans {
            histogram(
                &mut out,
                DURATION,
                &span_labels(key),
                &series.bounds_ms,
                &s.duration_ms,
            );
        }
    }
    let mut edges: Vec<_> = series.edges.iter().collect();
    edges.sort_by(|a, b| a.0.cmp(b.0));
    if !edges.is_empty() {
        let edge_labels = |key: &crate::analytics::red::EdgeKey| {
            vec![
                ("client", key.0.to_string()),
                ("server", key.1.to_string()),
                ("connection_type", key.2.label().to_string()),
            ]
        };
        let as_pairs = |owned: &[(&'static str, String)]| -> String {
            let pairs: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
            labels(&pairs)
        };
        header(
            &mut out,
            REQUESTS,
            "counter",
            "Calls between two services.",
            openmetrics,
        );
        for (key, e) in &edges {
            let _ = writeln!(out, "{REQUESTS}{} {}", as_pairs(&edge_labels(key)), e.total);
        }
        header(
            &mut out,
            FAILED,
            "counter",
            "Failed calls between two services.",
            openmetrics,
        );
        for (key, e) in &edges {
            let _ = writeln!(out, "{FAILED}{} {}", as_pairs(&edge_labels(key)), e.failed);
        }
        for (name, help, server) in [
            (
                SERVER_SECONDS,
                "Server-side duration of calls between two services, in seconds.",
                true,
            ),
            (
                CLIENT_SECONDS,
                "Client-side duration of calls between two services, in seconds.",
                false,
            ),
        ] {
            header(&mut out, name, "histogram", help, openmetrics);
            for (key, e) in &edges {
                let owned = edge_labels(key);
                let pairs: Vec<(&str, &str)> =
                    owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let h = if server {
                    &e.server_seconds
                } else {
                    &e.client_seconds
                };
                histogram(&mut out, name, &pairs, &series.bounds_seconds, h);
            }
        }
    }
    out
}

/// Turns Prometheus text (as the `metrics` exporter writes it) into
/// OpenMetrics: a counter family is named without `_total` (its samples keep
/// or gain the suffix), and the text ends with `# EOF`. The caller appends
/// further OpenMetrics text before the `# EOF` it adds last.
pub fn to_openmetrics(text: &str) -> String {
    let mut counters: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                let family = name.strip_suffix("_total").unwrap_or(name).to_string();
                counters.push((name.to_string(), family));
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("# TYPE ")
            .or_else(|| line.strip_prefix("# HELP "))
        {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let family = counters
                .iter()
                .find(|(n, _)| n == name)
                .map_or(name, |(_, f)| f.as_str());
            let _ = writeln!(out, "{} {family} {tail}", &line[..6]);
            continue;
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        match counters.iter().find(|(n, _)| n == name) {
            Some((_, family)) if !name.ends_with("_total") => {
                let _ = writeln!(out, "{family}_total{}", &line[name_end..]);
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
