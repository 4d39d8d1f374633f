//! Settings of a query node's fan-out over the store nodes (`cluster.query`
//! in Spoor's configuration tree).
//!
//! In: deserialised configuration (unknown keys rejected, every key but
//! `stores` optional). Out: [`ClusterQuerySettings`] and its validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a query node reaches the store nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterQuerySettings {
    /// Base URLs of the store nodes' internal API (`http://host:port`; plain
    /// HTTP only).
    pub stores: Vec<String>,
    /// How long one store has to answer one request before the answer goes
    /// out without it (marked partial).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A partition whose store is more records behind the log than this
    /// makes answers partial.
    pub max_lag_records: u64,
    /// How long a store's partition report is reused before it is asked
    /// again.
    #[serde(with = "humantime_serde")]
    pub report_ttl: Duration,
}

impl Default for ClusterQuerySettings {
    fn default() -> Self {
        ClusterQuerySettings {
            stores: Vec::new(),
            timeout: Duration::from_secs(2),
            max_lag_records: 1000,
            report_ttl: Duration::from_secs(2),
        }
    }
}

impl ClusterQuerySettings {
    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.stores.is_empty() {
            problems.push("cluster.query.stores must list at least one store node URL".into());
        }
        for (i, url) in self.stores.iter().enumerate() {
            // The internal API is plain HTTP (Spoor's client has no TLS).
            match url.strip_prefix("http://") {
                None => problems.push(format!(
                    "cluster.query.stores[{i}] must start with http://, got {url:?}"
                )),
                Some(rest) if rest.is_empty() || rest.starts_with('/') => problems.push(format!(
                    "cluster.query.stores[{i}] has no host, got {url:?}"
                )),
                Some(_) => {}
            }
            if self.stores[..i].contains(url) {
                problems.push(format!("cluster.query.stores lists {url:?} twice"));
            }
        }
        if self.timeout.is_zero() {
            problems.push("cluster.query.timeout must be more than 0".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_keys_are_refused() {
        let s: ClusterQuerySettings =
            serde_yaml::from_str("stores: [\"http://127.0.0.1:1\"]").unwrap();
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.max_lag_records, 1000);
        assert_eq!(s.report_ttl, Duration::from_secs(2));
        assert!(s.validate().is_ok());
        let err = serde_yaml::from_str::<ClusterQuerySettings>("storez: []").unwrap_err();
        assert!(err.to_string().contains("storez"), "{err}");
        let s: ClusterQuerySettings = serde_yaml::from_str("timeout: 150ms").unwrap();
        assert_eq!(s.timeout, Duration::from_millis(150));
    }

    #[test]
    fn every_problem_is_named() {
        let s = ClusterQuerySettings {
            stores: vec![
                "https://127.0.0.1:9000".into(),
                "http://".into(),
                "http://a:1".into(),
                "http://a:1".into(),
            ],
            timeout: Duration::ZERO,
            ..Default::default()
        };
        let problems = s.validate().unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("stores[0] must start with http://"));
        assert!(problems[1].contains("stores[1] has no host"));
        assert!(problems[2].contains("twice"));
        assert!(problems[3].contains("timeout"));
        let empty = ClusterQuerySettings::default().validate().unwrap_err();
        assert!(empty[0].contains("at least one store"));
    }
}
