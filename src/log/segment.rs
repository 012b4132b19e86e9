//! One segment: `<base offset, 20 digits>.log` holding RecordBatch v2 batches byte-for-byte,
//! with its sparse `.index` and `.timeindex`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::batch::{HEADER_SIZE, LOG_OVERHEAD, RecordBatch};
use super::error::LogError;
use super::index::{IndexFile, OFFSET_ENTRY, TIME_ENTRY, floor_search};

/// File name stem of a segment: the base offset with 20 digits.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// A sealed offset index is usable when it has whole entries that increase and point inside
/// the log file.
fn sealed_index_consistent(path: &Path, log_size: u64) -> Result<bool, LogError> {
    if !path.exists() {
        return Ok(false);
    }
    let index = IndexFile::open_sealed(path, OFFSET_ENTRY)?;
    if !index.has_whole_entries() {
        return Ok(false);
    }
    let mut prev = -1i64;
    let mut e = [0u8; OFFSET_ENTRY];
    for i in 0..index.len() {
        index.read(i, &mut e)?;
        let rel = i64::from(u32::from_be_bytes(e[..4].try_into().expect("4")));
        let pos = u64::from(u32::from_be_bytes(e[4..].try_into().expect("4")));
        if rel <= prev || pos >= log_size {
            return Ok(false);
        }
        prev = rel;
    }
    Ok(true)
}

/// The header fields a scan needs, read without the records.
#[derive(Debug, Clone, Copy)]
struct BatchHead {
    base_offset: i64,
    size: u64,
    last_offset: i64,
    max_timestamp: i64,
}

/// What recovering a segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentRecovery {
    pub valid_bytes: u64,
    pub truncated_bytes: u64,
    pub batches: u64,
    /// Where each partition leader epoch starts among the valid batches, in log order (the
    /// leader-epoch checkpoint may not have them: it is written at flushes).
    pub epoch_starts: Vec<(i32, i64)>,
}

#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: File,
    size: u64,
    index: IndexFile,
    time_index: IndexFile,
    next_offset: i64,
    max_timestamp: i64,
    bytes_since_index: u64,
    created_ms: i64,
    index_interval: u64,
}

impl Segment {
    fn paths(dir: &Path, base: i64) -> (PathBuf, PathBuf, PathBuf) {
        let stem = file_stem(base);
        (
            dir.join(format!("{stem}.log")),
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        )
    }

