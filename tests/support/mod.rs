//! End-to-end harness: starts the real `spoor` binary on free loopback ports
//! with a temporary data directory, waits until it is healthy, and offers
//! URLs and process control (SIGTERM, kill -9, restart on the same data).

#![allow(dead_code)]

pub mod split;
pub mod tansu;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    kv, string_kv, Event, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status,
    TracesData, Value,
};

/// A running Spoor process.
/// The flag of every listener the binary has (each takes an address).
pub const LISTEN_FLAGS: &[&str] = &[
    "--otlp-grpc-addr",
    "--otlp-http-addr",
    "--zipkin-addr",
    "--query-http-addr",
    "--query-grpc-addr",
    "--admin-addr",
    "--sampling-http-addr",
    "--sampling-grpc-addr",
    "--jaeger-grpc-addr",
    "--jaeger-thrift-http-addr",
    "--agent-compact-addr",
    "--agent-binary-addr",
];

pub struct Spoor {
    child: Option<Child>,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    addrs: HashMap<String, SocketAddr>,
    extra: Vec<String>,
}

impl Spoor {
    /// Starts Spoor on a fresh temporary data directory.
    pub fn start() -> Spoor {
        Self::start_with(&[])
    }

    /// Starts Spoor on a fresh temporary data directory with extra arguments.
    pub fn start_with(extra: &[&str]) -> Spoor {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("data");
        let mut s = Spoor {
            child: None,
            data_dir: dir,
            _temp: Some(temp),
            addrs: HashMap::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoor"));
        cmd.arg("--data-dir").arg(&self.data_dir);
        for flag in LISTEN_FLAGS {
            cmd.arg(flag).arg("127.0.0.1:0");
        }
        cmd.args(&self.extra);
        cmd.env("SPOOR_LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn spoor");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("spoor: listening on ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("spoor did not report its listeners within 60s");
        self.addrs = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().expect("address")))
            .collect();
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/", self.admin_url());
        loop {
            if let Ok(resp) = ureq_get(&url) {
                if resp == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "spoor never became healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }
    pub fn query_url(&self) -> String {
        format!("http://{}", self.addr("query_http"))
    }
    pub fn otlp_http_url(&self) -> String {
        format!("http://{}/v1/traces", self.addr("otlp_http"))
    }
    pub fn otlp_grpc_url(&self) -> String {
        format!("http://{}", self.addr("otlp_grpc"))
    }
    pub fn zipkin_url(&self) -> String {
        format!("http://{}", self.addr("zipkin"))
    }
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.addr("admin"))
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id of the running binary.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("spoor is running").id()
    }

    /// The peak resident set size of the running binary so far, in bytes
    /// (`VmHWM` in `/proc/<pid>/status`; Linux only).
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("reading the process status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmHWM line in kB");
        kib * 1024
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().expect("wait");
            assert!(status.success(), "spoor exited with {status}");
        }
    }

    /// Kills with SIGKILL (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data directory (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop before restarting");
        self.launch();
    }
}

impl Drop for Spoor {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A tiny blocking GET returning the status (no extra client dependency).
fn ureq_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad response"))
}

/// Polls `f` until it returns Some, for up to `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A random 128-bit trace id.
pub fn random_trace() -> TraceId {
    TraceId(rand::random::<u128>() | 1 << 100)
}

/// A two-span trace (server parent with a client child) of `service`, rich in
/// attribute types, an event, and an error status on the child.
pub fn sample_trace(trace: TraceId, service: &str) -> TracesData {
    let start = now_ns() - 5_000_000_000;
    let parent = Span {
        trace_id: trace.to_bytes().to_vec().into(),
        span_id: 0x0102_0304_0506_0708u64.to_be_bytes().to_vec().into(),
        name: "GET /checkout".into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 25_000_000,
        attributes: vec![
            kv("http.status_code", Value::IntValue(200)),
            kv("sampler.param", Value::DoubleValue(0.25)),
            kv("cache.hit", Value::BoolValue(false)),
            kv(
                "payload",
                Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef].into()),
            ),
            kv("big.counter", Value::IntValue(9_223_372_036_854_775_000)),
        ],
        events: vec![Event {
            time_unix_nano: start + 1_000_000,
            name: "cache miss".into(),
            attributes: vec![string_kv("key", "cart:1")],
            dropped_attributes_count: 0,
        }],
        status: Some(Status {
            code: 1,
            message: String::new(),
        }),
        ..Default::default()
    };
    let child = Span {
        trace_id: trace.to_bytes().to_vec().into(),
        span_id: 0x1112_1314_1516_1718u64.to_be_bytes().to_vec().into(),
        parent_span_id: 0x0102_0304_0506_0708u64.to_be_bytes().to_vec().into(),
        name: "SELECT orders".into(),
        kind: 3,
        start_time_unix_nano: start + 2_000_000,
        end_time_unix_nano: start + 11_100_000,
        attributes: vec![string_kv("db.system", "postgresql")],
        status: Some(Status {
            code: 2,
            message: "deadlock".into(),
        }),
        ..Default::default()
    };
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service),
                    string_kv("host.name", "web-1"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "e2e.lib".into(),
                    version: "1.2.3".into(),
                    ..Default::default()
                }),
                spans: vec![parent, child],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Finds a tag of a Jaeger JSON span by key.
pub fn tag<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    span["tags"].as_array()?.iter().find(|t| t["key"] == key)
}

/// Fetches `/api/traces/{id}` and returns the trace, if found.
pub async fn fetch_trace(
    client: &reqwest::Client,
    spoor: &Spoor,
    id: TraceId,
) -> Option<serde_json::Value> {
    let resp = client
        .get(format!(
            "{}/api/traces/{}",
            spoor.query_url(),
            id.to_hex32()
        ))
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let body: serde_json::Value = resp.json().await.ok()?;
    Some(body["data"][0].clone())
}

impl Spoor {
    /// The gRPC query endpoint (`jaeger.api_v2`/`api_v3` `QueryService`).
    pub fn query_grpc_url(&self) -> String {
        format!("http://{}", self.addr("query_grpc"))
    }
}

/// Sends a batch over OTLP/HTTP protobuf and asserts it was accepted.
pub async fn send_otlp(client: &reqwest::Client, spoor: &Spoor, data: TracesData) {
    use prost::Message;
    let resp = client
        .post(spoor.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(data.encode_to_vec())
        .send()
        .await
        .expect("otlp post");
    assert_eq!(resp.status(), 200, "otlp export rejected");
}

impl Spoor {
    /// The remote-sampling HTTP endpoint (`/sampling`, `/api/sampling`).
    pub fn sampling_http_url(&self) -> String {
        format!("http://{}", self.addr("sampling_http"))
    }
    /// The remote-sampling gRPC endpoint (`SamplingManager`).
    pub fn sampling_grpc_url(&self) -> String {
        format!("http://{}", self.addr("sampling_grpc"))
    }
}

/// The admin port's `/metrics` text.
pub async fn metrics_text(client: &reqwest::Client, spoor: &Spoor) -> String {
    client
        .get(format!("{}/metrics", spoor.admin_url()))
        .send()
        .await
        .expect("metrics request")
        .text()
        .await
        .expect("metrics text")
}

/// Writes `yaml` to a `spoor.yaml` in a directory kept for the test's life;
/// its path.
pub fn write_config(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("spoor.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

/// The span called `name` in a Jaeger JSON trace; panics naming it when
/// there is none.
pub fn span_named<'a>(trace: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .find(|s| s["operationName"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {trace}"))
}
