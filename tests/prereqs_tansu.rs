//! Tests of `scripts/find-tansu.sh`, the check `install-kafka-tools.sh`
//! uses to decide whether the test broker must be built.
//!
//! In: cargo homes built in temporary directories, each recording some
//! install of tansu (or none). Out: whether the script accepts it: only
//! tansu 0.6.0 built with the `dynostore` feature (a default build has no
//! storage engine), with its binary present.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/find-tansu.sh")
}

/// A cargo home recording `installs` (key, features) and holding a `tansu`
/// binary when `binary` is set.
fn cargo_home(installs: &[(&str, &[&str])], binary: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let installs: serde_json::Map<String, serde_json::Value> = installs
        .iter()
        .map(|(key, features)| {
            (
                key.to_string(),
                serde_json::json!({
                    "version_req": null,
                    "bins": ["tansu"],
                    "features": features,
                    "all_features": false,
                    "no_default_features": false,
                    "profile": "release",
                }),
            )
        })
        .collect();
    std::fs::write(
        dir.path().join(".crates2.json"),
        serde_json::json!({ "installs": installs }).to_string(),
    )
    .unwrap();
    if binary {
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("tansu"), "#!/bin/sh\n").unwrap();
        let status = Command::new("chmod")
            .arg("+x")
            .arg(bin.join("tansu"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    dir
}

/// Runs the script on `home`: the path printed, or the reason refused.
fn find(home: &Path) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(home)
        .output()
        .expect("running find-tansu.sh");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
    } else {
        Err(String::from_utf8(out.stderr).unwrap())
    }
}

const SOURCE: &str = "(registry+local)";

#[test]
fn accepts_the_memory_engine_build() {
    let home = cargo_home(
        &[
            (&format!("ripgrep 14.1.0 {SOURCE}"), &[]),
            (&format!("tansu 0.6.0 {SOURCE}"), &["dynostore"]),
        ],
        true,
    );
    let found = find(home.path()).expect("accepted");
    assert_eq!(found, home.path().join("bin/tansu").display().to_string());
}

#[test]
fn refuses_a_default_build_without_a_storage_engine() {
    let home = cargo_home(&[(&format!("tansu 0.6.0 {SOURCE}"), &[])], true);
    let reason = find(home.path()).expect_err("refused");
    assert!(reason.contains("without the dynostore feature"), "{reason}");
}

#[test]
fn refuses_another_version() {
    let home = cargo_home(&[(&format!("tansu 0.5.9 {SOURCE}"), &["dynostore"])], true);
    let reason = find(home.path()).expect_err("refused");
    assert!(reason.contains("tansu 0.5.9 is installed"), "{reason}");
}

#[test]
fn refuses_a_record_without_its_binary() {
    let home = cargo_home(&[(&format!("tansu 0.6.0 {SOURCE}"), &["dynostore"])], false);
    let reason = find(home.path()).expect_err("refused");
    assert!(reason.contains("is missing"), "{reason}");
}

#[test]
fn refuses_when_nothing_is_installed() {
    let home = cargo_home(&[(&format!("ripgrep 14.1.0 {SOURCE}"), &[])], false);
    assert!(find(home.path())
        .expect_err("refused")
        .contains("not installed"));
    let empty = tempfile::tempdir().unwrap();
    assert!(find(empty.path())
        .expect_err("refused")
        .contains("no cargo install record"));
    std::fs::write(empty.path().join(".crates2.json"), "").unwrap();
    assert!(find(empty.path())
        .expect_err("refused")
        .contains("cannot read"));
}
