//! End-to-end: `send` against the in-process `sink` over every protocol.
//!
//! In: a sink on loopback ports picked by the OS. Out: assertions that every
//! span sent is accepted and decoded, with and without gzip, that retryable
//! answers are retried, that `--ids-out` writes sampled root ids and that a
//! dead endpoint ends the run by itself.

use std::sync::atomic::Ordering::Relaxed;

use spoor_loadgen::encode::Protocol;
use spoor_loadgen::send::{self, SendArgs};
use spoor_loadgen::sink;

fn args(protocol: Protocol, endpoint: String, total: u64) -> SendArgs {
    SendArgs {
        protocol,
        endpoint: Some(endpoint),
        concurrency: 3,
        batch_spans: 97,
        total_spans: Some(total),
        max_duration: 60.0,
        report_every: 0.0,
        seed: Some(5),
        ..SendArgs::default()
    }
}

fn endpoint(protocol: Protocol, s: &sink::Sink) -> String {
    match protocol {
        Protocol::OtlpGrpc | Protocol::JaegerGrpc => format!("http://{}", s.grpc_addr),
        Protocol::OtlpHttp | Protocol::OtlpHttpJson => format!("http://{}/v1/traces", s.http_addr),
        Protocol::ZipkinJson | Protocol::ZipkinProto => {
            format!("http://{}/api/v2/spans", s.http_addr)
        }
        Protocol::JaegerThriftHttp => format!("http://{}/api/traces", s.http_addr),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_delivers_every_span() {
    use clap::ValueEnum as _;
    for &protocol in Protocol::value_variants() {
        for gzip in [false, true] {
            let s = sink::start(
                "127.0.0.1:0".parse().unwrap(),
                "127.0.0.1:0".parse().unwrap(),
                0,
            )
            .await
            .unwrap();
            let mut a = args(protocol, endpoint(protocol, &s), 2_000);
            a.gzip = gzip;
            let summary = send::run(a).await.unwrap();
            assert_eq!(summary.spans_sent, 2_000, "{protocol:?} gzip={gzip}");
            assert_eq!(
                summary.spans_accepted,
                2_000,
                "{protocol:?} gzip={gzip}: {}",
                summary.human()
            );
            assert_eq!(summary.requests_failed, 0);
            assert_eq!(
                s.counters.spans.load(Relaxed),
                2_000,
                "{protocol:?} gzip={gzip}"
            );
            assert_eq!(s.counters.bad.load(Relaxed), 0);
            assert!(summary.latency.count > 0 && summary.latency.p50_ms > 0.0);
            if gzip && !protocol.is_grpc() {
                assert!(summary.bytes_per_span < summary.raw_bytes_per_span);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_answers_are_counted_and_retried() {
    for protocol in [
        Protocol::OtlpGrpc,
        Protocol::OtlpHttp,
        Protocol::JaegerGrpc,
        Protocol::JaegerThriftHttp,
    ] {
        let s = sink::start(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            3,
        )
        .await
        .unwrap();
        let summary = send::run(args(protocol, endpoint(protocol, &s), 3_000))
            .await
            .unwrap();
        assert_eq!(
            summary.spans_accepted,
            3_000,
            "{protocol:?}: {}",
            summary.human()
        );
        assert!(summary.retryable > 0);
        assert_eq!(summary.retryable, s.counters.rejected.load(Relaxed));
        assert_eq!(s.counters.spans.load(Relaxed), 3_000);
        let label = if protocol.is_grpc() {
            "grpc UNAVAILABLE"
        } else {
            "http 503"
        };
        assert!(
            summary.retryable_by_status.contains(label),
            "{}",
            summary.retryable_by_status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_out_samples_root_trace_ids() {
    let s = sink::start(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        0,
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("spoor-loadgen-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ids.txt");
    let mut a = args(Protocol::OtlpGrpc, endpoint(Protocol::OtlpGrpc, &s), 20_000);
    a.ids_out = Some(path.clone());
    a.ids_sample = 10;
    let summary = send::run(a).await.unwrap();
    assert_eq!(summary.spans_accepted, 20_000);
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<&str> = text.lines().collect();
    // 2000 traces, 1 in 10 kept.
    assert!((100..=320).contains(&ids.len()), "{} ids", ids.len());
    assert!(ids
        .iter()
        .all(|id| id.len() == 32 && u128::from_str_radix(id, 16).unwrap() % 10 == 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_ends_the_run() {
    // Bind then drop a listener so the port is (almost surely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut a = args(
        Protocol::OtlpHttp,
        format!("http://127.0.0.1:{port}/v1/traces"),
        1_000,
    );
    a.duration = Some(1.0);
    a.timeout = 1.0;
    let t0 = std::time::Instant::now();
    let summary = send::run(a).await.unwrap();
    assert!(t0.elapsed().as_secs_f64() < 10.0);
    assert_eq!(summary.spans_accepted, 0);
    assert!(summary.retryable > 0 || summary.requests_failed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_cap_paces_sending() {
    let s = sink::start(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        0,
    )
    .await
    .unwrap();
    let mut a = args(Protocol::OtlpHttp, endpoint(Protocol::OtlpHttp, &s), 6_000);
    a.rate = Some(10_000.0);
    a.batch_spans = 500;
    let summary = send::run(a).await.unwrap();
    assert_eq!(summary.spans_accepted, 6_000);
    // The last batch may start at 5500/10000 s; sending all at once takes ~10 ms.
    assert!(summary.seconds >= 0.5, "{} s", summary.seconds);
    assert!(
        summary.spans_per_sec <= 12_000.0,
        "{}",
        summary.spans_per_sec
    );
}
