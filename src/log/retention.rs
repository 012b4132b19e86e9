//! Where the log starts: DeleteRecords and retention by age and size move the log start
//! offset forward and delete the whole segments below it.

use super::error::LogError;
use super::log::{LOG_START, Log, write_i64_file};

impl Log {
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
    /// log exceeds `retention_bytes`, never one holding offsets at or above `upper_bound` (a
    /// replica's high watermark: uncommitted records stay). Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64, upper_bound: i64) -> Result<usize, LogError> {
        let mut deleted = 0;
        loop {
            if self.segments.len() < 2 {
                break;
            }
            let (base, seg) = self.segments.iter().next().expect("non-empty");
            if seg.next_offset() > upper_bound {
                break;
            }
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
}
