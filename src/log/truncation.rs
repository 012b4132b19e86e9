//! Where the log ends: truncation after a raft divergence or a replica's, and the full
//! restart of the log at a snapshot's offset.

use super::error::LogError;
use super::log::{LOG_START, Log, write_i64_file};
use super::segment::Segment;

impl Log {
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
}
