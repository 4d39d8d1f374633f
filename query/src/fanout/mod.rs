//! A query node's [`TraceSource`]: every read fanned out to the store
//! nodes' internal APIs ([`crate::internal_api`]) and the answers merged.
//!
//! In: reads from the query APIs (on a blocking thread of the tokio
//! runtime; calls run concurrently with `Handle::block_on`), the store
//! nodes' base URLs and their partition reports (cached for
//! `report_ttl`). Out: one answer as a single store would give it
//! ([`merge`]). Trace by id and archive ask only the stores that hold or
//! consume the trace's log partition (all of them when no report says);
//! everything else asks every store; a search hit is completed by id from
//! the owners of its partition that did not return it. A store that fails
//! or times out, or whose report shows a partition more than
//! `max_lag_records` behind, leaves the answer partial: it goes out with
//! what the others gave and a note (`spoor_storage::source::note_partial`)
//! naming the store and the partitions that may be incomplete. Only when
//! no asked store answers is the read an error.

pub mod client;
pub mod merge;
mod settings;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use futures::future::{join, join_all};
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, TracesData};
use spoor_storage::aggregates::BucketAggregates;
use spoor_storage::routing::log_partition;
use spoor_storage::source::note_partial;
use spoor_storage::{
    DependencyLink, FoundTrace, Operation, SearchCursor, SeriesFilter, StorageError, TraceQuery,
    TraceSource,
};
use tokio::runtime::Handle;

use crate::internal_api::PartitionReport;
use client::{CallError, StoreClient};
pub use settings::ClusterQuerySettings;

/// One store node and its last partition report.
struct Node {
    client: StoreClient,
    report: Mutex<CachedReport>,
}

/// A node's last partition report and when it was last asked for one.
#[derive(Default)]
struct CachedReport {
    asked: Option<Instant>,
    report: Option<PartitionReport>,
}

/// The fan-out over the store nodes (see the module documentation). Its
/// reads must run on a blocking thread of a tokio runtime
/// (`spawn_blocking`, as the query crate does): they wait with
/// `Handle::block_on`, which panics on an async worker thread.
pub struct FanOut {
    nodes: Vec<Node>,
    settings: ClusterQuerySettings,
}

/// Which partitions a read cares about, for the partial-answer notes.
#[derive(Clone, Copy)]
enum Scope {
    /// One trace's partition.
    Partition(u32),
    /// All data.
    All,
}

