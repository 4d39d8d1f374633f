//! The gRPC query port (16685): `jaeger.api_v2.QueryService` (what Kiali
//! calls), `jaeger.api_v3.QueryService`, `grpc.health.v1.Health` and server
//! reflection, assembled by [`query_grpc_routes`].
//!
//! In: gRPC requests and the shared [`TraceSource`]. Out: streamed span chunks
//! (api_v2: at most [`CHUNK_SPANS`] spans per message, trace after trace,
//! each span with its full process) and OTLP `TracesData` (api_v3: one
//! message per trace), or a status: INVALID_ARGUMENT for bad requests,
//! NOT_FOUND `trace not found`, INTERNAL for storage failures.
//!
//! Request rules (spec §4, §5): unset or year-1 timestamps are unbounded
//! (api_v3 search still requires both bounds, as Jaeger does), a search
//! depth ≤ 0 is the default, `duration_min = 0s` constrains nothing, time
//! hints on GetTrace are ignored. Chunks are converted lazily as the client
//! reads, so a large trace is never held twice in protobuf form.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use spoor_proto::ids::TraceId;
use spoor_proto::jaeger::{api_v2, api_v3};
use spoor_proto::model::{self, span_kind_from_name, span_kind_name};
use spoor_storage::{TraceQuery, TraceSource};
use tonic::{Request, Response, Status};

use crate::adjust::adjust_trace;
use crate::cap::{cap_model_trace, cap_warning};
use crate::jaeger_json::{spans_from_model, Span};
use crate::jaeger_proto::{duration_nanos, span_to_proto, timestamp_nanos};
use crate::search::SearchRequest;
use crate::settings::QueryHttpSettings;
use crate::summary::{remove_duplicate_spans, summarize};

/// Most spans in one api_v2 response chunk (Jaeger's own chunk size).
pub const CHUNK_SPANS: usize = 10;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// State shared by both query services.
#[derive(Clone)]
struct Backend {
    store: Arc<dyn TraceSource>,
    settings: Arc<QueryHttpSettings>,
}

