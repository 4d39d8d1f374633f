//! `send`: generated traces to any OTLP, Jaeger or Zipkin backend, as fast
//! as it takes them (or at a capped rate), for a bounded time or span count.
//!
//! In: [`SendArgs`] (protocol, endpoint, concurrency, batch size, bounds,
//! traffic shape). Out: requests to the endpoint; progress lines on stderr
//! every few seconds; a [`Summary`] (printed by the caller); optionally a file
//! of sampled trace ids (one 32-char hex id per line) for `query`.
//!
//! Each of `--concurrency` tasks owns a generator and a connection and keeps
//! one request in flight: generate a batch, encode it, send it, wait for the
//! answer (Jaeger Thrift sends a batch as one request per process, in turn). Retryable answers (HTTP 429/502/503/504, gRPC RESOURCE_EXHAUSTED
//! and UNAVAILABLE, refused connections) are counted apart and the same body
//! is sent again after a jittered exponential backoff.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::{BufMut as _, Bytes};
use prost::Message as _;
use rand::Rng as _;
use spoor_proto::jaeger::api_v2::PostSpansResponse;
use spoor_proto::otlp::ExportTraceServiceResponse;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::encode::{self, Protocol};
use crate::gen::{Catalog, Generator, Shape};
use crate::stats::{positive, process_cpu_seconds, Stats, Summary};

/// Command-line arguments of `send`.
#[derive(Debug, Clone, clap::Parser)]
pub struct SendArgs {
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "otlp-grpc")]
    pub protocol: Protocol,
    /// Where to send. Default: 127.0.0.1 with the protocol's standard port
    /// (4317 for OTLP gRPC, 4318/v1/traces for OTLP/HTTP, 9411/api/v2/spans
    /// for Zipkin, 14250 for Jaeger gRPC, 14268/api/traces for Jaeger Thrift).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Requests in flight at once (one task and one connection each).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 500)]
    pub batch_spans: usize,
    /// Stop after this many seconds (default 10 when --total-spans is not given).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many spans have been sent.
    #[arg(long)]
    pub total_spans: Option<u64>,
    /// With --total-spans and no --duration: stop anyway after this many seconds.
    #[arg(long, default_value_t = 3600.0)]
    pub max_duration: f64,
    /// Cap the send rate at this many spans per second (all tasks together).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Number of services.
    #[arg(long, default_value_t = 10)]
    pub services: usize,
    /// Operations per service.
    #[arg(long, default_value_t = 8)]
    pub operations: usize,
    /// Spans per trace.
    #[arg(long, default_value_t = 10)]
    pub spans_per_trace: usize,
    /// Compress bodies with gzip (gRPC: per-message gzip compression).
    #[arg(long)]
    pub gzip: bool,
    /// Seed of the traffic shape and ids (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write sampled trace ids (hex, one per line) to this file.
    #[arg(long)]
    pub ids_out: Option<PathBuf>,
    /// With --ids-out: keep 1 in this many trace ids.
    #[arg(long, default_value_t = 100)]
    pub ids_sample: u64,
    /// Seconds between progress lines (0: none).
    #[arg(long, default_value_t = 5.0)]
    pub report_every: f64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Retries of one request before it counts as failed.
    #[arg(long, default_value_t = 20)]
    pub max_retries: u32,
}

impl Default for SendArgs {
    fn default() -> Self {
        <SendArgs as clap::Parser>::parse_from(["send"])
    }
}

impl SendArgs {
    /// The traffic shape these arguments ask for.
    pub fn shape(&self) -> Shape {
        Shape {
            services: self.services,
            operations: self.operations,
            spans_per_trace: self.spans_per_trace,
        }
    }

    /// The endpoint to use.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| self.protocol.default_endpoint().to_string())
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the number of spans refused in a partial success.
    Ok(u64),
    /// Try again later; the status as text.
    Retry(String, Option<Duration>),
    /// Failed for good; the status as text.
    Fail(String),
}

/// The gRPC code's canonical upper-case name.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Classifies a gRPC status.
pub fn grpc_outcome(status: &Status) -> Outcome {
    let label = format!("grpc {}", code_name(status.code()));
    match status.code() {
        Code::ResourceExhausted | Code::Unavailable => Outcome::Retry(label, None),
        _ => Outcome::Fail(label),
    }
}

