//! Unit tests of the analytics against a real store: RED series and their
//! limit, and dependency edges for every pairing rule, in any arrival order.

use std::sync::Arc;
use std::time::Duration;

use spoor_proto::model::{
    string_kv, Link, Resource, ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode,
    TracesData,
};
use spoor_storage::{DependencyLink, StorageConfig, Store};

use super::*;

const MS: u64 = 1_000_000;

struct Fixture {
    analytics: Analytics,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

fn fixture(config: AnalyticsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StorageConfig {
        data_dir: dir.path().join("data"),
        ..StorageConfig::default()
    })
    .unwrap();
    Fixture {
        analytics: Analytics::new(store.clone(), &config),
        store,
        _dir: dir,
    }
}

fn now_ns() -> u64 {
    now_ms() * MS
}

fn span(trace: u8, id: u64, parent: u64, kind: SpanKind, name: &str) -> Span {
    let start = now_ns();
    Span {
        trace_id: vec![trace; 16].into(),
        span_id: id.to_be_bytes().to_vec().into(),
        parent_span_id: if parent == 0 {
            Vec::new().into()
        } else {
            parent.to_be_bytes().to_vec().into()
        },
        name: name.to_string(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 10 * MS,
        ..Default::default()
    }
}

fn failed(mut s: Span) -> Span {
    s.status = Some(Status {
        code: StatusCode::Error as i32,
        message: String::new(),
    });
    s
}

fn with_attr(mut s: Span, key: &str, value: &str) -> Span {
    s.attributes.push(string_kv(key, value));
    s
}

fn batch(spans: Vec<(&str, Span)>) -> TracesData {
    TracesData {
        resource_spans: spans
            .into_iter()
            .map(|(service, s)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_kv("service.name", service)],
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans: vec![s],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// The links the store holds once the analytics handed their counts over
/// (the background thread does that every tick).
fn links(f: &Fixture) -> Vec<DependencyLink> {
    f.analytics.tick();
    f.store.dependencies(0, u64::MAX / 2).unwrap()
}

fn link(parent: &str, child: &str, calls: u64, errors: u64) -> DependencyLink {
    DependencyLink {
        parent: parent.into(),
        child: child.into(),
        call_count: calls,
        error_count: errors,
    }
}

#[test]
fn client_and_server_spans_pair_in_either_order_and_count_once() {
    let f = fixture(AnalyticsConfig::default());
    // Server first, client in a later batch.
    f.analytics.observe(&batch(vec![(
        "orders",
        span(1, 2, 1, SpanKind::Server, "GET /o"),
    )]));
    f.analytics.observe(&batch(vec![(
        "front",
        span(1, 1, 0, SpanKind::Client, "GET"),
    )]));
    // Client first, failing server later; then the same server span again.
    f.analytics.observe(&batch(vec![(
        "front",
        span(2, 1, 0, SpanKind::Client, "GET"),
    )]));
    let late = failed(span(2, 2, 1, SpanKind::Server, "GET /o"));
    f.analytics.observe(&batch(vec![("orders", late.clone())]));
    f.analytics.observe(&batch(vec![("orders", late)]));
    assert_eq!(links(&f), vec![link("front", "orders", 2, 1)]);
    let text = f.analytics.render_prometheus(false);
    assert!(
        text.contains(
            "traces_span_metrics_calls_total{service_name=\"orders\",span_name=\"GET /o\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_ERROR\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "traces_service_graph_request_total{client=\"front\",server=\"orders\",connection_type=\"\"} 2\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "traces_service_graph_request_failed_total{client=\"front\",server=\"orders\",connection_type=\"\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn calls_within_one_service_are_not_edges() {
    let f = fixture(AnalyticsConfig::default());
    f.analytics.observe(&batch(vec![
        ("front", span(1, 1, 0, SpanKind::Server, "GET /")),
        ("front", span(1, 2, 1, SpanKind::Internal, "render")),
    ]));
    f.analytics.shutdown();
    assert!(links(&f).is_empty());
}

#[test]
fn zipkin_shared_spans_make_one_edge_and_their_children_belong_to_the_server() {
    let f = fixture(AnalyticsConfig::default());
    let mut server = span(3, 10, 5, SpanKind::Server, "get");
    server.shared = true;
    // The server's own downstream call arrives first, then the shared server
    // half, then the client half, then the downstream server.
    f.analytics.observe(&batch(vec![(
        "back",
        span(3, 11, 10, SpanKind::Client, "query"),
    )]));
    f.analytics.observe(&batch(vec![("back", server)]));
    f.analytics.observe(&batch(vec![(
        "front",
        span(3, 10, 5, SpanKind::Client, "get"),
    )]));
    f.analytics.observe(&batch(vec![(
        "store",
        span(3, 12, 11, SpanKind::Server, "query"),
    )]));
    f.analytics.shutdown();
    assert_eq!(
        links(&f),
        vec![link("back", "store", 1, 0), link("front", "back", 1, 0)]
    );
}

#[test]
fn an_unanswered_client_span_calls_the_service_its_peer_attribute_names() {
    let f = fixture(AnalyticsConfig::default());
    let client = with_attr(
        failed(span(4, 1, 0, SpanKind::Client, "SELECT")),
        "peer.service",
        "postgres",
    );
    let client = with_attr(client, "db.system", "postgresql");
    f.analytics.observe(&batch(vec![("orders", client)]));
    // Answered client spans are not counted again as virtual calls.
    f.analytics.observe(&batch(vec![
        (
            "orders",
            with_attr(
                span(5, 1, 0, SpanKind::Client, "GET"),
                "peer.service",
                "stock",
            ),
        ),
        ("stock", span(5, 2, 1, SpanKind::Server, "GET")),
    ]));
    assert_eq!(links(&f), vec![link("orders", "stock", 1, 0)]);
    f.analytics.shutdown();
    assert_eq!(
        links(&f),
        vec![
            link("orders", "postgres", 1, 1),
            link("orders", "stock", 1, 0)
        ]
    );
    let text = f.analytics.render_prometheus(false);
    assert!(text.contains("client=\"orders\",server=\"postgres\",connection_type=\"database\""));
}

#[test]
fn messaging_consumers_pair_with_their_producers_through_links() {
    let f = fixture(AnalyticsConfig::default());
    let mut consumer = span(7, 2, 0, SpanKind::Consumer, "process");
    consumer.links.push(Link {
        trace_id: vec![6; 16].into(),
        span_id: 1u64.to_be_bytes().to_vec().into(),
        ..Default::default()
    });
    f.analytics.observe(&batch(vec![("billing", consumer)]));
    f.analytics.observe(&batch(vec![(
        "orders",
        span(6, 1, 0, SpanKind::Producer, "send"),
    )]));
    f.analytics.shutdown();
    assert_eq!(links(&f), vec![link("orders", "billing", 1, 0)]);
    let text = f.analytics.render_prometheus(false);
    assert!(
        text.contains("connection_type=\"messaging_system\"} 1"),
        "{text}"
    );
}

#[test]
fn series_beyond_the_limit_go_to_the_service_overflow_series() {
    let mut config = AnalyticsConfig::default();
    config.span_metrics.max_series = 2;
    let f = fixture(config);
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        f.analytics.observe(&batch(vec![(
            "svc",
            span(8, i as u64 + 1, 0, SpanKind::Server, name),
        )]));
    }
    let text = f.analytics.render_prometheus(false);
    assert!(
        text.contains(
            "traces_span_metrics_calls_total{service_name=\"svc\",span_name=\"\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",otel_metric_overflow=\"true\"} 2\n"
        ),
        "{text}"
    );
    assert_eq!(text.matches("traces_span_metrics_calls_total{").count(), 3);
}

#[test]
fn dimensions_become_labels_and_durations_fill_the_histogram() {
    let mut config = AnalyticsConfig::default();
    config.span_metrics.dimensions = vec!["http.method".into()];
    let f = fixture(config);
    f.analytics.observe(&batch(vec![(
        "svc",
        with_attr(span(9, 1, 0, SpanKind::Server, "op"), "http.method", "GET"),
    )]));
    let text = f.analytics.render_prometheus(false);
    let labels = "service_name=\"svc\",span_name=\"op\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",http_method=\"GET\"";
    assert!(
        text.contains(&format!(
            "traces_span_metrics_duration_milliseconds_bucket{{{labels},le=\"8\"}} 0\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "traces_span_metrics_duration_milliseconds_bucket{{{labels},le=\"10\"}} 1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "traces_span_metrics_duration_milliseconds_count{{{labels}}} 1\n"
        )),
        "{text}"
    );
    f.analytics.tick();
    let buckets = f
        .store
        .aggregate_buckets(0, u64::MAX / 2, |_| true)
        .unwrap();
    let stats: Vec<_> = buckets
        .iter()
        .flat_map(|(_, b)| b.series.values())
        .collect();
    assert_eq!(stats.len(), 1);
    assert!((stats[0].quantile_ms(0.5) - 10.0).abs() < 1.0);
}

#[test]
fn openmetrics_names_counter_families_without_total() {
    let text = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"1\"} 3\n# TYPE b counter\nb 2\n# TYPE g gauge\ng 1\n";
    assert_eq!(
        to_openmetrics(text),
        "# HELP a x\n# TYPE a counter\na_total{l=\"1\"} 3\n# TYPE b counter\nb_total 2\n# TYPE g gauge\ng 1\n"
    );
    let f = fixture(AnalyticsConfig::default());
    f.analytics
        .observe(&batch(vec![("svc", span(1, 1, 0, SpanKind::Server, "op"))]));
    let text = f.analytics.render_prometheus(true);
    assert!(
        text.contains("# TYPE traces_span_metrics_calls counter\n"),
        "{text}"
    );
}

#[test]
fn the_background_thread_lets_unanswered_spans_go_after_the_wait() {
    let mut config = AnalyticsConfig::default();
    config.dependencies.wait = Duration::from_millis(1);
    config.flush_interval = Duration::from_millis(10);
    let f = fixture(config.clone());
    let analytics = Analytics::start(f.store.clone(), &config);
    analytics.observe(&batch(vec![(
        "front",
        with_attr(
            span(1, 1, 0, SpanKind::Client, "GET"),
            "server.address",
            "api.example.com",
        ),
    )]));
    // Poll: the thread runs every few milliseconds.
    let mut found = Vec::new();
    for _ in 0..400 {
        found = f.store.dependencies(0, u64::MAX / 2).unwrap();
        if !found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    analytics.shutdown();
    assert_eq!(found, vec![link("front", "api.example.com", 1, 0)]);
}
