//! Upgrades: a store written by the v1 storage code (the fixture in
//! `tests/fixtures/v1-store`, made by the v1 code from the traces in
//! `common/v1_data.rs`) opens with this version and serves every trace it
//! held, flushed or only in its write-ahead column family; new data goes to
//! v2 partitions beside the old one.

#[path = "common/upgrades.rs"]
mod upgrades;
#[path = "common/v1_data.rs"]
mod v1_data;

use spoor_proto::ids::TraceId;
use spoor_storage::{prepare_batch, Store, TraceQuery};
use upgrades::*;
use v1_data::*;

#[test]
fn a_v1_store_serves_its_flushed_and_logged_traces_after_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let store = open_fixture("v1-store", &dir);
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
    let store = open_fixture("v1-store", &dir);
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