/// Classifies an HTTP status (success is handled by the caller).
pub fn http_outcome(status: u16, retry_after: Option<Duration>) -> Outcome {
    let label = format!("http {status}");
    match status {
        429 | 502 | 503 | 504 => Outcome::Retry(label, retry_after),
        _ => Outcome::Fail(label),
    }
}

/// A tonic codec that sends an already encoded message and decodes the
/// response `R` (the OTLP export response, or Jaeger's empty
/// `PostSpansResponse`), so a body is encoded once and retried cheaply.
#[derive(Debug, Clone, Copy)]
pub struct PreEncodedCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for PreEncodedCodec<R> {
    fn default() -> Self {
        PreEncodedCodec(PhantomData)
    }
}

/// Encoder half of [`PreEncodedCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PreEncodedEncoder;

/// Decoder half of [`PreEncodedCodec`].
#[derive(Debug, Clone, Copy)]
pub struct ResponseDecoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message + Default + Send + 'static> Codec for PreEncodedCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = PreEncodedEncoder;
    type Decoder = ResponseDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncodedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ResponseDecoder(PhantomData)
    }
}

impl Encoder for PreEncodedEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        dst.put(item);
        Ok(())
    }
}

impl<R: prost::Message + Default> Decoder for ResponseDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// One connection to the backend.
pub enum Transport {
    /// OTLP gRPC.
    Grpc(tonic::client::Grpc<Channel>),
    /// Jaeger gRPC (`CollectorService/PostSpans`).
    JaegerGrpc(tonic::client::Grpc<Channel>),
    /// Any of the HTTP protocols.
    Http {
        /// Shared connection pool.
        client: reqwest::Client,
        /// Full URL to POST to.
        url: String,
        /// How the body is encoded.
        protocol: Protocol,
        /// Whether the body is gzip-compressed.
        gzip: bool,
    },
}

impl Transport {
    /// Opens (lazily) a transport for the arguments.
    pub fn new(args: &SendArgs, http: &reqwest::Client) -> anyhow::Result<Transport> {
        let url = args.endpoint();
        Ok(match args.protocol {
            Protocol::OtlpGrpc | Protocol::JaegerGrpc => {
                let endpoint = Endpoint::from_shared(url.clone())
                    .with_context(|| format!("bad gRPC endpoint {url}"))?
                    .timeout(Duration::from_secs_f64(args.timeout))
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true);
                let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy())
                    .max_decoding_message_size(64 << 20);
                if args.gzip {
                    grpc = grpc
                        .send_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Gzip);
                }
                if args.protocol == Protocol::JaegerGrpc {
                    Transport::JaegerGrpc(grpc)
                } else {
                    Transport::Grpc(grpc)
                }
            }
            protocol => Transport::Http {
                client: http.clone(),
                url,
                protocol,
                gzip: args.gzip,
            },
        })
    }

    /// Sends one body and classifies the answer.
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match self {
            Transport::Grpc(grpc) => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Retry(format!("grpc not ready: {e}"), None);
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH);
                match grpc
                    .unary(
                        tonic::Request::new(body),
                        path,
                        PreEncodedCodec::<ExportTraceServiceResponse>::default(),
                    )
                    .await
                {
                    Ok(resp) => Outcome::Ok(
                        resp.get_ref()
                            .partial_success
                            .as_ref()
                            .map_or(0, |p| p.rejected_spans.max(0) as u64),
                    ),
                    Err(status) => grpc_outcome(&status),
                }
            }
            Transport::JaegerGrpc(grpc) => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Retry(format!("grpc not ready: {e}"), None);
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(POST_SPANS_PATH);
                match grpc
                    .unary(
                        tonic::Request::new(body),
                        path,
                        PreEncodedCodec::<PostSpansResponse>::default(),
                    )
                    .await
                {
                    // Jaeger has no partial success.
                    Ok(_) => Outcome::Ok(0),
                    Err(status) => grpc_outcome(&status),
                }
            }
            Transport::Http {
                client,
                url,
                protocol,
                gzip,
            } => {
                let mut req = client
                    .post(url.as_str())
                    .header(reqwest::header::CONTENT_TYPE, protocol.content_type())
                    .body(body);
                if *gzip {
                    req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
                }
                let resp = match req.send().await {
                    Ok(resp) => resp,
                    Err(e) if e.is_timeout() => return Outcome::Fail("http timeout".to_string()),
                    Err(e) if e.is_connect() => {
                        return Outcome::Retry("http connect error".to_string(), None)
                    }
                    Err(_) => return Outcome::Fail("http transport error".to_string()),
                };
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 5.0)));
                let ok = (200..300).contains(&status);
                let json = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("json"));
                let body = resp.bytes().await.unwrap_or_default();
                if !ok {
                    return http_outcome(status, retry_after);
                }
                Outcome::Ok(rejected_in_http_response(*protocol, json, &body))
            }
        }
    }
}

