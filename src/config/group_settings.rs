//! The group coordinator's settings: Kafka's `group.*`, `offsets.*` and
//! `offset.metadata.max.bytes` keys.

use std::time::Duration;

use super::reader::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSettings {
    /// `offsets.topic.num.partitions`.
    pub offsets_partitions: i32,
    /// `offsets.topic.replication.factor`.
    pub offsets_replication_factor: i16,
    /// `offsets.topic.segment.bytes`.
    pub offsets_segment_bytes: i32,
    /// `offsets.retention.minutes`.
    pub offsets_retention: Duration,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval: Duration,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the offsets partition's
    /// in-sync replicas.
    pub offsets_commit_timeout: Duration,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: u32,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.max.size`.
    pub max_size: u32,
    /// `kraftd.group.lag.interval.ms`: how often consumer lag is computed.
    pub lag_interval: Duration,
    /// `kraftd.group.lag.per.partition.metrics`.
    pub lag_per_partition_metrics: bool,
}

impl Reader<'_> {
    pub(super) fn group_settings(&mut self) -> GroupSettings {
        GroupSettings {
            offsets_partitions: self.int_in::<i32>("offsets.topic.num.partitions", 1, 100_000),
            offsets_replication_factor: self.int_in::<i16>(
                "offsets.topic.replication.factor",
                1,
                i16::MAX,
            ),
            offsets_segment_bytes: self.int_in::<i32>("offsets.topic.segment.bytes", 1, i32::MAX),
            offsets_retention: Duration::from_secs(
                60 * self.int_in::<u64>("offsets.retention.minutes", 1, i32::MAX as u64),
            ),
            offsets_retention_check_interval: self.ms_in("offsets.retention.check.interval.ms", 1),
            offsets_commit_timeout: self.ms_in("offsets.commit.timeout.ms", 1),
            offset_metadata_max_bytes: self.int_in::<u32>(
                "offset.metadata.max.bytes",
                0,
                i32::MAX as u32,
            ),
            min_session_timeout: self.ms_in("group.min.session.timeout.ms", 1),
            max_session_timeout: self.ms_in("group.max.session.timeout.ms", 1),
            initial_rebalance_delay: self.ms_in("group.initial.rebalance.delay.ms", 0),
            max_size: self.int_in::<u32>("group.max.size", 1, i32::MAX as u32),
            lag_interval: self.ms_in("kraftd.group.lag.interval.ms", 100),
            lag_per_partition_metrics: self.boolean("kraftd.group.lag.per.partition.metrics"),
        }
    }
}
