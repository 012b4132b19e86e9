//! Producer state snapshot files, in Kafka's format so a partition directory stays readable by
//! Kafka's tools: `<partition dir>/<offset, 20 digits>.snapshot`, where the offset is the log
//! end offset the state corresponds to.
//!
//! Layout (big-endian), version 1:
//! ```text
//! version i16 (1) | crc u32 (CRC-32C of everything after it) | entry count i32 | entries…
//! entry: producer_id i64, epoch i16, last_sequence i32, last_offset i64, offset_delta i32,
//!        timestamp i64, coordinator_epoch i32, current_txn_first_offset i64 (-1: none)
//! ```
//! Only each producer's last batch is stored, so after a restart duplicates of its older cached
//! batches are no longer recognised (as in Kafka).
//!
//! This is the only part of the producer state that does IO ([`recover`] also reads the log).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{
    BatchMetadata, NO_SEQUENCE, ProducerStateEntry, ProducerStateManager, decrement_sequence,
};
use crate::log::{Log, LogError, RecordBatch};

pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
pub const SNAPSHOT_VERSION: i16 = 1;
/// How many snapshot files [`write_snapshot`] keeps.
pub const SNAPSHOTS_TO_KEEP: usize = 2;
const CRC_END: usize = 6;
const ENTRY_SIZE: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file is unreadable as a snapshot; the caller rebuilds the state from the log.
    #[error("corrupt producer snapshot {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("reading the log to rebuild producer state: {0}")]
    Log(#[from] LogError),
    #[error("I/O error on producer snapshot {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |cause| SnapshotError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// `<dir>/<offset, 20 digits>.snapshot`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// Serialises the state (pure).
pub fn encode(state: &ProducerStateManager) -> Vec<u8> {
    let entries: Vec<&ProducerStateEntry> = state.entries().collect();
    let mut out = Vec::with_capacity(10 + entries.len() * ENTRY_SIZE);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        let last = e.batches.back();
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.producer_epoch.to_be_bytes());
        out.extend_from_slice(&last.map_or(NO_SEQUENCE, |b| b.last_seq).to_be_bytes());
        out.extend_from_slice(&last.map_or(-1, |b| b.last_offset).to_be_bytes());
        let delta = last.map_or(0, |b| (b.last_offset - b.first_offset) as i32);
        out.extend_from_slice(&delta.to_be_bytes());
        out.extend_from_slice(&e.last_timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let crc = crc32c::crc32c(&out[CRC_END..]);
    out[2..CRC_END].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Parses snapshot bytes (pure); `path` only names the file in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Vec<ProducerStateEntry>, SnapshotError> {
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < 10 {
        return Err(corrupt(format!(
            "{} bytes is shorter than the header",
            bytes.len()
        )));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != SNAPSHOT_VERSION {
        return Err(corrupt(format!("unknown snapshot version {version}")));
    }
    let stored = u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(&bytes[CRC_END..]);
    if stored != computed {
        return Err(corrupt(format!(
            "CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    let count = i32::from_be_bytes(bytes[6..10].try_into().expect("4 bytes"));
    if count < 0 || bytes.len() - 10 != count as usize * ENTRY_SIZE {
        return Err(corrupt(format!(
            "{count} entries do not match {} bytes",
            bytes.len()
        )));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for raw in bytes[10..].chunks_exact(ENTRY_SIZE) {
        let i64_at = |at: usize| i64::from_be_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
        let i32_at = |at: usize| i32::from_be_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        let producer_id = i64_at(0);
        let producer_epoch = i16::from_be_bytes([raw[8], raw[9]]);
        let last_seq = i32_at(10);
        let last_offset = i64_at(14);
        let offset_delta = i32_at(22);
        let timestamp = i64_at(26);
        let coordinator_epoch = i32_at(34);
        let txn_first = i64_at(38);
        let mut e = ProducerStateEntry::empty(producer_id);
        e.producer_epoch = producer_epoch;
        e.last_timestamp = timestamp;
        e.coordinator_epoch = coordinator_epoch;
        e.current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
        if last_offset >= 0 {
            e.batches.push_back(BatchMetadata {
                first_seq: decrement_sequence(last_seq, offset_delta),
                last_seq,
                first_offset: last_offset - i64::from(offset_delta),
                last_offset,
                timestamp,
            });
        }
        entries.push(e);
    }
    Ok(entries)
}

/// Snapshot files in `dir`, by offset (ascending).
pub fn list_snapshots(dir: &Path) -> Result<Vec<(i64, PathBuf)>, SnapshotError> {
    let mut out = Vec::new();
    for de in fs::read_dir(dir).map_err(io_err(dir))? {
        let de = de.map_err(io_err(dir))?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) else {
            continue;
        };
        if let Ok(offset) = stem.parse::<i64>() {
            out.push((offset, de.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the state as `<dir>/<map end offset>.snapshot` (temporary file, fsync, rename) and
/// keeps only the latest [`SNAPSHOTS_TO_KEEP`] snapshots.
pub fn write_snapshot(dir: &Path, state: &ProducerStateManager) -> Result<PathBuf, SnapshotError> {
    let path = snapshot_path(dir, state.map_end_offset());
    let tmp = path.with_extension("snapshot.tmp");
    let bytes = encode(state);
    {
        let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let all = list_snapshots(dir)?;
    if all.len() > SNAPSHOTS_TO_KEEP {
        for (_, p) in &all[..all.len() - SNAPSHOTS_TO_KEEP] {
            remove(p)?;
        }
    }
    Ok(path)
}

/// Reads one snapshot file.
pub fn read_snapshot(path: &Path) -> Result<Vec<ProducerStateEntry>, SnapshotError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    decode(&bytes, path)
}

/// The state from the latest readable snapshot at or below `max_offset` (the log end offset),
/// with its offset. Corrupt snapshots are deleted and the next older one is tried, as Kafka
/// does; `None` means the caller rebuilds from the log start. Producers expired by `now_ms`
/// are dropped.
pub fn load_latest(
    dir: &Path,
    max_offset: i64,
    now_ms: i64,
    expiration_ms: i64,
) -> Result<Option<ProducerStateManager>, SnapshotError> {
    let all = list_snapshots(dir)?;
    for (offset, path) in all.into_iter().rev() {
        if offset > max_offset {
            continue;
        }
        match read_snapshot(&path) {
            Ok(entries) => {
                return Ok(Some(ProducerStateManager::from_entries(
                    offset,
                    entries,
                    now_ms,
                    expiration_ms,
                )));
            }
            Err(SnapshotError::Corrupt { .. }) => remove(&path)?,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Rebuilds a partition's producer state when its log is opened: the latest readable snapshot
/// in `dir` within (log start, log end] (as Kafka, snapshots at or below the log start are not
/// used), then the log's batches from there to the log end, then expiration at `now_ms`.
/// Snapshots above the log end (left by a truncation) are deleted.
pub fn recover(
    dir: &Path,
    log: &Log,
    now_ms: i64,
    expiration_ms: i64,
) -> Result<ProducerStateManager, SnapshotError> {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    delete_snapshots_above(dir, end)?;
    let mut state = match load_latest(dir, end, now_ms, expiration_ms)? {
        Some(s) if s.map_end_offset() > start => s,
        _ => ProducerStateManager::new(start),
    };
    let mut offset = state.map_end_offset();
    while offset < end {
        let Some(bytes) = log.read(offset, 1 << 20, end, true)? else {
            break;
        };
        let batches = RecordBatch::split_all(bytes)?;
        let Some(last) = batches.last() else { break };
        let next = last.next_offset();
        state.load_from_batches(&batches);
        if next <= offset {
            break;
        }
        offset = next;
    }
    state.update_map_end_offset(end);
    state.remove_expired_producers(now_ms, expiration_ms);
    Ok(state)
}

/// Deletes snapshots above `offset` (after the log was truncated to end at `offset`).
pub fn delete_snapshots_above(dir: &Path, offset: i64) -> Result<usize, SnapshotError> {
    let mut n = 0;
    for (o, p) in list_snapshots(dir)? {
        if o > offset {
            remove(&p)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Deletes snapshots below `offset` (the log start moved past them).
pub fn delete_snapshots_before(dir: &Path, offset: i64) -> Result<usize, SnapshotError> {
    let mut n = 0;
    for (o, p) in list_snapshots(dir)? {
        if o < offset {
            remove(&p)?;
            n += 1;
        }
    }
    Ok(n)
}

fn remove(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SnapshotError::Io {
            path: path.to_path_buf(),
            cause: e,
        }),
        _ => Ok(()),
    }
}