/// Spans refused in an OTLP/HTTP partial-success answer (0 when none or
/// unreadable, and always 0 for Zipkin and Jaeger, which have no partial
/// success).
pub fn rejected_in_http_response(protocol: Protocol, json: bool, body: &[u8]) -> u64 {
    if body.is_empty() || !matches!(protocol, Protocol::OtlpHttp | Protocol::OtlpHttpJson) {
        return 0;
    }
    if json || protocol == Protocol::OtlpHttpJson && body.first() == Some(&b'{') {
        let v: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return 0,
        };
        let r = &v["partialSuccess"]["rejectedSpans"];
        return r
            .as_u64()
            .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
    }
    ExportTraceServiceResponse::decode(body)
        .ok()
        .and_then(|r| r.partial_success)
        .map_or(0, |p| p.rejected_spans.max(0) as u64)
}

/// Backoff before retry number `attempt` (1-based): 20 ms doubling to 1 s,
/// ±50 % jitter, or what the server asked for.
pub fn backoff(attempt: u32, asked: Option<Duration>) -> Duration {
    if let Some(d) = asked {
        return d;
    }
    let base = (20u64 << attempt.saturating_sub(1).min(6)).min(1000);
    let jitter = rand::rng().random_range(0.5..1.5);
    Duration::from_millis((base as f64 * jitter) as u64)
}

struct Shared {
    args: SendArgs,
    stats: Stats,
    deadline: Instant,
    start: Instant,
    remaining: Option<AtomicU64>,
    reserved: AtomicU64,
    ids_out: Option<Mutex<BufWriter<File>>>,
    stop: AtomicBool,
}

impl Shared {
    /// Takes up to `n` spans from the budget; 0 when the run is over.
    fn take(&self, n: u64) -> u64 {
        if self.stop.load(Relaxed) || Instant::now() >= self.deadline {
            return 0;
        }
        match &self.remaining {
            None => n,
            Some(remaining) => {
                let mut cur = remaining.load(Relaxed);
                loop {
                    let take = cur.min(n);
                    if take == 0 {
                        return 0;
                    }
                    match remaining.compare_exchange_weak(cur, cur - take, Relaxed, Relaxed) {
                        Ok(_) => return take,
                        Err(actual) => cur = actual,
                    }
                }
            }
        }
    }

    /// Waits for this batch's slot under the rate cap.
    async fn pace(&self, n: u64) {
        if let Some(rate) = self.args.rate.filter(|r| *r > 0.0) {
            let before = self.reserved.fetch_add(n, Relaxed);
            let at = self.start + Duration::from_secs_f64(before as f64 / rate);
            if at > Instant::now() {
                tokio::time::sleep_until(at.into()).await;
            }
        }
    }
}

