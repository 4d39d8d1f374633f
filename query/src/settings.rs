//! Settings of the Jaeger HTTP query API: one serde section of Spoor's
//! configuration tree.
//!
//! In: deserialised configuration (unknown keys rejected, every key
//! optional). Out: [`QueryHttpSettings`], its validation, and the derived
//! values the router and handlers use (normalised base path, search
//! defaults, adjuster options).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::adjust::AdjustOptions;
use crate::params::SearchDefaults;

/// Settings of the Jaeger v1 HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryHttpSettings {
    /// URL prefix every route moves under (`/jaeger` → `/jaeger/api/traces`).
    /// Must start with `/`; one trailing slash is ignored.
    pub base_path: String,
    /// Traces a search returns when the request's `limit` is absent or ≤ 0.
    pub default_search_limit: usize,
    /// Upper bound on a search's `limit` (Kiali offers up to 10000).
    pub max_search_limit: usize,
    /// How far back a search without `start` looks.
    #[serde(with = "humantime_serde")]
    pub default_search_lookback: Duration,
    /// Largest clock-skew correction applied to displayed spans; 0 (Jaeger's
    /// default) only reports the corrections it would make.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew_adjustment: Duration,
    /// Most spans of one trace a query returns (the earliest-starting ones,
    /// with a warning on the trace when it cuts); 0 = no cap.
    pub max_spans_per_trace: usize,
    /// A directory holding a Jaeger UI build (with `index.html`), served
    /// under the base path instead of Spoor's built-in page.
    pub ui_dir: Option<PathBuf>,
    /// The Jaeger UI configuration injected into the page: a `.json` file
    /// (`JAEGER_CONFIG`) or a `.js` file defining `UIConfig()`; re-read on
    /// every page load.
    pub ui_config: Option<PathBuf>,
    /// Longest request line (or header line) in which raw `"`, `<`, `>`,
    /// `` ` `` or spaces of a query string are percent-encoded for the
    /// client (Jaeger's server takes them raw); a longer line is passed on
    /// as sent, and refused if it holds them.
    pub max_request_line_bytes: usize,
}

impl Default for QueryHttpSettings {
    fn default() -> Self {
        QueryHttpSettings {
            base_path: "/".to_string(),
            default_search_limit: 100,
            max_search_limit: 10_000,
            default_search_lookback: Duration::from_secs(48 * 3600),
            max_clock_skew_adjustment: Duration::ZERO,
            max_spans_per_trace: 0,
            ui_dir: None,
            ui_config: None,
            max_request_line_bytes: 64 * 1024,
        }
    }
}

impl QueryHttpSettings {
    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let base = &self.base_path;
        if !base.starts_with('/') {
            problems.push(format!(
                "query.http.base_path must start with '/', got {base:?}"
            ));
        } else if base.contains("//") {
            problems.push(format!(
                "query.http.base_path must not contain '//', got {base:?}"
            ));
        } else {
            if base.split('/').any(|s| s == "." || s == "..") {
                problems.push(format!(
                    "query.http.base_path must not contain '.' or '..' segments, got {base:?}"
                ));
            }
            if base.contains(['{', '}', '*', '?', '#', '%']) {
                problems.push(format!(
                    "query.http.base_path must not contain any of {{ }} * ? # %, got {base:?}"
                ));
            }
        }
        if self.default_search_limit == 0 {
            problems.push("query.http.default_search_limit must be greater than 0".to_string());
        }
        if self.max_search_limit < self.default_search_limit {
            problems.push(
                "query.http.max_search_limit must not be below query.http.default_search_limit"
                    .to_string(),
            );
        }
        if !(1024..=(16 << 20)).contains(&self.max_request_line_bytes) {
            problems.push(format!(
                "query.http.max_request_line_bytes must be from 1024 to 16777216, got {}",
                self.max_request_line_bytes
            ));
        }
        if self.default_search_lookback.is_zero() {
            problems.push("query.http.default_search_lookback must be greater than 0".to_string());
        }
        if let Some(dir) = &self.ui_dir {
            if !dir.join("index.html").is_file() {
                problems.push(format!(
                    "query.http.ui_dir must be a directory holding a Jaeger UI build (index.html), got {}",
                    dir.display()
                ));
            }
        }
        if let Some(file) = &self.ui_config {
            if self.ui_dir.is_none() {
                problems.push("query.http.ui_config needs query.http.ui_dir".to_string());
            }
            if !file.extension().is_some_and(|e| e == "json" || e == "js") {
                problems.push(format!(
                    "query.http.ui_config must be a .json or .js file, got {}",
                    file.display()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The base path without its trailing slash; "" for the root.
    pub fn normalized_base_path(&self) -> &str {
        self.base_path.trim_end_matches('/')
    }

    /// Search defaults for parameter parsing.
    pub fn search_defaults(&self) -> SearchDefaults {
        SearchDefaults {
            default_limit: self.default_search_limit.max(1),
            max_limit: self.max_search_limit.max(1),
            lookback: self.default_search_lookback,
        }
    }

    /// Options of the query-time adjusters.
    pub fn adjust_options(&self) -> AdjustOptions {
        AdjustOptions {
            max_clock_skew_adjust_ns: u64::try_from(self.max_clock_skew_adjustment.as_nanos())
                .unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let s = QueryHttpSettings::default();
        assert_eq!(s.base_path, "/");
        assert_eq!(s.default_search_limit, 100);
        assert_eq!(s.max_search_limit, 10_000);
        assert_eq!(s.default_search_lookback, Duration::from_secs(172_800));
        assert_eq!(s.max_clock_skew_adjustment, Duration::ZERO);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn every_key_is_optional_and_durations_are_human_readable() {
        let s: QueryHttpSettings =
            serde_json::from_str(r#"{"base_path":"/jaeger","default_search_lookback":"2h"}"#)
                .unwrap();
        assert_eq!(s.base_path, "/jaeger");
        assert_eq!(s.default_search_lookback, Duration::from_secs(7200));
        assert_eq!(s.max_search_limit, 10_000);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<QueryHttpSettings>(r#"{"basepath":"/x"}"#).is_err());
    }

    #[test]
    fn base_path_is_normalised_and_validated() {
        let with = |p: &str| QueryHttpSettings {
            base_path: p.to_string(),
            ..Default::default()
        };
        assert_eq!(with("/").normalized_base_path(), "");
        assert_eq!(with("/jaeger/").normalized_base_path(), "/jaeger");
        assert_eq!(with("/jaeger").validate(), Ok(()));
        assert_eq!(with("/jaeger/").validate(), Ok(()));
        assert_eq!(with("/a/b").validate(), Ok(()));
        assert!(with("jaeger").validate().is_err());
        assert!(with("//").validate().is_err());
        assert!(with("/a//b").validate().is_err());
        assert!(with("/a/../b").validate().is_err());
        assert!(with("/./b").validate().is_err());
        assert!(with("/{x}").validate().is_err());
    }

    #[test]
    fn limits_and_lookback_are_validated_together() {
        let s = QueryHttpSettings {
            default_search_limit: 0,
            max_search_limit: 0,
            default_search_lookback: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().len(), 2);
        let s = QueryHttpSettings {
            default_search_limit: 200,
            max_search_limit: 100,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().len(), 1);
    }
}
