//! End-to-end: `scripts/bench-ab.sh` comparing two configurations of the
//! real server.
//!
//! In: the `spoor` binary cargo built for these tests and the load generator
//! built beside it (`cargo test --workspace` builds both), two configuration
//! files that differ in how the write-ahead log is stored, free loopback
//! ports. Out: assertions that the script runs A and B on fresh data dirs
//! and prints, for each run and as means, spans per second, peak RSS and
//! bytes per span of the data dir at the end of the load, read from what it
//! measured (B, whose log is compressed, keeps fewer bytes than A).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::LISTEN_FLAGS;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The load generator cargo built beside the `spoor` binary.
fn loadgen() -> PathBuf {
    let spoor = Path::new(env!("CARGO_BIN_EXE_spoor"));
    let loadgen = spoor.with_file_name("spoor-loadgen");
    assert!(
        loadgen.exists(),
        "no load generator at {} (build it with `cargo build -p spoor-loadgen`, or run `cargo test --workspace`)",
        loadgen.display()
    );
    loadgen
}

/// The three figures of one run's line: "round 1 A (…): R spans/s, peak
/// RSS M MiB, B B/span at the end".
fn run_figures(stdout: &str, run: &str) -> (f64, f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("round 1 {run} (")))
        .unwrap_or_else(|| panic!("no line for run {run} in:\n{stdout}"));
    let figures = line
        .split_once("): ")
        .unwrap_or_else(|| panic!("no figures in {line:?}"))
        .1;
    let numbers: Vec<f64> = figures
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|_| panic!("{s:?} in {line:?}")))
        .collect();
    assert_eq!(numbers.len(), 3, "three figures in {line:?}");
    (numbers[0], numbers[1], numbers[2])
}

#[test]
fn bench_ab_runs_both_configurations_and_prints_rate_memory_and_bytes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let plain = dir.path().join("plain-log.yaml");
    let compressed = dir.path().join("compressed-log.yaml");
    std::fs::write(&plain, "storage:\n  wal_compression_level: 0\n").unwrap();
    std::fs::write(&compressed, "storage:\n  wal_compression_level: 3\n").unwrap();
    let out = dir.path().join("out");

    let (grpc, admin) = (free_port(), free_port());
    // The two listeners the script talks to on known ports, the rest on any.
    let args = LISTEN_FLAGS
        .iter()
        .map(|flag| match *flag {
            "--otlp-grpc-addr" => format!("{flag} 127.0.0.1:{grpc}"),
            "--admin-addr" => format!("{flag} 127.0.0.1:{admin}"),
            _ => format!("{flag} 127.0.0.1:0"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-ab.sh");
    let run = Command::new("bash")
        .arg(&script)
        .arg(&plain)
        .arg(&compressed)
        .env("AB_ROUNDS", "1")
        .env("AB_SECONDS", "3")
        .env("AB_CONCURRENCY", "2")
        .env("AB_BATCH", "200")
        .env(
            "AB_SEND_ARGS",
            format!("--endpoint http://127.0.0.1:{grpc} --rate 5000"),
        )
        .env("AB_SPOOR_ARGS", &args)
        .env("AB_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("AB_SPOOR_BIN", env!("CARGO_BIN_EXE_spoor"))
        .env("AB_LOADGEN_BIN", loadgen())
        .env("AB_OUT", &out)
        .env("SPOOR_LOG_LEVEL", "warn")
        .output()
        .expect("running scripts/bench-ab.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench-ab.sh failed:\n{stdout}\n{stderr}"
    );

    let (a_rate, a_rss, a_bytes) = run_figures(&stdout, "A");
    let (b_rate, b_rss, b_bytes) = run_figures(&stdout, "B");
    for (name, rate, rss, bytes) in [("A", a_rate, a_rss, a_bytes), ("B", b_rate, b_rss, b_bytes)] {
        assert!(rate > 0.0, "run {name} sent spans:\n{stdout}");
        assert!(rss > 0.0, "run {name}'s server memory was read:\n{stdout}");
        assert!(bytes > 0.0, "run {name}'s data dir was read:\n{stdout}");
    }
    // Right after a 3 s load most spans are still only in the write-ahead
    // log, so compressing it shows in the data dir.
    assert!(
        b_bytes < a_bytes,
        "a compressed log keeps fewer bytes per span ({b_bytes} against {a_bytes}):\n{stdout}"
    );
    for summary in ["A mean: ", "B mean: ", "B against A: "] {
        assert!(stdout.contains(summary), "no {summary:?} in:\n{stdout}");
    }
    // Each run's server log and load generator output are kept.
    for file in ["A-1.log", "B-1.log", "A-1.send.txt", "B-1.send.txt"] {
        assert!(out.join(file).exists(), "no {file} in the script's logs");
    }
}
