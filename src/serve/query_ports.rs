//! The read side of a process: the Jaeger query API over HTTP (with the
//! SPM API, the UI and any extra routes, such as a store node's internal
//! API) and over gRPC, bound first, then served until the stop signal.
//!
//! In: the configuration, the source traces are read from (the local store,
//! or the fan-out over store nodes), whether analytics feed the SPM API.
//! Out: the server tasks and the bound addresses, by name.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use spoor_collector::grpc_refusal::{ByService, RefusalLayer};
use spoor_storage::source::TraceSource;
use tokio::sync::watch;

use super::{bind, http, stopped, Servers};
use crate::config::Config;
use crate::lenient_http::LenientListener;

/// What the query ports serve.
pub(super) struct QueryPorts {
    /// Where traces are read from.
    pub source: Arc<dyn TraceSource>,
    /// Whether the SPM API has analytics behind it.
    pub analytics: bool,
    /// Routes merged onto the query HTTP port.
    pub extra: Option<axum::Router>,
    /// Whether to serve the gRPC query port too.
    pub grpc: bool,
}

/// Binds and serves the query ports.
pub(super) async fn start(
    config: &Config,
    ports: QueryPorts,
    stop_rx: &watch::Receiver<bool>,
    servers: &mut Servers,
) -> anyhow::Result<Vec<(&'static str, SocketAddr)>> {
    let l = &config.listen;
    let query_http = bind(l.query_http, "the Jaeger query API").await?;
    let mut addrs = vec![("query_http", query_http.local_addr()?)];
    let query_grpc = if ports.grpc {
        let listener = bind(l.query_grpc, "the Jaeger query gRPC API").await?;
        addrs.push(("query_grpc", listener.local_addr()?));
        Some(listener)
    } else {
        None
    };
    let ui = match &config.query.http.ui_dir {
        Some(dir) => spoor_query::jaeger_ui_router(&config.query.http, dir, ports.analytics)?,
        None => spoor_query::builtin_ui_router(&config.query.http),
    };
    let mut query_router =
        spoor_query::jaeger_http_router(ports.source.clone(), config.query.http.clone()).merge(
            spoor_query::metrics_api::metrics_router(
                ports.source.clone(),
                config.query.http.normalized_base_path(),
                ports.analytics,
            ),
        );
    if let Some(extra) = ports.extra {
        query_router = query_router.merge(extra);
    }
    let query_router = query_router
        .merge(ui)
        .route_layer(axum::middleware::from_fn(crate::http_metrics::record));
    // Jaeger's query port takes raw `"` in query strings (scripts send them).
    servers.push(http(
        LenientListener(query_http, config.query.http.max_request_line_bytes),
        query_router,
        stop_rx.clone(),
        "query",
    ));
    if let Some(query_grpc) = query_grpc {
        let routes =
            spoor_query::query_grpc_routes(ports.source.clone(), config.query.http.clone())
                .await
                .context("building the gRPC query services")?;
        let rx = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            // Undecodable requests to any service on the port (query api_v2
            // and api_v3, health, reflection) are INVALID_ARGUMENT and counted.
            tonic::transport::Server::builder()
                .layer(RefusalLayer::new(ByService))
                .add_routes(routes)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(query_grpc),
                    stopped(rx),
                )
                .await
                .context("query gRPC server failed")
        }));
    }
    Ok(addrs)
}
