//! Serving Spoor's own web UI (the `spoor-ui` crate) under the base path.
//!
//! In: requests for paths no API route claimed and the base path. Out: `{base}/static/{path}` → the embedded module or
//! style sheet (404 when there is none); every other path under the base
//! path (`/`, `/search`, `/trace/{id}`, `/trace/{a}...{b}`,
//! `/dependencies`, `/monitor`, …) → the page, so Jaeger UI's deep links
//! and reloads work; `{base}` → redirect to `{base}/`; `/` → redirect to
//! `{base}/` when a base path is set; anything else → 404.

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;

use crate::settings::QueryHttpSettings;
use crate::version::version_json;

struct State {
    base: String,
    page: String,
}

fn page(state: &State) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        state.page.clone(),
    )
        .into_response()
}

async fn serve(state: Arc<State>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path();
    let base = state.base.as_str();
    if !base.is_empty() && (path == "/" || path == base) {
        return Redirect::permanent(&format!("{base}/")).into_response();
    }
    let Some(rest) = path.strip_prefix(base).filter(|r| r.starts_with('/')) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(file) = rest.strip_prefix("/static/") {
        return match spoor_ui::asset(file) {
            Some(asset) => (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(asset.content_type),
                    ),
                    // Revalidated on every load, so an upgraded binary's UI
                    // is never mixed with a cached older module.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                asset.body,
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    page(&state)
}

/// The built-in UI as a fallback router (it claims no routes, so the API
/// routes merged beside it win). The page's `JAEGER_VERSION` is the object
/// the admin `/version` endpoint reports ([`crate::version`]).
pub fn builtin_ui_router(settings: &QueryHttpSettings) -> Router {
    let base = settings.normalized_base_path().to_string();
    let page = spoor_ui::render_index(&base, &version_json());
    let state = Arc::new(State { base, page });
    Router::new().fallback(move |method: Method, uri: Uri| serve(state.clone(), method, uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(router: &Router, path: &str) -> (StatusCode, String, String) {
        use tower::ServiceExt;
        let response = router
            .clone()
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let extra = response
            .headers()
            .get(header::LOCATION)
            .or_else(|| response.headers().get(header::CONTENT_TYPE))
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, extra, String::from_utf8_lossy(&body).into_owned())
    }

    fn router(base: &str) -> Router {
        let settings = QueryHttpSettings {
            base_path: base.to_string(),
            ..QueryHttpSettings::default()
        };
        builtin_ui_router(&settings)
    }

    #[tokio::test]
    async fn jaeger_ui_paths_serve_the_page_under_the_base_path() {
        let app = router("/jaeger/");
        for path in [
            "/jaeger/",
            "/jaeger/search?service=a",
            "/jaeger/trace/abc",
            "/jaeger/trace/abc...def",
            "/jaeger/dependencies",
            "/jaeger/monitor",
        ] {
            let (status, ctype, body) = get(&app, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(ctype, "text/html; charset=utf-8");
            let marker = format!("const JAEGER_VERSION = {};", version_json());
            assert!(body.contains(&marker), "{body}");
            assert!(body.contains(r#"src="/jaeger/static/js/app.js""#));
        }
        assert_eq!(get(&app, "/").await.1, "/jaeger/");
        assert_eq!(get(&app, "/jaeger").await.1, "/jaeger/");
        assert_eq!(get(&app, "/search").await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&app, "/jaegerx/search").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn static_files_are_the_embedded_assets() {
        let app = router("/");
        let (status, ctype, body) = get(&app, "/static/js/app.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ctype, "text/javascript; charset=utf-8");
        assert_eq!(body, spoor_ui::asset("js/app.js").unwrap().body);
        assert_eq!(
            get(&app, "/static/css/base.css").await.1,
            "text/css; charset=utf-8"
        );
        assert_eq!(get(&app, "/static/nope.js").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&app, "/static/../Cargo.toml").await.0,
            StatusCode::NOT_FOUND
        );
        let (status, _, body) = get(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#"<meta name="spoor-base" content="">"#));
    }
}