impl FanOut {
    /// A fan-out over `settings.stores`; the caller validates the settings
    /// first ([`ClusterQuerySettings::validate`]).
    pub fn new(settings: ClusterQuerySettings) -> Result<FanOut, StorageError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| StorageError::Config(format!("cannot build the HTTP client: {e}")))?;
        let nodes = settings
            .stores
            .iter()
            .map(|base| Node {
                client: StoreClient::new(base, http.clone()),
                report: Mutex::new(CachedReport::default()),
            })
            .collect();
        Ok(FanOut { nodes, settings })
    }

    /// Asks the nodes whose report was last asked for `report_ttl` ago or
    /// more (or never) for a new one, concurrently; a node that does not
    /// answer keeps its last report and is not asked again within the TTL.
    async fn refresh_reports(&self) {
        let ttl = self.settings.report_ttl;
        let stale: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let cached = self.nodes[i].report.lock().expect("report lock");
                cached.asked.is_none_or(|at| at.elapsed() >= ttl)
            })
            .collect();
        let fresh = join_all(stale.iter().map(|&i| self.nodes[i].client.report())).await;
        for (i, answer) in stale.into_iter().zip(fresh) {
            let mut cached = self.nodes[i].report.lock().expect("report lock");
            cached.asked = Some(Instant::now());
            match answer {
                Ok(report) => cached.report = Some(report),
                Err(error) => tracing::debug!(
                    store = self.nodes[i].client.base(),
                    %error,
                    "no partition report"
                ),
            }
        }
    }

    /// The reports refreshed when stale (see [`FanOut::refresh_reports`]).
    fn reports(&self) -> Vec<Option<PartitionReport>> {
        Handle::current().block_on(self.refresh_reports());
        self.cached_reports()
    }

    /// The last report of every node; `None` for a node that never gave one.
    fn cached_reports(&self) -> Vec<Option<PartitionReport>> {
        self.nodes
            .iter()
            .map(|n| n.report.lock().expect("report lock").report.clone())
            .collect()
    }

    /// The nodes that hold or consume a trace's partition, and the
    /// partition (all nodes when no report names the partition).
    fn owners(&self, id: TraceId, reports: &[Option<PartitionReport>]) -> (Vec<usize>, Scope) {
        let count = reports
            .iter()
            .flatten()
            .map(|r| r.partition_count)
            .max()
            .unwrap_or(0);
        if count == 0 {
            return ((0..self.nodes.len()).collect(), Scope::All);
        }
        let p = log_partition(id, count);
        let owners: Vec<usize> = reports
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.as_ref()
                    .is_some_and(|r| r.held.contains(&p) || r.assigned.contains(&p))
            })
            .map(|(i, _)| i)
            .collect();
        if owners.is_empty() {
            ((0..self.nodes.len()).collect(), Scope::Partition(p))
        } else {
            (owners, Scope::Partition(p))
        }
    }

    /// Asks the `targets` concurrently (refreshing stale reports at the
    /// same time); notes every failure and every lagging partition in
    /// `scope`; the answers of the nodes that gave one (with their index).
    /// An error when none did.
    fn ask<T, F, Fut>(
        &self,
        targets: &[usize],
        scope: Scope,
        call: F,
    ) -> Result<Vec<(usize, T)>, StorageError>
    where
        F: Fn(StoreClient) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let calls = join_all(targets.iter().map(|&i| call(self.nodes[i].client.clone())));
        let ((), answers) = Handle::current().block_on(join(self.refresh_reports(), calls));
        let reports = self.cached_reports();
        let mut ok = Vec::with_capacity(targets.len());
        let mut failures = Vec::new();
        for (&i, answer) in targets.iter().zip(answers) {
            match answer {
                Ok(value) => {
                    self.note_lag(i, reports[i].as_ref(), scope);
                    ok.push((i, value));
                }
                Err(error) => {
                    let note = self.failure_note(i, scope, &reports, &error);
                    failures.push(note.clone());
                    note_partial(note);
                }
            }
        }
        if ok.is_empty() && !targets.is_empty() {
            return Err(StorageError::Unavailable(failures.join("; ")));
        }
        Ok(ok)
    }

    /// Completes search hits by id from the owners of their partition that
    /// answered the search without returning them (their fragment did not
    /// match), all at once; a failure leaves the hit as it is, noted.
    fn complete(
        &self,
        hits: &mut [FoundTrace],
        answered: &BTreeSet<usize>,
        returned: &[(usize, BTreeSet<TraceId>)],
    ) {
        let reports = self.cached_reports();
        let mut asks: Vec<(usize, usize, Scope)> = Vec::new();
        for (h, hit) in hits.iter().enumerate() {
            let id = hit.cursor.trace_id;
            let (owners, scope) = self.owners(id, &reports);
            for i in owners {
                let gave = returned.iter().any(|(j, ids)| *j == i && ids.contains(&id));
                if answered.contains(&i) && !gave {
                    asks.push((h, i, scope));
                }
            }
        }
        if asks.is_empty() {
            return;
        }
        let calls = asks.iter().map(|&(h, i, _)| {
            let client = self.nodes[i].client.clone();
            let id = hits[h].cursor.trace_id;
            async move { client.get_trace(id).await }
        });
        let answers = Handle::current().block_on(join_all(calls));
        let mut parts: Vec<Vec<TracesData>> = vec![Vec::new(); hits.len()];
        for ((h, i, scope), answer) in asks.into_iter().zip(answers) {
            match answer {
                Ok(fragment) => parts[h].extend(fragment),
                Err(error) => note_partial(self.failure_note(i, scope, &reports, &error)),
            }
        }
        for (hit, more) in hits.iter_mut().zip(parts) {
            if !more.is_empty() {
                let data = std::mem::take(&mut hit.data);
                hit.data =
                    merge::merge_fragments(std::iter::once(data).chain(more)).unwrap_or_default();
            }
        }
    }

    /// The note for a node that did not answer.
    fn failure_note(
        &self,
        i: usize,
        scope: Scope,
        reports: &[Option<PartitionReport>],
        error: &str,
    ) -> String {
        let partitions = match (scope, &reports[i]) {
            (Scope::Partition(p), _) => format!("partition {p} may be incomplete"),
            (Scope::All, Some(r)) => {
                let all: BTreeSet<u32> = r.held.iter().chain(&r.assigned).copied().collect();
                let list: Vec<String> = all.iter().map(u32::to_string).collect();
                format!("partitions {} may be incomplete", list.join(","))
            }
            (Scope::All, None) => "its partitions may be incomplete".to_string(),
        };
        format!(
            "store {} did not answer ({partitions}): {error}",
            self.nodes[i].client.base()
        )
    }

    fn note_lag(&self, i: usize, report: Option<&PartitionReport>, scope: Scope) {
        let Some(report) = report else { return };
        for lag in &report.lagging {
            let relevant = match scope {
                Scope::Partition(p) => lag.partition == p,
                Scope::All => true,
            };
            if relevant && lag.records_behind > self.settings.max_lag_records {
                note_partial(format!(
                    "store {} is {} records behind on partition {} (partition {} may be incomplete)",
                    self.nodes[i].client.base(),
                    lag.records_behind,
                    lag.partition,
                    lag.partition
                ));
            }
        }
    }

    fn everyone(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }

    /// Asks every node and returns the answers only.
    fn ask_all<T, F, Fut>(&self, call: F) -> Result<Vec<T>, StorageError>
    where
        F: Fn(StoreClient) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let answers = self.ask(&self.everyone(), Scope::All, call)?;
        Ok(answers.into_iter().map(|(_, v)| v).collect())
    }

    /// A search page over every node, merged; traces whose partition's
    /// owners did not all return them are completed by id from those.
    fn search(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError> {
        let answers = self.ask(&self.everyone(), Scope::All, |c| async move {
            c.find_page(query, after).await
        })?;
        let answered: BTreeSet<usize> = answers.iter().map(|(i, _)| *i).collect();
        let returned: Vec<(usize, BTreeSet<TraceId>)> = answers
            .iter()
            .map(|(i, found)| (*i, found.iter().map(|f| f.cursor.trace_id).collect()))
            .collect();
        let mut merged = merge::merge_found(answers.into_iter().map(|(_, v)| v), query.limit);
        self.complete(&mut merged, &answered, &returned);
        Ok(merged)
    }
}

