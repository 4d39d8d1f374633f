//! End to end: Kiali's default tracing integration (gRPC
//! `jaeger.api_v2.QueryService` on the query gRPC port) against the real
//! binary — GetServices, FindTraces with Kiali's tags, unset start time,
//! `duration_min = 0s` and `search_depth = 0`, then GetTrace with a 16-byte
//! id — checking what Kiali reads: spans re-grouped by `trace_id`, each with
//! its full process, chunks of at most 10 spans. Also the large-trace path
//! (10,000+ spans streamed in chunks), api_v3 over gRPC, health and
//! reflection on the same port.

mod support;

use std::collections::HashMap;

use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient;
use spoor_proto::jaeger::api_v2::{
    self, FindTracesRequest, GetServicesRequest, GetTraceRequest, TraceQueryParameters,
};
use spoor_proto::jaeger::api_v3;
use spoor_proto::model::{string_kv, Resource, ResourceSpans, ScopeSpans, Span, TracesData};
use support::*;

/// An Envoy-style server span of `service` (Istio's `<app>.<namespace>`).
fn envoy_span(trace: TraceId, id: u64, parent: u64, start: u64, error: bool) -> Span {
    let mut attributes = vec![
        string_kv("istio.cluster_id", "Kubernetes"),
        string_kv("istio.canonical_service", "reviews"),
        string_kv("istio.namespace", "bookinfo"),
        string_kv(
            "node_id",
            "sidecar~10.0.0.7~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local",
        ),
        string_kv("http.status_code", if error { "503" } else { "200" }),
    ];
    if error {
        attributes.push(string_kv("error", "true"));
    }
    Span {
        trace_id: trace.to_bytes().to_vec().into(),
        span_id: id.to_be_bytes().to_vec().into(),
        parent_span_id: if parent == 0 {
            Default::default()
        } else {
            parent.to_be_bytes().to_vec().into()
        },
        name: format!("reviews.bookinfo.svc.cluster.local:9080/reviews/{id}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 3_000_000,
        attributes,
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service),
                    string_kv("hostname", "reviews-v1-abc"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Reads a span stream to the end, as Kiali does, grouping spans by trace.
async fn collect(
    mut stream: tonic::Streaming<api_v2::SpansResponseChunk>,
) -> (HashMap<Vec<u8>, Vec<api_v2::Span>>, Vec<usize>) {
    let mut traces: HashMap<Vec<u8>, Vec<api_v2::Span>> = HashMap::new();
    let mut chunk_sizes = Vec::new();
    while let Some(chunk) = stream.message().await.expect("stream") {
        chunk_sizes.push(chunk.spans.len());
        for span in chunk.spans {
            traces.entry(span.trace_id.to_vec()).or_default().push(span);
        }
    }
    (traces, chunk_sizes)
}

fn kiali_query(service: &str, tags: &[(&str, &str)], depth: i32) -> FindTracesRequest {
    FindTracesRequest {
        query: Some(TraceQueryParameters {
            service_name: service.to_string(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            // Kiali leaves the start unset (year 1) and sends "now" as the end.
            start_time_min: Some(prost_types::Timestamp {
                seconds: -62_135_596_800,
                nanos: 0,
            }),
            start_time_max: Some(prost_types::Timestamp {
                seconds: (now_ns() / 1_000_000_000) as i64 + 60,
                nanos: 0,
            }),
            duration_min: Some(prost_types::Duration {
                seconds: 0,
                nanos: 0,
            }),
            search_depth: depth,
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn kiali_grpc_sequence_finds_mesh_traces_with_full_processes() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let ok_trace = random_trace();
    let failed_trace = random_trace();
    let start = now_ns() - 10_000_000_000;
    // 23 spans: three chunks (10, 10, 3).
    let spans: Vec<Span> = (1..=23)
        .map(|i| envoy_span(ok_trace, i, if i == 1 { 0 } else { 1 }, start + i, false))
        .collect();
    send_otlp(&http, &spoor, batch("reviews.bookinfo", spans)).await;
    send_otlp(
        &http,
        &spoor,
        batch(
            "reviews.bookinfo",
            vec![envoy_span(failed_trace, 1, 0, start, true)],
        ),
    )
    .await;
    // A non-mesh span of another service never matches Kiali's cluster tag.
    let mut plain = sample_trace(random_trace(), "reviews.bookinfo");
    plain.resource_spans[0].scope_spans[0].spans.truncate(1);
    send_otlp(&http, &spoor, plain).await;

    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();

    // 1. Status probe.
    let services = eventually(5, || {
        let mut client = client.clone();
        async move {
            let services = client
                .get_services(GetServicesRequest {})
                .await
                .ok()?
                .into_inner()
                .services;
            (!services.is_empty()).then_some(services)
        }
    })
    .await;
    assert_eq!(services, ["reviews.bookinfo"]);

    // 2. Trace list: cluster tag, unset start, 0s min duration, limit 100.
    let (traces, chunks) = eventually(5, || {
        let mut client = client.clone();
        async move {
            let stream = client
                .find_traces(kiali_query(
                    "reviews.bookinfo",
                    &[("istio.cluster_id", "Kubernetes")],
                    100,
                ))
                .await
                .ok()?
                .into_inner();
            let (traces, chunks) = collect(stream).await;
            (traces.len() == 2).then_some((traces, chunks))
        }
    })
    .await;
    assert!(
        chunks.iter().all(|n| (1..=10).contains(n)),
        "chunk sizes {chunks:?}"
    );
    let ok = &traces[&ok_trace.to_bytes().to_vec()];
    assert_eq!(ok.len(), 23);
    for span in ok {
        let process = span
            .process
            .as_ref()
            .expect("every span carries its process");
        assert_eq!(process.service_name, "reviews.bookinfo");
        assert!(process
            .tags
            .iter()
            .any(|t| t.key == "hostname" && t.v_str == "reviews-v1-abc"));
        assert!(span.process_id.is_empty());
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id.len(), 8);
        let tag = |key: &str| {
            span.tags
                .iter()
                .find(|t| t.key == key)
                .map(|t| t.v_str.clone())
        };
        assert_eq!(tag("istio.namespace").as_deref(), Some("bookinfo"));
        assert!(tag("node_id").unwrap().starts_with("sidecar~"));
        assert!(span.start_time.is_some() && span.duration.is_some());
    }
    let child = ok
        .iter()
        .find(|s| s.span_id[..] == 2u64.to_be_bytes())
        .unwrap();
    assert_eq!(
        child.references[0].ref_type,
        api_v2::SpanRefType::ChildOf as i32
    );
    assert_eq!(child.references[0].span_id[..], 1u64.to_be_bytes());

    // 3. Error-count badge: search_depth 0 means the default, not zero traces.
    let stream = client
        .find_traces(kiali_query(
            "reviews.bookinfo",
            &[("istio.cluster_id", "Kubernetes"), ("error", "true")],
            0,
        ))
        .await
        .unwrap()
        .into_inner();
    let (errors, _) = collect(stream).await;
    assert_eq!(
        errors.keys().cloned().collect::<Vec<_>>(),
        [failed_trace.to_bytes().to_vec()]
    );

    // No match: zero messages, status OK.
    let stream = client
        .find_traces(kiali_query(
            "ratings.bookinfo",
            &[("istio.cluster_id", "Kubernetes")],
            10,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(collect(stream).await.0.is_empty());
    // Missing query.
    let status = client
        .find_traces(FindTracesRequest { query: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // 4. Trace detail by 16-byte id, no time range.
    let stream = client
        .get_trace(GetTraceRequest {
            trace_id: ok_trace.to_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (one, chunks) = collect(stream).await;
    assert_eq!(chunks, [10, 10, 3]);
    assert_eq!(one[&ok_trace.to_bytes().to_vec()].len(), 23);
    let missing = client
        .get_trace(GetTraceRequest {
            trace_id: random_trace().to_bytes().to_vec().into(),
            ..Default::default()
        })
        .await;
    let status = match missing {
        Err(status) => status,
        Ok(response) => response.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(status.message(), "trace not found");
}

#[tokio::test]
async fn a_ten_thousand_span_trace_streams_in_chunks_and_the_cap_cuts_with_a_warning() {
    let spoor = Spoor::start_with(&[
        "--config",
        &write_config("query:\n  http:\n    max_spans_per_trace: 4000\n"),
    ]);
    let http = reqwest::Client::new();
    let trace = random_trace();
    let start = now_ns() - 10_000_000_000;
    for part in 0..5u64 {
        let spans: Vec<Span> = (0..2_010u64)
            .map(|i| part * 2_010 + i + 1)
            .map(|id| {
                envoy_span(
                    trace,
                    id,
                    if id == 1 { 0 } else { 1 },
                    start + id * 1_000,
                    false,
                )
            })
            .collect();
        send_otlp(&http, &spoor, batch("big.bookinfo", spans)).await;
    }
    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let stream = client
        .get_trace(GetTraceRequest {
            trace_id: trace.to_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (traces, chunks) = collect(stream).await;
    let elapsed = started.elapsed();
    let spans = &traces[&trace.to_bytes().to_vec()];
    assert_eq!(spans.len(), 4000, "capped at the setting");
    assert_eq!(chunks.len(), 400);
    assert!(chunks.iter().all(|n| *n == 10));
    assert!(spans.iter().any(|s| s
        .warnings
        .iter()
        .any(|w| w.contains("10050 spans") && w.contains("4000 earliest"))));
    // The earliest spans are kept, the root among them.
    assert!(spans.iter().any(|s| s.span_id[..] == 1u64.to_be_bytes()));
    eprintln!("GetTrace of a 10050-span trace capped to 4000: {elapsed:?}");

    // The v1 view carries the same warning at trace level.
    let body: serde_json::Value = http
        .get(format!(
            "{}/api/traces/{}",
            spoor.query_url(),
            trace.to_hex32()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 4000);
    assert!(body["data"][0]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("4000 earliest"));
}

#[tokio::test]
async fn uncapped_large_trace_is_served_whole_over_grpc() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    let start = now_ns() - 10_000_000_000;
    let spans: Vec<Span> = (1..=10_001u64)
        .map(|id| envoy_span(trace, id, if id == 1 { 0 } else { 1 }, start + id, false))
        .collect();
    send_otlp(&http, &spoor, batch("big.bookinfo", spans)).await;
    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let stream = client
        .get_trace(GetTraceRequest {
            trace_id: trace.to_bytes().to_vec().into(),
            raw_traces: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (traces, chunks) = collect(stream).await;
    eprintln!(
        "GetTrace of a 10001-span trace (raw): {:?}",
        started.elapsed()
    );
    assert_eq!(traces[&trace.to_bytes().to_vec()].len(), 10_001);
    assert_eq!(chunks.len(), 1_001);
}

#[tokio::test]
async fn api_v3_grpc_health_and_reflection_share_the_port() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    send_otlp(&http, &spoor, sample_trace(trace, "checkout")).await;
    let channel = tonic::transport::Endpoint::from_shared(spoor.query_grpc_url())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut v3 = api_v3::query_service_client::QueryServiceClient::new(channel.clone());
    let ops = v3
        .get_operations(api_v3::GetOperationsRequest {
            service: "checkout".into(),
            span_kind: "server".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ops.operations.len(), 1);
    assert_eq!(ops.operations[0].name, "GET /checkout");
    let mut stream = v3
        .get_trace(api_v3::GetTraceRequest {
            trace_id: trace.to_hex32(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let data = stream.message().await.unwrap().expect("one trace");
    assert_eq!(data.span_count(), 2);
    assert_eq!(data.resource_spans[0].service_name(), "checkout");
    // api_v3 search requires both time bounds.
    let status = v3
        .find_traces(api_v3::FindTracesRequest {
            query: Some(api_v3::TraceQueryParameters {
                service_name: "checkout".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "start time min and max are required parameters"
    );
    let now = (now_ns() / 1_000_000_000) as i64;
    let query = api_v3::TraceQueryParameters {
        service_name: "checkout".into(),
        start_time_min: Some(prost_types::Timestamp {
            seconds: now - 3600,
            nanos: 0,
        }),
        start_time_max: Some(prost_types::Timestamp {
            seconds: now + 60,
            nanos: 0,
        }),
        ..Default::default()
    };
    let mut summaries = v3
        .find_trace_summaries(api_v3::FindTraceSummariesRequest { query: Some(query) })
        .await
        .unwrap()
        .into_inner();
    let summary = &summaries.message().await.unwrap().unwrap().summaries[0];
    assert_eq!(summary.trace_id, trace.to_hex32());
    assert_eq!(summary.root_operation_name, "GET /checkout");
    assert_eq!((summary.span_count, summary.error_span_count), (2, 1));

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "jaeger.api_v2.QueryService",
        "jaeger.api_v3.QueryService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"jaeger.api_v2.QueryService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"jaeger.api_v3.QueryService".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn api_v2_archive_operations_and_dependencies() {
    let spoor = Spoor::start();
    let http = reqwest::Client::new();
    let trace = random_trace();
    send_otlp(&http, &spoor, sample_trace(trace, "checkout")).await;
    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();

    let archive = |id: TraceId| api_v2::ArchiveTraceRequest {
        trace_id: id.to_bytes().to_vec().into(),
        ..Default::default()
    };
    client.archive_trace(archive(trace)).await.unwrap();
    let status = client
        .archive_trace(archive(random_trace()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = client.archive_trace(archive(TraceId(0))).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    let ops = client
        .get_operations(api_v2::GetOperationsRequest {
            service: "checkout".into(),
            span_kind: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ops.operation_names, ["GET /checkout", "SELECT orders"]);
    let kinds: Vec<(String, String)> = ops
        .operations
        .into_iter()
        .map(|o| (o.name, o.span_kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("GET /checkout".to_string(), "server".to_string()),
            ("SELECT orders".to_string(), "client".to_string())
        ]
    );
    let unknown_kind = client
        .get_operations(api_v2::GetOperationsRequest {
            service: "checkout".into(),
            span_kind: "no-such-kind".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(unknown_kind.operations.is_empty() && unknown_kind.operation_names.is_empty());

    let now = (now_ns() / 1_000_000_000) as i64;
    let deps = client
        .get_dependencies(api_v2::GetDependenciesRequest {
            start_time: Some(prost_types::Timestamp {
                seconds: now - 3600,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: now + 60,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deps
        .dependencies
        .iter()
        .all(|d| !d.parent.is_empty() && !d.child.is_empty()));
    let status = client
        .get_dependencies(api_v2::GetDependenciesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}