impl Backend {
    async fn blocking<T, F>(&self, what: &'static str, work: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&dyn TraceSource) -> Result<T, spoor_storage::StorageError> + Send + 'static,
    {
        let store = self.store.clone();
        // Partial-answer notes are logged and become the response's
        // `x-spoor-partial` metadata (see `query_grpc_routes`).
        let (result, notes) =
            tokio::task::spawn_blocking(move || crate::partial::run_noted(|| work(&*store)))
                .await
                .map_err(|e| Status::internal(format!("query task failed: {e}")))?;
        crate::partial::hand_over(notes);
        result.map_err(|e| Status::internal(format!("{what}: {e}")))
    }

    /// The operations of a service, optionally of one span kind (Jaeger's
    /// lower-case name; "" means all). An unknown kind matches nothing.
    async fn operations(
        &self,
        service: String,
        span_kind: &str,
    ) -> Result<Vec<spoor_storage::Operation>, Status> {
        let kind = match span_kind {
            "" => None,
            name => match span_kind_from_name(name) {
                Some(kind) => Some(kind),
                None => return Ok(Vec::new()),
            },
        };
        self.blocking("failed to read operations", move |store| {
            store.operations(&service, kind)
        })
        .await
    }

    async fn get_trace(&self, id: TraceId) -> Result<model::TracesData, Status> {
        if id.is_zero() {
            return Err(Status::invalid_argument(
                "uninitialized TraceID is not allowed",
            ));
        }
        self.blocking("failed to fetch spans from the backend", move |store| {
            crate::handlers::trace_or_archived(store, id)
        })
        .await?
        .filter(|t| t.span_count() > 0)
        .ok_or_else(|| Status::not_found("trace not found"))
    }

    async fn find(&self, query: TraceQuery) -> Result<Vec<model::TracesData>, Status> {
        self.blocking("failed when searching for traces", move |store| {
            store.find_traces(&query)
        })
        .await
    }

    /// One trace in the Jaeger model: capped, adjusted unless `raw`, trace
    /// warnings put on the first span (api_v2 spans have no trace level).
    fn jaeger_spans(&self, mut data: model::TracesData, raw: bool) -> Vec<Span> {
        let cap = self.settings.max_spans_per_trace;
        let cut = cap_model_trace(&mut data, cap);
        let mut spans = spans_from_model(&data);
        let mut warnings = if raw {
            Vec::new()
        } else {
            adjust_trace(&mut spans, self.settings.adjust_options())
        };
        if cut > 0 {
            warnings.push(cap_warning(cut, cap));
        }
        if let Some(first) = spans.first_mut() {
            first.warnings.extend(warnings);
        }
        spans
    }

    /// The dependency links between two request timestamps.
    async fn dependencies(
        &self,
        start: &prost_types::Timestamp,
        end: &prost_types::Timestamp,
    ) -> Result<Vec<crate::dependencies::JaegerLink>, Status> {
        let end_ms = (timestamp_nanos(end) / 1_000_000) as i64;
        let lookback_ms = ((timestamp_nanos(end) - timestamp_nanos(start)) / 1_000_000) as i64;
        self.blocking("failed to read dependencies", move |store| {
            let links = crate::dependencies::links_in_window(
                store,
                Some(end_ms),
                Some(lookback_ms),
                crate::dependencies::DEFAULT_LOOKBACK_MS,
            )?;
            Ok(crate::dependencies::jaeger_links(links, None))
        })
        .await
    }

    fn otlp_trace(&self, mut data: model::TracesData, raw: bool) -> model::TracesData {
        cap_model_trace(&mut data, self.settings.max_spans_per_trace);
        if !raw {
            remove_duplicate_spans(&mut data);
        }
        data
    }
}

/// Streams the spans of each trace in chunks, converting as the client reads.
fn span_chunks(traces: Vec<Vec<Span>>) -> BoxStream<api_v2::SpansResponseChunk> {
    let stream = futures::stream::iter(traces).flat_map(|spans| {
        futures::stream::iter(spans)
            .chunks(CHUNK_SPANS)
            .map(|chunk| {
                Ok(api_v2::SpansResponseChunk {
                    spans: chunk.iter().map(span_to_proto).collect(),
                })
            })
    });
    Box::pin(stream)
}

fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, Status> {
    TraceId::from_bytes(bytes)
        .map_err(|e| Status::invalid_argument(format!("malformed trace_id: {e}")))
}

/// `jaeger.api_v2.QueryService`.
#[derive(Clone)]
pub struct QueryServiceV2 {
    backend: Backend,
}

#[tonic::async_trait]
impl api_v2::query_service_server::QueryService for QueryServiceV2 {
    type GetTraceStream = BoxStream<api_v2::SpansResponseChunk>;
    type FindTracesStream = BoxStream<api_v2::SpansResponseChunk>;

    async fn get_trace(
        &self,
        request: Request<api_v2::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let request = request.into_inner();
        let id = trace_id_from_bytes(&request.trace_id)?;
        let data = self.backend.get_trace(id).await?;
        let spans = self.backend.jaeger_spans(data, request.raw_traces);
        Ok(Response::new(span_chunks(vec![spans])))
    }

    async fn archive_trace(
        &self,
        request: Request<api_v2::ArchiveTraceRequest>,
    ) -> Result<Response<api_v2::ArchiveTraceResponse>, Status> {
        let id = trace_id_from_bytes(&request.into_inner().trace_id)?;
        if id.is_zero() {
            return Err(Status::invalid_argument(
                "uninitialized TraceID is not allowed",
            ));
        }
        let archived = self
            .backend
            .blocking("failed to archive the trace", move |store| {
                store.archive_trace(id)
            })
            .await?;
        if !archived {
            return Err(Status::not_found("trace not found"));
        }
        Ok(Response::new(api_v2::ArchiveTraceResponse {}))
    }

