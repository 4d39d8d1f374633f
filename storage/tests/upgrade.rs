//! Upgrades: a store written by the v1 storage code (the fixture in
//! `tests/fixtures/v1-store`, made by the v1 code from the traces in
//! `common/v1_data.rs`) opens with this version and serves every trace it
//! held, flushed or only in its write-ahead column family; new data goes to
//! v2 partitions beside the old one.

#[path = "common/v1_data.rs"]
mod v1_data;

use std::path::Path;
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{Span, TracesData};
use spoor_storage::{prepare_batch, StorageConfig, Store, TraceQuery};
use v1_data::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        // The fixture's partition is old: keep it.
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
        trace_idle_timeout: Duration::from_secs(3600),
        trace_max_age: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

/// (service, span) of every span, sorted by span id.
fn spans(data: &TracesData) -> Vec<(String, Span)> {
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

fn expected(i: u128) -> Vec<(String, Span)> {
    let all = batch(i..i + 1);
    spans(&all)
}

fn check_every_trace(store: &Store) {
    for i in 0..FLUSHED_TRACES + UNFLUSHED_TRACES {
        let got = store
            .get_trace(trace_id(i))
            .unwrap()
            .unwrap_or_else(|| panic!("fixture trace {i} is missing"));
        assert_eq!(spans(&got), expected(i), "fixture trace {i}");
    }
}

fn open_fixture(dir: &Path) -> std::sync::Arc<Store> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-store");
    assert!(fixture.is_dir(), "the v1 fixture is missing");
    copy_dir(&fixture, dir);
    Store::open(config(dir)).expect("open the v1 store")
}

#[test]
fn a_v1_store_serves_its_flushed_and_logged_traces_after_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let store = open_fixture(&dir);
    check_every_trace(&store);
    let mut services = SERVICES.map(String::from).to_vec();
    services.sort();
    assert_eq!(store.services(), services);
    assert!(store
        .operations("cart", None)
        .iter()
        .any(|o| o.name == "op-1"));
    assert_eq!(
        store
            .get_archived_trace(trace_id(3))
            .unwrap()
            .unwrap()
            .span_count(),
        span_count(3)
    );
    // Lenient (low-64) lookups find the 128-bit ids of the v1 partition.
    let long = trace_id(2);
    assert_eq!(store.trace_ids_with_low64(long.low()).unwrap(), [long]);
    // Search reads the v1 blocks and the migrated write-ahead log alike.
    let query = TraceQuery {
        service: Some("cart".into()),
        operation: Some("op-1".into()),
        tags: vec![("error".into(), "true".into())],
        limit: 100,
        ..Default::default()
    };
    let mut found: Vec<TraceId> = store.find_trace_ids(&query).unwrap();
    found.sort();
    let mut want: Vec<TraceId> = (0..FLUSHED_TRACES + UNFLUSHED_TRACES)
        .filter(|i| i % 5 == 0)
        .map(trace_id)
        .collect();
    want.sort();
    assert_eq!(found, want);
    // The v1 write-ahead column family was migrated into the segment log.
    assert!(dir.join("wal").is_dir());
    store.shutdown().unwrap();
}

#[test]
fn an_upgraded_store_keeps_old_and_new_partitions_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let store = open_fixture(&dir);
    let extra = TraceId(0xabcdef);
    let mut data = batch(0..1);
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                s.trace_id = extra.to_bytes().to_vec().into();
            }
        }
    }
    store.write_batches(&[prepare_batch(data)]).unwrap();
    store.flush(true).unwrap();
    store.shutdown().unwrap();
    drop(store);
    let store = Store::open(config(&dir)).unwrap();
    check_every_trace(&store);
    assert_eq!(
        store.get_trace(extra).unwrap().unwrap().span_count(),
        span_count(0)
    );
    // Nothing left to replay: every span is in a partition.
    assert_eq!(store.stats().live_traces, 0);
}
