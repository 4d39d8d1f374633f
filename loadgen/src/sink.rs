//! `sink`: a minimal trace receiver that decodes and counts what `send`
//! sends, to test the load generator itself and to measure its ceiling
//! without a real backend in the way. Loopback only; stops by itself.
//!
//! In: OTLP gRPC `Export` and Jaeger gRPC `PostSpans` calls on one address;
//! OTLP/HTTP protobuf or JSON (`POST /v1/traces`), Zipkin v2 JSON or proto3
//! (`POST /api/v2/spans`) and Jaeger Thrift (`POST /api/traces`) on another,
//! plain or gzip; `GET /` answers 200 once it listens (a readiness probe).
//! Out: success answers (or, with `--reject-every N`, a
//! retryable 503 / UNAVAILABLE for every Nth request) and [`SinkCounters`]:
//! requests, spans decoded, rejections, bad bodies.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prost::Message as _;
use spoor_proto::jaeger::api_v2::collector_service_server::{
    CollectorService, CollectorServiceServer,
};
use spoor_proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use spoor_proto::otlp::trace_service_server::{TraceService, TraceServiceServer};
use spoor_proto::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use spoor_proto::thrift::Protocol as ThriftProtocol;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tonic::codec::CompressionEncoding;

use crate::encode;

/// Command-line arguments of `sink`.
#[derive(Debug, Clone, clap::Parser)]
pub struct SinkArgs {
    /// Address of the gRPC receivers (OTLP and Jaeger).
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP receiver (`/v1/traces`, `/api/v2/spans` and
    /// `/api/traces`).
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub http_addr: SocketAddr,
    /// Seconds to run before exiting.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Answer every Nth request with a retryable error (0: never).
    #[arg(long, default_value_t = 0)]
    pub reject_every: u64,
}

/// What the sink has seen.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Requests received.
    pub requests: AtomicU64,
    /// Spans decoded from accepted requests.
    pub spans: AtomicU64,
    /// Requests answered with a retryable error on purpose.
    pub rejected: AtomicU64,
    /// Requests whose body could not be decoded.
    pub bad: AtomicU64,
}

impl SinkCounters {
    /// Whether this request (counted now) is to be rejected.
    fn admit(&self, reject_every: u64) -> bool {
        let n = self.requests.fetch_add(1, Relaxed) + 1;
        if reject_every > 0 && n % reject_every == 0 {
            self.rejected.fetch_add(1, Relaxed);
            return false;
        }
        true
    }
}

