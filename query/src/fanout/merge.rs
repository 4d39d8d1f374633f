//! Merging the answers of several store nodes into one.
//!
//! In: the per-store answers of one read. Out: one answer as a single
//! store would give it: a trace's fragments joined with replayed duplicate
//! spans dropped, search hits merged per trace in the store's order (latest
//! matching span start, trace id, both descending) and cut to the limit,
//! catalogues unioned and sorted, dependency edges and aggregate series
//! summed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use spoor_storage::aggregates::BucketAggregates;
use spoor_storage::{DependencyLink, FoundTrace};

/// Drops every span that repeats an earlier one: the same trace id, span
/// id and start time with identical content, resource and scope (a replay
/// of the log can store a span twice, on two nodes). Groups left empty go.
pub fn dedupe_spans(data: &mut TracesData) {
    let mut seen: HashSet<(Vec<u8>, Vec<u8>, Vec<u8>)> = HashSet::new();
    for rs in &mut data.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(Message::encode_to_vec)
            .unwrap_or_default();
        for ss in &mut rs.scope_spans {
            let scope = ss
                .scope
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default();
            // The encoding holds the trace id, span id and start time.
            ss.spans.retain(|span| {
                seen.insert((resource.clone(), scope.clone(), span.encode_to_vec()))
            });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
}

/// Joins the fragments of one trace; `None` when no fragment has a span.
pub fn merge_fragments(parts: impl IntoIterator<Item = TracesData>) -> Option<TracesData> {
    let mut merged = TracesData::default();
    for part in parts {
        merged.resource_spans.extend(part.resource_spans);
    }
    dedupe_spans(&mut merged);
    (merged.span_count() > 0).then_some(merged)
}

/// Merges search hits of several stores: one hit per trace (its fragments
/// joined, its latest match the latest of any store), newest first, at
/// most `limit` (at least one).
pub fn merge_found(
    lists: impl IntoIterator<Item = Vec<FoundTrace>>,
    limit: usize,
) -> Vec<FoundTrace> {
    let mut by_id: HashMap<TraceId, (u64, Vec<TracesData>)> = HashMap::new();
    for found in lists.into_iter().flatten() {
        let entry = by_id
            .entry(found.cursor.trace_id)
            .or_insert((found.cursor.latest_match_ns, Vec::new()));
        entry.0 = entry.0.max(found.cursor.latest_match_ns);
        entry.1.push(found.data);
    }
    let mut order: Vec<(u64, TraceId)> = by_id.iter().map(|(id, (ns, _))| (*ns, *id)).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    order.truncate(limit.max(1));
    order
        .into_iter()
        .filter_map(|(latest_match_ns, trace_id)| {
            let (_, parts) = by_id.remove(&trace_id)?;
            let data = merge_fragments(parts).unwrap_or_default();
            Some(FoundTrace {
                cursor: spoor_storage::SearchCursor {
                    latest_match_ns,
                    trace_id,
                },
                data,
            })
        })
        .collect()
}

/// The union of sorted catalogues, sorted, each item once.
pub fn union_sorted<T: Ord>(lists: impl IntoIterator<Item = Vec<T>>) -> Vec<T> {
    lists
        .into_iter()
        .flatten()
        .collect::<BTreeSet<T>>()
        .into_iter()
        .collect()
}

/// Dependency links summed per (parent, child), sorted by parent then child.
pub fn sum_links(lists: impl IntoIterator<Item = Vec<DependencyLink>>) -> Vec<DependencyLink> {
    let mut sums: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for link in lists.into_iter().flatten() {
        let sum = sums.entry((link.parent, link.child)).or_default();
        sum.0 += link.call_count;
        sum.1 += link.error_count;
    }
    sums.into_iter()
        .map(
            |((parent, child), (call_count, error_count))| DependencyLink {
                parent,
                child,
                call_count,
                error_count,
            },
        )
        .collect()
}

/// Aggregate buckets merged per start (series by series), oldest first.
pub fn merge_buckets(
    lists: impl IntoIterator<Item = Vec<(u64, BucketAggregates)>>,
) -> Vec<(u64, BucketAggregates)> {
    let mut merged: BTreeMap<u64, BucketAggregates> = BTreeMap::new();
    for (start, bucket) in lists.into_iter().flatten() {
        merged.entry(start).or_default().merge(bucket);
    }
    merged.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_proto::model::{string_kv, Resource, ResourceSpans, ScopeSpans, Span};
    use spoor_storage::aggregates::SeriesKey;
    use spoor_storage::SearchCursor;

    fn span(trace: u128, id: u64, start: u64, name: &str) -> Span {
        Span {
            trace_id: TraceId(trace).to_bytes().to_vec().into(),
            span_id: id.to_be_bytes().to_vec().into(),
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            ..Default::default()
        }
    }

    fn trace(service: &str, spans: Vec<Span>) -> TracesData {
        TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn fragments_join_and_replayed_spans_go_once() {
        let a = trace("a", vec![span(1, 1, 100, "root"), span(1, 2, 110, "x")]);
        // The same span 2 again (a replay), and span 3 from another node.
        let b = trace("a", vec![span(1, 2, 110, "x"), span(1, 3, 120, "y")]);
        // Same ids and start but different content: both kept.
        let c = trace("a", vec![span(1, 3, 120, "y-changed")]);
        // Same span under another service: not a duplicate.
        let d = trace("b", vec![span(1, 1, 100, "root")]);
        let merged = merge_fragments([a, b, c, d]).unwrap();
        assert_eq!(merged.span_count(), 5);
        assert!(merge_fragments([TracesData::default()]).is_none());
    }

    fn found(trace_id: u128, latest: u64, spans: Vec<Span>) -> FoundTrace {
        FoundTrace {
            cursor: SearchCursor {
                latest_match_ns: latest,
                trace_id: TraceId(trace_id),
            },
            data: trace("a", spans),
        }
    }

    #[test]
    fn hits_merge_per_trace_in_store_order_and_are_cut_to_the_limit() {
        let one = vec![
            found(7, 500, vec![span(7, 1, 500, "r")]),
            found(5, 300, vec![span(5, 1, 300, "r")]),
        ];
        let two = vec![
            found(7, 450, vec![span(7, 2, 450, "c"), span(7, 1, 500, "r")]),
            found(9, 400, vec![span(9, 1, 400, "r")]),
            found(8, 400, vec![span(8, 1, 400, "r")]),
        ];
        let merged = merge_found([one.clone(), two.clone()], 3);
        let ids: Vec<u128> = merged.iter().map(|f| f.cursor.trace_id.0).collect();
        assert_eq!(ids, [7, 9, 8]);
        assert_eq!(merged[0].cursor.latest_match_ns, 500);
        assert_eq!(merged[0].data.span_count(), 2);
        assert_eq!(merge_found([one, two], 0).len(), 1);
    }

    #[test]
    fn catalogues_union_and_counts_sum() {
        let names = union_sorted([
            vec!["b".to_string(), "c".into()],
            vec!["a".into(), "b".into()],
        ]);
        assert_eq!(names, ["a", "b", "c"]);
        let link = |p: &str, c: &str, n: u64, e: u64| DependencyLink {
            parent: p.into(),
            child: c.into(),
            call_count: n,
            error_count: e,
        };
        let links = sum_links([
            vec![link("a", "b", 2, 1), link("b", "c", 1, 0)],
            vec![link("a", "b", 3, 0)],
        ]);
        assert_eq!(links, [link("a", "b", 5, 1), link("b", "c", 1, 0)]);
    }

    #[test]
    fn buckets_merge_series_by_series() {
        let key = SeriesKey {
            service: "a".into(),
            operation: "op".into(),
            kind: 2,
            status: 0,
        };
        let bucket = |d: u64| {
            let mut b = BucketAggregates {
                width_ms: 1000,
                ..Default::default()
            };
            b.series.entry(key.clone()).or_default().record(d, false);
            b
        };
        let merged = merge_buckets([
            vec![(0, bucket(10)), (1000, bucket(20))],
            vec![(1000, bucket(30))],
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].1.series[&key].calls, 1);
        let later = &merged[1].1.series[&key];
        assert_eq!((later.calls, later.sum_us), (2, 50));
    }
}
