//! The version Spoor reports: `/version` on the admin port and the
//! `JAEGER_VERSION` marker in UI pages (Kiali reads `gitVersion`).
//!
//! In: the crate version and, when the build records them, the commit and
//! build date (`SPOOR_GIT_COMMIT`, `SPOOR_BUILD_DATE`). Out: Jaeger's
//! version object.

/// The release, as Jaeger spells it (`v` and the crate version).
pub const GIT_VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The git commit the binary was built from, or "unknown".
pub const GIT_COMMIT: &str = match option_env!("SPOOR_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};
/// When the binary was built (RFC 3339 UTC), or "unknown".
pub const BUILD_DATE: &str = match option_env!("SPOOR_BUILD_DATE") {
    Some(date) => date,
    None => "unknown",
};

/// Jaeger's version object: `{"gitCommit", "gitVersion", "buildDate"}`.
pub fn version_json() -> String {
    serde_json::json!({
        "gitCommit": GIT_COMMIT,
        "gitVersion": GIT_VERSION,
        "buildDate": BUILD_DATE,
    })
    .to_string()
}
