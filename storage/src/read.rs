//! Trace by id: the spans of a trace from the in-memory buffer and every
//! partition, each fragment once; and the lookup of 128-bit ids by their
//! low 64 bits (Zipkin's lenient trace ids).
//!
//! In: a trace id, or a low half. Out: the trace as one `TracesData`, or
//! the ids sharing the low half.

use std::time::Instant;

use bytes::BytesMut;
use prost::Message;
use rustc_hash::FxHashSet;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;

use crate::error::StorageError;
use crate::rocks::Store;

impl Store {
    /// All spans of a trace, from memory and disk; `None` when unknown.
    pub fn get_trace(&self, id: TraceId) -> Result<Option<TracesData>, StorageError> {
        let started = Instant::now();
        // Memory first, then disk: a flush that runs in between can only make a
        // fragment appear twice (removed below by sequence), never vanish.
        let live = self.live.get(id);
        let stored = self.partitions.stored(&self.db, id)?;
        if live.is_none() && stored.is_empty() {
            return Ok(None);
        }
        let stored_seqs: FxHashSet<u64> =
            stored.iter().flat_map(|r| r.seqs.iter().copied()).collect();
        let mut bytes = BytesMut::new();
        for r in stored.iter().rev() {
            bytes.extend_from_slice(&r.spans);
        }
        if let Some(t) = live {
            for (seq, fragment) in &t.fragments {
                if !stored_seqs.contains(seq) {
                    bytes.extend_from_slice(fragment);
                }
            }
        }
        let data = TracesData::decode(bytes.freeze())?;
        metrics::histogram!("spoor_storage_query_duration_seconds", "operation" => "get_trace")
            .record(started.elapsed().as_secs_f64());
        Ok(Some(data))
    }

    /// Ids of the stored traces with a non-zero high half whose low 64 bits
    /// are `low` (from memory and from every partition's low-64 index),
    /// ascending. The 64-bit id `TraceId(low)` itself is not listed.
    pub fn trace_ids_with_low64(&self, low: u64) -> Result<Vec<TraceId>, StorageError> {
        // Memory first, then disk: a flush in between writes the index entry
        // before the trace leaves memory, so no id is missed.
        let mut ids = self.live.ids_with_low64(low);
        self.partitions.low64_ids(&self.db, low, &mut ids)?;
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// All spans of every trace whose low 64 bits are `low` — the 64-bit id
    /// and any 128-bit ones sharing its low half — as one trace (Zipkin's
    /// lenient trace ids); `None` when there are none.
    pub fn get_trace_by_low64(&self, low: u64) -> Result<Option<TracesData>, StorageError> {
        let mut merged: Option<TracesData> = None;
        let ids = std::iter::once(TraceId(u128::from(low))).chain(self.trace_ids_with_low64(low)?);
        for id in ids {
            if let Some(data) = self.get_trace(id)? {
                match &mut merged {
                    None => merged = Some(data),
                    Some(all) => all.resource_spans.extend(data.resource_spans),
                }
            }
        }
        Ok(merged)
    }
}
