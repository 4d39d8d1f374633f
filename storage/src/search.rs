//! Search: the traces matching a [`TraceQuery`], newest matching span
//! first, from the in-memory buffer and the blocks on disk, taken best
//! first by the latest start their summaries allow, pruned by those
//! summaries and verified span by span.
//!
//! In: a query (and, for a page, the cursor after which to continue). Out:
//! whole matching traces, at most `query.limit`, in the order (latest
//! matching span start, trace id), both descending.

use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashSet;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{InstrumentationScope, Resource, TracesData};

use crate::block::{name_hash_op, name_hash_service};
use crate::error::StorageError;
use crate::matcher;
use crate::partition::PartitionKey;
use crate::query::TraceQuery;
use crate::rocks::Store;
use crate::summary::BlockMeta;
use crate::summary::SpanSummary;

/// A position in a newest-first search (see [`Store::find_traces_page`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCursor {
    /// Start of the trace's latest span that matches the query, ns.
    pub latest_match_ns: u64,
    /// The trace.
    pub trace_id: TraceId,
}

/// One trace of a search page.
#[derive(Debug, Clone)]
pub struct FoundTrace {
    /// Where the trace stands in the search order; pass the last one of a
    /// page to get the next page.
    pub cursor: SearchCursor,
    /// All its spans.
    pub data: TracesData,
}

/// A verified search hit.
struct Hit {
    latest_match_ns: u64,
    trace_id: TraceId,
    data: TracesData,
}

impl Store {
    /// Whole traces matching the query, newest matching span first, at most
    /// `query.limit`.
    pub fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TracesData>, StorageError> {
        Ok(self
            .search(query, None)?
            .into_iter()
            .map(|h| h.data)
            .collect())
    }

