//! Partition replication on a broker: ISR changes its leaders make, its followers' fetchers
//! and how long acks=all producers wait for the ISR.

use prometheus::{Gauge, GaugeVec, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use super::registry::{Builder, LATENCY_BUCKETS};

#[derive(Clone)]
pub struct ReplicationMetrics {
    pub isr_shrinks: IntCounter,
    pub isr_expands: IntCounter,
    pub failed_isr_updates: IntCounter,
    pub fetcher_max_lag: IntGaugeVec,
    pub fetcher_max_lag_seconds: GaugeVec,
    pub partition_lag: IntGaugeVec,
    pub fetcher_requests: IntCounterVec,
    pub fetcher_failed_requests: IntCounterVec,
    pub fetcher_bytes: IntCounterVec,
    pub fetcher_failed_partitions: IntGauge,
    pub fetchers: IntGauge,
    pub follower_truncations: IntCounter,
    pub acks_all_wait: Histogram,
    pub high_watermark_checkpoint_age: Gauge,
}

impl ReplicationMetrics {
    pub(super) fn register(b: &mut Builder) -> ReplicationMetrics {
        ReplicationMetrics {
            isr_shrinks: b.counter(
                "kafka_server_isr_shrinks_total",
                "ISR shrinks committed for partitions this broker leads: a follower fell more than replica.lag.time.max.ms behind (JMX: kafka.server:type=ReplicaManager,name=IsrShrinksPerSec).",
            ),
            isr_expands: b.counter(
                "kafka_server_isr_expands_total",
                "ISR expansions committed for partitions this broker leads: a follower caught up again (JMX: kafka.server:type=ReplicaManager,name=IsrExpandsPerSec).",
            ),
            failed_isr_updates: b.counter(
                "kafka_server_failed_isr_updates_total",
                "ISR changes the controller refused or that could not reach it; they are proposed again (JMX: kafka.server:type=ReplicaManager,name=FailedIsrUpdatesPerSec).",
            ),
            fetcher_max_lag: b.gauge_vec(
                "kafka_replica_fetcher_max_lag",
                "Largest lag in offsets (leader high watermark minus this follower's log end) over the partitions fetched from a source broker (JMX: kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica).",
                &["source_broker"],
            ),
            fetcher_max_lag_seconds: b.float_gauge_vec(
                "kafka_replica_fetcher_max_lag_seconds",
                "Longest time since a partition fetched from a source broker was last caught up with the leader's high watermark.",
                &["source_broker"],
            ),
            partition_lag: b.gauge_vec(
                "kafka_replica_partition_lag",
                "Lag in offsets of one partition this broker follows (leader high watermark minus its log end offset); only with kraftd.replica.lag.per.partition.metrics=true (JMX: kafka.server:type=FetcherLagMetrics,name=ConsumerLag).",
                &["topic", "partition"],
            ),
            fetcher_requests: b.counter_vec(
                "kafka_replica_fetcher_requests_total",
                "Fetch requests this broker's replica fetchers sent, by source broker (JMX: kafka.server:type=FetcherStats,name=RequestsPerSec).",
                &["source_broker"],
            ),
            fetcher_failed_requests: b.counter_vec(
                "kafka_replica_fetcher_failed_requests_total",
                "Replica fetches that failed (connection, timeout or a request-level error), by source broker.",
                &["source_broker"],
            ),
            fetcher_bytes: b.counter_vec(
                "kafka_replica_fetcher_bytes_total",
                "Record bytes this broker's replica fetchers appended, by source broker (JMX: kafka.server:type=FetcherStats,name=BytesPerSec).",
                &["source_broker"],
            ),
            fetcher_failed_partitions: b.int_gauge(
                "kafka_replica_fetcher_failed_partitions",
                "Partitions whose replication stopped on an error that needs an operator (a truncation below the high watermark, a storage error) (JMX: kafka.server:type=ReplicaFetcherManager,name=FailedPartitionsCount).",
            ),
            fetchers: b.int_gauge(
                "kafka_replica_fetchers",
                "Replica fetcher connections running on this broker (one per source broker and fetcher index).",
            ),
            follower_truncations: b.counter(
                "kafka_replica_follower_truncations_total",
                "Times a follower truncated its log where it diverged from the leader's (after a leader change).",
            ),
            acks_all_wait: b.histogram(
                "kafka_server_produce_replication_wait_seconds",
                "Time an acks=all produce waited, after its local append, for the ISR to replicate it.",
                LATENCY_BUCKETS,
            ),
            high_watermark_checkpoint_age: b.float_gauge(
                "kafka_replica_high_watermark_checkpoint_age_seconds",
                "Seconds since the high watermarks were last written to every log directory's replication-offset-checkpoint.",
            ),
        }
    }
}
