//! Serving a real Jaeger UI build (`query.http.ui_dir`) under the base path,
//! with the configuration and capability injection the UI expects (spec
//! §2.12).
//!
//! In: requests for paths under the base path that no API route claimed, the
//! UI build directory (read at startup for `index.html`, per request for
//! assets) and the optional UI configuration file (`query.http.ui_config`,
//! `.json` or `.js`, re-read on every page load so edits apply without a
//! restart). Out: static assets with their content type, and for `/`, SPA
//! routes (`/search`, `/trace/{id}`, …) and any missing file, `index.html`
//! rewritten: `JAEGER_CONFIG`, `JAEGER_VERSION` (the `const ` prefix kept,
//! for Kiali's version probe), both `JAEGER_STORAGE_CAPABILITIES` and
//! `JAEGER_BACKEND_CAPABILITIES`, and `<base href="/"` moved under the base
//! path. `{base}` without a slash and `/` redirect to `{base}/`; anything
//! else outside the base path is 404.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;

use crate::settings::QueryHttpSettings;
use crate::version::version_json;

/// Why the UI could not be served.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("cannot read the Jaeger UI's index.html in {dir}: {source}")]
    Index {
        dir: PathBuf,
        source: std::io::Error,
    },
}

struct UiState {
    dir: PathBuf,
    template: String,
    config_file: Option<PathBuf>,
    base: String,
    version_json: String,
    capabilities: Capabilities,
}

/// What the backend offers, as the UI reads it.
#[derive(Debug, Clone, Copy)]
struct Capabilities {
    archive_storage: bool,
    metrics_storage: bool,
    search_without_service_name: bool,
}

/// Replaces `from` once, if present.
fn replace_once(text: &mut String, from: &str, to: &str) {
    if let Some(at) = text.find(from) {
        text.replace_range(at..at + from.len(), to);
    }
}

/// The UI configuration to inject: JSON text for `JAEGER_CONFIG`, or a
/// script defining `UIConfig()` for the `// JAEGER_CONFIG_JS` slot.
enum UiConfig {
    Json(String),
    Script(String),
}

fn read_ui_config(path: &Path) -> Option<UiConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the UI configuration");
            return None;
        }
    };
    if path.extension().is_some_and(|e| e == "js") {
        return Some(UiConfig::Script(text));
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        // Re-serialised compactly: valid JSON, no stray `;`.
        Ok(value) => Some(UiConfig::Json(value.to_string())),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "the UI configuration is not valid JSON");
            None
        }
    }
}

/// Rewrites `index.html` for one page load.
fn render_index(state: &UiState) -> String {
    let mut html = state.template.clone();
    match state.config_file.as_deref().and_then(read_ui_config) {
        Some(UiConfig::Json(json)) => replace_once(
            &mut html,
            "JAEGER_CONFIG = DEFAULT_CONFIG;",
            &format!("JAEGER_CONFIG = {json};"),
        ),
        Some(UiConfig::Script(script)) => {
            if let Some(at) = html.find("// JAEGER_CONFIG_JS") {
                let line_end = html[at..]
                    .find('\n')
                    .map(|i| at + i + 1)
                    .unwrap_or(html.len());
                let next_end = html[line_end..]
                    .find('\n')
                    .map(|i| line_end + i + 1)
                    .unwrap_or(html.len());
                html.replace_range(at..next_end, &format!("{script}\n"));
            }
        }
        None => {}
    }
    replace_once(
        &mut html,
        "JAEGER_VERSION = DEFAULT_VERSION;",
        &format!("JAEGER_VERSION = {};", state.version_json),
    );
    let caps = state.capabilities;
    replace_once(
        &mut html,
        "JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;",
        &format!(
            "JAEGER_STORAGE_CAPABILITIES = {};",
            serde_json::json!({
                "archiveStorage": caps.archive_storage,
                "metricsStorage": caps.metrics_storage,
            })
        ),
    );
    replace_once(
        &mut html,
        "JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;",
        &format!(
            "JAEGER_BACKEND_CAPABILITIES = {};",
            serde_json::json!({
                "archiveStorage": caps.archive_storage,
                "metricsStorage": caps.metrics_storage,
                "searchWithoutServiceName": caps.search_without_service_name,
                "aiAssistant": false,
            })
        ),
    );
    if !state.base.is_empty() {
        replace_once(
            &mut html,
            "<base href=\"/\"",
            &format!("<base href=\"{}/\"", state.base),
        );
    }
    html
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A request path below the UI directory, or `None` when it tries to leave it.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let decoded: String = percent_decode(path)?;
    let relative = Path::new(decoded.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| relative.to_path_buf())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes: Vec<u8> =
        form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

fn index_response(state: &UiState) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            ),
        ],
        render_index(state),
    )
        .into_response()
}