    /// Ids of the traces [`Store::find_traces`] would return.
    pub fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        Ok(self
            .search(query, None)?
            .into_iter()
            .map(|h| h.trace_id)
            .collect())
    }

    /// One page of a search that walks every match, newest first: at most
    /// `query.limit` matching traces that come after `after` in the order
    /// (latest matching span start, trace id), both descending. Pass the
    /// last trace's [`FoundTrace::cursor`] to get the next page; a page
    /// shorter than the limit is the last. Memory stays bounded by the page.
    pub fn find_traces_page(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<FoundTrace>, StorageError> {
        Ok(self
            .search(query, after)?
            .into_iter()
            .map(|h| FoundTrace {
                cursor: SearchCursor {
                    latest_match_ns: h.latest_match_ns,
                    trace_id: h.trace_id,
                },
                data: h.data,
            })
            .collect())
    }

    fn search(
        &self,
        query: &TraceQuery,
        after: Option<SearchCursor>,
    ) -> Result<Vec<Hit>, StorageError> {
        let started = Instant::now();
        let limit = query.limit.max(1);
        let mut hits: Vec<Hit> = Vec::new();
        let mut seen: FxHashSet<TraceId> = FxHashSet::default();
        let prunable: Vec<u64> = query
            .tags
            .iter()
            .filter(|(k, v)| matcher::tag_is_prunable(k, v))
            .map(|(k, v)| matcher::token(k, v))
            .collect();
        // Candidates are pruned by a window ending at the cursor (a trace
        // after it has a matching span no later than it), but verified over
        // the whole window, so a trace of an earlier page is recognised by
        // its latest match and skipped.
        let pruning = match after {
            None => query.clone(),
            Some(c) => TraceQuery {
                start_max_ns: Some(
                    query
                        .start_max_ns
                        .map_or(c.latest_match_ns, |max| max.min(c.latest_match_ns)),
                ),
                ..query.clone()
            },
        };
        let is_after = |hit: &Hit| {
            after.is_none_or(|c| {
                (hit.latest_match_ns, hit.trace_id) < (c.latest_match_ns, c.trace_id)
            })
        };
        // Keeps at most twice the limit of decoded traces in memory.
        let push = |hits: &mut Vec<Hit>, hit: Hit| {
            hits.push(hit);
            if hits.len() >= limit.saturating_mul(2) {
                sort_hits(hits);
                hits.truncate(limit);
            }
        };
        let whole = query;
        let query = &pruning;

        // Best first: blocks (keyed by their latest span start for the
        // name searched) and candidate traces (keyed by the latest start
        // their summaries allow for a matching span, an upper bound of
        // where they sort) are taken highest key first, and the search
        // stops once `limit` hits are in hand and nothing left can sort
        // before the last of them. A trace's latest match lies in one of
        // its pieces, each a candidate bounded by it, so the first piece
        // taken has the highest bound of the trace. Taking a candidate
        // early is only extra work, so when more than
        // `storage.search_max_candidates` wait, the best is verified
        // before the next block is read: memory stays bounded.
        let max_candidates = self.config.search_max_candidates.max(1);
        let mut traces: BinaryHeap<(u64, TraceId)> = BinaryHeap::new();

        // 1. Traces still in memory.
        self.live.for_each(|id, t| {
            let bound = t
                .spans
                .iter()
                .filter(|s| summary_may_match(s, query))
                .map(|s| s.start_ns)
                .max();
            if let Some(bound) = bound {
                if prunable
                    .iter()
                    .all(|tok| t.tokens.binary_search(tok).is_ok())
                {
                    traces.push((bound, id));
                }
            }
        });

        // 2. Blocks on disk, skipped by their summaries.
        let service_hash = query.service.as_deref().map(name_hash_service);
        let op_hash = match (&query.service, &query.operation) {
            (Some(s), Some(o)) => Some(name_hash_op(s, o)),
            _ => None,
        };
        // A block's figures for the name searched (the pair, else the
        // service) bound its matching spans more tightly than the block's.
        let name = op_hash.or(service_hash);
        let extent = |b: &BlockMeta| name.and_then(|h| b.name_extent(h));
        let mut blocks: Vec<(u64, PartitionKey, Arc<BlockMeta>)> = self
            .partitions
            .blocks(|b| {
                let (latest, longest) = extent(b).unwrap_or((b.max_start_ns, u64::MAX));
                !(query.start_min_ns.is_some_and(|min| latest < min)
                    || query.start_max_ns.is_some_and(|max| b.min_start_ns > max)
                    || query.duration_min_ns.is_some_and(|min| longest < min)
                    || service_hash.is_some_and(|h| b.names.binary_search(&h).is_err())
                    || op_hash.is_some_and(|h| b.names.binary_search(&h).is_err()))
            })
            .into_iter()
            .map(|(partition, meta)| {
                let bound = extent(&meta).map_or(meta.max_start_ns, |(latest, _)| latest);
                (bound, partition, meta)
            })
            .collect();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.0));
        let mut blocks = blocks.into_iter().peekable();

        let mut opened = 0u64;
        let mut verified = 0u64;
        loop {
            let block_bound = blocks.peek().map(|b| b.0);
            let trace_bound = traces.peek().map(|t| t.0);
            let Some(top) = block_bound.max(trace_bound) else {
                break;
            };
            if hits.len() >= limit {
                sort_hits(&mut hits);
                hits.truncate(limit);
                if top < hits[limit - 1].latest_match_ns {
                    break;
                }
            }
            // Among equal keys a trace goes first.
            let take_trace = match (trace_bound, block_bound) {
                (Some(t), Some(b)) => t >= b || traces.len() > max_candidates,
                (t, _) => t.is_some(),
            };
            if take_trace {
                let Some((_, id)) = traces.pop() else { break };
                if seen.insert(id) {
                    verified += 1;
                    if let Some(hit) = self.verify(id, whole)?.filter(is_after) {
                        push(&mut hits, hit);
                    }
                }
                continue;
            }
            let Some((_, partition, meta)) = blocks.next() else {
                break;
            };
            // The tag filter last: an older block's is read from disk.
            if !self
                .partitions
                .may_contain_all(&self.db, partition, meta.block, &prunable)?
            {
                continue;
            }
            let read = self.partitions.block_candidates(
                &self.db,
                partition,
                meta.block,
                query,
                |id, bound| {
                    let id = TraceId::from_bytes(id)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                    if !seen.contains(&id) {
                        traces.push((bound, id));
                    }
                    Ok(())
                },
            )?;
            opened += u64::from(read);
        }
        sort_hits(&mut hits);
        hits.truncate(limit);
        metrics::counter!("spoor_storage_search_blocks_read_total").increment(opened);
        metrics::counter!("spoor_storage_search_traces_verified_total").increment(verified);
        metrics::histogram!("spoor_storage_query_duration_seconds", "operation" => "find_traces")
            .record(started.elapsed().as_secs_f64());
        Ok(hits)
    }

    /// Loads a candidate trace and checks the query on each of its spans.
    fn verify(&self, id: TraceId, query: &TraceQuery) -> Result<Option<Hit>, StorageError> {
        let Some(data) = self.get_trace(id)? else {
            return Ok(None);
        };
        let mut latest = None::<u64>;
        let (no_resource, no_scope) = (Resource::default(), InstrumentationScope::default());
        for rs in &data.resource_spans {
            let resource = rs.resource.as_ref().unwrap_or(&no_resource);
            for ss in &rs.scope_spans {
                let scope = ss.scope.as_ref().unwrap_or(&no_scope);
                for span in &ss.spans {
                    if matcher::span_matches(resource, scope, span, query) {
                        latest = Some(latest.map_or(span.start_time_unix_nano, |l| {
                            l.max(span.start_time_unix_nano)
                        }));
                    }
                }
            }
        }
        Ok(latest.map(|latest_match_ns| Hit {
            latest_match_ns,
            trace_id: id,
            data,
        }))
    }
}

/// Newest first: by latest matching span start, then by trace id, both
/// descending (the order [`Store::find_traces_page`] walks).
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by_key(|h| std::cmp::Reverse((h.latest_match_ns, h.trace_id)));
}

fn summary_may_match(s: &SpanSummary, q: &TraceQuery) -> bool {
    q.service.as_ref().is_none_or(|svc| *s.service == **svc)
        && q.operation.as_ref().is_none_or(|op| *s.operation == **op)
        && q.start_min_ns.is_none_or(|min| s.start_ns >= min)
        && q.start_max_ns.is_none_or(|max| s.start_ns <= max)
        && q.duration_min_ns.is_none_or(|min| s.duration_ns >= min)
        && q.duration_max_ns.is_none_or(|max| s.duration_ns <= max)
}
