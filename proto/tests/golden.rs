//! Golden tests of the format translations.
//!
//! In: `tests/golden/<translation>/<case>.input.json`, a request body in the
//! translation's input format. Out: the decoded canonical model rendered with
//! `otlp_json::encode_traces` (pretty JSON), or `{"error": "<message>"}` when
//! decoding fails, compared with `<case>.expected.json`.
//!
//! A missing expected file is written on the first run (review it before
//! committing); `UPDATE_GOLDEN=1` rewrites all of them.

use std::fs;
use std::path::{Path, PathBuf};

use spoor_proto::{model, otlp_json, zipkin_v2};

type Decoder = fn(&[u8]) -> Result<model::TracesData, String>;

fn decoder(translation: &str) -> Decoder {
    match translation {
        "otlp_json" => |body| otlp_json::decode_traces(body).map_err(|e| e.to_string()),
        "zipkin_v2" => |body| zipkin_v2::decode_json(body, false).map_err(|e| e.to_string()),
        "zipkin_v2_strict" => |body| zipkin_v2::decode_json(body, true).map_err(|e| e.to_string()),
        other => panic!("no decoder for golden directory {other:?}; add it to `decoder`"),
    }
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
    for input in cases(translation) {
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
        if update || !expected_path.exists() {
            fs::write(&expected_path, &pretty)
                .unwrap_or_else(|e| panic!("cannot write {translation}/{name}: {e}"));
            eprintln!("wrote golden file {translation}/{name}.expected.json");
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
