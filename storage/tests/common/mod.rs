//! Helpers shared by the storage tests: a store on a temporary directory and
//! span builders. Everything runs against real RocksDB.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    kv, string_kv, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
};
use spoor_storage::{prepare_batch, StorageConfig, Store};

pub const SECOND: u64 = 1_000_000_000;

pub fn config(dir: &std::path::Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        trace_idle_timeout: Duration::from_millis(200),
        trace_max_age: Duration::from_secs(2),
        ..StorageConfig::default()
    }
}

pub fn open(dir: &std::path::Path) -> Arc<Store> {
    Store::open(config(dir)).expect("open store")
}

pub struct SpanSpec<'a> {
    pub trace: u128,
    pub id: u64,
    pub parent: u64,
    pub service: &'a str,
    pub name: &'a str,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub attrs: Vec<(&'a str, Value)>,
    pub error: bool,
}

impl Default for SpanSpec<'_> {
    fn default() -> Self {
        SpanSpec {
            trace: 1,
            id: 1,
            parent: 0,
            service: "svc",
            name: "op",
            start_ns: 1_700_000_000 * SECOND,
            duration_ns: 1_000_000,
            attrs: vec![],
            error: false,
        }
    }
}

pub fn batch(specs: &[SpanSpec<'_>]) -> spoor_proto::model::TracesData {
    let mut data = spoor_proto::model::TracesData::default();
    for s in specs {
        let span = Span {
            trace_id: TraceId(s.trace).to_bytes().to_vec().into(),
            span_id: s.id.to_be_bytes().to_vec().into(),
            parent_span_id: if s.parent == 0 {
                Default::default()
            } else {
                s.parent.to_be_bytes().to_vec().into()
            },
            name: s.name.into(),
            start_time_unix_nano: s.start_ns,
            end_time_unix_nano: s.start_ns + s.duration_ns,
            attributes: s.attrs.iter().map(|(k, v)| kv(*k, v.clone())).collect(),
            status: s.error.then(|| Status {
                code: 2,
                message: "failed".into(),
            }),
            ..Default::default()
        };
        data.resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", s.service),
                    string_kv("host.name", "h1"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans: vec![span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    data
}

pub fn write(store: &Store, specs: &[SpanSpec<'_>]) {
    store
        .write_batches(&[prepare_batch(batch(specs))])
        .expect("write");
}

pub fn span_names(data: &spoor_proto::model::TracesData) -> Vec<String> {
    let mut names: Vec<String> = data
        .resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names
}
