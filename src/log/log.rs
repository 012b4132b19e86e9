//! One partition directory (`<topic>-<partition>`): its segments, log start and end offsets,
//! leader epoch cache and recovery point. Synchronous; callers decide when to flush.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::batch::RecordBatch;
use super::config::LogConfig;
use super::epoch_cache::LeaderEpochCache;
use super::error::LogError;
use super::segment::{Segment, file_stem};

const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
const LOG_START: &str = "log-start-offset-checkpoint";

/// What opening the log found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub recovered_segments: usize,
    pub truncated_bytes: u64,
    pub deleted_segments: usize,
}

/// Offsets of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub batches: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct FlushInfo {
    pub duration: Duration,
    pub flushed_to: i64,
}

#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    recovery_point: i64,
    /// The recovery point in the checkpoint file, and when it was written.
    checkpointed: (i64, Instant),
    epochs: LeaderEpochCache,
    /// The epoch cache has entries its checkpoint file lacks (written at the next flush).
    epochs_dirty: bool,
    /// Counts truncations, so a flush of rolled segments prepared before one is not applied.
    truncations: u64,
}

/// Rolled segments not yet flushed, with their files opened again: `sync` runs without the
/// log (and its partition) locked, then `Log::mark_flushed` advances the recovery point.
#[derive(Debug)]
pub struct RolledFlush {
    files: Vec<(PathBuf, std::fs::File)>,
    upto: i64,
    truncations: u64,
}

impl RolledFlush {
    pub fn sync(&self) -> Result<(), LogError> {
        for (path, f) in &self.files {
            f.sync_all().map_err(LogError::io(path))?;
        }
        Ok(())
    }
}

/// How often a flush also rewrites the recovery-point checkpoint (Kafka's
/// `log.flush.offset.checkpoint.interval.ms` default). Writing it atomically costs three more
/// fsyncs (file, rename, directory), too many to pay on every flush of a log that flushes per
/// acknowledgement. A checkpoint that lags only makes recovery after a crash re-validate more
/// segments; truncations, which move the recovery point back, write it at once.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

