//! The group coordinator on a broker: the offsets partitions it loaded, its groups and
//! their members, rebalances, offset commits.

use prometheus::{GaugeVec, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use super::registry::Builder;

/// Load-time buckets, in seconds (1 ms … 60 s).
const LOAD_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone)]
pub struct GroupMetrics {
    pub coordinator_partitions: IntGauge,
    pub load_duration: Histogram,
    pub loaded_records: IntCounter,
    pub groups: IntGaugeVec,
    pub members: IntGaugeVec,
    pub rebalances: IntCounterVec,
    pub offset_commits: IntCounter,
    pub offsets: IntGauge,
    pub consumergroup_lag: IntGaugeVec,
    pub consumergroup_lag_seconds: GaugeVec,
    pub consumergroup_committed_offset: IntGaugeVec,
    pub consumergroup_partition_lag: IntGaugeVec,
    pub lag_read_failures: IntCounter,
}

/// Group states as ListGroups names them (the `state` label).
pub const GROUP_STATES: [&str; 5] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
];

impl GroupMetrics {
    pub(super) fn register(b: &mut Builder) -> GroupMetrics {
        let m = GroupMetrics {
            coordinator_partitions: b.int_gauge(
                "kafka_group_coordinator_partitions",
                "__consumer_offsets partitions this broker leads and has loaded: it coordinates their groups (JMX: kafka.server:type=group-coordinator-metrics,name=num-partitions).",
            ),
            load_duration: b.histogram(
                "kafka_group_coordinator_load_duration_seconds",
                "Time a new leader of a __consumer_offsets partition took to load its groups and offsets from the log; clients get COORDINATOR_LOAD_IN_PROGRESS meanwhile (JMX: kafka.server:type=group-coordinator-metrics,name=partition-load-time-max).",
                LOAD_BUCKETS,
            ),
            loaded_records: b.counter(
                "kafka_group_coordinator_loaded_records_total",
                "Records of __consumer_offsets replayed while loading partitions.",
            ),
            groups: b.gauge_vec(
                "kafka_group_groups",
                "Groups this broker coordinates, by state and protocol (JMX: kafka.server:type=group-coordinator-metrics,name=group-count,protocol=classic and classic-group-count-<state>).",
                &["state", "protocol"],
            ),
            members: b.gauge_vec(
                "kafka_group_members",
                "Members of a group this broker coordinates (JMX: kafka.server:type=group-coordinator-metrics,name=consumer-group-count … per group in kafka_exporter: kafka_consumergroup_members).",
                &["consumergroup"],
            ),
            rebalances: b.counter_vec(
                "kafka_group_rebalances_total",
                "Rebalances of classic groups this broker coordinates, by group and cause (member_joined, member_rejoined, member_left, session_timeout, sync_timeout, write_failed) (JMX: kafka.server:type=group-coordinator-metrics,name=group-rebalance-count).",
                &["consumergroup", "cause"],
            ),
            offset_commits: b.counter(
                "kafka_group_offset_commits_total",
                "Offsets committed through this broker's coordinator and acknowledged (JMX: kafka.server:type=group-coordinator-metrics,name=offset-commit-count).",
            ),
            offsets: b.int_gauge(
                "kafka_group_offsets",
                "Committed offsets held by this broker's coordinator (JMX: kafka.server:type=group-coordinator-metrics,name=num-offsets).",
            ),
            consumergroup_lag: b.gauge_vec(
                "kafka_consumergroup_lag",
                "Consumer lag in offsets of a group on a topic: the sum over its partitions with a committed offset of high watermark minus committed offset (kafka_exporter: kafka_consumergroup_lag_sum). Exported by the group's coordinator; a partition without a committed offset adds nothing and a group without any has no series.",
                &["consumergroup", "topic"],
            ),
            consumergroup_lag_seconds: b.float_gauge_vec(
                "kafka_consumergroup_lag_seconds",
                "Consumer lag in time of a group on a topic: the longest, over its partitions, since the first record it has not consumed was appended (0 when caught up) (kafka-lag-exporter: kafka_consumergroup_group_max_lag_seconds).",
                &["consumergroup", "topic"],
            ),
            consumergroup_committed_offset: b.gauge_vec(
                "kafka_consumergroup_committed_offset",
                "Committed offset of a group on one partition; only with kraftd.group.lag.per.partition.metrics=true (kafka_exporter: kafka_consumergroup_current_offset).",
                &["consumergroup", "topic", "partition"],
            ),
            consumergroup_partition_lag: b.gauge_vec(
                "kafka_consumergroup_partition_lag",
                "Consumer lag in offsets of a group on one partition; only with kraftd.group.lag.per.partition.metrics=true (kafka_exporter: kafka_consumergroup_lag).",
                &["consumergroup", "topic", "partition"],
            ),
            lag_read_failures: b.counter(
                "kafka_group_lag_read_failures_total",
                "Partitions whose position (high watermark, time of the first unconsumed record) the lag collector could not read in a round: their lag series are missing for that round.",
            ),
        };
        for state in GROUP_STATES {
            m.groups.with_label_values(&[state, "classic"]).set(0);
        }
        m
    }
}
