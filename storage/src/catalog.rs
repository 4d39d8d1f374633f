//! The service/operation catalogue: which (service, operation, kind)
//! triples were seen, and in which partition last.
//!
//! In: the triples of accepted batches (after their write-ahead append, and
//! again on replay) with the current partition start; the retention cutoff.
//! Out: sorted services and operations for the query side; the `catalog`
//! column family (`service \0 operation \0 kind` → last-seen partition
//! start), written only when a triple is new to the current partition.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use rocksdb::{WriteBatch, WriteOptions};
use spoor_proto::model::SpanKind;

use crate::error::StorageError;
use crate::keys;
use crate::query::Operation;
use crate::rocks::Db;

/// Service → (operation, kind) → start of the partition it was last seen in.
type Map = BTreeMap<String, BTreeMap<(String, i32), u64>>;

/// The catalogue, in memory and in its column family.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    map: RwLock<Map>,
}

impl Catalog {
    /// Reads the catalogue column family.
    pub(crate) fn load(&self, db: &Db) -> Result<(), StorageError> {
        let cf = db
            .cf_handle(keys::CATALOG_CF)
            .ok_or_else(|| StorageError::Io("column family catalog is missing".into()))?;
        let mut map = self.map.write();
        for item in db.iterator_cf(&cf, rocksdb::IteratorMode::Start) {
            let (key, value) = item?;
            let Some((service, op, kind)) = keys::parse_catalog_key(&key) else {
                continue;
            };
            let seen = value
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            map.entry(service).or_default().insert((op, kind), seen);
        }
        Ok(())
    }

    /// Records triples seen in the partition starting at `partition`;
    /// writes only those new to it.
    pub(crate) fn record<'a>(
        &self,
        db: &Db,
        triples: impl Iterator<Item = &'a (String, String, i32)>,
        partition: u64,
    ) -> Result<(), StorageError> {
        let mut updates: Vec<&(String, String, i32)> = Vec::new();
        {
            let map = self.map.read();
            for t in triples {
                let (service, op, kind) = t;
                let seen = map
                    .get(service)
                    .and_then(|ops| ops.get(&(op.clone(), *kind)));
                if seen.is_none_or(|s| *s < partition) && !updates.contains(&t) {
                    updates.push(t);
                }
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        let cf = db
            .cf_handle(keys::CATALOG_CF)
            .ok_or_else(|| StorageError::Io("column family catalog is missing".into()))?;
        let mut wb = WriteBatch::default();
        for (service, op, kind) in &updates {
            wb.put_cf(
                &cf,
                keys::catalog_key(service, op, *kind),
                partition.to_be_bytes(),
            );
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(false);
        db.write_opt(wb, &opts)?;
        let mut map = self.map.write();
        for (service, op, kind) in updates {
            map.entry(service.clone())
                .or_default()
                .insert((op.clone(), *kind), partition);
        }
        Ok(())
    }

    /// Service names, sorted.
    pub(crate) fn services(&self) -> Vec<String> {
        self.map.read().keys().cloned().collect()
    }

    /// Operations of a service (optionally of one kind), sorted by name then kind.
    pub(crate) fn operations(&self, service: &str, kind: Option<SpanKind>) -> Vec<Operation> {
        let map = self.map.read();
        let Some(ops) = map.get(service) else {
            return Vec::new();
        };
        let mut out: Vec<Operation> = ops
            .keys()
            .filter(|(_, k)| kind.is_none_or(|want| want as i32 == *k))
            .map(|(name, k)| Operation {
                name: name.clone(),
                kind: SpanKind::try_from(*k).unwrap_or(SpanKind::Unspecified),
            })
            .collect();
        out.sort();
        out
    }

    /// Forgets triples last seen in a partition that ended before `cutoff`
    /// (partitions are `width` seconds wide).
    pub(crate) fn expire(&self, db: &Db, cutoff: u64, width: u64) -> Result<(), StorageError> {
        let mut stale = Vec::new();
        {
            let map = self.map.read();
            for (service, ops) in map.iter() {
                for ((op, kind), seen) in ops {
                    if seen + width <= cutoff {
                        stale.push((service.clone(), op.clone(), *kind));
                    }
                }
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        let cf = db
            .cf_handle(keys::CATALOG_CF)
            .ok_or_else(|| StorageError::Io("column family catalog is missing".into()))?;
        let mut wb = WriteBatch::default();
        let mut map = self.map.write();
        for (service, op, kind) in stale {
            wb.delete_cf(&cf, keys::catalog_key(&service, &op, kind));
            if let Some(ops) = map.get_mut(&service) {
                ops.remove(&(op, kind));
                if ops.is_empty() {
                    map.remove(&service);
                }
            }
        }
        db.write(wb)?;
        Ok(())
    }
}
