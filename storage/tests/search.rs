//! Search semantics (Jaeger's): every predicate on one span, tags over span,
//! resource, event and scope attributes, newest first, limit in traces.

mod common;

use common::*;
use spoor_proto::ids::TraceId;
use spoor_proto::model::{SpanKind, Value};
use spoor_storage::{StorageConfig, TraceQuery};

fn query(service: &str) -> TraceQuery {
    TraceQuery {
        service: Some(service.into()),
        limit: 100,
        ..Default::default()
    }
}

fn ids(store: &spoor_storage::Store, q: &TraceQuery) -> Vec<u128> {
    store
        .find_trace_ids(q)
        .unwrap()
        .into_iter()
        .map(|t| t.0)
        .collect()
}

fn seed(store: &spoor_storage::Store) {
    write(
        store,
        &[
            SpanSpec {
                trace: 1,
                service: "api",
                name: "GET /a",
                start_ns: 100 * SECOND,
                duration_ns: 5_000,
                attrs: vec![("http.status_code", Value::IntValue(200))],
                ..Default::default()
            },
            SpanSpec {
                trace: 1,
                id: 2,
                parent: 1,
                service: "db",
                name: "query",
                start_ns: 101 * SECOND,
                duration_ns: 50_000,
                ..Default::default()
            },
            SpanSpec {
                trace: 2,
                service: "api",
                name: "GET /b",
                start_ns: 200 * SECOND,
                duration_ns: 9_000,
                attrs: vec![("http.status_code", Value::IntValue(500))],
                error: true,
                ..Default::default()
            },
            SpanSpec {
                trace: 3,
                service: "api",
                name: "GET /a",
                start_ns: 300 * SECOND,
                duration_ns: 1_000,
                attrs: vec![("http.status_code", Value::IntValue(200))],
                ..Default::default()
            },
        ],
    );
}

fn both_ways(check: impl Fn(&spoor_storage::Store)) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    seed(&store);
    check(&store); // from memory
    store.flush(true).unwrap();
    check(&store); // from disk blocks
}

#[test]
fn service_search_returns_newest_first() {
    both_ways(|s| assert_eq!(ids(s, &query("api")), [3, 2, 1]));
}

#[test]
fn operation_and_tags_must_match_on_one_span() {
    both_ways(|s| {
        let mut q = query("api");
        q.operation = Some("GET /a".into());
        assert_eq!(ids(s, &q), [3, 1]);
        q.tags = vec![("http.status_code".into(), "500".into())];
        assert!(ids(s, &q).is_empty());
        let mut q = query("api");
        q.tags = vec![("error".into(), "true".into())];
        assert_eq!(ids(s, &q), [2]);
        q.tags = vec![
            ("host.name".into(), "h1".into()),
            ("otel.scope.name".into(), "lib".into()),
        ];
        assert_eq!(ids(s, &q), [3, 2, 1]);
    });
}

#[test]
fn duration_applies_to_the_matching_span_not_the_trace() {
    both_ways(|s| {
        let mut q = query("api");
        q.duration_min_ns = Some(20_000);
        assert!(
            ids(s, &q).is_empty(),
            "the long span belongs to db, not api"
        );
        let mut q = query("db");
        q.duration_min_ns = Some(20_000);
        assert_eq!(ids(s, &q), [1]);
    });
}

#[test]
fn time_range_is_on_span_start() {
    both_ways(|s| {
        let mut q = query("api");
        q.start_min_ns = Some(150 * SECOND);
        q.start_max_ns = Some(250 * SECOND);
        assert_eq!(ids(s, &q), [2]);
    });
}

#[test]
fn limit_counts_traces() {
    both_ways(|s| {
        let mut q = query("api");
        q.limit = 2;
        assert_eq!(ids(s, &q), [3, 2]);
    });
}

#[test]
fn found_traces_hold_all_their_spans() {
    both_ways(|s| {
        let mut q = query("db");
        q.limit = 1;
        let traces = s.find_traces(&q).unwrap();
        assert_eq!(span_names(&traces[0]), ["GET /a", "query"]);
    });
}

#[test]
fn catalogue_lists_services_and_operations_with_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    seed(&store);
    assert_eq!(store.services(), ["api", "db"]);
    let ops: Vec<_> = store
        .operations("api", None)
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(ops, ["GET /a", "GET /b"]);
    assert!(store.operations("api", Some(SpanKind::Server)).is_empty());
    assert!(store.operations("nope", None).is_empty());
    let _ = TraceId(0);
}

