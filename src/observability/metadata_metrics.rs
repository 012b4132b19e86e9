//! Metrics of the metadata image (every node), the quorum controller (controllers) and the
//! broker's metadata cache (brokers). Registered through the same builder as every other
//! metric, so they appear in the catalogue and `docs/metrics.md`.

use prometheus::{
    Gauge, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};

use super::registry::{Builder, LATENCY_BUCKETS, QUORUM_BUCKETS};

/// The metadata loader and snapshots of this node (`kafka.server:type=broker-metadata-metrics`,
/// `MetadataLoader`, `SnapshotEmitter` in Kafka).
#[derive(Clone)]
pub struct MetadataMetrics {
    pub last_applied_offset: IntGauge,
    pub last_applied_record_lag_seconds: Gauge,
    pub apply_errors: IntCounter,
    pub load_errors: IntCounter,
    pub snapshot_age_seconds: Gauge,
    pub snapshot_bytes: IntGauge,
    pub snapshots_generated: IntCounter,
    pub snapshots_loaded: IntCounter,
    pub version_info: IntGaugeVec,
    pub publish_duration: HistogramVec,
}

impl MetadataMetrics {
    pub(super) fn register(b: &mut Builder) -> MetadataMetrics {
        let m = MetadataMetrics {
            last_applied_offset: b.int_gauge(
                "kafka_metadata_last_applied_offset",
                "Offset of the last metadata log record applied to this node's published image (JMX: kafka.server:type=broker-metadata-metrics,name=last-applied-record-offset).",
            ),
            last_applied_record_lag_seconds: b.float_gauge(
                "kafka_metadata_last_applied_record_lag_seconds",
                "Seconds since this node's image last reached the metadata log's high watermark; 0 while caught up (JMX: kafka.server:type=broker-metadata-metrics,name=last-applied-record-lag-ms).",
            ),
            apply_errors: b.counter(
                "kafka_metadata_apply_errors_total",
                "Committed metadata records that could not be applied to the image (JMX: kafka.server:type=broker-metadata-metrics,name=metadata-apply-error-count).",
            ),
            load_errors: b.counter(
                "kafka_metadata_load_errors_total",
                "Committed metadata records or snapshots that could not be decoded (JMX: kafka.server:type=broker-metadata-metrics,name=metadata-load-error-count).",
            ),
            snapshot_age_seconds: b.float_gauge(
                "kafka_metadata_snapshot_age_seconds",
                "Seconds since this node last wrote or loaded a metadata snapshot (JMX: kafka.server:type=SnapshotEmitter,name=LatestSnapshotGeneratedAgeMs).",
            ),
            snapshot_bytes: b.int_gauge(
                "kafka_metadata_snapshot_bytes",
                "Size of the latest metadata snapshot this node wrote (JMX: kafka.server:type=SnapshotEmitter,name=LatestSnapshotGeneratedBytes).",
            ),
            snapshots_generated: b.counter(
                "kafka_metadata_snapshots_generated_total",
                "Metadata snapshots this node wrote from its image.",
            ),
            snapshots_loaded: b.counter(
                "kafka_metadata_snapshots_loaded_total",
                "Metadata snapshots this node loaded its image from, at startup or from the leader (JMX: kafka.server:type=MetadataLoader,name=HandleLoadSnapshotCount).",
            ),
            version_info: b.gauge_vec(
                "kafka_metadata_version_info",
                "The finalized metadata.version feature level; the value is always 1 (JMX: kafka.server:type=MetadataLoader,name=CurrentMetadataVersion).",
                &["metadata_version"],
            ),
            publish_duration: b.histogram_vec(
                "kafka_metadata_publish_duration_seconds",
                "Time each metadata publisher took to act on one published image, by publisher (replica_manager, metadata_cache); the next image waits for every publisher.",
                &["publisher"],
                LATENCY_BUCKETS,
            ),
        };
        m.last_applied_offset.set(-1);
        m
    }
}

