//! Archived traces: copies kept outside retention (Jaeger's "archive"
//! button, `POST /api/archive/{id}`, gRPC `ArchiveTrace`).
//!
//! In: a trace id to archive (its spans are read from the primary store,
//! memory and partitions). Out: one record per archived trace that no
//! retention or disk-budget drop ever deletes, read back by
//! [`Store::get_archived_trace`].
//!
//! Layout: the records live in the `meta` column family under
//! `archive \0 | trace id (16 bytes)` → the trace's spans encoded as one
//! `TracesData`. `meta` is opened on every start and never dropped; a
//! dedicated `archive` column family would need `Store::open` to list it
//! (RocksDB refuses to open a database without naming every column family),
//! which is the store owner's call. Archiving the same trace again replaces
//! the copy with the trace's current spans.

use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;

use crate::error::StorageError;
use crate::keys;
use crate::rocks::Store;

const ARCHIVE_KEY_PREFIX: &[u8] = b"archive\0";

fn archive_key(id: TraceId) -> Vec<u8> {
    let mut key = Vec::with_capacity(ARCHIVE_KEY_PREFIX.len() + 16);
    key.extend_from_slice(ARCHIVE_KEY_PREFIX);
    key.extend_from_slice(&id.to_bytes());
    key
}

impl Store {
    /// Copies a trace's spans into the archive. `Ok(false)` when the primary
    /// store does not have the trace and no archived copy exists either.
    pub fn archive_trace(&self, id: TraceId) -> Result<bool, StorageError> {
        let Some(trace) = self.get_trace(id)?.filter(|t| t.span_count() > 0) else {
            return Ok(self.get_archived_trace(id)?.is_some());
        };
        let meta = self.cf(keys::META_CF)?;
        self.db()
            .put_cf(&meta, archive_key(id), trace.encode_to_vec())?;
        Ok(true)
    }

    /// The archived copy of a trace, if one was made.
    pub fn get_archived_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        let meta = self.cf(keys::META_CF)?;
        match self.db().get_cf(&meta, archive_key(id))? {
            None => Ok(None),
            Some(bytes) => Ok(Some(TracesData::decode(bytes.as_slice())?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;
    use crate::prepare::prepare_batch;
    use crate::test_fixtures;

    fn batch(id: TraceId) -> TracesData {
        test_fixtures::batch(None, vec![test_fixtures::span(id.0, 7, "op", 1, 2)])
    }

    #[test]
    fn an_archived_trace_survives_a_restart_and_unknown_traces_are_not_archived() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            data_dir: dir.path().join("db"),
            ..Default::default()
        };
        let id = TraceId(0x42);
        {
            let store = Store::open(config.clone()).unwrap();
            assert!(!store.archive_trace(id).unwrap());
            store.write_batches(&[prepare_batch(batch(id))]).unwrap();
            assert!(store.archive_trace(id).unwrap());
            store.shutdown().unwrap();
        }
        let store = Store::open(config).unwrap();
        let archived = store.get_archived_trace(id).unwrap().unwrap();
        assert_eq!(archived.span_count(), 1);
        assert!(store.get_archived_trace(TraceId(0x43)).unwrap().is_none());
        store.shutdown().unwrap();
    }
}
