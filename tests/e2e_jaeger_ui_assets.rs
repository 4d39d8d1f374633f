//! End to end: a Jaeger UI build served from `query.http.ui_dir` under the
//! base path `/jaeger` (Kiali's in-cluster URL), with the injected
//! configuration, version (Kiali's version probe) and capabilities, SPA
//! routes answered with the page, static assets, and `/api` kept JSON.

mod support;

use support::*;

const INDEX: &str = r#"<!doctype html><html><head><base href="/" data-inject-target="BASE_URL" />
<script>
// JAEGER_CONFIG_JS
// placeholder replaced by a .js configuration
const JAEGER_CONFIG = DEFAULT_CONFIG;
const JAEGER_STORAGE_CAPABILITIES = DEFAULT_STORAGE_CAPABILITIES;
const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;
const JAEGER_VERSION = DEFAULT_VERSION;
</script><script src="./static/main.js"></script></head><body></body></html>"#;

/// The JSON assigned to `const <name> = …;` in a page, as Kiali extracts it.
fn injected(html: &str, name: &str) -> serde_json::Value {
    let marker = format!("const {name} = ");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} missing"))
        + marker.len();
    let end = start + html[start..].find(';').unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

#[tokio::test]
async fn jaeger_ui_build_is_served_under_the_base_path_with_injections() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("static")).unwrap();
    std::fs::write(ui.join("index.html"), INDEX).unwrap();
    std::fs::write(ui.join("static/main.js"), "console.log('ui');").unwrap();
    let ui_config = dir.path().join("ui-config.json");
    std::fs::write(
        &ui_config,
        r#"{"dependencies": {"menuEnabled": true}, "search": {"maxLimit": 1500}}"#,
    )
    .unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        format!(
            "query:\n  http:\n    base_path: /jaeger\n    ui_dir: {}\n    ui_config: {}\n",
            ui.display(),
            ui_config.display()
        ),
    )
    .unwrap();
    let spoor = Spoor::start_with(&["--config", &config.display().to_string()]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = spoor.query_url();

    let resp = http.get(format!("{base}/jaeger")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 308);
    assert_eq!(resp.headers()["location"], "/jaeger/");
    let resp = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 308, "/ leads to the base path");
    assert_eq!(resp.headers()["location"], "/jaeger/");

    let resp = http.get(format!("{base}/jaeger/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<base href=\"/jaeger/\""));
    assert!(
        html.contains("const JAEGER_VERSION = {"),
        "Kiali's version probe needs the const prefix"
    );
    assert!(injected(&html, "JAEGER_VERSION")["gitVersion"]
        .as_str()
        .unwrap()
        .starts_with('v'));
    assert_eq!(injected(&html, "JAEGER_CONFIG")["search"]["maxLimit"], 1500);
    assert_eq!(
        injected(&html, "JAEGER_STORAGE_CAPABILITIES")["archiveStorage"],
        true
    );
    let capabilities = injected(&html, "JAEGER_BACKEND_CAPABILITIES");
    assert_eq!(capabilities["searchWithoutServiceName"], true);
    // The analytics run by default, so the Monitor tab has data.
    assert_eq!(capabilities["metricsStorage"], true);

    // The configuration file is re-read on every page load.
    std::fs::write(&ui_config, r#"{"search": {"maxLimit": 20}}"#).unwrap();
    let html = http
        .get(format!("{base}/jaeger/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(injected(&html, "JAEGER_CONFIG")["search"]["maxLimit"], 20);

    // SPA routes Kiali links to get the page.
    for route in [
        "search?service=reviews.bookinfo&limit=20",
        "trace/463ac35c9f6413ad",
        "trace/a...b?cohort=a&cohort=b",
        "dependencies",
    ] {
        let resp = http
            .get(format!("{base}/jaeger/{route}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{route}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("JAEGER_BACKEND_CAPABILITIES = {"),
            "{route}"
        );
    }

    let resp = http
        .get(format!("{base}/jaeger/static/main.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(resp.text().await.unwrap(), "console.log('ui');");

    // The API moves under the base path and never answers HTML.
    let resp = http
        .get(format!("{base}/jaeger/api/v3/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"services": []})
    );
    let resp = http
        .get(format!("{base}/jaeger/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.json::<serde_json::Value>().await.unwrap()["errors"].is_array());
    for outside in ["/api/services", "/search", "/static/main.js"] {
        let resp = http.get(format!("{base}{outside}")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{outside}");
    }
}