    async fn find_traces(
        &self,
        request: Request<api_v2::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let query = request
            .into_inner()
            .query
            .ok_or_else(|| Status::invalid_argument("missing query"))?;
        let raw = query.raw_traces;
        let search = SearchRequest {
            service: Some(query.service_name),
            operation: Some(query.operation_name),
            tags: query.tags.into_iter().collect(),
            start_min_ns: query.start_time_min.as_ref().map(timestamp_nanos),
            start_max_ns: query.start_time_max.as_ref().map(timestamp_nanos),
            duration_min_ns: query.duration_min.as_ref().map(duration_nanos),
            duration_max_ns: query.duration_max.as_ref().map(duration_nanos),
            depth: i64::from(query.search_depth),
        };
        let traces = self
            .backend
            .find(search.into_query(self.backend.settings.search_defaults()))
            .await?;
        let backend = self.backend.clone();
        let spans = traces
            .into_iter()
            .map(|trace| backend.jaeger_spans(trace, raw))
            .collect();
        Ok(Response::new(span_chunks(spans)))
    }

    async fn get_services(
        &self,
        _request: Request<api_v2::GetServicesRequest>,
    ) -> Result<Response<api_v2::GetServicesResponse>, Status> {
        let services = self
            .backend
            .blocking("failed to read services", |store| store.services())
            .await?;
        Ok(Response::new(api_v2::GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<api_v2::GetOperationsRequest>,
    ) -> Result<Response<api_v2::GetOperationsResponse>, Status> {
        let request = request.into_inner();
        let operations = self
            .backend
            .operations(request.service, &request.span_kind)
            .await?;
        let mut names: Vec<String> = operations.iter().map(|op| op.name.clone()).collect();
        names.dedup();
        Ok(Response::new(api_v2::GetOperationsResponse {
            operation_names: names,
            operations: operations
                .into_iter()
                .map(|op| api_v2::Operation {
                    span_kind: span_kind_name(op.kind).to_string(),
                    name: op.name,
                })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<api_v2::GetDependenciesRequest>,
    ) -> Result<Response<api_v2::GetDependenciesResponse>, Status> {
        let request = request.into_inner();
        let (Some(start), Some(end)) = (&request.start_time, &request.end_time) else {
            return Err(Status::invalid_argument(
                "start_time and end_time are required",
            ));
        };
        let links = self.backend.dependencies(start, end).await?;
        Ok(Response::new(api_v2::GetDependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| api_v2::DependencyLink {
                    parent: l.parent,
                    child: l.child,
                    call_count: l.call_count,
                    source: String::new(),
                })
                .collect(),
        }))
    }
}

/// `jaeger.api_v3.QueryService`.
#[derive(Clone)]
pub struct QueryServiceV3 {
    backend: Backend,
}

impl QueryServiceV3 {
    async fn search(
        &self,
        query: Option<api_v3::TraceQueryParameters>,
    ) -> Result<(Vec<model::TracesData>, bool), Status> {
        let query = query.ok_or_else(|| Status::invalid_argument("missing query"))?;
        if !query.filter.is_empty() {
            return Err(Status::invalid_argument(
                "query filter expressions are not supported",
            ));
        }
        let (Some(min), Some(max)) = (&query.start_time_min, &query.start_time_max) else {
            return Err(Status::invalid_argument(
                "start time min and max are required parameters",
            ));
        };
        let raw = query.raw_traces;
        let search = SearchRequest {
            service: Some(query.service_name),
            operation: Some(query.operation_name),
            tags: query.attributes.into_iter().collect(),
            start_min_ns: Some(timestamp_nanos(min)),
            start_max_ns: Some(timestamp_nanos(max)),
            duration_min_ns: query.duration_min.as_ref().map(duration_nanos),
            duration_max_ns: query.duration_max.as_ref().map(duration_nanos),
            depth: i64::from(query.search_depth),
        };
        let traces = self
            .backend
            .find(search.into_query(self.backend.settings.search_defaults()))
            .await?;
        Ok((traces, raw))
    }
}

#[tonic::async_trait]
impl api_v3::query_service_server::QueryService for QueryServiceV3 {
    type GetTraceStream = BoxStream<model::TracesData>;
    type FindTracesStream = BoxStream<model::TracesData>;
    type FindTraceSummariesStream = BoxStream<api_v3::FindTraceSummariesResponse>;

    async fn get_trace(
        &self,
        request: Request<api_v3::GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let request = request.into_inner();
        let id = TraceId::parse_hex(&request.trace_id)
            .map_err(|e| Status::invalid_argument(format!("malformed trace_id: {e}")))?;
        let data = self.backend.get_trace(id).await?;
        let trace = self.backend.otlp_trace(data, request.raw_traces);
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(trace)]))))
    }

    async fn find_traces(
        &self,
        request: Request<api_v3::FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let (traces, raw) = self.search(request.into_inner().query).await?;
        let backend = self.backend.clone();
        let stream = futures::stream::iter(traces).map(move |t| Ok(backend.otlp_trace(t, raw)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn find_trace_summaries(
        &self,
        request: Request<api_v3::FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let (traces, _raw) = self.search(request.into_inner().query).await?;
        let summaries = traces.iter().filter_map(summarize).collect();
        let message = api_v3::FindTraceSummariesResponse { summaries };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(
            message,
        )]))))
    }

    async fn get_services(
        &self,
        _request: Request<api_v3::GetServicesRequest>,
    ) -> Result<Response<api_v3::GetServicesResponse>, Status> {
        let services = self
            .backend
            .blocking("failed to read services", |store| store.services())
            .await?;
        Ok(Response::new(api_v3::GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<api_v3::GetOperationsRequest>,
    ) -> Result<Response<api_v3::GetOperationsResponse>, Status> {
        let request = request.into_inner();
        let operations = self
            .backend
            .operations(request.service, &request.span_kind)
            .await?;
        Ok(Response::new(api_v3::GetOperationsResponse {
            operations: operations
                .into_iter()
                .map(|op| api_v3::Operation {
                    span_kind: span_kind_name(op.kind).to_string(),
                    name: op.name,
                })
                .collect(),
        }))
    }

    async fn get_dependencies(
        &self,
        request: Request<api_v3::GetDependenciesRequest>,
    ) -> Result<Response<api_v3::DependenciesResponse>, Status> {
        let request = request.into_inner();
        let (Some(start), Some(end)) = (&request.start_time, &request.end_time) else {
            return Err(Status::invalid_argument(
                "start_time and end_time are required",
            ));
        };
        let links = self.backend.dependencies(start, end).await?;
        Ok(Response::new(api_v3::DependenciesResponse {
            dependencies: links
                .into_iter()
                .map(|l| api_v3::Dependency {
                    parent: l.parent,
                    child: l.child,
                    call_count: l.call_count,
                })
                .collect(),
        }))
    }
}

/// Every service of the gRPC query port: api_v2 and api_v3 `QueryService`,
/// health (SERVING for "" and each query service name) and reflection (v1
/// and v1alpha). The caller validates `settings` first.
pub async fn query_grpc_routes(
    store: Arc<dyn TraceSource>,
    settings: QueryHttpSettings,
) -> Result<tonic::service::Routes, tonic_reflection::server::Error> {
    use tonic_health::ServingStatus;
    let backend = Backend {
        store,
        settings: Arc::new(settings),
    };
    let v2 = api_v2::query_service_server::QueryServiceServer::new(QueryServiceV2 {
        backend: backend.clone(),
    });
    let v3 = api_v3::query_service_server::QueryServiceServer::new(QueryServiceV3 { backend });
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in [
        "",
        "jaeger.api_v2.QueryService",
        "jaeger.api_v3.QueryService",
    ] {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(spoor_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(spoor_proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = tonic::service::Routes::new(v2)
        .add_service(v3)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    // A partial answer carries `x-spoor-partial: true` in its metadata.
    Ok(tonic::service::Routes::from(
        routes
            .into_axum_router()
            .layer(axum::middleware::from_fn(crate::partial::mark_partial)),
    ))
}
