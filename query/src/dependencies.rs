//! Dependency links for the Jaeger (`/api/dependencies`) and Zipkin
//! (`/api/v2/dependencies`) APIs, read from the store's persisted analytics.
//!
//! In: the window (`endTs` and `lookback`, ms) and the store. Out: links
//! summed per (parent, child) over the window in each API's JSON shape:
//! Jaeger `{"parent","child","callCount"}` (optionally only the links of one
//! service; with Spoor's `errors=true` extension also `errorCount`), Zipkin `{"parent","child","callCount","errorCount"}` with
//! `errorCount` left out when 0. Callers run these off async threads.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use spoor_storage::{DependencyLink, StorageError, TraceSource};

/// Jaeger's default look-back of `/api/dependencies` (24 h).
pub const DEFAULT_LOOKBACK_MS: u64 = 86_400_000;

/// One link as Jaeger's `/api/dependencies` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JaegerLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
    /// Only with `errors=true` (a Spoor extension Jaeger clients never send).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u64>,
}

/// One link as Zipkin's `/api/v2/dependencies` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub error_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The links of `[end − lookback, end]` (ms; `end` defaults to now,
/// `lookback` to `default_lookback_ms`; negative values count as 0).
pub fn links_in_window(
    store: &dyn TraceSource,
    end_ms: Option<i64>,
    lookback_ms: Option<i64>,
    default_lookback_ms: u64,
) -> Result<Vec<DependencyLink>, StorageError> {
    let end = end_ms.map_or_else(now_ms, |e| e.max(0) as u64);
    let lookback = lookback_ms.map_or(default_lookback_ms, |l| l.max(0) as u64);
    store.dependencies(end.saturating_sub(lookback), end)
}

/// Jaeger's links; with `service`, only those where it is parent or child.
pub fn jaeger_links(links: Vec<DependencyLink>, service: Option<&str>) -> Vec<JaegerLink> {
    jaeger_links_with(links, service, false)
}

/// Jaeger's links, with `errorCount` on each when `with_errors` (Spoor's
/// `errors=true`; the built-in UI shows error rates on the service map).
pub fn jaeger_links_with(
    links: Vec<DependencyLink>,
    service: Option<&str>,
    with_errors: bool,
) -> Vec<JaegerLink> {
    links
        .into_iter()
        .filter(|l| service.is_none_or(|s| l.parent == s || l.child == s))
        .map(|l| JaegerLink {
            parent: l.parent,
            child: l.child,
            call_count: l.call_count,
            error_count: with_errors.then_some(l.error_count),
        })
        .collect()
}

/// Zipkin's links.
pub fn zipkin_links(links: Vec<DependencyLink>) -> Vec<ZipkinLink> {
    links
        .into_iter()
        .map(|l| ZipkinLink {
            parent: l.parent,
            child: l.child,
            call_count: l.call_count,
            error_count: l.error_count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(parent: &str, child: &str, calls: u64, errors: u64) -> DependencyLink {
        DependencyLink {
            parent: parent.into(),
            child: child.into(),
            call_count: calls,
            error_count: errors,
        }
    }

    #[test]
    fn jaeger_links_filter_by_service_and_zipkin_links_omit_zero_errors() {
        let links = vec![link("a", "b", 2, 0), link("b", "c", 3, 1)];
        let only_c = jaeger_links(links.clone(), Some("c"));
        assert_eq!(
            serde_json::to_string(&only_c).unwrap(),
            r#"[{"parent":"b","child":"c","callCount":3}]"#
        );
        assert_eq!(
            serde_json::to_string(&jaeger_links_with(links.clone(), Some("a"), true)).unwrap(),
            r#"[{"parent":"a","child":"b","callCount":2,"errorCount":0}]"#
        );
        assert_eq!(
            serde_json::to_string(&zipkin_links(links)).unwrap(),
            r#"[{"parent":"a","child":"b","callCount":2},{"parent":"b","child":"c","callCount":3,"errorCount":1}]"#
        );
    }
}
