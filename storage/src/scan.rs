//! Reads of key ranges of one column family, for the partitions.
//!
//! In: a column family's name and a prefix or range. Out: each record's
//! key (and value) to a visitor; nothing when the family was dropped
//! meanwhile (retention).

use rocksdb::ReadOptions;

use crate::error::StorageError;
use crate::rocks::Db;

/// Calls `visit` with every record under `prefix` in the column family
/// (a prefix the filters hash, so files without it are skipped).
pub(crate) fn scan_prefix(
    db: &Db,
    name: &str,
    prefix: &[u8],
    visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut opts = ReadOptions::default();
    opts.set_prefix_same_as_start(true);
    scan(db, name, opts, prefix, |key| key.starts_with(prefix), visit)
}

/// Calls `visit` with every record in `[start, end)` of the column
/// family, read in total order (for ranges the prefix filters do not
/// cover).
pub(crate) fn scan_range(
    db: &Db,
    name: &str,
    start: &[u8],
    end: &[u8],
    visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut opts = ReadOptions::default();
    opts.set_total_order_seek(true);
    opts.set_iterate_upper_bound(end.to_vec());
    scan(db, name, opts, start, |_| true, visit)
}

/// Reads forward from `start` while `within` holds.
fn scan(
    db: &Db,
    name: &str,
    opts: ReadOptions,
    start: &[u8],
    within: impl Fn(&[u8]) -> bool,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let Some(cf) = db.cf_handle(name) else {
        return Ok(()); // dropped meanwhile
    };
    let iter = db.iterator_cf_opt(
        &cf,
        opts,
        rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (key, value) = item?;
        if !within(&key) {
            break;
        }
        visit(&key, &value)?;
    }
    Ok(())
}
