//! The partition logs of this broker on disk: one directory per partition,
//! `<log dir>/<topic>-<partition>/`, with Kafka's `partition.metadata` naming the topic id, so
//! a topic deleted and re-created under the same name never reuses old data. New partitions go
//! to the log directory holding the fewest partitions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

use crate::log::{Log, LogConfig, LogError, RecoveryReport};
use crate::storage::cluster_id::{uuid_from_string, uuid_to_string};

const PARTITION_METADATA: &str = "partition.metadata";
/// Suffix of a partition directory scheduled for deletion (as Kafka's `-delete`).
const DELETE_SUFFIX: &str = "-delete";

#[derive(Debug, thiserror::Error)]
pub enum LogManagerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("no online log directory can hold {0}")]
    NoOnlineDir(String),
    #[error("cannot write {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// `<topic>-<partition>` as Kafka names partition directories.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Parses a partition directory name (the topic may itself contain '-').
pub fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    let p: i32 = p.parse().ok()?;
    (!topic.is_empty() && p >= 0 && !topic.starts_with("__cluster_metadata"))
        .then(|| (topic.to_string(), p))
}

fn read_topic_id(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|v| uuid_from_string(v.trim()))
}

fn write_topic_id(dir: &Path, id: &Uuid) -> Result<(), LogManagerError> {
    let path = dir.join(PARTITION_METADATA);
    let tmp = dir.join(format!("{PARTITION_METADATA}.tmp"));
    let io = |cause| LogManagerError::Io {
        path: path.clone(),
        cause,
    };
    std::fs::write(
        &tmp,
        format!("version: 0\ntopic_id: {}\n", uuid_to_string(id)),
    )
    .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

/// A log directory: path, whether it is offline, and the partitions in it.
pub type LogDirState = (PathBuf, bool, Vec<(String, i32)>);

#[derive(Debug)]
struct LogDir {
    path: PathBuf,
    offline: bool,
}

/// Which directory holds which partition.
pub struct LogManager {
    dirs: Mutex<Vec<LogDir>>,
    placed: Mutex<BTreeMap<(String, i32), PathBuf>>,
}

impl LogManager {
    /// Scans `dirs` for existing partition directories (removing ones left half-deleted).
    pub fn new(dirs: &[PathBuf]) -> LogManager {
        let mut placed = BTreeMap::new();
        for d in dirs {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(DELETE_SUFFIX) {
                    let _ = std::fs::remove_dir_all(e.path());
                    continue;
                }
                if e.path().is_dir()
                    && let Some(tp) = parse_partition_dir(&name)
                {
                    placed.insert(tp, e.path());
                }
            }
        }
        LogManager {
            dirs: Mutex::new(
                dirs.iter()
                    .map(|p| LogDir {
                        path: p.clone(),
                        offline: false,
                    })
                    .collect(),
            ),
            placed: Mutex::new(placed),
        }
    }

    /// Partitions found on disk.
    pub fn existing(&self) -> Vec<(String, i32)> {
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Opens the partition's log, creating it in the least loaded online directory. A
    /// directory of another topic id (a deleted topic of the same name) is removed first.
    pub fn open(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Uuid,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<(Log, RecoveryReport), LogManagerError> {
        let key = (topic.to_string(), partition);
        let existing = self
            .placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(dir) = &existing {
            match read_topic_id(dir) {
                Some(id) if id != topic_id => {
                    tracing::info!(dir = %dir.display(), "removing the log of a deleted topic of the same name");
                    self.remove_dir(&key, dir);
                }
                _ => {
                    let (log, report) = Log::open(dir, config, now_ms)?;
                    write_topic_id(dir, &topic_id)?;
                    return Ok((log, report));
                }
            }
        }
        let parent = self
            .choose_dir()
            .ok_or_else(|| LogManagerError::NoOnlineDir(partition_dir_name(topic, partition)))?;
        let dir = parent.join(partition_dir_name(topic, partition));
        let (log, report) = Log::open(&dir, config, now_ms)?;
        write_topic_id(&dir, &topic_id)?;
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, dir);
        Ok((log, report))
    }

    /// Deletes a partition's directory (renamed first so a crash never leaves a half-deleted
    /// log that looks live).
    pub fn delete(&self, topic: &str, partition: i32) {
        let key = (topic.to_string(), partition);
        let dir = self
            .placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(dir) = dir {
            self.remove_dir(&key, &dir);
        }
    }

    fn remove_dir(&self, key: &(String, i32), dir: &Path) {
        let doomed = dir.with_file_name(format!(
            "{}.{}{DELETE_SUFFIX}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            Uuid::new_v4().simple()
        ));
        if std::fs::rename(dir, &doomed).is_ok() {
            let _ = std::fs::remove_dir_all(&doomed);
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.placed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Marks the directory holding `path` offline after an I/O error (ADR 0004).
    pub fn mark_offline(&self, path: &Path) -> Option<PathBuf> {
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let d = dirs.iter_mut().find(|d| path.starts_with(&d.path))?;
        if d.offline {
            return None;
        }
        d.offline = true;
        Some(d.path.clone())
    }

    /// Log directories still online.
    pub fn online_dirs(&self) -> usize {
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|d| !d.offline)
            .count()
    }

    pub fn offline_dirs(&self) -> usize {
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|d| d.offline)
            .count()
    }

    /// Every log directory with its offline state and the partitions in it.
    pub fn dirs(&self) -> Vec<LogDirState> {
        let dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let placed = self.placed.lock().unwrap_or_else(|e| e.into_inner());
        dirs.iter()
            .map(|d| {
                let parts = placed
                    .iter()
                    .filter(|(_, p)| p.starts_with(&d.path))
                    .map(|(k, _)| k.clone())
                    .collect();
                (d.path.clone(), d.offline, parts)
            })
            .collect()
    }

    fn choose_dir(&self) -> Option<PathBuf> {
        let dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let placed = self.placed.lock().unwrap_or_else(|e| e.into_inner());
        dirs.iter()
            .filter(|d| !d.offline)
            .min_by_key(|d| placed.values().filter(|p| p.starts_with(&d.path)).count())
            .map(|d| d.path.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names_round_trip() {
        assert_eq!(parse_partition_dir("orders-3"), Some(("orders".into(), 3)));
        assert_eq!(parse_partition_dir("a-b-c-12"), Some(("a-b-c".into(), 12)));
        assert_eq!(parse_partition_dir("orders"), None);
        assert_eq!(parse_partition_dir("__cluster_metadata-0"), None);
        assert_eq!(parse_partition_dir("-1"), None);
    }

    #[test]
    fn logs_spread_over_dirs_survive_reopen_and_a_new_topic_id_starts_empty() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let m = LogManager::new(&dirs);
        let id = Uuid::from_u128(1);
        let batch = crate::log::batch::encode_uncompressed(0, 0, [b"v".as_slice()], 0);
        for p in 0..4 {
            let (mut log, _) = m.open("t", p, id, LogConfig::default(), 0).unwrap();
            log.append_as_leader(batch.clone(), 0, 0, false).unwrap();
            log.flush().unwrap();
        }
        let per_dir: Vec<usize> = m.dirs().iter().map(|(_, _, p)| p.len()).collect();
        assert_eq!(per_dir, vec![2, 2]);
        drop(m);
        let m = LogManager::new(&dirs);
        assert_eq!(m.existing().len(), 4);
        let (log, _) = m.open("t", 0, id, LogConfig::default(), 0).unwrap();
        assert_eq!(log.log_end_offset(), 1);
        drop(log);
        let (log, _) = m
            .open("t", 0, Uuid::from_u128(2), LogConfig::default(), 0)
            .unwrap();
        assert_eq!(
            log.log_end_offset(),
            0,
            "a re-created topic does not see old data"
        );
        drop(log);
        m.delete("t", 1);
        assert_eq!(m.existing().len(), 3);
    }
}