async fn worker(shared: Arc<Shared>, mut transport: Transport, seed: u64, catalog: Arc<Catalog>) {
    let args = &shared.args;
    let mut generator = Generator::new(catalog, seed);
    let retry_until = shared.deadline + Duration::from_secs_f64(args.timeout.min(10.0));
    loop {
        let n = shared.take(args.batch_spans as u64);
        if n == 0 {
            break;
        }
        shared.pace(n).await;
        let batch = generator.batch(n as usize);
        let bodies = encode::bodies(args.protocol, &batch, args.gzip);
        let sampled: Vec<u128> = if shared.ids_out.is_some() {
            batch
                .root_trace_ids()
                .filter(|id| id % args.ids_sample.max(1) as u128 == 0)
                .collect()
        } else {
            Vec::new()
        };
        drop(batch);
        shared.stats.spans_sent.fetch_add(n, Relaxed);
        for body in &bodies {
            shared
                .stats
                .bytes_sent
                .fetch_add(body.bytes.len() as u64, Relaxed);
            shared
                .stats
                .bytes_raw
                .fetch_add(body.raw_len as u64, Relaxed);
        }
        let mut all_accepted = true;
        for body in bodies {
            all_accepted &= send_one(&shared, &mut transport, body, retry_until).await;
        }
        if all_accepted {
            if let Some(out) = &shared.ids_out {
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                for id in &sampled {
                    let _ = writeln!(out, "{id:032x}");
                }
            }
        }
    }
}

/// Sends one body until it is answered for good; true when accepted.
async fn send_one(
    shared: &Shared,
    transport: &mut Transport,
    body: encode::Body,
    retry_until: Instant,
) -> bool {
    let args = &shared.args;
    let mut attempt = 0u32;
    loop {
        let t0 = Instant::now();
        match transport.send(body.bytes.clone()).await {
            Outcome::Ok(rejected) => {
                shared.stats.ok(body.spans, rejected, t0.elapsed());
                return true;
            }
            Outcome::Retry(status, asked) => {
                shared.stats.retryable(&status);
                attempt += 1;
                if attempt > args.max_retries || Instant::now() >= retry_until {
                    shared
                        .stats
                        .failed(&format!("gave up after retries ({status})"), body.spans);
                    return false;
                }
                tokio::time::sleep(backoff(attempt, asked)).await;
            }
            Outcome::Fail(status) => {
                shared.stats.failed(&status, body.spans);
                return false;
            }
        }
    }
}

async fn reporter(shared: Arc<Shared>) {
    let every = Duration::from_secs_f64(shared.args.report_every.max(0.5));
    let mut last_accepted = 0u64;
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let now = Instant::now();
        let accepted = shared.stats.spans_accepted.load(Relaxed);
        let rate = (accepted - last_accepted) as f64 / now.duration_since(last).as_secs_f64();
        let l = shared.stats.take_interval_latency();
        eprintln!(
            "[{:6.1}s] sent {} accepted {} | {:.0} spans/s | ack p50 {:.2} ms p99 {:.2} ms max {:.2} ms | retryable {} failed {}",
            now.duration_since(shared.start).as_secs_f64(),
            shared.stats.spans_sent.load(Relaxed),
            accepted,
            rate,
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            shared.stats.retryable_total(),
            shared.stats.failed_total(),
        );
        last_accepted = accepted;
        last = now;
    }
}

