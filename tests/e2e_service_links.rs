//! End to end: the variables Kubernetes injects into every pod of a
//! namespace with Services named `spoor` and `spoor-query`
//! (`SPOOR_SERVICE_HOST`, `SPOOR_PORT_16686_TCP_ADDR`, ...) do not stop the
//! binary, and are not mistaken for settings; an unknown `SPOOR_*` name that
//! is no service link gets a warning naming it, and the process still starts.
//! Unknown keys in the config file stay errors.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::LISTEN_FLAGS;

/// What Kubernetes sets for a Service `spoor` (ports 16686 and 9411) and a
/// Service `spoor-query` (port 16685), as docker-style links plus the
/// `*_SERVICE_*` pair and named ports.
fn service_links() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SPOOR_SERVICE_HOST", "10.96.0.10"),
        ("SPOOR_SERVICE_PORT", "16686"),
        ("SPOOR_SERVICE_PORT_HTTP_QUERY", "16686"),
        ("SPOOR_SERVICE_PORT_HTTP_ZIPKIN", "9411"),
        ("SPOOR_PORT", "tcp://10.96.0.10:16686"),
        ("SPOOR_PORT_16686_TCP", "tcp://10.96.0.10:16686"),
        ("SPOOR_PORT_16686_TCP_PROTO", "tcp"),
        ("SPOOR_PORT_16686_TCP_PORT", "16686"),
        ("SPOOR_PORT_16686_TCP_ADDR", "10.96.0.10"),
        ("SPOOR_PORT_9411_TCP", "tcp://10.96.0.10:9411"),
        ("SPOOR_PORT_9411_TCP_ADDR", "10.96.0.10"),
        ("SPOOR_QUERY_SERVICE_HOST", "10.96.0.11"),
        ("SPOOR_QUERY_SERVICE_PORT", "16685"),
        ("SPOOR_QUERY_PORT", "tcp://10.96.0.11:16685"),
        ("SPOOR_QUERY_PORT_16685_TCP", "tcp://10.96.0.11:16685"),
        ("SPOOR_QUERY_PORT_16685_TCP_PROTO", "tcp"),
        ("SPOOR_QUERY_PORT_16685_TCP_PORT", "16685"),
        ("SPOOR_QUERY_PORT_16685_TCP_ADDR", "10.96.0.11"),
    ]
}

fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn kubernetes_service_link_variables_do_not_stop_spoor() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoor"));
    cmd.arg("--data-dir").arg(dir.path().join("data"));
    for flag in LISTEN_FLAGS {
        cmd.arg(flag).arg("127.0.0.1:0");
    }
    cmd.envs(service_links())
        .env("SPOOR_DATADIR", "/typo")
        .env("SPOOR_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn spoor");
    let (tx, rx) = mpsc::channel();
    let out_tx = tx.clone();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send(line);
        }
    });
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("spoor: listening on ") {
                    break rest.to_string();
                }
                lines.push(line);
            }
            Err(_) => {
                let _ = child.kill();
                panic!("spoor did not start; output: {lines:?}");
            }
        }
    };
    let admin = listening
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("admin="))
        .expect("admin address")
        .to_string();
    let mut healthy = false;
    for _ in 0..200 {
        if http_status(&admin, "/") == Some(200) {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy, "spoor never became healthy");
    let warning = lines
        .iter()
        .find(|l| l.contains("unknown environment variable"))
        .unwrap_or_else(|| panic!("no warning in {lines:?}"));
    assert!(warning.contains("SPOOR_DATADIR"), "{warning}");
    for (name, _) in service_links() {
        assert!(!warning.contains(name), "{name} in {warning}");
    }
}

#[test]
fn service_links_are_not_read_as_settings_and_file_keys_stay_strict() {
    let dir = tempfile::tempdir().unwrap();
    let run = |config: &str| {
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, config).unwrap();
        Command::new(env!("CARGO_BIN_EXE_spoor"))
            .arg("--config")
            .arg(&file)
            .arg("print-config")
            .envs(service_links())
            .output()
            .expect("run spoor")
    };
    let out = run("query:\n  http:\n    base_path: /jaeger\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    // SPOOR_PORT and friends change no listener.
    assert_eq!(printed["listen"]["query_http"], "0.0.0.0:16686");
    assert_eq!(printed["listen"]["query_grpc"], "0.0.0.0:16685");
    assert_eq!(printed["query"]["http"]["base_path"], "/jaeger");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run("storage:\n  retension: 1h\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retension"));
}
