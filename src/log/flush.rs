//! Durability: flushing segments, the recovery point and its checkpoint file, and flushing
//! rolled segments without holding the log.

use std::path::PathBuf;
use std::time::Duration;

use super::error::LogError;
use super::log::{Log, RECOVERY_POINT, write_i64_file};

#[derive(Debug, Clone, Copy)]
pub struct FlushInfo {
    pub duration: Duration,
    pub flushed_to: i64,
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

impl Log {
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

    pub(super) fn write_checkpoint(&mut self) -> Result<(), LogError> {
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