#[test]
fn many_blocks_are_searched_and_pruned_correctly() {
    many_blocks_searched(StorageConfig::default().bloom_cache_bytes);
}

#[test]
fn tag_filters_read_from_disk_prune_as_those_in_memory() {
    // No filter kept in memory, and room for one block's (16 words each).
    many_blocks_searched(0);
    many_blocks_searched(128);
}

fn many_blocks_searched(bloom_cache_bytes: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_max_traces = 10;
    cfg.bloom_cache_bytes = bloom_cache_bytes;
    let store = spoor_storage::Store::open(cfg.clone()).unwrap();
    for i in 0..200u64 {
        let user = format!("user-{i}");
        write(
            &store,
            &[SpanSpec {
                trace: 1000 + u128::from(i),
                service: "api",
                name: "GET /x",
                start_ns: (1000 + i) * SECOND,
                attrs: vec![("user.id", Value::StringValue(user))],
                ..Default::default()
            }],
        );
    }
    store.flush(true).unwrap();
    assert!(store.stats().blocks >= 20);
    let mut q = query("api");
    q.tags = vec![("user.id".into(), "user-17".into())];
    assert_eq!(ids(&store, &q), [1017]);
    let mut q = query("api");
    q.limit = 5;
    assert_eq!(ids(&store, &q), [1199, 1198, 1197, 1196, 1195]);
    // The filters of a reopened store: the newest back in memory, the
    // rest on disk.
    drop(store);
    let store = spoor_storage::Store::open(cfg).unwrap();
    for user in [3, 17, 198] {
        let mut q = query("api");
        q.tags = vec![("user.id".into(), format!("user-{user}"))];
        assert_eq!(ids(&store, &q), [1000 + user], "user-{user}");
    }
    let mut q = query("api");
    q.tags = vec![("user.id".into(), "user-200".into())];
    assert!(ids(&store, &q).is_empty());
}

/// Every id of a paged walk, page by page.
fn walk(store: &spoor_storage::Store, q: &TraceQuery) -> Vec<Vec<u128>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.find_traces_page(q, after).unwrap();
        let short = page.len() < q.limit;
        after = page.last().map(|t| t.cursor);
        let ids: Vec<u128> = page.iter().map(|t| t.cursor.trace_id.0).collect();
        if !ids.is_empty() {
            pages.push(ids);
        }
        if short {
            return pages;
        }
    }
}

#[test]
fn paged_search_visits_every_match_once_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_max_traces = 7;
    let store = spoor_storage::Store::open(cfg).unwrap();
    // 60 traces on disk, three of them sharing a start time (ties are broken
    // by trace id), each with an earlier second span so that a narrower
    // window would find it again; 10 more still in memory.
    for i in 0..70u64 {
        let start = if (20..23).contains(&i) {
            2000
        } else {
            1000 + i
        } * SECOND;
        write(
            &store,
            &[
                SpanSpec {
                    trace: 1000 + u128::from(i),
                    service: "api",
                    start_ns: start,
                    ..Default::default()
                },
                SpanSpec {
                    trace: 1000 + u128::from(i),
                    id: 2,
                    service: "api",
                    start_ns: 500 * SECOND + i,
                    ..Default::default()
                },
            ],
        );
        if i == 59 {
            store.flush(true).unwrap();
        }
    }
    assert_eq!(store.stats().live_traces, 10);
    let mut q = query("api");
    q.limit = 8;
    let pages = walk(&store, &q);
    assert_eq!(pages.len(), 9, "{pages:?}");
    let all: Vec<u128> = pages.into_iter().flatten().collect();
    let mut expected: Vec<u128> = vec![1022, 1021, 1020];
    expected.extend(
        (0..70u128)
            .rev()
            .filter(|i| !(20..23).contains(i))
            .map(|i| 1000 + i),
    );
    assert_eq!(all, expected);
    // The same walk with the window ending before most traces.
    q.start_max_ns = Some(1010 * SECOND);
    let all: Vec<u128> = walk(&store, &q).into_iter().flatten().collect();
    let expected: Vec<u128> = (0..=10u128).rev().map(|i| 1000 + i).collect();
    // Traces 1011.. still match by their earlier span, after the others.
    let mut rest: Vec<u128> = (11..70u128).rev().map(|i| 1000 + i).collect();
    let mut want = expected.clone();
    want.append(&mut rest);
    assert_eq!(all, want);
}