/// Every value of `kafka_controller_brokers{state}`.
pub const BROKER_STATES: &[&str] = &["active", "fenced", "controlled_shutdown"];

/// The `cause` label values of `kafka_controller_partition_leader_elections_total`.
pub const LEADER_ELECTION_CAUSES: &[&str] = &[
    "new_topic",
    "broker_fenced",
    "controlled_shutdown",
    "leaderless",
    "preferred",
    "unclean",
];

/// The quorum controller (`kafka.controller:type=KafkaController` and friends).
#[derive(Clone)]
pub struct ControllerMetrics {
    pub metadata_lag: IntGauge,
    pub metadata_snapshot_offset_lag: IntGauge,
    pub metadata_commit_latency: Histogram,
    pub metadata_committed_records: IntCounter,
    pub active_controllers: IntGauge,
    pub new_active_controllers: IntCounter,
    pub event_queue_wait: Histogram,
    pub event_queue_depth: IntGauge,
    pub event_processing: Histogram,
    pub brokers: IntGaugeVec,
    pub broker_heartbeat_timeouts: IntCounter,
    pub broker_disconnect_fences: IntCounter,
    pub offline_partitions: IntGauge,
    pub preferred_replica_imbalance: IntGauge,
    pub topics: IntGauge,
    pub partitions: IntGauge,
    pub unclean_leader_elections: IntCounter,
    pub partition_leader_elections: IntCounterVec,
    pub metadata_errors: IntCounter,
}