/// A running sink.
pub struct Sink {
    /// Where the gRPC receiver listens.
    pub grpc_addr: SocketAddr,
    /// Where the HTTP receiver listens.
    pub http_addr: SocketAddr,
    /// What it has seen.
    pub counters: Arc<SinkCounters>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct GrpcSink {
    counters: Arc<SinkCounters>,
    reject_every: u64,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if !self.counters.admit(self.reject_every) {
            return Err(tonic::Status::unavailable("sink: rejected on purpose"));
        }
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .map(|rs| rs.span_count())
            .sum();
        self.counters.spans.fetch_add(spans as u64, Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

struct JaegerGrpcSink {
    counters: Arc<SinkCounters>,
    reject_every: u64,
}

#[tonic::async_trait]
impl CollectorService for JaegerGrpcSink {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        if !self.counters.admit(self.reject_every) {
            return Err(tonic::Status::unavailable("sink: rejected on purpose"));
        }
        let spans = request
            .get_ref()
            .batch
            .as_ref()
            .map_or(0, |b| b.spans.len());
        self.counters.spans.fetch_add(spans as u64, Relaxed);
        Ok(tonic::Response::new(PostSpansResponse {}))
    }
}

/// Counts the spans in an HTTP body, or `None` when it does not decode.
pub fn spans_in_body(path: &str, content_type: &str, body: &[u8]) -> Option<u64> {
    if path.starts_with("/api/traces") {
        let batch = spoor_proto::jaeger_thrift::decode_batch(body, ThriftProtocol::Binary).ok()?;
        return Some(batch.spans.len() as u64);
    }
    if path.starts_with("/api/v2/spans") && content_type.contains("protobuf") {
        let list = spoor_proto::zipkin::ListOfSpans::decode(body).ok()?;
        return Some(list.spans.len() as u64);
    }
    if path.starts_with("/api/v2/spans") {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        return v.as_array().map(|a| a.len() as u64);
    }
    if content_type.contains("json") {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let mut n = 0;
        for rs in v["resourceSpans"].as_array()? {
            for ss in rs["scopeSpans"].as_array()? {
                n += ss["spans"].as_array().map_or(0, Vec::len) as u64;
            }
        }
        return Some(n);
    }
    let request = ExportTraceServiceRequest::decode(body).ok()?;
    Some(
        request
            .resource_spans
            .iter()
            .map(|rs| rs.span_count() as u64)
            .sum(),
    )
}

/// Serves one HTTP/1.1 keep-alive connection.
async fn http_connection(
    stream: TcpStream,
    counters: Arc<SinkCounters>,
    reject_every: u64,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut words = request_line.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let path = words.next().unwrap_or("/").to_string();
        let (mut length, mut content_type, mut gzip, mut close) =
            (0usize, String::new(), false, false);
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                match name.as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "content-type" => content_type = value.to_ascii_lowercase(),
                    "content-encoding" => gzip = value.eq_ignore_ascii_case("gzip"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        let (status, reason, answer): (u16, &str, &[u8]) = if method == "GET" && path == "/" {
            // A readiness probe (scripts wait for it); not a request.
            (200, "OK", b"")
        } else if !counters.admit(reject_every) {
            (503, "Service Unavailable", b"")
        } else {
            let raw = if gzip {
                encode::gunzip(&body).ok()
            } else {
                Some(body)
            };
            match raw.and_then(|raw| spans_in_body(&path, &content_type, &raw)) {
                Some(n) => {
                    counters.spans.fetch_add(n, Relaxed);
                    if path.starts_with("/api/v2/spans") || path.starts_with("/api/traces") {
                        (202, "Accepted", b"")
                    } else if content_type.contains("json") {
                        (200, "OK", b"{}")
                    } else {
                        (200, "OK", b"")
                    }
                }
                None => {
                    counters.bad.fetch_add(1, Relaxed);
                    (400, "Bad Request", b"")
                }
            }
        };
        let answer_type = if content_type.contains("json") {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {answer_type}\r\ncontent-length: {}\r\n{}\r\n",
            answer.len(),
            if status == 503 { "retry-after: 0\r\n" } else { "" }
        );
        let out = stream.get_mut();
        out.write_all(head.as_bytes()).await?;
        out.write_all(answer).await?;
        if close {
            return Ok(());
        }
    }
}

/// Starts a sink; port 0 picks free ports (see [`Sink::grpc_addr`]).
pub async fn start(
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    reject_every: u64,
) -> anyhow::Result<Sink> {
    let counters = Arc::new(SinkCounters::default());
    let grpc = TcpListener::bind(grpc_addr)
        .await
        .with_context(|| format!("cannot listen on {grpc_addr}"))?;
    let http = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("cannot listen on {http_addr}"))?;
    let (grpc_addr, http_addr) = (grpc.local_addr()?, http.local_addr()?);
    let service = TraceServiceServer::new(GrpcSink {
        counters: counters.clone(),
        reject_every,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .send_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(64 << 20);
    let jaeger = CollectorServiceServer::new(JaegerGrpcSink {
        counters: counters.clone(),
        reject_every,
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .send_compressed(CompressionEncoding::Gzip)
    .max_decoding_message_size(64 << 20);
    let grpc_task = tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(service)
            .add_service(jaeger)
            .serve_with_incoming(incoming)
            .await
        {
            eprintln!("sink: gRPC server stopped: {e}");
        }
    });
    let http_counters = counters.clone();
    let http_task = tokio::spawn(async move {
        while let Ok((stream, _)) = http.accept().await {
            tokio::spawn(http_connection(stream, http_counters.clone(), reject_every));
        }
    });
    Ok(Sink {
        grpc_addr,
        http_addr,
        counters,
        tasks: vec![grpc_task, http_task],
    })
}

/// Runs `sink` for its duration, printing counts every 5 s.
pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let sink = start(args.grpc_addr, args.http_addr, args.reject_every).await?;
    eprintln!(
        "sink: gRPC on {}, HTTP on {} for {} s",
        sink.grpc_addr, sink.http_addr, args.duration
    );
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration.max(0.0));
    let mut last = 0u64;
    loop {
        let tick = tokio::time::Instant::now() + Duration::from_secs(5);
        tokio::select! {
            _ = tokio::time::sleep_until(tick.min(end)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let spans = sink.counters.spans.load(Relaxed);
        eprintln!(
            "sink: {} requests, {} spans (+{} spans)",
            sink.counters.requests.load(Relaxed),
            spans,
            spans - last
        );
        last = spans;
        if tokio::time::Instant::now() >= end {
            break;
        }
    }
    println!(
        "RESULT sink requests={} spans={} rejected={} bad={}",
        sink.counters.requests.load(Relaxed),
        sink.counters.spans.load(Relaxed),
        sink.counters.rejected.load(Relaxed),
        sink.counters.bad.load(Relaxed)
    );
    Ok(())
}
