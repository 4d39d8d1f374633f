//! Upgrades within v2: a store written before block trace lists went into
//! columns and index entries put the low half of the trace id first (the
//! fixture in `tests/fixtures/v2-store`, written at that version from the
//! traces of `common/v1_data.rs`, all flushed into two blocks) opens with
//! this version and serves every trace by id, by low half and by search,
//! beside blocks written now.

#[path = "common/v1_data.rs"]
mod v1_data;

use std::path::Path;
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{Span, TracesData};
use spoor_storage::{prepare_batch, StorageConfig, Store, TraceQuery};
use v1_data::*;

const TRACES: u128 = FLUSHED_TRACES + UNFLUSHED_TRACES;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        // The fixture's spans are old: keep them.
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
        trace_idle_timeout: Duration::from_secs(3600),
        trace_max_age: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

fn open_fixture(dir: &Path) -> std::sync::Arc<Store> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2-store");
    assert!(fixture.is_dir(), "the v2 fixture is missing");
    copy_dir(&fixture, dir);
    Store::open(config(dir)).expect("open the v2 store")
}

/// Span ids of every span, sorted.
fn span_ids(data: &TracesData) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = data
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().map(|s| s.span_id.to_vec()))
        .collect();
    out.sort();
    out
}

/// (service, span) of every span of the fixture's trace `i`, by span id.
fn fixture_spans(i: u128) -> Vec<(String, Span)> {
    spans_of(&batch(i..i + 1))
}

/// (service, span) of every span, by span id.
fn spans_of(data: &TracesData) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = data
        .resource_spans
        .iter()
        .flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans
                    .iter()
                    .map(move |s| (rs.service_name().to_string(), s.clone()))
            })
        })
        .collect();
    out.sort_by(|a, b| a.1.span_id.cmp(&b.1.span_id));
    out
}

/// Fixture trace `i` under another id with the same low half.
fn twin(i: u128) -> (TraceId, TracesData) {
    let id = TraceId::from_halves(0xbeef, trace_id(i).low());
    let mut data = batch(i..i + 1);
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                s.trace_id = id.to_bytes().to_vec().into();
            }
        }
    }
    (id, data)
}

fn found(store: &Store, query: &TraceQuery) -> Vec<TraceId> {
    let mut ids = store.find_trace_ids(query).unwrap();
    ids.sort();
    ids
}

/// The fixture's traces with a span of `service` that `keep` accepts.
fn expected(service: &str, keep: impl Fn(&Span) -> bool) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = (0..TRACES)
        .filter(|i| {
            fixture_spans(*i)
                .iter()
                .any(|(s, span)| s == service && keep(span))
        })
        .map(trace_id)
        .collect();
    ids.sort();
    ids
}

fn check_fixture(store: &Store) {
    for i in 0..TRACES {
        let got = store
            .get_trace(trace_id(i))
            .unwrap()
            .unwrap_or_else(|| panic!("fixture trace {i} is missing"));
        assert_eq!(spans_of(&got), fixture_spans(i), "fixture trace {i}");
    }
    // By service, operation and tag, as written.
    let query = TraceQuery {
        service: Some("cart".into()),
        operation: Some("op-1".into()),
        tags: vec![("error".into(), "true".into())],
        limit: 100,
        ..Default::default()
    };
    let want: Vec<TraceId> = expected("cart", |s| {
        s.name == "op-1" && s.status.as_ref().is_some_and(|st| st.code == 2)
    });
    assert!(!want.is_empty());
    assert_eq!(found(store, &query), want);
    // By duration and start window, which the old summaries round outwards.
    let (min, max) = (BASE_NS + 10_000_000_000, BASE_NS + 30_000_000_000);
    let query = TraceQuery {
        service: Some("payment".into()),
        duration_min_ns: Some(20_000_000),
        duration_max_ns: Some(40_000_000),
        start_min_ns: Some(min),
        start_max_ns: Some(max),
        limit: 100,
        ..Default::default()
    };
    let want = expected("payment", |s| {
        let d = s.end_time_unix_nano - s.start_time_unix_nano;
        (20_000_000..=40_000_000).contains(&d) && (min..=max).contains(&s.start_time_unix_nano)
    });
    assert!(!want.is_empty() && want.len() < TRACES as usize);
    assert_eq!(found(store, &query), want);
}

#[test]
fn a_v2_store_of_the_earlier_layout_serves_every_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let store = open_fixture(&dir);
    check_fixture(&store);
    let mut services = SERVICES.map(String::from).to_vec();
    services.sort();
    assert_eq!(store.services(), services);
    // Lenient (low-64) lookups read the old low-64 index.
    for i in (0..TRACES).step_by(2) {
        let long = trace_id(i);
        assert_eq!(store.trace_ids_with_low64(long.low()).unwrap(), [long]);
    }
    store.shutdown().unwrap();
}

#[test]
fn old_and_new_blocks_are_read_together_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let store = open_fixture(&dir);
    // Twins of two old traces: same low half, another high half.
    let twins: Vec<(u128, TraceId, TracesData)> = [2u128, 3]
        .into_iter()
        .map(|i| {
            let (id, data) = twin(i);
            (i, id, data)
        })
        .collect();
    for (_, _, data) in &twins {
        store.write_batches(&[prepare_batch(data.clone())]).unwrap();
    }
    store.flush(true).unwrap();
    assert_eq!(store.stats().live_traces, 0);
    let check = |store: &Store| {
        check_fixture(store);
        for (i, id, data) in &twins {
            let got = store.get_trace(*id).unwrap().expect("twin stored");
            assert_eq!(span_ids(&got), span_ids(data));
            let old = trace_id(*i);
            let mut want = vec![*id];
            if old.high() != 0 {
                want.push(old);
            }
            want.sort();
            assert_eq!(store.trace_ids_with_low64(old.low()).unwrap(), want);
        }
        // A search finds old and new blocks alike.
        let query = TraceQuery {
            service: Some("cart".into()),
            operation: Some("op-1".into()),
            limit: 100,
            ..Default::default()
        };
        let ids = found(store, &query);
        for (i, id, _) in &twins {
            assert!(ids.contains(id) && ids.contains(&trace_id(*i)), "{i}");
        }
        assert_eq!(ids.len(), TRACES as usize + twins.len());
    };
    check(&store);
    store.shutdown().unwrap();
    drop(store);
    let store = Store::open(config(&dir)).unwrap();
    check(&store);
    store.shutdown().unwrap();
}
