//! Reads of key ranges of one column family, for the partitions.
//!
//! In: a column family's name and a prefix or range. Out: each record's
//! key (and value) to a visitor; nothing when the family was dropped
//! meanwhile (retention).

use rocksdb::ReadOptions;

use crate::error::StorageError;
use crate::rocks::Db;

/// Calls `visit` with every record under `prefix` in the column family.
pub(crate) fn scan_prefix(
    db: &Db,
    name: &str,
    prefix: &[u8],
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let Some(cf) = db.cf_handle(name) else {
        return Ok(()); // dropped meanwhile
    };
    let mut opts = ReadOptions::default();
    opts.set_prefix_same_as_start(true);
    let iter = db.iterator_cf_opt(
        &cf,
        opts,
        rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (key, value) = item?;
        if !key.starts_with(prefix) {
            break;
        }
        visit(&key, &value)?;
    }
    Ok(())
}

/// Calls `visit` with the key of every record in `[start, end)` of the
/// column family, read in total order (for ranges shorter than the prefix
/// the filters hash).
pub(crate) fn scan_range(
    db: &Db,
    name: &str,
    start: &[u8],
    end: &[u8],
    mut visit: impl FnMut(&[u8]),
) -> Result<(), StorageError> {
    let Some(cf) = db.cf_handle(name) else {
        return Ok(()); // dropped meanwhile
    };
    let mut opts = ReadOptions::default();
    opts.set_total_order_seek(true);
    opts.set_iterate_upper_bound(end.to_vec());
    let iter = db.iterator_cf_opt(
        &cf,
        opts,
        rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (key, _) = item?;
        visit(&key);
    }
    Ok(())
}