/// Runs `send` to completion and returns its summary.
pub async fn run(args: SendArgs) -> anyhow::Result<Summary> {
    if args.concurrency == 0 || args.batch_spans == 0 {
        bail!("--concurrency and --batch-spans must be at least 1");
    }
    if args.duration.is_some_and(|d| !positive(d)) || !positive(args.max_duration) {
        bail!("--duration and --max-duration must be positive");
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let catalog = Arc::new(Catalog::new(args.shape()));
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let seconds = match (args.duration, args.total_spans) {
        (Some(d), _) => d,
        (None, Some(_)) => args.max_duration,
        (None, None) => 10.0,
    };
    let ids_out = match &args.ids_out {
        Some(path) => Some(Mutex::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ))),
        None => None,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()?;
    eprintln!(
        "spoor-loadgen send: {} → {} | concurrency {} batch {} | {} services × {} operations, {} spans/trace | seed {seed}",
        args.protocol.name(),
        args.endpoint(),
        args.concurrency,
        args.batch_spans,
        catalog.shape.services,
        catalog.shape.operations,
        catalog.shape.spans_per_trace,
    );
    let shared = Arc::new(Shared {
        remaining: args.total_spans.map(AtomicU64::new),
        deadline: start + Duration::from_secs_f64(seconds),
        start,
        reserved: AtomicU64::new(0),
        stats: Stats::default(),
        ids_out,
        stop: AtomicBool::new(false),
        args,
    });
    let mut tasks = Vec::new();
    for i in 0..shared.args.concurrency {
        let transport = Transport::new(&shared.args, &http)?;
        let worker_seed = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        tasks.push(tokio::spawn(worker(
            shared.clone(),
            transport,
            worker_seed,
            catalog.clone(),
        )));
    }
    let report = (shared.args.report_every > 0.0).then(|| tokio::spawn(reporter(shared.clone())));
    let ctrl_c = tokio::spawn({
        let shared = shared.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing requests in flight");
                shared.stop.store(true, Relaxed);
            }
        }
    });
    for t in tasks {
        t.await.context("sending task panicked")?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(r) = report {
        r.abort();
    }
    ctrl_c.abort();
    if let Some(out) = &shared.ids_out {
        out.lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .context("writing --ids-out")?;
    }
    let s = &shared.stats;
    let sent = s.spans_sent.load(Relaxed);
    let accepted = s.spans_accepted.load(Relaxed);
    Ok(Summary {
        protocol: shared.args.protocol.name().to_string(),
        concurrency: shared.args.concurrency,
        batch_spans: shared.args.batch_spans,
        seconds: elapsed,
        spans_sent: sent,
        spans_accepted: accepted,
        spans_rejected: s.spans_rejected.load(Relaxed),
        spans_failed: s.spans_failed.load(Relaxed),
        requests_ok: s.requests_ok.load(Relaxed),
        requests_failed: s.failed_total(),
        retryable: s.retryable_total(),
        bytes_per_span: s.bytes_sent.load(Relaxed) as f64 / sent.max(1) as f64,
        raw_bytes_per_span: s.bytes_raw.load(Relaxed) as f64 / sent.max(1) as f64,
        spans_per_sec: accepted as f64 / elapsed.max(1e-9),
        latency: s.latency(),
        failed_by_status: s.failed_by_status(),
        retryable_by_status: s.retryable_by_status(),
        loadgen_cores: match (cpu_start, process_cpu_seconds()) {
            (Some(a), Some(b)) => (b - a) / elapsed.max(1e-9),
            _ => 0.0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_the_documented_ones() {
        assert!(matches!(http_outcome(429, None), Outcome::Retry(..)));
        assert!(matches!(http_outcome(503, None), Outcome::Retry(..)));
        assert_eq!(
            http_outcome(400, None),
            Outcome::Fail("http 400".to_string())
        );
        assert!(matches!(
            grpc_outcome(&Status::resource_exhausted("x")),
            Outcome::Retry(..)
        ));
        assert!(matches!(
            grpc_outcome(&Status::unavailable("x")),
            Outcome::Retry(..)
        ));
        assert_eq!(
            grpc_outcome(&Status::invalid_argument("x")),
            Outcome::Fail("grpc INVALID_ARGUMENT".to_string())
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let d = backoff(attempt, None);
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(1500),
                "{d:?}"
            );
        }
        assert_eq!(
            backoff(3, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn partial_success_is_read_from_both_encodings() {
        let pb = ExportTraceServiceResponse {
            partial_success: Some(spoor_proto::otlp::ExportTracePartialSuccess {
                rejected_spans: 7,
                error_message: "x".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(rejected_in_http_response(Protocol::OtlpHttp, false, &pb), 7);
        let js = br#"{"partialSuccess":{"rejectedSpans":"3"}}"#;
        assert_eq!(
            rejected_in_http_response(Protocol::OtlpHttpJson, true, js),
            3
        );
        assert_eq!(rejected_in_http_response(Protocol::OtlpHttp, false, b""), 0);
        assert_eq!(
            rejected_in_http_response(Protocol::ZipkinJson, true, b"{}"),
            0
        );
    }

    #[test]
    fn defaults_are_bounded() {
        let a = SendArgs::default();
        assert_eq!(a.protocol, Protocol::OtlpGrpc);
        assert_eq!(a.endpoint(), "http://127.0.0.1:4317");
        assert!(a.duration.is_none() && a.total_spans.is_none());
    }
}
