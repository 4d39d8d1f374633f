//! Upgrades within v2: a store written before block trace lists went into
//! columns and index entries put the low half of the trace id first (the
//! fixture in `tests/fixtures/v2-store`, written at that version from the
//! traces of `common/v1_data.rs`, all flushed into two blocks) opens with
//! this version and serves every trace by id, by low half and by search,
//! beside blocks written now.

#[path = "common/upgrades.rs"]
mod upgrades;
#[path = "common/v1_data.rs"]
mod v1_data;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{Span, TracesData};
use spoor_storage::{prepare_batch, Store, TraceQuery};
use upgrades::*;
use v1_data::*;

const TRACES: u128 = FLUSHED_TRACES + UNFLUSHED_TRACES;

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
fn matching(service: &str, keep: impl Fn(&Span) -> bool) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = (0..TRACES)
        .filter(|i| {
            expected(*i)
                .iter()
                .any(|(s, span)| s == service && keep(span))
        })
        .map(trace_id)
        .collect();
    ids.sort();
    ids
}

fn check_fixture(store: &Store) {
    check_every_trace(store);
    // By service, operation and tag, as written.
    let query = TraceQuery {
        service: Some("cart".into()),
        operation: Some("op-1".into()),
        tags: vec![("error".into(), "true".into())],
        limit: 100,
        ..Default::default()
    };
    let want: Vec<TraceId> = matching("cart", |s| {
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
    let want = matching("payment", |s| {
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
    let store = open_fixture("v2-store", &dir);
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
    let store = open_fixture("v2-store", &dir);
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
            assert_eq!(spans(&got), spans(data));
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
