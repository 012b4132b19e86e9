//! One partition directory (`<topic>-<partition>`): its segments, log start and end offsets,
//! leader epoch cache and recovery point. Synchronous; callers decide when to flush.
//!
//! Opening and recovery live in `recovery`, durability in `flush`, the log start in
//! `retention` and the log end in `truncation`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use super::batch::RecordBatch;
use super::config::LogConfig;
use super::epoch_cache::LeaderEpochCache;
use super::error::LogError;
use super::segment::Segment;

pub(super) const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
pub(super) const LOG_START: &str = "log-start-offset-checkpoint";

/// Offsets of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub batches: usize,
}

#[derive(Debug)]
pub struct Log {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    pub(super) segments: BTreeMap<i64, Segment>,
    pub(super) log_start_offset: i64,
    pub(super) recovery_point: i64,
    /// The recovery point in the checkpoint file, and when it was written.
    pub(super) checkpointed: (i64, Instant),
    pub(super) epochs: LeaderEpochCache,
    /// The epoch cache has entries its checkpoint file lacks (written at the next flush).
    pub(super) epochs_dirty: bool,
    /// Counts truncations, so a flush of rolled segments prepared before one is not applied.
    pub(super) truncations: u64,
}

/// The number in a checkpoint file; `None` when it is missing or unreadable.
pub(super) fn read_i64_file(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Replaces a checkpoint file atomically.
pub(super) fn write_i64_file(path: &Path, v: i64) -> Result<(), LogError> {
    crate::atomic_file::write(path, format!("{v}\n").as_bytes()).map_err(|cause| LogError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

impl Log {
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }
    pub fn epoch_entries(&self) -> &[(i32, i64)] {
        self.epochs.entries()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }
    /// Memory maps held by the log's indexes (only the active segment maps its indexes).
    pub fn mapped_indexes(&self) -> usize {
        self.segments.values().map(Segment::mapped_indexes).sum()
    }

    pub(super) fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    pub(super) fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }

    /// The largest epoch `<= epoch` and the offset where it ends.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    fn maybe_roll(&mut self, incoming: usize, now_ms: i64) -> Result<(), LogError> {
        let a = self.active();
        let full = a.size() + incoming as u64 > self.config.segment_bytes;
        let old = now_ms - a.created_ms() >= self.config.roll.as_millis() as i64;
        if !a.is_empty() && (full || old || a.indexes_full()) {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end offset.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let next = self.log_end_offset();
        if self.active().is_empty() {
            return Ok(());
        }
        // No fsync here (it held the partition for tens of milliseconds per 64 MiB on the
        // Produce path): the next flush, or the maintenance timer's `rolled_unflushed`, makes
        // the sealed segment durable; until then it lies above the recovery point.
        self.active_mut().seal_unsynced()?;
        let seg = Segment::create(
            &self.dir,
            next,
            self.config.index_interval_bytes,
            self.config.index_max_bytes,
            now_ms,
        )?;
        self.segments.insert(next, seg);
        Ok(())
    }

    fn write(&mut self, batches: Vec<RecordBatch>, now_ms: i64) -> Result<AppendInfo, LogError> {
        let first = batches
            .first()
            .map_or(self.log_end_offset(), RecordBatch::base_offset);
        let mut info = AppendInfo {
            first_offset: first,
            last_offset: first - 1,
            max_timestamp: -1,
            batches: batches.len(),
        };
        let mut epochs_changed = false;
        for b in &batches {
            self.maybe_roll(b.size(), now_ms)?;
            self.active_mut().append(b)?;
            epochs_changed |= self
                .epochs
                .assign(b.partition_leader_epoch(), b.base_offset());
            info.last_offset = b.last_offset();
            info.max_timestamp = info.max_timestamp.max(b.max_timestamp());
        }
        // Not persisted here: fsyncing the checkpoint on the append path stalled the first
        // Produce of every new leader epoch (Kafka moved it off that path too, KAFKA-15046).
        // The next flush writes it; recovery re-reads epochs from the unflushed segments.
        self.epochs_dirty |= epochs_changed;
        Ok(info)
    }

    fn validate_sizes(&self, batches: &[RecordBatch]) -> Result<(), LogError> {
        for b in batches {
            if b.size() > self.config.max_batch_bytes {
                return Err(LogError::TooLarge {
                    size: b.size(),
                    max: self.config.max_batch_bytes,
                });
            }
        }
        Ok(())
    }

    /// Appends batches as the leader: validates every batch first (nothing is written if any
    /// fails), assigns offsets from the log end and the leader epoch, optionally stamps
    /// LogAppendTime.
    pub fn append_as_leader(
        &mut self,
        batches: Bytes,
        leader_epoch: i32,
        now_ms: i64,
        log_append_time: bool,
    ) -> Result<AppendInfo, LogError> {
        let parsed = RecordBatch::split_all(batches)?;
        if parsed.is_empty() {
            return Err(LogError::InvalidRecord("no record batch to append".into()));
        }
        self.validate_sizes(&parsed)?;
        let mut next = self.log_end_offset();
        let assigned: Vec<RecordBatch> = parsed
            .iter()
            .map(|b| {
                let a = b.with_assigned(next, leader_epoch, log_append_time.then_some(now_ms));
                next = a.next_offset();
                a
            })
            .collect();
        self.write(assigned, now_ms)
    }

    /// Appends batches replicated from a leader, with their offsets as given: the first must
    /// start at the log end offset and each must follow the previous (no gaps or overlaps).
    pub fn append_as_follower(
        &mut self,
        batches: Bytes,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.append_parsed_as_follower(RecordBatch::split_all(batches)?, now_ms)
    }

    /// [`Self::append_as_follower`] for batches the caller already split and validated.
    pub fn append_parsed_as_follower(
        &mut self,
        parsed: Vec<RecordBatch>,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.validate_sizes(&parsed)?;
        let mut expected = self.log_end_offset();
        for b in &parsed {
            if b.base_offset() != expected {
                return Err(LogError::NonContiguous {
                    expected,
                    got: b.base_offset(),
                });
            }
            expected = b.next_offset();
        }
        self.write(parsed, now_ms)
    }

    /// Whole batches from the one containing `offset` up to `max_bytes` (the first batch may
    /// exceed it when `min_one`), none reaching `upper_bound`. `None` when nothing is readable
    /// at `offset` below the bound.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<Option<Bytes>, LogError> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OutOfRange {
                offset,
                start: self.log_start_offset,
                end,
            });
        }
        let bound = upper_bound.min(end);
        let start_seg = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(self.log_start_offset, |(b, _)| *b);
        for (_, seg) in self.segments.range(start_seg..) {
            if seg.next_offset() <= offset {
                continue;
            }
            if seg.base_offset() >= bound {
                return Ok(None);
            }
            return seg.read(offset, max_bytes, bound, min_one);
        }
        Ok(None)
    }

    /// The base offset of the first batch with a timestamp `>= ts` (ListOffsets by time).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<i64>, LogError> {
        for seg in self.segments.values() {
            if let Some(o) = seg.offset_for_timestamp(ts)? {
                return Ok(Some(o.max(self.log_start_offset)));
            }
        }
        Ok(None)
    }
}
