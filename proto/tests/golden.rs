//! Golden tests of the format translations.
//!
//! In: `tests/golden/<translation>/<case>.input.json`, a request body in the
//! translation's input format. Out: the decoded canonical model rendered with
//! `otlp_json::encode_traces` (pretty JSON), or `{"error": "<message>"}` when
//! decoding fails, compared with `<case>.expected.json`.
//!
//! A missing expected file fails the test; `UPDATE_GOLDEN=1` writes missing
//! ones and rewrites the others (review them before committing). A
//! translation directory without any case fails too.
//!
//! The Jaeger inputs are binary on the wire; their `.input.json` spells a
//! `jaeger.api_v2.Batch` readably (hex ids, µs times, typed tags, see
//! `jaeger_batch_from_json`), which the driver encodes as the client would
//! (protobuf `PostSpansRequest`, or a Thrift `Batch` in the binary protocol)
//! before decoding it with the real decoder.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use serde_json::Value as Json;
use spoor_proto::jaeger::api_v2 as jaeger;
use spoor_proto::{jaeger_proto, jaeger_thrift, model, otlp_json, zipkin_v1, zipkin_v2};

type Decoder = fn(&[u8]) -> Result<model::TracesData, String>;

fn decoder(translation: &str) -> Decoder {
    match translation {
        "otlp_json" => |body| otlp_json::decode_traces(body).map_err(|e| e.to_string()),
        "zipkin_v2" => |body| zipkin_v2::decode_json(body, false).map_err(|e| e.to_string()),
        "zipkin_v2_strict" => |body| zipkin_v2::decode_json(body, true).map_err(|e| e.to_string()),
        "zipkin_v1" => |body| zipkin_v1::decode_json(body).map_err(|e| e.to_string()),
        "jaeger_proto" => |body| {
            let request = jaeger::PostSpansRequest {
                batch: Some(jaeger_batch_from_json(body)),
            };
            jaeger_proto::decode_post_spans(&request.encode_to_vec()).map_err(|e| e.to_string())
        },
        "jaeger_thrift" => |body| {
            let bytes = jaeger_thrift::encode_batch(
                &jaeger_batch_from_json(body),
                spoor_proto::thrift::Protocol::Binary,
            );
            jaeger_thrift::decode_http_body(&bytes).map_err(|e| e.to_string())
        },
        other => panic!("no decoder for golden directory {other:?}; add it to `decoder`"),
    }
}

/// Reads the readable JSON spelling of a Jaeger batch: `{"process":
/// {"serviceName", "tags"}, "spans": [{"traceId", "spanId" (hex),
/// "operationName", "flags", "references": [{"traceId", "spanId",
/// "refType"}], "startTimeMicros", "durationMicros", "tags", "logs":
/// [{"timestampMicros", "fields"}], "process"}]}`; a tag is `{"key",
/// "vType" (STRING, BOOL, INT64, FLOAT64, BINARY), "vStr" | "vBool" |
/// "vInt64" | "vFloat64" | "vBinaryHex"}`.
fn jaeger_batch_from_json(body: &[u8]) -> jaeger::Batch {
    let v: Json = serde_json::from_slice(body).expect("golden Jaeger input is JSON");
    jaeger::Batch {
        process: v.get("process").map(process_from_json),
        spans: v["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| jaeger::Span {
                trace_id: hex_bytes(&s["traceId"]),
                span_id: hex_bytes(&s["spanId"]),
                operation_name: s["operationName"].as_str().unwrap_or_default().into(),
                references: s["references"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| jaeger::SpanRef {
                        trace_id: hex_bytes(&r["traceId"]),
                        span_id: hex_bytes(&r["spanId"]),
                        ref_type: if r["refType"] == "FOLLOWS_FROM" { 1 } else { 0 },
                    })
                    .collect(),
                flags: s["flags"].as_u64().unwrap_or(0) as u32,
                start_time: s["startTimeMicros"].as_i64().map(timestamp),
                duration: s["durationMicros"].as_i64().map(|d| prost_types::Duration {
                    seconds: d / 1_000_000,
                    nanos: (d % 1_000_000 * 1000) as i32,
                }),
                tags: tags_from_json(&s["tags"]),
                logs: s["logs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| jaeger::Log {
                        timestamp: l["timestampMicros"].as_i64().map(timestamp),
                        fields: tags_from_json(&l["fields"]),
                    })
                    .collect(),
                process: s.get("process").map(process_from_json),
                ..Default::default()
            })
            .collect(),
    }
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros / 1_000_000,
        nanos: (micros % 1_000_000 * 1000) as i32,
    }
}

