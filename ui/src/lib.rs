//! Spoor's small built-in web page, embedded in the binary.
//!
//! In: nothing. Out: [`INDEX_HTML`], a single self-contained page that lists
//! services, searches traces through the Jaeger query API (`/api/services`,
//! `/api/operations`, `/api/traces`) and shows a trace's spans. It is served
//! at the query port's root when no Jaeger UI build is configured; the real
//! Jaeger UI works against the same API.

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");

#[cfg(test)]
mod tests {
    #[test]
    fn page_uses_only_the_query_api() {
        assert!(super::INDEX_HTML.contains("api/services"));
        assert!(super::INDEX_HTML.contains("api/traces"));
        assert!(
            !super::INDEX_HTML.contains("http://"),
            "the page must not load anything from elsewhere"
        );
    }
}
