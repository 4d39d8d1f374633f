//! What the query side reads, whoever holds the data: the [`TraceSource`]
//! trait, implemented by the local [`Store`] (all-in-one and store nodes)
//! and by the query node's fan-out over the store nodes.
//!
//! In: the reads the query APIs make (trace by id, search, catalogue,
//! aggregates, archive). Out: the same answers [`Store`] gives. A source
//! that answers with part of the data (a store node down or lagging) says
//! so through [`note_partial`]; the caller collects the notes of the work it
//! ran on this thread with [`partial_notes`] / [`take_partial_notes`].

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, TracesData};

use crate::aggregates::{BucketAggregates, DependencyLink, SeriesKey};
use crate::error::StorageError;
use crate::query::{Operation, TraceQuery};
use crate::rocks::Store;
use crate::search::{FoundTrace, SearchCursor};

/// Which RED series an aggregates read keeps: those of one of `services`
/// with one of `kinds` (`SpanKind as i32`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesFilter {
    /// Service names.
    pub services: BTreeSet<String>,
    /// Span kinds, as their enum numbers.
    pub kinds: BTreeSet<i32>,
}

impl SeriesFilter {
    /// Whether the series is kept.
    pub fn keeps(&self, key: &SeriesKey) -> bool {
        self.services.contains(&key.service) && self.kinds.contains(&key.kind)
    }
}

/// Every read the query APIs make. Calls block (a remote source waits for
/// its peers), so callers run them off the async threads.
pub trait TraceSource: Send + Sync {
    /// All spans of a trace; `None` when unknown.
    fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError>;
    /// All spans of every trace whose low 64 bits are `low`, as one trace.
    fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, StorageError>;
    /// Whole traces matching the query, newest matching span first, at most
    /// `query.limit`.
    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TracesData>, StorageError>;
    /// One page of a newest-first search after `after`.
    fn find_traces_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError>;
    /// Every service name, sorted.
    fn services(&self) -> Result<Vec<String>, StorageError>;
    /// The operations of a service, optionally of one span kind, sorted.
    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError>;
    /// Dependency links of `[start_ms, end_ms]`, summed per edge, sorted.
    fn dependencies(&self, start_ms: u64, end_ms: u64)
        -> Result<Vec<DependencyLink>, StorageError>;
    /// The aggregate buckets starting in `[start_ms, end_ms]`, oldest first,
    /// with only the series `filter` keeps.
    fn aggregate_buckets(
        &self,
        start_ms: u64,
        end_ms: u64,
        filter: &SeriesFilter,
    ) -> Result<Vec<(u64, BucketAggregates)>, StorageError>;
    /// Copies a trace into the archive; `false` when it is unknown.
    fn archive_trace(&self, id: TraceId) -> Result<bool, StorageError>;
    /// The archived copy of a trace.
    fn get_archived_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError>;
}

impl TraceSource for Store {
    fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        Store::get_trace(self, id)
    }

    fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, StorageError> {
        Store::get_trace_by_low64(self, low)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TracesData>, StorageError> {
        Store::find_traces(self, query)
    }

    fn find_traces_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError> {
        Store::find_traces_page(self, query, after)
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(Store::services(self))
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        Ok(Store::operations(self, service, kind))
    }

    fn dependencies(
        &self,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Store::dependencies(self, start_ms, end_ms)
    }

    fn aggregate_buckets(
        &self,
        start_ms: u64,
        end_ms: u64,
        filter: &SeriesFilter,
    ) -> Result<Vec<(u64, BucketAggregates)>, StorageError> {
        Store::aggregate_buckets(self, start_ms, end_ms, |k| filter.keeps(k))
    }

    fn archive_trace(&self, id: TraceId) -> Result<bool, StorageError> {
        Store::archive_trace(self, id)
    }

    fn get_archived_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        Store::get_archived_trace(self, id)
    }
}

thread_local! {
    static PARTIAL_NOTES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Records that the answer being built on this thread misses data, and why
/// (each distinct note once).
pub fn note_partial(note: String) {
    PARTIAL_NOTES.with(|notes| {
        let mut notes = notes.borrow_mut();
        if !notes.contains(&note) {
            notes.push(note);
        }
    });
}

/// The notes recorded on this thread so far (kept).
pub fn partial_notes() -> Vec<String> {
    PARTIAL_NOTES.with(|notes| notes.borrow().clone())
}

/// The notes recorded on this thread, which are then forgotten. Call it
/// before work (to drop leftovers of a pooled thread) and after it.
pub fn take_partial_notes() -> Vec<String> {
    PARTIAL_NOTES.with(|notes| std::mem::take(&mut *notes.borrow_mut()))
}

/// Serde helper: a map as a list of `(key, value)` pairs, for maps whose
/// keys are not strings (JSON object keys are).
pub(crate) mod map_as_pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<K, V, S>(map: &HashMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_kept_once_and_taken_per_thread() {
        take_partial_notes();
        note_partial("a".into());
        note_partial("a".into());
        note_partial("b".into());
        assert_eq!(partial_notes(), ["a", "b"]);
        std::thread::spawn(|| assert!(partial_notes().is_empty()))
            .join()
            .unwrap();
        assert_eq!(take_partial_notes(), ["a", "b"]);
        assert!(partial_notes().is_empty());
    }

    #[test]
    fn buckets_cross_json_and_back() {
        let mut bucket = BucketAggregates {
            width_ms: 1000,
            ..Default::default()
        };
        let key = SeriesKey {
            service: "a".into(),
            operation: "op".into(),
            kind: 2,
            status: 0,
        };
        bucket
            .series
            .entry(key.clone())
            .or_default()
            .record(1500, true);
        bucket
            .edges
            .entry(("a".into(), "b".into()))
            .or_default()
            .calls = 3;
        let text = serde_json::to_string(&bucket).unwrap();
        let back: BucketAggregates = serde_json::from_str(&text).unwrap();
        assert_eq!(back, bucket);
        let filter = SeriesFilter {
            services: ["a".to_string()].into(),
            kinds: [2].into(),
        };
        assert!(filter.keeps(&key));
        assert!(!filter.keeps(&SeriesKey { kind: 3, ..key }));
    }
}
