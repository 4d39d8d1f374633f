//! End to end with a real third-party client: the OpenTelemetry Rust SDK's
//! OTLP/gRPC exporter (`opentelemetry-otlp` with tonic) exports a known
//! trace to the real binary, which is then read back through the Jaeger API.
//!
//! In: spans made with the SDK's tracer API (kinds, typed attributes, an
//! event, a parent/child pair, an error status, an instrumentation scope
//! with a version, a resource with `service.name`). Out: checks of the
//! Jaeger JSON of `/api/traces/{id}`.

mod support;

use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use spoor_proto::ids::TraceId;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_rust_sdk_otlp_export_round_trips_through_the_jaeger_api() {
    let spoor = Spoor::start();
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(spoor.otlp_grpc_url())
        .build()
        .expect("building the OTLP exporter");
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("otel-rust-e2e")
                .with_attribute(KeyValue::new("deployment.environment.name", "test"))
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let scope = InstrumentationScope::builder("e2e.lib")
        .with_version("1.2.3")
        .build();
    let tracer = provider.tracer_with_scope(scope);

    let root = tracer
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.response.status_code", 200i64),
            KeyValue::new("cache.hit", false),
            KeyValue::new("sampling.ratio", 0.25),
            KeyValue::new("user.id", "alice"),
        ])
        .start(&tracer);
    let root_cx = Context::current_with_span(root);
    root_cx
        .span()
        .add_event("cache miss", vec![KeyValue::new("key", "cart:1")]);
    let trace_id = root_cx.span().span_context().trace_id();
    let root_id = root_cx.span().span_context().span_id();
    let mut child = tracer
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .with_attributes(vec![KeyValue::new("db.system.name", "postgresql")])
        .start_with_context(&tracer, &root_cx);
    child.set_status(Status::error("deadlock"));
    child.end();
    root_cx.span().end();

    let flush_provider = provider.clone();
    tokio::task::spawn_blocking(move || {
        flush_provider.force_flush().expect("flushing the exporter");
        flush_provider.shutdown().expect("shutting the SDK down");
    })
    .await
    .unwrap();

    let trace = TraceId::from_bytes(&trace_id.to_bytes()).unwrap();
    let http = reqwest::Client::new();
    let found = eventually(5, || async {
        fetch_trace(&http, &spoor, trace)
            .await
            .filter(|t| t["spans"].as_array().is_some_and(|s| s.len() == 2))
    })
    .await;
    let spans = found["spans"].as_array().unwrap();
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == name)
            .unwrap_or_else(|| panic!("no span {name}: {found}"))
    };
    let root = by_name("GET /checkout");
    let child = by_name("SELECT orders");
    let process = &found["processes"][root["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], "otel-rust-e2e");
    assert!(process["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "deployment.environment.name" && t["value"] == "test"));

    assert_eq!(root["spanID"], format!("{root_id}"));
    assert_eq!(tag(root, "span.kind").unwrap()["value"], "server");
    assert_eq!(tag(child, "span.kind").unwrap()["value"], "client");
    let typed = |span: &serde_json::Value, key: &str, ty: &str, value: serde_json::Value| {
        let t = tag(span, key).unwrap_or_else(|| panic!("no tag {key} in {span}"));
        assert_eq!(t["type"], ty, "{key}");
        assert_eq!(t["value"], value, "{key}");
    };
    typed(root, "http.response.status_code", "int64", 200.into());
    typed(root, "cache.hit", "bool", false.into());
    typed(root, "sampling.ratio", "float64", 0.25.into());
    typed(root, "user.id", "string", "alice".into());
    typed(root, "otel.scope.name", "string", "e2e.lib".into());
    typed(root, "otel.scope.version", "string", "1.2.3".into());
    let log = &root["logs"][0];
    let fields = log["fields"].as_array().unwrap();
    assert!(fields
        .iter()
        .any(|f| f["key"] == "event" && f["value"] == "cache miss"));
    assert!(fields
        .iter()
        .any(|f| f["key"] == "key" && f["value"] == "cart:1"));

    let reference = &child["references"][0];
    assert_eq!(reference["refType"], "CHILD_OF");
    assert_eq!(reference["spanID"], format!("{root_id}"));
    typed(child, "error", "bool", true.into());
    typed(child, "otel.status_code", "string", "ERROR".into());
    typed(
        child,
        "otel.status_description",
        "string",
        "deadlock".into(),
    );
    typed(child, "db.system.name", "string", "postgresql".into());
}
