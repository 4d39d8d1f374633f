//! One way to turn a search request into a store query, shared by the api_v3
//! HTTP endpoints and both gRPC services.
//!
//! In: [`SearchRequest`] — the fields every Jaeger search API carries, still
//! in the caller's signed units (timestamps before 1970, such as gRPC's
//! year-1 "unset", are allowed). Out: a [`TraceQuery`] with Jaeger's rules
//! applied: a bound at or before the epoch is no bound, a search depth ≤ 0
//! is the default, the depth is capped, a minimum duration ≤ 0 constrains
//! nothing.

use spoor_storage::TraceQuery;

use crate::params::SearchDefaults;

/// A search as the APIs express it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SearchRequest {
    pub(crate) service: Option<String>,
    pub(crate) operation: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    /// ns since the epoch; ≤ 0 or `None` is unbounded.
    pub(crate) start_min_ns: Option<i128>,
    /// ns since the epoch; ≤ 0 or `None` is unbounded.
    pub(crate) start_max_ns: Option<i128>,
    pub(crate) duration_min_ns: Option<i128>,
    pub(crate) duration_max_ns: Option<i128>,
    /// Traces wanted; ≤ 0 means the default.
    pub(crate) depth: i64,
}

fn bound(ns: Option<i128>) -> Option<u64> {
    ns.filter(|n| *n > 0)
        .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
}

impl SearchRequest {
    /// The store query; empty service and operation names mean "any".
    pub(crate) fn into_query(self, defaults: SearchDefaults) -> TraceQuery {
        let limit = match usize::try_from(self.depth) {
            Ok(n) if n > 0 => n.min(defaults.max_limit.max(1)),
            _ => defaults.default_limit,
        };
        TraceQuery {
            service: self.service.filter(|s| !s.is_empty()),
            operation: self.operation.filter(|s| !s.is_empty()),
            tags: self.tags,
            start_min_ns: bound(self.start_min_ns),
            start_max_ns: bound(self.start_max_ns),
            duration_min_ns: bound(self.duration_min_ns),
            duration_max_ns: self
                .duration_max_ns
                .filter(|n| *n != 0)
                .map(|n| u64::try_from(n.max(0)).unwrap_or(u64::MAX)),
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DEFAULTS: SearchDefaults = SearchDefaults {
        default_limit: 100,
        max_limit: 1500,
        lookback: Duration::from_secs(3600),
    };

    #[test]
    fn depth_zero_or_negative_is_the_default_and_large_depths_are_capped() {
        let query = |depth| {
            SearchRequest {
                depth,
                ..Default::default()
            }
            .into_query(DEFAULTS)
            .limit
        };
        assert_eq!(query(0), 100);
        assert_eq!(query(-5), 100);
        assert_eq!(query(20), 20);
        assert_eq!(query(10_000), 1500);
    }

    #[test]
    fn year_one_and_epoch_bounds_are_unbounded() {
        let q = SearchRequest {
            start_min_ns: Some(-62_135_596_800 * 1_000_000_000),
            start_max_ns: Some(0),
            duration_min_ns: Some(0),
            duration_max_ns: Some(0),
            service: Some(String::new()),
            ..Default::default()
        }
        .into_query(DEFAULTS);
        assert_eq!(q.start_min_ns, None);
        assert_eq!(q.start_max_ns, None);
        assert_eq!(q.duration_min_ns, None);
        assert_eq!(q.duration_max_ns, None);
        assert_eq!(q.service, None);
        let q = SearchRequest {
            start_min_ns: Some(5),
            duration_max_ns: Some(7),
            ..Default::default()
        }
        .into_query(DEFAULTS);
        assert_eq!(q.start_min_ns, Some(5));
        assert_eq!(q.duration_max_ns, Some(7));
    }
}
