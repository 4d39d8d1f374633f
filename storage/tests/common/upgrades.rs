//! What the upgrade tests share: a fixture store copied into a temporary
//! directory and opened with the current code, the configuration that
//! keeps its old partitions, and the fixture's traces to compare with.
//!
//! In: the name of a directory under `tests/fixtures`. Out: the opened
//! store; assertions.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spoor_proto::model::{Span, TracesData};
use spoor_storage::{StorageConfig, Store};

use crate::v1_data::{batch, trace_id, FLUSHED_TRACES, UNFLUSHED_TRACES};

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

/// The store's configuration: the fixtures' partitions are old, keep them.
pub fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
        trace_idle_timeout: Duration::from_secs(3600),
        trace_max_age: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

/// A copy of `tests/fixtures/<fixture>` in `dir`, opened.
pub fn open_fixture(fixture: &str, dir: &Path) -> Arc<Store> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture);
    assert!(from.is_dir(), "the fixture {fixture} is missing");
    copy_dir(&from, dir);
    Store::open(config(dir)).unwrap_or_else(|e| panic!("open the {fixture} store: {e}"))
}

/// (service, span) of every span, sorted by span id.
pub fn spans(data: &TracesData) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = data
        .spans_with_service()
        .map(|(service, s)| (service.to_string(), s.clone()))
        .collect();
    out.sort_by(|a, b| a.1.span_id.cmp(&b.1.span_id));
    out
}

/// (service, span) of every span of fixture trace `i`, sorted by span id.
pub fn expected(i: u128) -> Vec<(String, Span)> {
    spans(&batch(i..i + 1))
}

/// Every fixture trace is served whole, by id.
pub fn check_every_trace(store: &Store) {
    for i in 0..FLUSHED_TRACES + UNFLUSHED_TRACES {
        let got = store
            .get_trace(trace_id(i))
            .unwrap()
            .unwrap_or_else(|| panic!("fixture trace {i} is missing"));
        assert_eq!(spans(&got), expected(i), "fixture trace {i}");
    }
}
