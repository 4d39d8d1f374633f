//! The version Spoor reports: `/version` on the admin port and the
//! `JAEGER_VERSION` marker in UI pages (Kiali reads `gitVersion`).
//!
//! In: the crate version and the commit and build date recorded by
//! `build.rs`. Out: Jaeger's version object.

/// The release, as Jaeger spells it (`v` and the crate version).
pub const GIT_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The git commit the binary was built from, or "unknown".
pub const GIT_COMMIT: &str = env!("SPOOR_GIT_COMMIT");
/// When the binary was built (RFC 3339 UTC), or "unknown".
pub const BUILD_DATE: &str = env!("SPOOR_BUILD_DATE");

/// Jaeger's version object: `{"gitCommit", "gitVersion", "buildDate"}`.
pub fn version_json() -> String {
    serde_json::json!({
        "gitCommit": GIT_COMMIT,
        "gitVersion": GIT_VERSION,
        "buildDate": BUILD_DATE,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_a_commit_and_a_date() {
        let v: serde_json::Value = serde_json::from_str(&version_json()).unwrap();
        assert_eq!(v["gitVersion"], GIT_VERSION);
        let commit = v["gitCommit"].as_str().unwrap();
        assert!(
            commit == "unknown"
                || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{commit}"
        );
        let date = v["buildDate"].as_str().unwrap();
        assert!(
            date == "unknown" || (date.len() == 20 && date.ends_with('Z')),
            "{date}"
        );
    }
}
