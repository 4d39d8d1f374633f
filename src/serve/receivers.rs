//! The ingest side of a process: every receiver's listener (OTLP gRPC and
//! HTTP, Zipkin, Jaeger gRPC and Thrift HTTP, the agent's UDP ports) and the
//! sampling strategies SDKs poll, bound first (failing with the address that
//! could not be bound), then served until the stop signal.
//!
//! In: the configuration, the ingest [`Pipeline`] (storing or forwarding),
//! the strategy provider, and the Zipkin read API to merge onto the Zipkin
//! port where this process has one. Out: the server tasks and the bound
//! addresses, by name.

use std::net::SocketAddr;

use anyhow::Context;
use spoor_collector::sampling::StrategyProvider;
use spoor_collector::Pipeline;
use tokio::sync::watch;

use super::{bind, bind_udp, http, stopped, Servers};
use crate::config::Config;

/// Binds and serves every receiver and the strategy endpoints.
pub(super) async fn start(
    config: &Config,
    pipeline: &Pipeline,
    strategies: &StrategyProvider,
    zipkin_read: Option<axum::Router>,
    stop_rx: &watch::Receiver<bool>,
    servers: &mut Servers,
) -> anyhow::Result<Vec<(&'static str, SocketAddr)>> {
    let l = &config.listen;
    let otlp_grpc = bind(l.otlp_grpc, "OTLP gRPC").await?;
    let otlp_http = bind(l.otlp_http, "OTLP HTTP").await?;
    let zipkin = bind(l.zipkin, "Zipkin").await?;
    let sampling_http = bind(l.sampling_http, "sampling strategies over HTTP").await?;
    let sampling_grpc = bind(l.sampling_grpc, "sampling strategies over gRPC").await?;
    let jaeger_grpc = bind(l.jaeger_grpc, "Jaeger gRPC").await?;
    let jaeger_thrift_http = bind(l.jaeger_thrift_http, "Jaeger Thrift HTTP").await?;
    let agent_compact = bind_udp(l.agent_compact, "the Jaeger agent (compact)").await?;
    let agent_binary = bind_udp(l.agent_binary, "the Jaeger agent (binary)").await?;
    let addrs = vec![
        ("otlp_grpc", otlp_grpc.local_addr()?),
        ("otlp_http", otlp_http.local_addr()?),
        ("zipkin", zipkin.local_addr()?),
        ("sampling_http", sampling_http.local_addr()?),
        ("sampling_grpc", sampling_grpc.local_addr()?),
        ("jaeger_grpc", jaeger_grpc.local_addr()?),
        ("jaeger_thrift_http", jaeger_thrift_http.local_addr()?),
        ("agent_compact", agent_compact.local_addr()?),
        ("agent_binary", agent_binary.local_addr()?),
    ];

    let grpc_service = spoor_collector::otlp_grpc_service(pipeline.clone(), &config.collector);
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(grpc_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(otlp_grpc),
                stopped(rx),
            )
            .await
            .context("OTLP gRPC server failed")
    }));
    servers.push(http(
        otlp_http,
        spoor_collector::otlp_http_router(pipeline.clone(), &config.collector),
        stop_rx.clone(),
        "OTLP HTTP",
    ));
    let mut zipkin_router = spoor_collector::zipkin_router(pipeline.clone(), &config.collector);
    if let Some(read) = zipkin_read {
        zipkin_router = zipkin_router.merge(read);
    }
    servers.push(http(zipkin, zipkin_router, stop_rx.clone(), "Zipkin"));
    let jaeger_grpc_service =
        spoor_collector::jaeger_grpc_service(pipeline.clone(), &config.collector);
    // Jaeger's collector ports also answer SDKs' strategy requests.
    let jaeger_sampling_service =
        spoor_collector::sampling::sampling_grpc_service(strategies.clone());
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(jaeger_grpc_service)
            .add_service(jaeger_sampling_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(jaeger_grpc),
                stopped(rx),
            )
            .await
            .context("Jaeger gRPC server failed")
    }));
    servers.push(http(
        jaeger_thrift_http,
        spoor_collector::jaeger_thrift_http_router(pipeline.clone(), &config.collector).merge(
            spoor_collector::sampling::sampling_http_router(strategies.clone()),
        ),
        stop_rx.clone(),
        "Jaeger Thrift HTTP",
    ));
    for (socket, protocol) in [
        (agent_compact, spoor_collector::ThriftProtocol::Compact),
        (agent_binary, spoor_collector::ThriftProtocol::Binary),
    ] {
        let agent =
            spoor_collector::AgentUdpReceiver::new(pipeline.clone(), &config.collector, protocol);
        let rx = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            agent.serve(socket, stopped(rx)).await;
            Ok(())
        }));
    }
    servers.push(http(
        sampling_http,
        spoor_collector::sampling::sampling_agent_router(strategies.clone()),
        stop_rx.clone(),
        "sampling HTTP",
    ));
    let sampling_service = spoor_collector::sampling::sampling_grpc_service(strategies.clone());
    let rx = stop_rx.clone();
    servers.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(sampling_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(sampling_grpc),
                stopped(rx),
            )
            .await
            .context("sampling gRPC server failed")
    }));
    tokio::spawn(strategies.clone().watch(stop_rx.clone()));
    Ok(addrs)
}
