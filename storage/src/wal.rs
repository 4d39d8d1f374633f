//! The write-ahead log: append-only segment files in `<data_dir>/wal/`.
//!
//! In: records (a sequence number and its payload, an encoded
//! [`crate::summary::WalRecord`]) from the single writer, appended in one
//! `write` call per group of batches; the lowest sequence still needed,
//! from the flusher. Out: on open, every intact record in sequence order
//! (replay); whole segment files deleted once every record in them is
//! stored (trim). Nothing is ever rewritten or deleted record by record.
//!
//! A segment is named by the first sequence in it (`{seq:020}.log`) and
//! holds frames of `len (u32 LE) | seq (u64 LE) | xxh3 of seq and payload
//! (u64 LE) | payload`. The top bit of `len` set means the payload as
//! stored is one zstd frame of the record (`storage.wal_compression_level`
//! other than 0; logs written before it have plain payloads, read as before);
//! the checksum covers the payload as stored. A torn frame at the end of the last segment (a crash
//! in the middle of an append, which was never acknowledged) is cut off on
//! open. Appends are not fsynced: like RocksDB's own WAL before, a process
//! crash (kill -9) loses nothing written, a power loss may.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::Mutex;
use xxhash_rust::xxh3::Xxh3;

use crate::error::StorageError;

const HEADER: usize = 4 + 8 + 8;
/// Set in a frame's length when its payload is zstd-compressed.
const COMPRESSED: u32 = 1 << 31;
/// Largest payload a frame's length can hold.
const MAX_PAYLOAD: usize = (COMPRESSED - 1) as usize;

/// The segment-file log.
#[derive(Debug)]
pub(crate) struct SegmentLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Compresses payloads, when the log is set to (the single writer's).
    compressor: Option<Mutex<Compressing>>,
}

/// The compressor and its scratch buffer for a record's plain bytes.
struct Compressing {
    zstd: zstd::bulk::Compressor<'static>,
    plain: Vec<u8>,
}

impl std::fmt::Debug for Compressing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compressing")
    }
}

#[derive(Debug, Default)]
struct State {
    /// First sequence of every segment on disk, the open one last.
    segments: BTreeMap<u64, PathBuf>,
    /// The segment appends go to, with its first sequence and length.
    open: Option<(u64, File, u64)>,
    /// Highest sequence appended or replayed.
    last_seq: Option<u64>,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::Io(format!("write-ahead log: {what} {}: {e}", path.display()))
}

fn checksum(seq: u64, payload: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.digest()
}

/// Appends one frame to `buf`: the payload as stored, and whether it is
/// compressed.
fn frame(buf: &mut Vec<u8>, seq: u64, stored: &[u8], compressed: bool) {
    let flag = if compressed { COMPRESSED } else { 0 };
    buf.extend_from_slice(&(stored.len() as u32 | flag).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&checksum(seq, stored).to_le_bytes());
    buf.extend_from_slice(stored);
}

/// One intact frame: its sequence, its payload as stored, and whether that
/// is compressed.
struct Frame {
    seq: u64,
    stored: Bytes,
    compressed: bool,
}

/// The intact frames at the start of `data`, and the length they cover.
fn parse(data: &Bytes) -> (Vec<Frame>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while data.len() - at >= HEADER {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(data[at + 4..at + 12].try_into().expect("8 bytes"));
        let sum = u64::from_le_bytes(data[at + 12..at + 20].try_into().expect("8 bytes"));
        let end = at + HEADER + (len & !COMPRESSED) as usize;
        if end > data.len() || checksum(seq, &data[at + HEADER..end]) != sum {
            break;
        }
        out.push(Frame {
            seq,
            stored: data.slice(at + HEADER..end),
            compressed: len & COMPRESSED != 0,
        });
        at = end;
    }
    (out, at)
}

/// A record's payload from its frame.
fn payload(frame: Frame, path: &Path) -> Result<Bytes, StorageError> {
    if !frame.compressed {
        return Ok(frame.stored);
    }
    zstd::stream::decode_all(&frame.stored[..])
        .map(Bytes::from)
        .map_err(|e| {
            StorageError::Corrupt(format!(
                "write-ahead log: record {} in {} does not decompress: {e}",
                frame.seq,
                path.display()
            ))
        })
}

/// Refuses a payload too long for a frame's length field.
fn check_len(len: usize) -> Result<(), StorageError> {
    if len > MAX_PAYLOAD {
        return Err(StorageError::Io(format!(
            "write-ahead log: a record of {len} bytes is over the {MAX_PAYLOAD} a frame holds"
        )));
    }
    Ok(())
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.log")
}