fn hex_bytes(v: &Json) -> Bytes {
    Bytes::from(hex::decode(v.as_str().unwrap_or_default()).expect("hex id"))
}

fn process_from_json(v: &Json) -> jaeger::Process {
    jaeger::Process {
        service_name: v["serviceName"].as_str().unwrap_or_default().into(),
        tags: tags_from_json(&v["tags"]),
    }
}

fn tags_from_json(v: &Json) -> Vec<jaeger::KeyValue> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let v_type = match t["vType"].as_str().unwrap_or("STRING") {
                "BOOL" => jaeger::ValueType::Bool,
                "INT64" => jaeger::ValueType::Int64,
                "FLOAT64" => jaeger::ValueType::Float64,
                "BINARY" => jaeger::ValueType::Binary,
                _ => jaeger::ValueType::String,
            };
            jaeger::KeyValue {
                key: t["key"].as_str().unwrap_or_default().into(),
                v_type: v_type as i32,
                v_str: t["vStr"].as_str().unwrap_or_default().into(),
                v_bool: t["vBool"].as_bool().unwrap_or(false),
                v_int64: t["vInt64"].as_i64().unwrap_or(0),
                v_float64: t["vFloat64"].as_f64().unwrap_or(0.0),
                v_binary: hex_bytes(&t["vBinaryHex"]),
            }
        })
        .collect()
}

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// The `<case>.input.json` files of a translation, sorted.
fn cases(translation: &str) -> Vec<PathBuf> {
    let dir = golden_root().join(translation);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list golden directory {translation}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".input.json"))
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "golden directory {translation} has no cases"
    );
    inputs
}

fn render(result: Result<model::TracesData, String>) -> serde_json::Value {
    match result {
        Ok(data) => otlp_json::encode_traces(&data),
        Err(message) => serde_json::json!({ "error": message }),
    }
}

fn run(translation: &str) {
    let decode = decoder(translation);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let inputs = cases(translation);
    assert!(
        !inputs.is_empty(),
        "golden directory {translation} holds no *.input.json case"
    );
    for input in inputs {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".input.json")
            .to_owned();
        let expected_path = input.with_file_name(format!("{name}.expected.json"));
        let body =
            fs::read(&input).unwrap_or_else(|e| panic!("cannot read {translation}/{name}: {e}"));
        let actual = render(decode(&body));
        let pretty = serde_json::to_string_pretty(&actual).expect("JSON") + "\n";
        if update {
            fs::write(&expected_path, &pretty)
                .unwrap_or_else(|e| panic!("cannot write {translation}/{name}: {e}"));
            eprintln!("wrote golden file {translation}/{name}.expected.json");
            continue;
        }
        if !expected_path.exists() {
            failures.push(format!(
                "{translation}/{name}: {name}.expected.json is missing (UPDATE_GOLDEN=1 writes it)"
            ));
            continue;
        }
        let expected_text = fs::read_to_string(&expected_path).expect("expected file");
        let expected: serde_json::Value = serde_json::from_str(&expected_text)
            .unwrap_or_else(|e| panic!("{translation}/{name}.expected.json is not JSON: {e}"));
        if expected != actual {
            failures.push(format!("{translation}/{name}: decoded output differs\n--- expected\n{expected_text}--- actual\n{pretty}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed (UPDATE_GOLDEN=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_golden_directory_has_a_decoder() {
    for entry in fs::read_dir(golden_root()).expect("golden directory") {
        let entry = entry.expect("directory entry");
        if entry.path().is_dir() {
            decoder(&entry.file_name().to_string_lossy());
        }
    }
}

#[test]
fn otlp_json_golden_cases() {
    run("otlp_json");
}

#[test]
fn zipkin_v2_golden_cases() {
    run("zipkin_v2");
}

#[test]
fn zipkin_v2_strict_golden_cases() {
    run("zipkin_v2_strict");
}

#[test]
fn zipkin_v1_golden_cases() {
    run("zipkin_v1");
}

#[test]
fn jaeger_proto_golden_cases() {
    run("jaeger_proto");
}

#[test]
fn jaeger_thrift_golden_cases() {
    run("jaeger_thrift");
}