impl ControllerMetrics {
    pub(super) fn register(b: &mut Builder) -> ControllerMetrics {
        let m = ControllerMetrics {
            metadata_lag: b.int_gauge(
                "kafka_controller_metadata_lag",
                "Offsets between the metadata log's high watermark and the last record this controller replayed (KIP-631 MetadataLag).",
            ),
            metadata_snapshot_offset_lag: b.int_gauge(
                "kafka_controller_metadata_snapshot_offset_lag",
                "Offsets between the metadata log's high watermark and this controller's latest snapshot (KIP-631 MetadataSnapshotOffsetLag).",
            ),
            metadata_commit_latency: b.histogram(
                "kafka_controller_metadata_commit_latency_seconds",
                "Latency of committing a record to the metadata log, from the active controller's append to commit (JMX: kafka.controller:type=KafkaController,name=MetadataCommitLatencyMs).",
                QUORUM_BUCKETS,
            ),
            metadata_committed_records: b.counter(
                "kafka_controller_metadata_committed_records_total",
                "Metadata records this controller saw committed (JMX: kafka.controller:type=KafkaController,name=MetadataCommitRatePerSec).",
            ),
            active_controllers: b.int_gauge(
                "kafka_controller_active_controllers",
                "1 on the active controller, 0 on the others (JMX: kafka.controller:type=KafkaController,name=ActiveControllerCount).",
            ),
            new_active_controllers: b.counter(
                "kafka_controller_new_active_controllers_total",
                "Times this node saw a new active controller (JMX: kafka.controller:type=KafkaController,name=NewActiveControllersCount).",
            ),
            event_queue_wait: b.histogram(
                "kafka_controller_event_queue_wait_seconds",
                "Time controller requests wait in the controller's queue (JMX: kafka.controller:type=ControllerEventManager,name=EventQueueTimeMs).",
                LATENCY_BUCKETS,
            ),
            event_queue_depth: b.int_gauge(
                "kafka_controller_event_queue_depth",
                "Requests waiting in the controller's bounded queue (1024); senders wait when it is full.",
            ),
            event_processing: b.histogram(
                "kafka_controller_event_processing_seconds",
                "Time the controller spends processing one request or timer event (JMX: kafka.controller:type=ControllerEventManager,name=EventQueueProcessingTimeMs).",
                LATENCY_BUCKETS,
            ),
            brokers: b.gauge_vec(
                "kafka_controller_brokers",
                "Registered brokers by state: active, fenced, controlled_shutdown (JMX: kafka.controller:type=KafkaController,name=ActiveBrokerCount and FencedBrokerCount).",
                &["state"],
            ),
            broker_heartbeat_timeouts: b.counter(
                "kafka_controller_broker_heartbeat_timeouts_total",
                "Brokers fenced by the active controller because their session timed out (JMX: kafka.controller:type=KafkaController,name=TimedOutBrokerHeartbeatCount).",
            ),
            broker_disconnect_fences: b.counter(
                "kafka_controller_broker_disconnect_fences_total",
                "Brokers fenced by the active controller because the connection carrying their heartbeats closed and they did not heartbeat again within kraftd.broker.disconnect.fence.ms (a crashed or killed process); not in Kafka.",
            ),
            offline_partitions: b.int_gauge(
                "kafka_controller_offline_partitions",
                "Partitions without a leader (JMX: kafka.controller:type=KafkaController,name=OfflinePartitionsCount).",
            ),
            preferred_replica_imbalance: b.int_gauge(
                "kafka_controller_preferred_replica_imbalance",
                "Partitions whose leader is not their preferred (first) replica (JMX: kafka.controller:type=KafkaController,name=PreferredReplicaImbalanceCount).",
            ),
            topics: b.int_gauge(
                "kafka_controller_topics",
                "Topics in the cluster (JMX: kafka.controller:type=KafkaController,name=GlobalTopicCount).",
            ),
            partitions: b.int_gauge(
                "kafka_controller_partitions",
                "Partitions in the cluster (JMX: kafka.controller:type=KafkaController,name=GlobalPartitionCount).",
            ),
            unclean_leader_elections: b.counter(
                "kafka_controller_unclean_leader_elections_total",
                "Leaders elected from outside the ISR because the topic allows unclean election (JMX: kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec).",
            ),
            partition_leader_elections: b.counter_vec(
                "kafka_controller_partition_leader_elections_total",
                "Partitions given a new leader by the active controller, by cause: new_topic, broker_fenced (fenced, unregistered or replaced by a new incarnation), controlled_shutdown, leaderless (elected when a broker was unfenced), preferred (ElectLeaders or the automatic rebalance), unclean.",
                &["cause"],
            ),
            metadata_errors: b.counter(
                "kafka_controller_metadata_errors_total",
                "Metadata records this controller failed to load or apply (JMX: kafka.controller:type=KafkaController,name=MetadataErrorCount).",
            ),
        };
        for s in BROKER_STATES {
            m.brokers.with_label_values(&[s]).set(0);
        }
        for c in LEADER_ELECTION_CAUSES {
            m.partition_leader_elections.with_label_values(&[c]);
        }
        m
    }
}

/// The broker's metadata cache.
#[derive(Clone)]
pub struct BrokerMetadataMetrics {
    pub metadata_lag: IntGauge,
    pub metadata_snapshot_offset_lag: IntGauge,
}

impl BrokerMetadataMetrics {
    pub(super) fn register(b: &mut Builder) -> BrokerMetadataMetrics {
        BrokerMetadataMetrics {
            metadata_lag: b.int_gauge(
                "kafka_broker_metadata_lag",
                "Offsets between the metadata log's high watermark and the last record in this broker's metadata cache (KIP-631 MetadataLag).",
            ),
            metadata_snapshot_offset_lag: b.int_gauge(
                "kafka_broker_metadata_snapshot_offset_lag",
                "Offsets between the metadata log's high watermark and this broker's latest metadata snapshot (KIP-631 MetadataSnapshotOffsetLag).",
            ),
        }
    }
}

/// The broker's data plane (`kafka.server:type=BrokerTopicMetrics`, `ReplicaManager`).
#[derive(Clone)]
pub struct BrokerMetrics {
    pub topic_bytes_in: IntCounterVec,
    pub topic_bytes_out: IntCounterVec,
    pub topic_messages_in: IntCounterVec,
    pub partitions: IntGauge,
    pub leader_partitions: IntGauge,
    pub under_replicated_partitions: IntGauge,
    pub under_min_isr_partitions: IntGauge,
    pub at_min_isr_partitions: IntGauge,
    pub purgatory_size: IntGaugeVec,
    pub fetch_sessions: FetchSessionMetrics,
}