/// One span of the generated store of `search_agrees_with_brute_force`.
struct Gen {
    trace: u128,
    id: u64,
    service: &'static str,
    name: &'static str,
    start_ns: u64,
    duration_ns: u64,
    kind: &'static str,
}

#[test]
fn search_agrees_with_brute_force_over_pieces_in_many_blocks() {
    agrees_with_brute_force(StorageConfig::default().search_max_candidates);
}

#[test]
fn search_agrees_with_brute_force_holding_one_candidate_at_a_time() {
    agrees_with_brute_force(1);
}

fn agrees_with_brute_force(search_max_candidates: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_max_traces = 5;
    cfg.search_max_candidates = search_max_candidates;
    let store = spoor_storage::Store::open(cfg).unwrap();
    // 90 traces whose spans arrive in three rounds: the first two flushed
    // (so a trace has pieces in two blocks, the later one often holding its
    // latest match), the third left in memory; start times repeat, so
    // ties are broken by trace id.
    let mut state = 7u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut spans: Vec<Gen> = Vec::new();
    for round in 0..3u64 {
        for t in 0..90u128 {
            if next(3) == 0 {
                continue;
            }
            let span = Gen {
                trace: 5000 + t,
                id: 1 + round * 1000 + t as u64,
                service: ["api", "db"][next(2) as usize],
                name: ["a", "b", "c"][next(3) as usize],
                start_ns: (3000 + next(40) + round * 20) * SECOND,
                duration_ns: (1 + next(100)) * 1_000_000,
                kind: ["x", "y"][next(2) as usize],
            };
            write(
                &store,
                &[SpanSpec {
                    trace: span.trace,
                    id: span.id,
                    service: span.service,
                    name: span.name,
                    start_ns: span.start_ns,
                    duration_ns: span.duration_ns,
                    attrs: vec![("k", Value::StringValue(span.kind.into()))],
                    ..Default::default()
                }],
            );
            spans.push(span);
        }
        if round < 2 {
            store.flush(true).unwrap();
        }
    }
    assert!(store.stats().blocks >= 20);
    let brute = |q: &TraceQuery| -> Vec<u128> {
        let mut latest: std::collections::BTreeMap<u128, u64> = Default::default();
        for s in &spans {
            let ok = q.service.as_deref().is_none_or(|v| v == s.service)
                && q.operation.as_deref().is_none_or(|v| v == s.name)
                && q.duration_min_ns.is_none_or(|v| s.duration_ns >= v)
                && q.duration_max_ns.is_none_or(|v| s.duration_ns <= v)
                && q.start_min_ns.is_none_or(|v| s.start_ns >= v)
                && q.start_max_ns.is_none_or(|v| s.start_ns <= v)
                && q.tags.iter().all(|(k, v)| k == "k" && v == s.kind);
            if ok {
                let l = latest.entry(s.trace).or_default();
                *l = (*l).max(s.start_ns);
            }
        }
        let mut hits: Vec<(u64, u128)> = latest.into_iter().map(|(t, l)| (l, t)).collect();
        hits.sort_unstable_by(|a, b| b.cmp(a));
        hits.into_iter().take(q.limit).map(|(_, t)| t).collect()
    };
    let mut checked = 0;
    for service in [None, Some("api"), Some("db")] {
        for operation in [None, Some("b")] {
            if service.is_none() && operation.is_some() {
                continue;
            }
            for duration_min_ns in [None, Some(70_000_000)] {
                for tags in [vec![], vec![("k".to_string(), "y".to_string())]] {
                    for start_max_ns in [None, Some(3050 * SECOND)] {
                        for limit in [1, 4, 15, 200] {
                            let q = TraceQuery {
                                service: service.map(str::to_string),
                                operation: operation.map(str::to_string),
                                duration_min_ns,
                                tags: tags.clone(),
                                start_max_ns,
                                limit,
                                ..Default::default()
                            };
                            let expected = brute(&q);
                            assert_eq!(ids(&store, &q), expected, "{q:?}");
                            checked += usize::from(!expected.is_empty());
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
}
