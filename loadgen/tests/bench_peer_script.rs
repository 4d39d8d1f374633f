//! End-to-end: `scripts/bench-peer.sh` measuring a real receiver.
//!
//! In: the load generator's own binary, as the script's generator and, with
//! its `sink` subcommand, as the peer it measures (a process started by the
//! script from `BENCH_PEER_CMD`, on a free loopback port). Out: assertions
//! that the script starts the peer, waits for it, sends the whole load to
//! its OTLP/HTTP path, stops it, and prints every figure of its summary
//! from what it measured.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const SPANS: u64 = 20_000;

/// A fresh directory for the script's logs, removed when dropped.
struct OutDir(std::path::PathBuf);

impl OutDir {
    fn new() -> OutDir {
        let dir = std::env::temp_dir().join(format!(
            "spoor-bench-peer-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        OutDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The number after `label` in `text` (e.g. "SUSTAINED ingest (…): 1234 spans/s").
fn number_after(text: &str, label: &str) -> f64 {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in:\n{text}"))
}

#[test]
fn bench_peer_measures_a_receiver_and_prints_every_figure() {
    let loadgen = env!("CARGO_BIN_EXE_spoor-loadgen");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-peer.sh");
    let out = OutDir::new();
    let peer = format!(
        "'{loadgen}' sink --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:\"$PORT\" --duration 300"
    );
    let run = Command::new("bash")
        .arg(&script)
        .env("BENCH_PEER_NAME", "sink")
        .env("BENCH_PEER_CMD", &peer)
        .env("BENCH_PEER_PORT", free_port().to_string())
        .env("BENCH_PEER_READY_PATH", "/")
        .env("BENCH_PEER_INGEST_PATH", "/v1/traces")
        .env("BENCH_LOADGEN_BIN", loadgen)
        .env("BENCH_SUSTAINED_SPANS", SPANS.to_string())
        .env("BENCH_SUSTAINED_CONCURRENCY", "2")
        .env("BENCH_SUSTAINED_IDLE_SECONDS", "1")
        .env("BENCH_QUERY_MAX_LOAD_SECONDS", "120")
        .env("BENCH_OUT", out.path())
        .output()
        .expect("running scripts/bench-peer.sh");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench-peer.sh failed:\n{stderr}");

    let summary = std::fs::read_to_string(out.path().join("peer-summary.txt"))
        .expect("the script writes its summary");
    assert!(
        summary.starts_with("== sink under the loadgen's sustained load"),
        "{summary}"
    );
    assert!(
        summary.contains("--endpoint http://127.0.0.1:") && summary.contains("/v1/traces"),
        "the command sent to the peer's OTLP/HTTP path:\n{summary}"
    );
    assert_eq!(
        number_after(&summary, "SUSTAINED ingest ("),
        SPANS as f64,
        "every span accepted by the peer:\n{summary}"
    );
    assert!(number_after(&summary, "spans):") > 0.0, "{summary}");
    assert!(summary.contains("; 0 failed"), "{summary}");
    assert!(
        number_after(&summary, "server peak RSS (VmHWM):") > 0.0,
        "the peer's memory was sampled:\n{summary}"
    );
    for figure in [
        "10 s series (spans/s):",
        "server CPU per span:",
        "disk per span, end of load:",
        "disk per span, 1s idle:",
        "RSS idle:",
    ] {
        assert!(summary.contains(figure), "no {figure:?} in:\n{summary}");
    }
    // The per-second samples of the peer process the figures came from.
    let samples = std::fs::read_to_string(out.path().join("peer-samples.txt"))
        .expect("the script samples the peer");
    assert!(samples.lines().count() >= 2, "{samples}");
}
