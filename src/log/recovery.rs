//! Opening a log directory after a clean shutdown or a crash: finding its segments,
//! recovering those above the recovery point (truncating a torn tail), dropping what follows
//! a truncated segment, and restoring the leader epoch cache.

use std::collections::BTreeMap;
use std::path::Path;

use super::batch::RecordBatch;
use super::config::LogConfig;
use super::epoch_cache::LeaderEpochCache;
use super::error::LogError;
use super::log::{LOG_START, Log, RECOVERY_POINT, read_i64_file};
use super::segment::{Segment, file_stem};

/// What opening the log found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub recovered_segments: usize,
    pub truncated_bytes: u64,
    pub deleted_segments: usize,
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering segments after the recovery point.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(Log, RecoveryReport), LogError> {
        std::fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        let bases = segment_bases(dir)?;
        let recovery_point = read_i64_file(&dir.join(RECOVERY_POINT)).unwrap_or(0);
        let mut report = RecoveryReport {
            segments: bases.len(),
            ..Default::default()
        };
        let OpenedSegments {
            mut segments,
            recovered_epochs,
        } = open_segments(dir, &bases, recovery_point, &config, now_ms, &mut report)?;
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
        log.epochs = log.recovered_epoch_cache(recovered_epochs)?;
        log.recovery_point = log.recovery_point.min(log.log_end_offset());
        Ok((log, report))
    }

    /// The epoch cache after recovery: the checkpoint file, cut at the log end, plus the
    /// epochs that the recovered segments start; rebuilt from the batches without a checkpoint.
    fn recovered_epoch_cache(
        &self,
        recovered_epochs: Vec<(i32, i64)>,
    ) -> Result<LeaderEpochCache, LogError> {
        let end = self.log_end_offset();
        Ok(match LeaderEpochCache::load(&self.dir) {
            Some(mut c) => {
                // The checkpoint holds every epoch of the data below the recovery point (a
                // flush writes both); epochs of the recovered segments come from their
                // batches, so an epoch the crash kept out of the file is not lost.
                let mut changed = c.truncate_from_end(end);
                for (epoch, offset) in recovered_epochs {
                    if offset >= self.log_start_offset {
                        changed |= c.assign(epoch, offset);
                    }
                }
                if changed {
                    c.persist()?;
                }
                c
            }
            None => self.rebuild_epoch_cache()?,
        })
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
}

/// The base offsets of the segments in `dir` (files `<20 digits>.log`), in order.
fn segment_bases(dir: &Path) -> Result<Vec<i64>, LogError> {
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
    Ok(bases)
}

/// The segments kept by recovery, by base offset, and the epoch starts (epoch, offset) found
/// in the recovered ones.
struct OpenedSegments {
    segments: BTreeMap<i64, Segment>,
    recovered_epochs: Vec<(i32, i64)>,
}

/// Opens the segments at `bases`, recovering the last one and those that reach above the
/// recovery point; every segment after one whose tail had to be truncated is deleted.
fn open_segments(
    dir: &Path,
    bases: &[i64],
    recovery_point: i64,
    config: &LogConfig,
    now_ms: i64,
    report: &mut RecoveryReport,
) -> Result<OpenedSegments, LogError> {
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
                // The target this warning had before recovery moved out of log.rs, so log
                // filters (`RUST_LOG=kraftd::log::log=...`) keep matching it.
                target: "kraftd::log::log",
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
    Ok(OpenedSegments {
        segments,
        recovered_epochs,
    })
}