impl SegmentLog {
    /// Opens the log in `dir` (created if missing) and calls `visit` with
    /// every intact record, oldest segment first.
    pub(crate) fn open(
        dir: &Path,
        segment_bytes: u64,
        mut visit: impl FnMut(u64, Bytes) -> Result<(), StorageError>,
    ) -> Result<SegmentLog, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let mut state = State::default();
        for entry in std::fs::read_dir(dir).map_err(|e| io_error("cannot list", dir, e))? {
            let entry = entry.map_err(|e| io_error("cannot list", dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(first) = name.strip_suffix(".log").and_then(|n| n.parse().ok()) {
                state.segments.insert(first, entry.path());
            }
        }
        let last = state.segments.keys().next_back().copied();
        for (first, path) in &state.segments {
            let mut data = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| io_error("cannot read", path, e))?;
            let data = Bytes::from(data);
            let (records, valid) = parse(&data);
            if valid < data.len() {
                tracing::warn!(segment = %path.display(), valid, total = data.len(),
                    "write-ahead segment ends in a torn or corrupt record; the rest is ignored");
                if Some(*first) == last {
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(valid as u64))
                        .map_err(|e| io_error("cannot truncate", path, e))?;
                }
            }
            for frame in records {
                let seq = frame.seq;
                state.last_seq = Some(state.last_seq.map_or(seq, |l| l.max(seq)));
                visit(seq, payload(frame, path)?)?;
            }
        }
        Ok(SegmentLog {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
            state: Mutex::new(state),
            compressor: None,
        })
    }

    /// Compresses every payload appended from now on with zstd at `level`
    /// (0: payloads are stored as they are).
    pub(crate) fn compressed(mut self, level: i32) -> Result<SegmentLog, StorageError> {
        self.compressor = match level {
            0 => None,
            level => {
                let zstd = zstd::bulk::Compressor::new(level).map_err(|e| {
                    StorageError::Io(format!(
                        "write-ahead log: no zstd compressor at level {level}: {e}"
                    ))
                })?;
                Some(Mutex::new(Compressing {
                    zstd,
                    plain: Vec::new(),
                }))
            }
        };
        Ok(self)
    }

    /// Frames `plain` into `buf`, compressed when the log is set to.
    fn push_frame(
        &self,
        buf: &mut Vec<u8>,
        seq: u64,
        plain: &[u8],
        compressing: Option<&mut Compressing>,
    ) -> Result<(), StorageError> {
        let Some(compressing) = compressing else {
            check_len(plain.len())?;
            frame(buf, seq, plain, false);
            return Ok(());
        };
        let stored = compressing
            .zstd
            .compress(plain)
            .map_err(|e| StorageError::Io(format!("write-ahead log: compression failed: {e}")))?;
        check_len(stored.len())?;
        frame(buf, seq, &stored, true);
        Ok(())
    }

    /// Highest sequence appended or replayed.
    pub(crate) fn last_seq(&self) -> Option<u64> {
        self.state.lock().last_seq
    }

    /// Appends the records (ascending sequences) with one write.
    pub(crate) fn append(&self, records: &[(u64, Vec<u8>)]) -> Result<(), StorageError> {
        let mut buf = Vec::with_capacity(records.iter().map(|(_, p)| p.len() + HEADER).sum());
        let mut compressing = self.compressor.as_ref().map(|c| c.lock());
        for (seq, payload) in records {
            self.push_frame(&mut buf, *seq, payload, compressing.as_deref_mut())?;
        }
        drop(compressing);
        match (records.first(), records.last()) {
            (Some((first, _)), Some((last, _))) => self.write(*first, *last, &buf),
            _ => Ok(()),
        }
    }

    /// Appends `count` records with sequences from `first_seq` on, the
    /// payload of record `i` written by `encode(i, buf)`, with one write.
    pub(crate) fn append_with(
        &self,
        first_seq: u64,
        count: usize,
        mut encode: impl FnMut(usize, &mut Vec<u8>),
    ) -> Result<(), StorageError> {
        if count == 0 {
            return Ok(());
        }
        let mut buf = Vec::new();
        if let Some(compressor) = &self.compressor {
            let mut compressing = compressor.lock();
            for i in 0..count {
                let mut plain = std::mem::take(&mut compressing.plain);
                plain.clear();
                encode(i, &mut plain);
                let framed = self.push_frame(
                    &mut buf,
                    first_seq + i as u64,
                    &plain,
                    Some(&mut compressing),
                );
                compressing.plain = plain;
                framed?;
            }
            drop(compressing);
            return self.write(first_seq, first_seq + count as u64 - 1, &buf);
        }
        for i in 0..count {
            let seq = first_seq + i as u64;
            let at = buf.len();
            buf.extend_from_slice(&[0; HEADER]);
            encode(i, &mut buf);
            let len = buf.len() - at - HEADER;
            check_len(len)?;
            let sum = checksum(seq, &buf[at + HEADER..]);
            buf[at..at + 4].copy_from_slice(&(len as u32).to_le_bytes());
            buf[at + 4..at + 12].copy_from_slice(&seq.to_le_bytes());
            buf[at + 12..at + 20].copy_from_slice(&sum.to_le_bytes());
        }
        self.write(first_seq, first_seq + count as u64 - 1, &buf)
    }

    /// Writes framed records `first..=last` to the open segment, starting a
    /// new one when there is none or it is full.
    fn write(&self, first: u64, last: u64, buf: &[u8]) -> Result<(), StorageError> {
        let mut state = self.state.lock();
        if state
            .open
            .as_ref()
            .is_none_or(|(_, _, len)| *len >= self.segment_bytes)
        {
            let path = self.dir.join(segment_name(first));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_error("cannot create", &path, e))?;
            state.segments.insert(first, path);
            state.open = Some((first, file, 0));
        }
        let (first_of_open, file, len) = state.open.as_mut().expect("segment just opened");
        if let Err(e) = file.write_all(buf) {
            let path = self.dir.join(segment_name(*first_of_open));
            // A partial frame would hide every later one from a replay:
            // start a new segment for the next append.
            state.open = None;
            return Err(io_error("cannot append to", &path, e));
        }
        *len += buf.len() as u64;
        state.last_seq = Some(last);
        Ok(())
    }

    /// Deletes every segment all of whose records are below `low` (the
    /// lowest sequence still needed). Returns the number deleted.
    pub(crate) fn trim(&self, low: u64) -> Result<usize, StorageError> {
        let mut state = self.state.lock();
        let firsts: Vec<u64> = state.segments.keys().copied().collect();
        let all_below = state.last_seq.is_none_or(|l| l < low);
        let open_first = state.open.as_ref().map(|(f, _, _)| *f);
        let mut deleted = 0;
        for (i, first) in firsts.iter().enumerate() {
            // A segment's records end where the next segment begins.
            let done = match firsts.get(i + 1) {
                Some(next) => *next <= low,
                None => all_below,
            };
            if !done {
                break;
            }
            if Some(*first) == open_first {
                state.open = None;
            }
            if let Some(path) = state.segments.remove(first) {
                std::fs::remove_file(&path).map_err(|e| io_error("cannot delete", &path, e))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Bytes of every segment on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.state
            .lock()
            .segments
            .values()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Forces appended records to the disk (shutdown).
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        if let Some((first, file, _)) = self.state.lock().open.as_ref() {
            file.sync_data()
                .map_err(|e| io_error("cannot sync", &self.dir.join(segment_name(*first)), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(dir: &Path) -> (SegmentLog, Vec<(u64, Vec<u8>)>) {
        let mut seen = Vec::new();
        let log = SegmentLog::open(dir, 64, |seq, p| {
            seen.push((seq, p.to_vec()));
            Ok(())
        })
        .unwrap();
        (log, seen)
    }

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn appended_records_come_back_in_order_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, seen) = replay(dir.path());
            assert!(seen.is_empty());
            log.append(&[(1, b"one".to_vec()), (2, b"two".to_vec())])
                .unwrap();
            log.append(&[(3, vec![7; 100])]).unwrap();
            log.append(&[(4, b"four".to_vec())]).unwrap();
        }
        let (log, seen) = replay(dir.path());
        let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(seen[2].1, vec![7; 100]);
        assert_eq!(log.last_seq(), Some(4));
        // 64-byte segments: the 100-byte record filled the first one.
        assert_eq!(files(dir.path()), 2);
    }

    #[test]
    fn trim_deletes_whole_segments_below_the_lowest_needed_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = replay(dir.path());
        for seq in 1..=6u64 {
            log.append(&[(seq, vec![0; 50])]).unwrap();
        }
        assert_eq!(files(dir.path()), 6);
        assert_eq!(log.trim(4).unwrap(), 3);
        assert_eq!(files(dir.path()), 3);
        // Nothing below 4 is still needed, 4 itself is.
        drop(log);
        let (log, seen) = replay(dir.path());
        assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(log.trim(7).unwrap(), 3);
        assert_eq!(files(dir.path()), 0);
        log.append(&[(7, b"after".to_vec())]).unwrap();
        drop(log);
        let (_, seen) = replay(dir.path());
        assert_eq!(seen, [(7, b"after".to_vec())]);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = replay(dir.path());
            log.append(&[(1, b"kept".to_vec())]).unwrap();
            log.append(&[(2, b"torn".to_vec())]).unwrap();
        }
        let path = dir.path().join(segment_name(1));
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        {
            let (log, seen) = replay(dir.path());
            assert_eq!(seen, [(1, b"kept".to_vec())]);
            log.append(&[(2, b"again".to_vec())]).unwrap();
        }
        let (_, seen) = replay(dir.path());
        assert_eq!(seen, [(1, b"kept".to_vec()), (2, b"again".to_vec())]);
    }

    #[test]
    fn records_encoded_in_place_read_back_like_appended_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = replay(dir.path());
            log.append_with(10, 3, |i, buf| buf.extend_from_slice(&[i as u8; 5]))
                .unwrap();
            log.append(&[(13, b"x".to_vec())]).unwrap();
        }
        let (log, seen) = replay(dir.path());
        assert_eq!(
            seen,
            [
                (10, vec![0; 5]),
                (11, vec![1; 5]),
                (12, vec![2; 5]),
                (13, b"x".to_vec())
            ]
        );
        assert_eq!(log.last_seq(), Some(13));
    }

    #[test]
    fn a_corrupt_record_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = replay(dir.path());
            log.append(&[(1, b"abc".to_vec())]).unwrap();
        }
        let path = dir.path().join(segment_name(1));
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&path, data).unwrap();
        let (_, seen) = replay(dir.path());
        assert!(seen.is_empty());
    }

    /// A record whose bytes repeat, as span records do (names, keys).
    fn repetitive(seq: u64) -> Vec<u8> {
        format!("{seq}:service=checkout operation=GET /cart http.method=GET ")
            .repeat(40)
            .into_bytes()
    }

    #[test]
    fn compressed_records_come_back_as_written_and_take_less_room() {
        for level in [1, -1, crate::config::WAL_FASTEST_LEVEL] {
            compressed_records_come_back_at(level);
        }
    }

    fn compressed_records_come_back_at(level: i32) {
        let plain_dir = tempfile::tempdir().unwrap();
        let packed_dir = tempfile::tempdir().unwrap();
        let records: Vec<(u64, Vec<u8>)> = (1..=5).map(|s| (s, repetitive(s))).collect();
        {
            let (plain, _) = replay(plain_dir.path());
            plain.append(&records).unwrap();
            let (packed, _) = replay(packed_dir.path());
            let packed = packed.compressed(level).unwrap();
            packed.append(&records[..2]).unwrap();
            packed
                .append_with(3, 3, |i, buf| {
                    buf.extend_from_slice(&repetitive(3 + i as u64))
                })
                .unwrap();
            assert!(
                packed.disk_bytes() * 4 < plain.disk_bytes(),
                "level {level}: {} compressed against {} plain",
                packed.disk_bytes(),
                plain.disk_bytes()
            );
        }
        let (_, seen) = replay(packed_dir.path());
        assert_eq!(seen, records);
    }

    #[test]
    fn a_log_written_before_compression_reads_on_and_takes_compressed_appends() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Written by a version that stored payloads as they were.
            let (log, _) = replay(dir.path());
            log.append(&[(1, repetitive(1)), (2, b"two".to_vec())])
                .unwrap();
        }
        {
            let (log, seen) = replay(dir.path());
            assert_eq!(seen, [(1, repetitive(1)), (2, b"two".to_vec())]);
            let log = log.compressed(3).unwrap();
            log.append(&[(3, repetitive(3))]).unwrap();
        }
        // And a reader set not to compress still reads compressed records.
        let (_, seen) = replay(dir.path());
        assert_eq!(
            seen,
            [(1, repetitive(1)), (2, b"two".to_vec()), (3, repetitive(3))]
        );
    }

    #[test]
    fn a_torn_compressed_tail_is_cut_off_like_a_plain_one() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = replay(dir.path());
            let log = log.compressed(1).unwrap();
            log.append(&[(1, repetitive(1))]).unwrap();
            log.append(&[(2, repetitive(2))]).unwrap();
        }
        // The last segment holds the last record.
        let path = dir.path().join(segment_name(2));
        assert!(path.exists(), "each 64-byte segment holds one record");
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (_, seen) = replay(dir.path());
        assert_eq!(seen, [(1, repetitive(1))]);
    }
}
