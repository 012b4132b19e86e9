//! How followers fetch from partition leaders and how often replication state is saved.

use std::time::Duration;

use super::reader::Reader;

/// Kafka's `replica.*` and `num.replica.fetchers` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationSettings {
    /// `num.replica.fetchers`: fetcher connections per source broker.
    pub num_fetchers: u32,
    /// `replica.fetch.max.bytes`: bytes asked per partition.
    pub fetch_max_bytes: u32,
    /// `replica.fetch.response.max.bytes`: bytes asked per fetch response.
    pub fetch_response_max_bytes: u32,
    /// `replica.fetch.wait.max.ms`: how long the leader may hold a fetch with no new data.
    pub fetch_wait_max: Duration,
    /// `replica.fetch.min.bytes`.
    pub fetch_min_bytes: u32,
    /// `replica.fetch.backoff.ms`: pause after a failed fetch or a partition error.
    pub fetch_backoff: Duration,
    /// `replica.socket.timeout.ms`: a fetch exchange (or connect) slower than this fails.
    pub socket_timeout: Duration,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub high_watermark_checkpoint_interval: Duration,
    /// `replica.lag.time.max.ms`.
    pub lag_time_max: Duration,
    /// `kraftd.replica.lag.per.partition.metrics`.
    pub per_partition_lag_metrics: bool,
}

impl Reader<'_> {
    pub(super) fn replication_settings(&mut self) -> ReplicationSettings {
        ReplicationSettings {
            num_fetchers: self.int_in::<u32>("num.replica.fetchers", 1, 64),
            fetch_max_bytes: self.int_in::<u32>("replica.fetch.max.bytes", 1, i32::MAX as u32),
            fetch_response_max_bytes: self.int_in::<u32>(
                "replica.fetch.response.max.bytes",
                1,
                i32::MAX as u32,
            ),
            fetch_wait_max: self.ms_in("replica.fetch.wait.max.ms", 0),
            fetch_min_bytes: self.int_in::<u32>("replica.fetch.min.bytes", 1, i32::MAX as u32),
            fetch_backoff: self.ms_in("replica.fetch.backoff.ms", 0),
            socket_timeout: self.ms_in("replica.socket.timeout.ms", 1),
            high_watermark_checkpoint_interval: self
                .ms_in("replica.high.watermark.checkpoint.interval.ms", 1),
            lag_time_max: self.ms_in("replica.lag.time.max.ms", 1),
            per_partition_lag_metrics: self.boolean("kraftd.replica.lag.per.partition.metrics"),
        }
    }
}