/// The broker's incremental fetch sessions (`kafka.server:type=FetchSessionCache`).
#[derive(Clone)]
pub struct FetchSessionMetrics {
    pub sessions: IntGauge,
    pub partitions: IntGauge,
    pub evictions: IntCounter,
}

impl FetchSessionMetrics {
    fn register(b: &mut Builder) -> FetchSessionMetrics {
        FetchSessionMetrics {
            sessions: b.int_gauge(
                "kafka_server_fetch_session_cache_sessions",
                "Incremental fetch sessions (KIP-227) this broker holds, at most max.incremental.fetch.session.cache.slots (JMX: kafka.server:type=FetchSessionCache,name=NumIncrementalFetchSessions).",
            ),
            partitions: b.int_gauge(
                "kafka_server_fetch_session_cache_partitions",
                "Partitions cached over all incremental fetch sessions of this broker (JMX: kafka.server:type=FetchSessionCache,name=NumIncrementalFetchPartitionsCached).",
            ),
            evictions: b.counter(
                "kafka_server_fetch_session_evictions_total",
                "Incremental fetch sessions evicted to make room for new ones (JMX: kafka.server:type=FetchSessionCache,name=IncrementalFetchSessionEvictionsPerSec).",
            ),
        }
    }
}

impl BrokerMetrics {
    pub(super) fn register(b: &mut Builder) -> BrokerMetrics {
        BrokerMetrics {
            topic_bytes_in: b.counter_vec(
                "kafka_server_topic_bytes_in_total",
                "Bytes of record batches produced to this broker, by topic (JMX: kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec).",
                &["topic"],
            ),
            topic_bytes_out: b.counter_vec(
                "kafka_server_topic_bytes_out_total",
                "Bytes of record batches fetched from this broker, by topic (JMX: kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec).",
                &["topic"],
            ),
            topic_messages_in: b.counter_vec(
                "kafka_server_topic_messages_in_total",
                "Records produced to this broker, by topic (JMX: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec).",
                &["topic"],
            ),
            partitions: b.int_gauge(
                "kafka_server_partitions",
                "Partitions with a replica on this broker (JMX: kafka.server:type=ReplicaManager,name=PartitionCount).",
            ),
            leader_partitions: b.int_gauge(
                "kafka_server_leader_partitions",
                "Partitions this broker leads (JMX: kafka.server:type=ReplicaManager,name=LeaderCount).",
            ),
            under_min_isr_partitions: b.int_gauge(
                "kafka_server_under_min_isr_partitions",
                "Partitions this broker leads whose ISR is smaller than min.insync.replicas: acks=all produce fails (JMX: kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount).",
            ),
            at_min_isr_partitions: b.int_gauge(
                "kafka_server_at_min_isr_partitions",
                "Partitions this broker leads whose ISR is exactly min.insync.replicas: one more failure stops acks=all produce (JMX: kafka.server:type=ReplicaManager,name=AtMinIsrPartitionCount).",
            ),
            purgatory_size: {
                let g = b.gauge_vec(
                    "kafka_server_purgatory_size",
                    "Requests waiting on this broker: Produce for acks=all, Fetch for min.bytes (JMX: kafka.server:type=DelayedOperationPurgatory,name=PurgatorySize).",
                    &["operation"],
                );
                for op in ["Produce", "Fetch"] {
                    g.with_label_values(&[op]).set(0);
                }
                g
            },
            under_replicated_partitions: b.int_gauge(
                "kafka_server_under_replicated_partitions",
                "Partitions this broker leads whose ISR is smaller than their replica set (JMX: kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions).",
            ),
            fetch_sessions: FetchSessionMetrics::register(b),
        }
    }
}