fn read_i64_file(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write_i64_file(path: &Path, v: i64) -> Result<(), LogError> {
    crate::atomic_file::write(path, format!("{v}\n").as_bytes()).map_err(|cause| LogError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering segments after the recovery point.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(Log, RecoveryReport), LogError> {
        std::fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(LogError::io(dir))? {
            let entry = entry.map_err(LogError::io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".log")
                && stem.len() == 20
                && let Ok(base) = stem.parse::<i64>()
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let recovery_point = read_i64_file(&dir.join(RECOVERY_POINT)).unwrap_or(0);
        let mut report = RecoveryReport {
            segments: bases.len(),
            ..Default::default()
        };
        let mut segments = BTreeMap::new();
        let mut cut_after: Option<i64> = None;
        let mut recovered_epochs: Vec<(i32, i64)> = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            if cut_after.is_some() {
                // Everything after a truncated segment is not a continuation of the log.
                for ext in ["log", "index", "timeindex"] {
                    let p = dir.join(format!("{}.{ext}", file_stem(*base)));
                    let _ = std::fs::remove_file(p);
                }
                report.deleted_segments += 1;
                continue;
            }
            let is_last = i + 1 == bases.len();
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let recover = is_last || next_base > recovery_point;
            let (mut seg, r) = Segment::open(
                dir,
                *base,
                config.index_interval_bytes,
                config.index_max_bytes,
                recover,
                now_ms,
            )?;
            if recover {
                report.recovered_segments += 1;
                recovered_epochs.extend_from_slice(&r.epoch_starts);
            }
            if r.truncated_bytes > 0 {
                tracing::warn!(
                    segment = %dir.join(format!("{}.log", file_stem(*base))).display(),
                    truncated_bytes = r.truncated_bytes,
                    valid_bytes = r.valid_bytes,
                    "truncated a torn or corrupt tail during recovery"
                );
                report.truncated_bytes += r.truncated_bytes;
                if !is_last {
                    cut_after = Some(*base);
                }
            }
            if recover && !is_last && cut_after.is_none() {
                // A recovered segment that is not the last one is sealed again: its indexes
                // leave memory, so a log keeps at most the active segment's two mappings.
                seg.seal()?;
            }
            segments.insert(*base, seg);
        }
        // The last kept segment is the active one: make sure its indexes are writable.
        if let Some((base, last)) = segments.iter_mut().next_back()
            && last.mapped_indexes() == 0
        {
            let b = *base;
            last.truncate_to(i64::MAX, config.index_max_bytes)?;
            debug_assert_eq!(last.base_offset(), b);
        }
        let first_base = segments.keys().next().copied();
        let log_start_offset = read_i64_file(&dir.join(LOG_START))
            .unwrap_or(0)
            .max(first_base.unwrap_or(0));
        if segments.is_empty() {
            segments.insert(
                log_start_offset,
                Segment::create(
                    dir,
                    log_start_offset,
                    config.index_interval_bytes,
                    config.index_max_bytes,
                    now_ms,
                )?,
            );
        }
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            recovery_point,
            checkpointed: (recovery_point, crate::clock::instant_now()),
            epochs: LeaderEpochCache::empty(dir),
            epochs_dirty: false,
            truncations: 0,
        };
        let end = log.log_end_offset();
        log.epochs = match LeaderEpochCache::load(dir) {
            Some(mut c) => {
                // The checkpoint holds every epoch of the data below the recovery point (a
                // flush writes both); epochs of the recovered segments come from their
                // batches, so an epoch the crash kept out of the file is not lost.
                let mut changed = c.truncate_from_end(end);
                for (epoch, offset) in recovered_epochs {
                    if offset >= log.log_start_offset {
                        changed |= c.assign(epoch, offset);
                    }
                }
                if changed {
                    c.persist()?;
                }
                c
            }
            None => log.rebuild_epoch_cache()?,
        };
        log.recovery_point = log.recovery_point.min(end);
        Ok((log, report))
    }

    /// Rebuilds the epoch cache from the batch headers (checkpoint missing or unreadable).
    fn rebuild_epoch_cache(&self) -> Result<LeaderEpochCache, LogError> {
        let mut cache = LeaderEpochCache::empty(&self.dir);
        let mut offset = self.log_start_offset;
        let end = self.log_end_offset();
        while offset < end {
            let Some(bytes) = self.read(offset, 1 << 20, end, true)? else {
                break;
            };
            for b in RecordBatch::split_all(bytes)? {
                cache.assign(b.partition_leader_epoch(), b.base_offset());
                offset = b.next_offset();
            }
        }
        cache.persist()?;
        Ok(cache)
    }

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

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
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
        let parsed = RecordBatch::split_all(batches)?;
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

    /// Removes every record at or after `offset` (raft divergence, replica truncation).
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64, LogError> {
        if offset >= self.log_end_offset() {
            return Ok(0);
        }
        let offset = offset.max(self.log_start_offset);
        let mut removed = 0;
        let later: Vec<i64> = self.segments.range(offset + 1..).map(|(b, _)| *b).collect();
        for base in later {
            if self.segments.len() == 1 {
                break;
            }
            let seg = self.segments.remove(&base).expect("listed");
            removed += seg.size();
            seg.delete()?;
        }
        let index_max = self.config.index_max_bytes;
        self.truncations += 1;
        removed += self.active_mut().truncate_to(offset, index_max)?;
        if self.epochs.truncate_from_end(self.log_end_offset()) || self.epochs_dirty {
            self.epochs.persist()?;
            self.epochs_dirty = false;
        }
        // A whole batch straddling the start can take the end below it: the log is then empty
        // and starts where it ends.
        if self.log_end_offset() < self.log_start_offset {
            self.log_start_offset = self.log_end_offset();
            write_i64_file(&self.dir.join(LOG_START), self.log_start_offset)?;
        }
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        self.write_checkpoint()?;
        Ok(removed)
    }

    /// Deletes everything and restarts the log at `offset` (after installing a snapshot).
    pub fn truncate_fully_and_start_at(
        &mut self,
        offset: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let all: Vec<i64> = self.segments.keys().copied().collect();
        for base in all {
            let seg = self.segments.remove(&base).expect("listed");
            seg.delete()?;
        }
        self.segments.insert(
            offset,
            Segment::create(
                &self.dir,
                offset,
                self.config.index_interval_bytes,
                self.config.index_max_bytes,
                now_ms,
            )?,
        );
        self.log_start_offset = offset;
        self.recovery_point = offset;
        self.truncations += 1;
        self.epochs.clear();
        self.epochs.persist()?;
        self.epochs_dirty = false;
        write_i64_file(&self.dir.join(LOG_START), offset)?;
        self.write_checkpoint()
    }

    /// The sealed segments above the recovery point, to flush without holding the log.
    pub fn rolled_unflushed(&self) -> Result<Option<RolledFlush>, LogError> {
        let upto = self.active().base_offset();
        if upto <= self.recovery_point {
            return Ok(None);
        }
        let mut files = Vec::new();
        for seg in self.segments.values() {
            if seg.base_offset() < upto && seg.next_offset() > self.recovery_point {
                files.extend(seg.reopen_files()?);
            }
        }
        Ok(Some(RolledFlush {
            files,
            upto,
            truncations: self.truncations,
        }))
    }

    /// Advances the recovery point over rolled segments that `flushed` made durable, unless
    /// the log was truncated since it was prepared.
    pub fn mark_flushed(&mut self, flushed: RolledFlush) -> Result<(), LogError> {
        if flushed.truncations != self.truncations || flushed.upto <= self.recovery_point {
            return Ok(());
        }
        // Epochs first, as in `flush`: the recovery point promises them.
        if self.epochs_dirty {
            self.epochs.persist()?;
            self.epochs_dirty = false;
        }
        self.recovery_point = flushed.upto;
        if self.checkpointed.1.elapsed() >= CHECKPOINT_INTERVAL {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    fn write_checkpoint(&mut self) -> Result<(), LogError> {
        write_i64_file(&self.dir.join(RECOVERY_POINT), self.recovery_point)?;
        self.checkpointed = (self.recovery_point, crate::clock::instant_now());
        Ok(())
    }

    /// Writes the recovery-point checkpoint if it lags the recovery point (clean shutdown,
    /// or a caller that wants recovery after a crash to start from here).
    pub fn checkpoint(&mut self) -> Result<(), LogError> {
        if self.checkpointed.0 != self.recovery_point {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// Advances the log start offset to `offset` (DeleteRecords, snapshot cleaning), deleting
    /// whole segments below it. Never deletes the active segment.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<usize, LogError> {
        let offset = offset.min(self.log_end_offset());
        if offset <= self.log_start_offset {
            return Ok(0);
        }
        self.log_start_offset = offset;
        write_i64_file(&self.dir.join(LOG_START), offset)?;
        let mut deleted = 0;
        loop {
            let mut it = self.segments.iter();
            let (Some((b0, s0)), Some(_)) = (it.next(), it.next()) else {
                break;
            };
            if s0.next_offset() > offset {
                break;
            }
            let b0 = *b0;
            self.segments.remove(&b0).expect("listed").delete()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Deletes sealed segments past `retention` age (by their newest timestamp) or while the
    /// log exceeds `retention_bytes`. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        loop {
            if self.segments.len() < 2 {
                break;
            }
            let (base, seg) = self.segments.iter().next().expect("non-empty");
            let too_old = self.config.retention.is_some_and(|r| {
                seg.max_timestamp() >= 0 && now_ms - seg.max_timestamp() > r.as_millis() as i64
            });
            let too_big = self
                .config
                .retention_bytes
                .is_some_and(|limit| self.size_bytes() - seg.size() >= limit);
            if !(too_old || too_big) {
                break;
            }
            let (base, next) = (*base, seg.next_offset());
            self.segments.remove(&base).expect("listed").delete()?;
            self.log_start_offset = self.log_start_offset.max(next);
            deleted += 1;
        }
        if deleted > 0 {
            write_i64_file(&self.dir.join(LOG_START), self.log_start_offset)?;
        }
        Ok(deleted)
    }

    /// Makes everything appended so far durable and advances the recovery point.
    pub fn flush(&mut self) -> Result<FlushInfo, LogError> {
        let started = crate::clock::instant_now();
        let end = self.log_end_offset();
        if end > self.recovery_point || self.recovery_point == 0 {
            let from = self.recovery_point;
            for (_, seg) in self.segments.range(..) {
                if seg.next_offset() > from {
                    seg.flush()?;
                }
            }
        }
        // The epochs first: a recovery point on disk promises that every epoch starting below
        // it is in the epoch file (recovery only re-reads epochs above it).
        if self.epochs_dirty {
            self.epochs.persist()?;
            self.epochs_dirty = false;
        }
        if end > self.recovery_point || self.recovery_point == 0 {
            self.recovery_point = end;
            if self.checkpointed.1.elapsed() >= CHECKPOINT_INTERVAL {
                self.write_checkpoint()?;
            }
        }
        Ok(FlushInfo {
            duration: started.elapsed(),
            flushed_to: end,
        })
    }

    /// Flushes and seals the active segment's indexes (clean shutdown).
    pub fn close(mut self) -> Result<(), LogError> {
        self.flush()?;
        self.checkpoint()?;
        self.active_mut().seal()
    }
}
