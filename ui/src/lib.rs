//! Spoor's own web UI, embedded in the binary.
//!
//! In: nothing at run time; the files under `web/` are compiled in with
//! `include_str!`. Out: [`INDEX_HTML`] (the page shell, with the
//! `__SPOOR_BASE__` and `__SPOOR_VERSION__` slots [`render_index`] fills),
//! and [`ASSETS`], the JavaScript modules and style sheets served under
//! `{base}/static/`. The UI is plain ES modules with no build step: what is
//! in `web/` is exactly what the browser runs. It reads only the public
//! query APIs (Jaeger HTTP v1 and the SPM API).

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path below `static/`, e.g. `js/app.js`.
    pub path: &'static str,
    pub body: &'static str,
    pub content_type: &'static str,
}

/// The page shell served for every UI route.
pub const INDEX_HTML: &str = include_str!("../web/index.html");

/// The content type of a `.js` or `.css` file.
const fn content_type(path: &str) -> &'static str {
    let b = path.as_bytes();
    if b.len() > 3 && b[b.len() - 3] == b'.' && b[b.len() - 2] == b'j' && b[b.len() - 1] == b's' {
        "text/javascript; charset=utf-8"
    } else {
        "text/css; charset=utf-8"
    }
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            body: include_str!(concat!("../web/", $path)),
            content_type: content_type($path),
        }),*]
    };
}

/// Every script and style sheet of the UI.
pub const ASSETS: &[Asset] = assets!(
    "css/base.css",
    "css/trace.css",
    "css/views.css",
    "js/app.js",
    "js/charts/line.js",
    "js/core/api.js",
    "js/core/colors.js",
    "js/core/dom.js",
    "js/core/format.js",
    "js/core/route.js",
    "js/core/theme.js",
    "js/graph/focus.js",
    "js/graph/layout.js",
    "js/search/form.js",
    "js/search/logfmt.js",
    "js/search/results.js",
    "js/search/scatter.js",
    "js/search/summary.js",
    "js/trace/critical.js",
    "js/trace/detail.js",
    "js/trace/find.js",
    "js/trace/header.js",
    "js/trace/minimap.js",
    "js/trace/model.js",
    "js/trace/waterfall.js",
    "js/views/compare.js",
    "js/views/dependencies.js",
    "js/views/monitor.js",
    "js/views/search.js",
    "js/views/trace.js",
);

/// The embedded file at `path` (below `static/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Escapes text for an HTML attribute value.
fn escape_attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page for base path `base` ("" at the root, otherwise `/x` without a
/// trailing slash) carrying `version_json` as `const JAEGER_VERSION` (the
/// marker Kiali's version probe reads).
pub fn render_index(base: &str, version_json: &str) -> String {
    // `</` cannot end the script early: JSON never needs a raw `<`.
    let version = version_json.replace('<', "\\u003c");
    INDEX_HTML
        .replace("__SPOOR_BASE__", &escape_attr(base))
        .replace("__SPOOR_VERSION__", &version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_files(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                web_files(&entry.path(), &format!("{name}/"), out);
            } else if name != "index.html" {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_file_under_web_is_embedded() {
        let mut files = Vec::new();
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        web_files(&web, "", &mut files);
        files.sort();
        let listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(
            files, listed,
            "ASSETS must list every file under web/, sorted"
        );
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            asset("js/app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset("css/base.css").unwrap().content_type,
            "text/css; charset=utf-8"
        );
        assert!(asset("nope.js").is_none());
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_reads_only_public_apis() {
        for text in std::iter::once(INDEX_HTML).chain(ASSETS.iter().map(|a| a.body)) {
            // The SVG namespace is a name, not something loaded.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        let api = asset("js/core/api.js").unwrap().body;
        assert!(api.contains("api/services") && api.contains("api/traces"));
    }

    #[test]
    fn index_gets_base_and_version_marker() {
        let html = render_index("/jaeger", r#"{"gitVersion":"v1.2.3</script>"}"#);
        assert!(html.contains(r#"<meta name="spoor-base" content="/jaeger">"#));
        assert!(html.contains(r#"href="/jaeger/static/css/base.css""#));
        assert!(html.contains(r#"src="/jaeger/static/js/app.js""#));
        assert!(html.contains(r#"const JAEGER_VERSION = {"gitVersion":"v1.2.3\u003c/script>"};"#));
        assert!(!html.contains("__SPOOR"));
        let root = render_index("", "{}");
        assert!(root.contains(r#"src="/static/js/app.js""#));
        assert!(render_index("/a\"b", "{}").contains("content=\"/a&quot;b\""));
    }
}
