//! Recovery on open: the write-ahead log is replayed into the in-memory
//! buffer, and a v1 store's write-ahead column family is migrated to the
//! segment log first.
//!
//! In: the opened database, the loaded partitions and catalogue, an empty
//! buffer. Out: the open [`SegmentLog`] and the next write-ahead sequence;
//! every logged span not yet stored is back in the buffer (and its
//! catalogue entries recorded), and a fragment already stored (recognised
//! by its trace and sequence) is skipped.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use prost::Message;
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;

use crate::catalog::Catalog;
use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::keys;
use crate::live::LiveBuffer;
use crate::partition::Partitions;
use crate::prepare::prepare_batch;
use crate::rocks::{now_secs, wal_dir, Db};
use crate::summary::WalRecord;
use crate::wal::SegmentLog;

/// Every write-ahead sequence of a stored fragment is below the value under
/// this `meta` key, so sequences never repeat.
pub(crate) const WAL_FLOOR_KEY: &[u8] = b"wal_floor";

/// Migrates a v1 write-ahead column family, replays the segment log.
pub(crate) fn recover(
    db: &Db,
    config: &StorageConfig,
    partitions: &Partitions,
    catalog: &Catalog,
    live: &LiveBuffer,
) -> Result<(SegmentLog, u64), StorageError> {
    let dir = wal_dir(config);
    migrate_v1_wal(db, &config.data_dir, &dir, config.wal_segment_bytes)?;
    let meta = db
        .cf_handle(keys::META_CF)
        .ok_or_else(|| StorageError::Io("column family meta is missing".into()))?;
    let floor = db
        .get_cf(&meta, WAL_FLOOR_KEY)?
        .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0);
    let width = config.partition_duration.as_secs().max(1);
    let partition = now_secs() / width * width;
    let mut stored: HashMap<TraceId, HashSet<u64>> = HashMap::new();
    let now = Instant::now();
    let mut replayed = 0usize;
    let wal = SegmentLog::open(&dir, config.wal_segment_bytes, |seq, payload| {
        let record = WalRecord::decode(payload)?;
        for wt in record.traces {
            let trace_id = TraceId::from_bytes(&wt.trace_id)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let seqs = match stored.entry(trace_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(partitions.stored_seqs(db, trace_id)?)
                }
            };
            if seqs.contains(&seq) {
                continue;
            }
            let prepared = prepare_batch(TracesData::decode(wt.fragment)?);
            catalog.record(db, prepared.catalog.iter(), partition)?;
            for trace in &prepared.traces {
                replayed += trace.spans.len();
                live.insert(seq, trace, now);
            }
        }
        Ok(())
    })?
    .compressed(config.wal_compression_level)?;
    let next = wal.last_seq().map_or(floor, |l| floor.max(l + 1));
    if replayed > 0 {
        tracing::info!(
            spans = replayed,
            "replayed unflushed spans from the write-ahead log"
        );
    }
    Ok((wal, next))
}

/// Copies the records of a v1 `wal` column family into a new segment log
/// (built aside, then renamed into place), then drops the column family.
/// A crash at any point leaves either the column family or the finished
/// log to start from.
fn migrate_v1_wal(
    db: &Db,
    data_dir: &Path,
    dir: &Path,
    segment_bytes: u64,
) -> Result<(), StorageError> {
    let Some(cf) = db.cf_handle(keys::WAL_CF) else {
        return Ok(());
    };
    let io = |what: &str, e: std::io::Error| StorageError::Io(format!("{what}: {e}"));
    if !dir.exists() {
        tracing::info!("migrating the v1 write-ahead column family to the segment log");
        let aside = data_dir.join("wal.migrating");
        if aside.exists() {
            std::fs::remove_dir_all(&aside).map_err(|e| io("cannot clear wal.migrating", e))?;
        }
        let log = SegmentLog::open(&aside, segment_bytes, |_, _| Ok(()))?;
        let mut records = 0u64;
        for item in db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            let Some(seq) = keys::wal_seq(&key) else {
                continue;
            };
            log.append(&[(seq, value.to_vec())])?;
            records += 1;
            if records % 10_000 == 0 {
                tracing::info!(records, "write-ahead migration in progress");
            }
        }
        log.sync()?;
        drop(log);
        std::fs::rename(&aside, dir).map_err(|e| io("cannot move the migrated log", e))?;
        tracing::info!(records, "migrated the v1 write-ahead column family");
    }
    drop(cf);
    db.drop_cf(keys::WAL_CF)?;
    Ok(())
}
