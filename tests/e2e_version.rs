//! `/version` on the admin port tells which build is running.
//!
//! In: the real binary, built from this checkout. Out: Jaeger's version
//! object with the commit `git rev-parse HEAD` names (or "unknown" when the
//! tests run outside a git checkout), a release and an RFC 3339 build date.

mod support;

use serde_json::Value as Json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit_and_the_build_date() {
    let spoor = Spoor::start();
    let version: Json = reqwest::get(format!("{}/version", spoor.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let expected = head.unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(version["gitCommit"], expected.as_str(), "{version}");
    assert_eq!(
        version["gitVersion"],
        concat!("v", env!("CARGO_PKG_VERSION")),
        "{version}"
    );
    let date = version["buildDate"].as_str().unwrap();
    assert!(
        date.len() == 20 && date.as_bytes()[4] == b'-' && date.ends_with('Z'),
        "{date}"
    );
}