impl TraceSource for FanOut {
    fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        let reports = self.reports();
        let (owners, scope) = self.owners(id, &reports);
        let parts = self.ask(&owners, scope, |c| async move { c.get_trace(id).await })?;
        Ok(merge::merge_fragments(
            parts.into_iter().filter_map(|(_, d)| d),
        ))
    }

    fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, StorageError> {
        let parts = self.ask_all(|c| async move { c.get_trace_by_low64(low).await })?;
        Ok(merge::merge_fragments(parts.into_iter().flatten()))
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TracesData>, StorageError> {
        Ok(self
            .search(query, None)?
            .into_iter()
            .map(|f| f.data)
            .collect())
    }

    fn find_traces_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError> {
        self.search(query, after)
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        Ok(merge::union_sorted(
            self.ask_all(|c| async move { c.services().await })?,
        ))
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        Ok(merge::union_sorted(self.ask_all(|c| async move {
            c.operations(service, kind).await
        })?))
    }

    fn dependencies(
        &self,
        start_ms: u64,
        end_ms: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(merge::sum_links(self.ask_all(|c| async move {
            c.dependencies(start_ms, end_ms).await
        })?))
    }

    fn aggregate_buckets(
        &self,
        start_ms: u64,
        end_ms: u64,
        filter: &SeriesFilter,
    ) -> Result<Vec<(u64, BucketAggregates)>, StorageError> {
        Ok(merge::merge_buckets(self.ask_all(|c| async move {
            c.aggregate_buckets(start_ms, end_ms, filter).await
        })?))
    }

    fn archive_trace(&self, id: TraceId) -> Result<bool, StorageError> {
        let reports = self.reports();
        let (owners, scope) = self.owners(id, &reports);
        let answers = self.ask(&owners, scope, |c| async move { c.archive(id).await })?;
        Ok(answers.into_iter().any(|(_, archived)| archived))
    }

    fn get_archived_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        let parts = self.ask_all(|c| async move { c.archived(id).await })?;
        Ok(merge::merge_fragments(parts.into_iter().flatten()))
    }
}
