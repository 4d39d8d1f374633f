//! The README's walk-through, run as written against the real binary.
//!
//! In: every ```sh block of the README's "Walk-through" section, with
//! `localhost:PORT` (Spoor's standard ports) pointed at the test server's
//! free ports, run by bash with curl (`--fail-with-body`, so a refused
//! request fails the block). Out: the answers the walk-through promises —
//! the span accepted, `checkout` among the services, the trace found by the
//! tag search and read back by id — plus a refused query answered with
//! Jaeger's error envelope rather than an empty 400.

mod support;

use std::process::Command;

use serde_json::Value as Json;
use support::*;

const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

/// The shell blocks of the README section headed `## Walk-through`.
fn walkthrough_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Walk-through")
        .expect("the README has a Walk-through section");
    let section = &readme[start + 1..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed code block");
        blocks.push(body[..close + 1].to_owned());
        rest = &body[close + 4..];
    }
    blocks
}

/// `block` with Spoor's standard ports on localhost pointed at `spoor`.
fn retarget(block: &str, spoor: &Spoor) -> String {
    let mut text = block.to_owned();
    for (port, name) in [
        (4317, "otlp_grpc"),
        (4318, "otlp_http"),
        (9411, "zipkin"),
        (16686, "query_http"),
        (16685, "query_grpc"),
        (14269, "admin"),
        (14268, "jaeger_thrift_http"),
        (14250, "jaeger_grpc"),
    ] {
        text = text.replace(&format!("localhost:{port}"), &spoor.addr(name).to_string());
    }
    text
}

/// Runs one block; every curl answer, in order, as JSON.
fn run_block(block: &str) -> Vec<Json> {
    let script = format!(
        "set -euo pipefail\ncurl() {{ command curl --fail-with-body \"$@\"; echo; }}\n{block}"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash and curl are installed (scripts/install-prereqs.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README block failed ({}):\n{block}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Json>()
        .map(|v| v.unwrap_or_else(|e| panic!("an answer is not JSON ({e}): {stdout}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_works_as_written() {
    let spoor = Spoor::start();
    let blocks = walkthrough_blocks();
    assert_eq!(blocks.len(), 2, "the walk-through sends, then queries");
    let sent = run_block(&retarget(&blocks[0], &spoor));
    assert_eq!(sent.len(), 1, "one answer to the one POST: {sent:?}");

    // The span is searchable once the write path acknowledged it; the
    // second block is run until its answers hold it (bounded).
    let query = retarget(&blocks[1], &spoor);
    let answers = eventually(30, || {
        let query = query.clone();
        async move {
            let answers = tokio::task::spawn_blocking(move || run_block(&query))
                .await
                .unwrap();
            let found = answers.len() == 3
                && answers[1]["data"]
                    .as_array()
                    .is_some_and(|traces| traces.iter().any(|t| t["traceID"] == TRACE_ID));
            found.then_some(answers)
        }
    })
    .await;
    assert!(
        answers[0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "checkout"),
        "services: {}",
        answers[0]
    );
    assert_eq!(answers[1]["errors"], Json::Null, "{}", answers[1]);
    assert_eq!(answers[2]["data"][0]["traceID"], TRACE_ID);
    let span = &answers[2]["data"][0]["spans"][0];
    assert_eq!(span["operationName"], "GET /cart");
    assert_eq!(
        tag(span, "http.response.status_code").unwrap()["value"],
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_json_in_a_query_string_is_read_and_a_refused_one_gets_an_envelope() {
    let spoor = Spoor::start();
    let base = format!("{}/api/traces", spoor.query_url());
    // Raw quotes and braces, as curl -g and Go scripts send them.
    let run = |url: String| {
        let out = Command::new("curl")
            .args(["-s", "-g", "-w", "\n%{http_code}", &url])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').expect("status line");
        (code.to_owned(), body.to_owned())
    };
    let (code, body) = run(format!(
        "{base}?service=checkout&tags={{\"http.response.status_code\":\"200\"}}&lookback=1h"
    ));
    assert_eq!(code, "200", "{body}");
    let json: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(json["data"], serde_json::json!([]));

    // Broken JSON in `tags`: refused with Jaeger's envelope and a message.
    let (code, body) = run(format!(
        "{base}?service=checkout&tags={{\"http.response.status_code\":}}&lookback=1h"
    ));
    assert_eq!(code, "400", "{body}");
    let json: Json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("a refused query gets a JSON envelope ({e}): {body:?}"));
    assert_eq!(json["errors"][0]["code"], 400, "{json}");
    assert!(
        json["errors"][0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("tags")),
        "{json}"
    );
}
