//! Where and how logs are kept: the log directories, the partition log settings (`log.*`)
//! and the metadata log and snapshot settings (`metadata.*`).

use std::path::PathBuf;
use std::time::Duration;

use super::reader::Reader;

/// Partition log settings (the `log.*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub segment_bytes: u64,
    pub roll: Duration,
    /// `None` keeps data forever (`-1`).
    pub retention: Option<Duration>,
    /// `None` means no size limit (`-1`).
    pub retention_bytes: Option<u64>,
    pub index_interval_bytes: u64,
    pub index_size_max_bytes: u64,
    pub flush_interval_messages: u64,
    pub flush_interval: Option<Duration>,
    pub flush_before_ack: bool,
}

/// Metadata log and snapshot settings (`metadata.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSettings {
    pub log_segment_bytes: u64,
    pub log_segment: Duration,
    pub max_record_bytes_between_snapshots: u64,
    /// `None` disables time-based snapshots.
    pub max_snapshot_interval: Option<Duration>,
    pub max_retention_bytes: Option<u64>,
    pub max_retention: Option<Duration>,
    /// `None` disables the idle NoOpRecord.
    pub max_idle_interval: Option<Duration>,
}

impl Reader<'_> {
    pub(super) fn log_dirs(&mut self) -> Vec<PathBuf> {
        let dirs = self.list_of("log.dirs", |s| Ok(PathBuf::from(s)));
        if !dirs.is_empty() {
            return dirs;
        }
        let (dir, _) = self.value("log.dir").unwrap_or_default();
        vec![PathBuf::from(dir)]
    }

    /// `metadata.log.dir`, else the first log dir.
    pub(super) fn metadata_log_dir(&mut self, log_dirs: &[PathBuf]) -> PathBuf {
        self.opt_string("metadata.log.dir")
            .map(PathBuf::from)
            .or_else(|| log_dirs.first().cloned())
            .unwrap_or_else(|| PathBuf::from("/tmp/kafka-logs"))
    }

    pub(super) fn log_settings(&mut self) -> LogSettings {
        LogSettings {
            segment_bytes: self.int_in::<u64>("log.segment.bytes", 14, i32::MAX as u64),
            roll: self
                .retention_like(&["log.roll.ms"], &[("log.roll.hours", 3_600_000)], false)
                .unwrap_or(Duration::from_secs(168 * 3600)),
            retention: self.retention_like(
                &["log.retention.ms"],
                &[
                    ("log.retention.minutes", 60_000),
                    ("log.retention.hours", 3_600_000),
                ],
                true,
            ),
            retention_bytes: self.optional_limit("log.retention.bytes"),
            index_interval_bytes: self.int_in::<u64>(
                "log.index.interval.bytes",
                0,
                i32::MAX as u64,
            ),
            index_size_max_bytes: self.int_in::<u64>(
                "log.index.size.max.bytes",
                4,
                i32::MAX as u64,
            ),
            flush_interval_messages: self.int_in::<u64>(
                "log.flush.interval.messages",
                1,
                i64::MAX as u64,
            ),
            flush_interval: self.opt_ms("log.flush.interval.ms"),
            flush_before_ack: self.boolean("kraftd.log.flush.before.ack"),
        }
    }

    pub(super) fn metadata_settings(&mut self) -> MetadataSettings {
        MetadataSettings {
            log_segment_bytes: self.int_in::<u64>(
                "metadata.log.segment.bytes",
                14,
                i32::MAX as u64,
            ),
            log_segment: self.ms_in("metadata.log.segment.ms", 1),
            max_record_bytes_between_snapshots: self.int_in::<u64>(
                "metadata.log.max.record.bytes.between.snapshots",
                1,
                i64::MAX as u64,
            ),
            max_snapshot_interval: Some(self.ms_in("metadata.log.max.snapshot.interval.ms", 0))
                .filter(|d| !d.is_zero()),
            max_retention_bytes: self.optional_limit("metadata.max.retention.bytes"),
            max_retention: self.signed_ms_or_forever("metadata.max.retention.ms"),
            max_idle_interval: Some(self.ms_in("metadata.max.idle.interval.ms", 0))
                .filter(|d| !d.is_zero()),
        }
    }
}
