//! The leader epoch cache (`leader-epoch-checkpoint`): for each epoch, the first offset written
//! in it. Answers "end offset for epoch" (OffsetForLeaderEpoch, KRaft divergence checks) and is
//! truncated with the log.

use std::path::{Path, PathBuf};

use super::error::LogError;

pub const FILE: &str = "leader-epoch-checkpoint";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEpochCache {
    path: PathBuf,
    /// (epoch, start offset), both increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint; `None` when it is missing or unreadable (the caller rebuilds it).
    pub fn load(dir: &Path) -> Option<LeaderEpochCache> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        let mut lines = text.lines();
        if lines.next()?.trim() != "0" {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut entries = Vec::with_capacity(count.min(text.len()));
        for line in lines.take(count) {
            let (e, o) = line.trim().split_once(' ')?;
            entries.push((e.parse().ok()?, o.parse().ok()?));
        }
        if entries.len() != count
            || entries
                .windows(2)
                .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
        {
            return None;
        }
        Some(LeaderEpochCache { path, entries })
    }

    pub fn empty(dir: &Path) -> LeaderEpochCache {
        LeaderEpochCache {
            path: dir.join(FILE),
            entries: Vec::new(),
        }
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `offset` if it is newer than the latest. Returns whether
    /// the cache changed.
    pub fn assign(&mut self, epoch: i32, offset: i64) -> bool {
        match self.entries.last() {
            Some((last, _)) if *last >= epoch => false,
            _ => {
                self.entries.push((epoch, offset));
                true
            }
        }
    }

    /// The largest epoch `<= epoch` and where it ends (the next epoch's start, or `log_end`).
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> Option<(i32, i64)> {
        let i = self.entries.iter().rposition(|(e, _)| *e <= epoch)?;
        let end = self.entries.get(i + 1).map_or(log_end, |(_, o)| *o);
        Some((self.entries[i].0, end))
    }

    /// Forgets epochs starting at or after `offset` (log truncation).
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, o)| *o < offset);
        before != self.entries.len()
    }

    /// Forgets everything (the log restarted at a new offset).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Writes the checkpoint durably (temp file, fsync, rename).
    pub fn persist(&self) -> Result<(), LogError> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            text.push_str(&format!("{e} {o}\n"));
        }
        crate::atomic_file::write(&self.path, text.as_bytes()).map_err(|cause| LogError::Io {
            path: self.path.clone(),
            cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_lookup_truncate_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        assert!(c.assign(1, 0));
        assert!(!c.assign(1, 5));
        assert!(c.assign(3, 10));
        assert_eq!(c.end_offset_for(1, 20), Some((1, 10)));
        assert_eq!(c.end_offset_for(2, 20), Some((1, 10)));
        assert_eq!(c.end_offset_for(5, 20), Some((3, 20)));
        assert_eq!(c.end_offset_for(0, 20), None);
        c.persist().unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap(), c);
        assert!(c.truncate_from_end(10));
        assert_eq!(c.latest_epoch(), Some(1));
        std::fs::write(dir.path().join(FILE), "0\n2\n1 0\n").unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_none());
    }
}
