//! Settings of one log, with Kafka's defaults.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment at this size (`log.segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment at this age (`log.roll.ms`).
    pub roll: Duration,
    /// Bytes between offset-index entries (`log.index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Preallocated size of the active segment's index files (`log.index.size.max.bytes`).
    pub index_max_bytes: u64,
    /// Largest batch accepted (`message.max.bytes`).
    pub max_batch_bytes: usize,
    /// Delete sealed segments older than this (`retention.ms`; `None` keeps them).
    pub retention: Option<Duration>,
    /// Delete sealed segments while the log exceeds this size (`retention.bytes`).
    pub retention_bytes: Option<u64>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            roll: Duration::from_secs(7 * 24 * 3600),
            index_interval_bytes: 4096,
            index_max_bytes: 10 * 1024 * 1024,
            max_batch_bytes: 1_048_588,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
        }
    }
}