    /// A new, empty active segment.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
        index_max_bytes: u64,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let (log_path, index_path, time_path) = Self::paths(dir, base_offset);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            size: 0,
            index: IndexFile::create_active(&index_path, OFFSET_ENTRY, index_max_bytes)?,
            time_index: IndexFile::create_active(&time_path, TIME_ENTRY, index_max_bytes)?,
            next_offset: base_offset,
            max_timestamp: -1,
            bytes_since_index: 0,
            created_ms: now_ms,
            index_interval,
        })
    }

    /// Opens an existing segment. With `recover`, every batch is validated, a torn or corrupt
    /// tail is cut at the last valid batch, and both indexes are rebuilt; the segment is then
    /// active (mapped indexes). Without it, the sealed indexes are checked and rebuilt only when
    /// missing or inconsistent.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
        index_max_bytes: u64,
        recover: bool,
        now_ms: i64,
    ) -> Result<(Segment, SegmentRecovery), LogError> {
        let (log_path, index_path, time_path) = Self::paths(dir, base_offset);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        let size = log.metadata().map_err(LogError::io(&log_path))?.len();
        let created_ms = log
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now_ms, |d| d.as_millis() as i64);
        let sealed_ok = !recover
            && time_path.exists()
            && IndexFile::open_sealed(&time_path, TIME_ENTRY).is_ok_and(|i| i.has_whole_entries())
            && sealed_index_consistent(&index_path, size)?;
        let (index, time_index) = if sealed_ok {
            (
                IndexFile::open_sealed(&index_path, OFFSET_ENTRY)?,
                IndexFile::open_sealed(&time_path, TIME_ENTRY)?,
            )
        } else {
            (
                IndexFile::create_active(&index_path, OFFSET_ENTRY, index_max_bytes)?,
                IndexFile::create_active(&time_path, TIME_ENTRY, index_max_bytes)?,
            )
        };
        let mut seg = Segment {
            base_offset,
            log_path,
            log,
            size,
            index,
            time_index,
            next_offset: base_offset,
            max_timestamp: -1,
            bytes_since_index: 0,
            created_ms,
            index_interval,
        };
        if sealed_ok {
            seg.next_offset = seg.scan_next_offset()?;
            return Ok((
                seg,
                SegmentRecovery {
                    valid_bytes: size,
                    ..Default::default()
                },
            ));
        }
        if !recover {
            tracing::warn!(segment = %seg.log_path.display(), "index missing or inconsistent; rebuilding it");
        }
        let report = seg.recover()?;
        if !recover {
            seg.seal()?;
        }
        Ok((seg, report))
    }

    /// Makes a sealed segment writable again (after a truncation made it the last one):
    /// fresh mapped indexes rebuilt from the log.
    fn activate(&mut self, index_max_bytes: u64) -> Result<(), LogError> {
        let index_path = self.index.path().to_path_buf();
        let time_path = self.time_index.path().to_path_buf();
        self.index = IndexFile::create_active(&index_path, OFFSET_ENTRY, index_max_bytes)?;
        self.time_index = IndexFile::create_active(&time_path, TIME_ENTRY, index_max_bytes)?;
        self.recover()?;
        Ok(())
    }

    /// Validates every batch, truncates after the last valid one and rebuilds the indexes.
    fn recover(&mut self) -> Result<SegmentRecovery, LogError> {
        self.index.truncate_entries(0)?;
        self.time_index.truncate_entries(0)?;
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.next_offset = self.base_offset;
        let mut pos = 0u64;
        let mut batches = 0;
        let mut epoch_starts: Vec<(i32, i64)> = Vec::new();
        let mut expected = self.base_offset;
        while pos < self.size {
            let Some(batch) = self.read_valid_batch(pos)? else {
                break;
            };
            // Offsets continue exactly from the segment's base (the CRC does not cover the
            // base offset, so this is what catches a damaged one).
            if batch.base_offset() != expected {
                break;
            }
            let size = batch.size() as u64;
            let epoch = batch.partition_leader_epoch();
            if epoch_starts.last().is_none_or(|(e, _)| *e < epoch) {
                epoch_starts.push((epoch, batch.base_offset()));
            }
            self.index_batch(&batch, pos);
            expected = batch.next_offset();
            self.next_offset = expected;
            pos += size;
            batches += 1;
        }
        let truncated = self.size - pos;
        if truncated > 0 {
            self.log
                .set_len(pos)
                .map_err(LogError::io(&self.log_path))?;
            self.log.sync_all().map_err(LogError::io(&self.log_path))?;
            self.size = pos;
        }
        Ok(SegmentRecovery {
            valid_bytes: pos,
            truncated_bytes: truncated,
            batches,
            epoch_starts,
        })
    }

    /// The full batch at `pos` if it is complete and valid.
    fn read_valid_batch(&self, pos: u64) -> Result<Option<RecordBatch>, LogError> {
        let mut head = [0u8; LOG_OVERHEAD];
        if pos + LOG_OVERHEAD as u64 > self.size {
            return Ok(None);
        }
        self.log
            .read_exact_at(&mut head, pos)
            .map_err(LogError::io(&self.log_path))?;
        let Some(size) = RecordBatch::size_at(&head).filter(|s| *s >= HEADER_SIZE) else {
            return Ok(None);
        };
        if pos + size as u64 > self.size {
            return Ok(None);
        }
        let mut buf = BytesMut::zeroed(size);
        self.log
            .read_exact_at(&mut buf, pos)
            .map_err(LogError::io(&self.log_path))?;
        Ok(RecordBatch::parse(buf.freeze()).ok())
    }

    fn head_at(&self, pos: u64) -> Result<BatchHead, LogError> {
        let mut h = [0u8; 43];
        self.log
            .read_exact_at(&mut h, pos)
            .map_err(LogError::io(&self.log_path))?;
        let base_offset = i64::from_be_bytes(h[0..8].try_into().expect("8"));
        let len = i32::from_be_bytes(h[8..12].try_into().expect("4"));
        let delta = i32::from_be_bytes(h[23..27].try_into().expect("4"));
        let max_timestamp = i64::from_be_bytes(h[35..43].try_into().expect("8"));
        Ok(BatchHead {
            base_offset,
            size: LOG_OVERHEAD as u64 + len.max(0) as u64,
            last_offset: base_offset + i64::from(delta),
            max_timestamp,
        })
    }

    /// Next offset of a sealed segment: walk from the last index entry to the end.
    fn scan_next_offset(&mut self) -> Result<i64, LogError> {
        let mut pos = match self.index.len() {
            0 => 0,
            n => self.offset_entry(n - 1)?.1,
        };
        let mut next = self.base_offset;
        while pos < self.size {
            let h = self.head_at(pos)?;
            next = h.last_offset + 1;
            self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
            pos += h.size;
        }
        if !self.time_index.is_empty() {
            let (ts, _) = self.time_entry(self.time_index.len() - 1)?;
            self.max_timestamp = self.max_timestamp.max(ts);
        }
        Ok(next)
    }

    fn offset_entry(&self, i: usize) -> Result<(i64, u64), LogError> {
        let mut e = [0u8; OFFSET_ENTRY];
        self.index.read(i, &mut e)?;
        Ok((
            i64::from(u32::from_be_bytes(e[..4].try_into().expect("4"))),
            u64::from(u32::from_be_bytes(e[4..].try_into().expect("4"))),
        ))
    }

    fn time_entry(&self, i: usize) -> Result<(i64, i64), LogError> {
        let mut e = [0u8; TIME_ENTRY];
        self.time_index.read(i, &mut e)?;
        Ok((
            i64::from_be_bytes(e[..8].try_into().expect("8")),
            i64::from(u32::from_be_bytes(e[8..].try_into().expect("4"))),
        ))
    }

    /// Adds index entries for a batch written at `pos` (every `index_interval` bytes).
    fn index_batch(&mut self, batch: &RecordBatch, pos: u64) {
        let size = batch.size() as u64;
        if self.index.is_empty() || self.bytes_since_index >= self.index_interval {
            let mut e = [0u8; OFFSET_ENTRY];
            e[..4]
                .copy_from_slice(&((batch.base_offset() - self.base_offset) as u32).to_be_bytes());
            e[4..].copy_from_slice(&(pos as u32).to_be_bytes());
            if self.index.append(&e) {
                self.bytes_since_index = 0;
            }
            if batch.max_timestamp() > self.max_timestamp {
                let mut t = [0u8; TIME_ENTRY];
                t[..8].copy_from_slice(&batch.max_timestamp().to_be_bytes());
                t[8..].copy_from_slice(
                    &((batch.base_offset() - self.base_offset) as u32).to_be_bytes(),
                );
                self.time_index.append(&t);
            }
        }
        self.bytes_since_index += size;
        self.max_timestamp = self.max_timestamp.max(batch.max_timestamp());
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }
    pub fn mapped_indexes(&self) -> usize {
        usize::from(self.index.is_mapped()) + usize::from(self.time_index.is_mapped())
    }
    /// Whether an index is full (the segment must roll).
    pub fn indexes_full(&self) -> bool {
        (self.index.is_mapped() && self.index.is_full())
            || (self.time_index.is_mapped() && self.time_index.is_full())
    }

    /// Appends a validated batch whose offsets continue this segment.
    pub fn append(&mut self, batch: &RecordBatch) -> Result<(), LogError> {
        let pos = self.size;
        self.log
            .write_all_at(batch.bytes(), pos)
            .map_err(LogError::io(&self.log_path))?;
        self.size += batch.size() as u64;
        self.index_batch(batch, pos);
        self.next_offset = batch.next_offset();
        Ok(())
    }

    /// Position of the first batch whose last offset is `>= offset`, if any.
    fn position_of(&self, offset: i64) -> Result<Option<(u64, BatchHead)>, LogError> {
        let rel = offset - self.base_offset;
        let start = match floor_search(self.index.len(), rel, |i| Ok(self.offset_entry(i)?.0))? {
            Some(i) => self.offset_entry(i)?.1,
            None => 0,
        };
        let mut pos = start;
        while pos < self.size {
            let h = self.head_at(pos)?;
            if h.last_offset >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size;
        }
        Ok(None)
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (at least one batch
    /// when `min_one`), stopping before any batch that reaches `upper_bound`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<Option<Bytes>, LogError> {
        let Some((start, first)) = self.position_of(offset)? else {
            return Ok(None);
        };
        if first.last_offset >= upper_bound {
            return Ok(None);
        }
        let mut end = start;
        let mut pos = start;
        while pos < self.size {
            let h = self.head_at(pos)?;
            if h.last_offset >= upper_bound {
                break;
            }
            let grown = (pos + h.size - start) as usize;
            if grown > max_bytes && !(min_one && end == start) {
                break;
            }
            pos += h.size;
            end = pos;
            if grown >= max_bytes {
                break;
            }
        }
        if end == start {
            return Ok(None);
        }
        let mut buf = BytesMut::zeroed((end - start) as usize);
        self.log
            .read_exact_at(&mut buf, start)
            .map_err(LogError::io(&self.log_path))?;
        Ok(Some(buf.freeze()))
    }

    /// Base offset of the first batch whose max timestamp is `>= ts`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<i64>, LogError> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        // Start from the time index entry before the target, then walk batch headers.
        let start_rel =
            match floor_search(self.time_index.len(), ts - 1, |i| Ok(self.time_entry(i)?.0))? {
                Some(i) => self.time_entry(i)?.1,
                None => 0,
            };
        let mut pos = match self.position_of(self.base_offset + start_rel)? {
            Some((p, _)) => p,
            None => return Ok(None),
        };
        while pos < self.size {
            let h = self.head_at(pos)?;
            if h.max_timestamp >= ts {
                return Ok(Some(h.base_offset));
            }
            pos += h.size;
        }
        Ok(None)
    }

    /// Removes every batch whose last offset is `>= offset`; the segment becomes the active
    /// one. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: i64, index_max_bytes: u64) -> Result<u64, LogError> {
        let pos = self.position_of(offset)?.map_or(self.size, |(p, _)| p);
        let removed = self.size - pos;
        self.log
            .set_len(pos)
            .map_err(LogError::io(&self.log_path))?;
        self.size = pos;
        self.activate(index_max_bytes)?;
        Ok(removed)
    }

    pub fn flush(&self) -> Result<(), LogError> {
        self.log.sync_data().map_err(LogError::io(&self.log_path))?;
        self.index.flush()?;
        self.time_index.flush()
    }

    /// Stops writing without waiting for the disk (a roll): the indexes are trimmed and
    /// unmapped; the data becomes durable at the next flush of the log.
    pub fn seal_unsynced(&mut self) -> Result<(), LogError> {
        self.index.seal_unsynced()?;
        self.time_index.seal_unsynced()
    }

    /// The segment's three files, opened again, to fsync them without holding the log.
    pub fn reopen_files(&self) -> Result<Vec<(PathBuf, File)>, LogError> {
        let log = self.log.try_clone().map_err(LogError::io(&self.log_path))?;
        Ok(vec![
            (self.log_path.clone(), log),
            self.index.reopen()?,
            self.time_index.reopen()?,
        ])
    }

    /// Stops writing: flushes and trims the indexes (they are no longer mapped).
    pub fn seal(&mut self) -> Result<(), LogError> {
        self.log.sync_all().map_err(LogError::io(&self.log_path))?;
        self.index.seal()?;
        self.time_index.seal()
    }

    /// Deletes the segment's files.
    pub fn delete(self) -> Result<(), LogError> {
        let index = self.index.path().to_path_buf();
        let time = self.time_index.path().to_path_buf();
        let log = self.log_path.clone();
        drop(self);
        for p in [log, index, time] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&p)(e)),
            }
        }
        Ok(())
    }
}