async fn serve(state: Arc<UiState>, uri: Uri) -> Response {
    let path = uri.path();
    let rest = if state.base.is_empty() {
        path
    } else if path == state.base || path == "/" {
        return Redirect::permanent(&format!("{}/", state.base)).into_response();
    } else {
        match path
            .strip_prefix(&state.base)
            .filter(|r| r.starts_with('/'))
        {
            Some(rest) => rest,
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let Some(relative) = safe_relative(rest) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if relative.as_os_str().is_empty() || relative == Path::new("index.html") {
        return index_response(&state);
    }
    let file = state.dir.join(&relative);
    match tokio::fs::read(&file).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(&file)),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            bytes,
        )
            .into_response(),
        // SPA routes (`/search`, `/trace/…`) and anything else: the page.
        Err(_) => index_response(&state),
    }
}

/// Serves the Jaeger UI build in `dir` as a fallback router (it claims no
/// routes, so the API routes merged beside it win). `metrics_storage` says
/// whether `/api/metrics/*` has data (the UI shows its Monitor tab then).
pub fn jaeger_ui_router(
    settings: &QueryHttpSettings,
    dir: &Path,
    metrics_storage: bool,
) -> Result<Router, UiError> {
    let template =
        std::fs::read_to_string(dir.join("index.html")).map_err(|source| UiError::Index {
            dir: dir.to_path_buf(),
            source,
        })?;
    let state = Arc::new(UiState {
        dir: dir.to_path_buf(),
        template,
        config_file: settings.ui_config.clone(),
        base: settings.normalized_base_path().to_string(),
        version_json: version_json(),
        capabilities: Capabilities {
            archive_storage: true,
            metrics_storage,
            search_without_service_name: true,
        },
    });
    Ok(Router::new().fallback(move |uri: Uri| serve(state.clone(), uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"<html><head><base href="/" data-inject-target="BASE_URL"/>
<script>
// JAEGER_CONFIG_JS
// the line after is replaced as well
const JAEGER_CONFIG = DEFAULT_CONFIG;
const JAEGER_VERSION = DEFAULT_VERSION;
const JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;
const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;
</script></head></html>"#;

    fn state(base: &str, config_file: Option<PathBuf>) -> UiState {
        UiState {
            dir: PathBuf::new(),
            template: TEMPLATE.to_string(),
            config_file,
            base: base.to_string(),
            version_json: version_json(),
            capabilities: Capabilities {
                archive_storage: true,
                metrics_storage: false,
                search_without_service_name: true,
            },
        }
    }

    /// The JSON assigned to `const <name> = …;` in the page.
    fn injected(html: &str, name: &str) -> serde_json::Value {
        let start = html.find(&format!("const {name} = ")).unwrap() + name.len() + 9;
        let end = start + html[start..].find(";\n").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    #[test]
    fn index_gets_version_both_capability_names_and_the_base_href() {
        let html = render_index(&state("/jaeger", None));
        assert_eq!(
            injected(&html, "JAEGER_VERSION")["gitVersion"],
            concat!("v", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            injected(&html, "JAEGER_STORAGE_CAPABILITIES"),
            serde_json::json!({"archiveStorage": true, "metricsStorage": false})
        );
        assert_eq!(
            injected(&html, "JAEGER_BACKEND_CAPABILITIES"),
            serde_json::json!({"archiveStorage": true, "metricsStorage": false,
                "searchWithoutServiceName": true, "aiAssistant": false})
        );
        assert!(html.contains("<base href=\"/jaeger/\""));
        assert!(html.contains("const JAEGER_CONFIG = DEFAULT_CONFIG;"));
        assert!(render_index(&state("", None)).contains("<base href=\"/\""));
    }

    #[test]
    fn json_and_script_configurations_are_injected() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("ui.json");
        std::fs::write(&json, "{ \"dependencies\": {\"menuEnabled\": false} }").unwrap();
        let html = render_index(&state("", Some(json)));
        assert!(html.contains("const JAEGER_CONFIG = {\"dependencies\":{\"menuEnabled\":false}};"));
        let js = dir.path().join("ui.js");
        std::fs::write(&js, "function UIConfig() { return {}; }").unwrap();
        let html = render_index(&state("", Some(js)));
        assert!(html.contains("function UIConfig() { return {}; }\nconst JAEGER_CONFIG"));
        assert!(!html.contains("the line after"));
    }

    #[test]
    fn paths_cannot_leave_the_ui_directory() {
        assert_eq!(
            safe_relative("/static/a.js"),
            Some(PathBuf::from("static/a.js"))
        );
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/static/%2e%2e/%2e%2e/x"), None);
        assert_eq!(
            content_type(Path::new("a/b.css")),
            "text/css; charset=utf-8"
        );
    }
}
