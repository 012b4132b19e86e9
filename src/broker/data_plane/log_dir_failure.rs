//! What a partition-log I/O error does (ADR 0004): the log directory that holds the partition
//! goes offline (`kafka_log_offline_dirs`, an error naming it), and when no log directory is
//! left online the broker stops, as Kafka's does: a broker that can write nowhere serves
//! nothing, and only its exit lets the controller fence it (on the heartbeat connection's
//! close) and move its leaderships at once. systemd restarts it; an operator frees the space or
//! replaces the disk (runbook KafkaOfflineLogDirs).

use std::path::Path;
use std::sync::Arc;

use prometheus::IntGauge;

use crate::broker::data_plane::log_manager::LogManager;
use crate::broker::data_plane::partition::Partition;

/// The exit status of a broker whose log directories are all offline (EX_IOERR, as for a
/// failed metadata log).
pub const ALL_LOG_DIRS_OFFLINE_EXIT: i32 = 74;

/// Reports partition-log I/O errors; cheap to clone into every place that writes or reads
/// partition logs.
#[derive(Clone)]
pub struct LogDirFailureHandler {
    manager: Arc<LogManager>,
    offline_dirs: IntGauge,
}

impl LogDirFailureHandler {
    pub fn new(manager: Arc<LogManager>, offline_dirs: IntGauge) -> LogDirFailureHandler {
        LogDirFailureHandler {
            manager,
            offline_dirs,
        }
    }

    /// An I/O error hit `partition`'s log: [`Self::report`] for its log directory.
    pub fn report_partition(&self, partition: &Partition, error: &dyn std::fmt::Display) {
        if let Some(dir) = partition.log_dir() {
            self.report(&dir, error);
        }
    }

    /// An I/O error hit the log at `log_path` (a partition directory or a file in one): takes
    /// its log directory offline, and stops the process when none is left online.
    pub fn report(&self, log_path: &Path, error: &dyn std::fmt::Display) {
        if let Some(dir) = self.manager.mark_offline(log_path) {
            tracing::error!(dir = %dir.display(), log = %log_path.display(), %error, "log directory offline after an I/O error");
            self.offline_dirs.set(self.manager.offline_dirs() as i64);
        }
        if self.manager.online_dirs() == 0 {
            tracing::error!(%error, "every log directory is offline; stopping the broker so that its partitions move to other brokers");
            eprintln!(
                "kraftd: fatal: every log directory is offline (last error: {error}); stopping"
            );
            std::process::exit(ALL_LOG_DIRS_OFFLINE_EXIT);
        }
    }
}
