//! Every Prometheus metric kraftd exports, defined in this one place.
//!
//! This file is a contract with `dashboards/`, `alerts/` and `docs/metrics.md`: a test renders
//! the catalogue from [`Metrics::definitions`] and compares it with the document. Naming
//! follows OPERATIONS.md: `kafka_` + subsystem, base units, `_total` counters, the Kafka JMX
//! name in the HELP text where one exists.

use std::sync::Arc;

pub use super::group_metrics::GroupMetrics;
pub use super::metadata_metrics::{
    BrokerMetadataMetrics, BrokerMetrics, ControllerMetrics, FetchSessionMetrics,
    LEADER_ELECTION_CAUSES, MetadataMetrics,
};
use super::registry::{Builder, LATENCY_BUCKETS, QUORUM_BUCKETS};
pub use super::registry::{MetricDef, MetricGroup, MetricKind};
pub use super::replication_metrics::ReplicationMetrics;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Registry, TextEncoder,
};

/// All metric handles of one process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    defs: Arc<Vec<MetricDef>>,
    pub node_info: IntGaugeVec,
    pub build_info: IntGaugeVec,
    pub network_connections: IntGaugeVec,
    pub network_requests: IntCounterVec,
    pub network_request_errors: IntCounterVec,
    pub network_request_duration: HistogramVec,
    pub network_malformed_requests: IntCounterVec,
    pub network_connections_rejected: IntCounterVec,
    pub network_idle_closed: IntCounterVec,
    pub log: LogMetrics,
    pub raft: RaftMetrics,
    /// Exported once this node runs the raft driver.
    pub raft_group: MetricGroup,
    pub metadata: MetadataMetrics,
    /// Exported once this node replays the metadata log.
    pub metadata_group: MetricGroup,
    pub controller: ControllerMetrics,
    /// Exported on controllers.
    pub controller_group: MetricGroup,
    pub broker_metadata: BrokerMetadataMetrics,
    pub broker: BrokerMetrics,
    pub replication: ReplicationMetrics,
    pub groups: GroupMetrics,
    /// Exported on brokers.
    pub broker_group: MetricGroup,
}

/// Log directories and the logs in them.
#[derive(Clone)]
pub struct LogMetrics {
    pub flush_duration: Histogram,
    pub dir_free_bytes: IntGaugeVec,
    pub dir_total_bytes: IntGaugeVec,
    pub offline_dirs: IntGauge,
    pub recovered_truncated_bytes: IntCounter,
    pub segments: IntGaugeVec,
    pub size_bytes: IntGaugeVec,
}

impl LogMetrics {
    fn register(b: &mut Builder) -> LogMetrics {
        let m = LogMetrics {
            flush_duration: b.histogram(
                "kafka_log_flush_duration_seconds",
                "Time to fsync a log's new data and indexes (JMX: kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs).",
                LATENCY_BUCKETS,
            ),
            dir_free_bytes: b.gauge_vec(
                "kafka_log_dir_free_bytes",
                "Free bytes on the file system of each log directory.",
                &["dir"],
            ),
            dir_total_bytes: b.gauge_vec(
                "kafka_log_dir_total_bytes",
                "Size in bytes of the file system of each log directory.",
                &["dir"],
            ),
            offline_dirs: b.int_gauge(
                "kafka_log_offline_dirs",
                "Log directories taken offline after I/O errors (JMX: kafka.log:type=LogManager,name=OfflineLogDirectoryCount).",
            ),
            recovered_truncated_bytes: b.counter(
                "kafka_log_recovered_truncated_bytes_total",
                "Bytes of torn or corrupt log tails cut off by recovery after an unclean shutdown.",
            ),
            segments: b.gauge_vec(
                "kafka_log_segments",
                "Segments per topic on this node (JMX: kafka.log:type=Log,name=NumLogSegments).",
                &["topic"],
            ),
            size_bytes: b.gauge_vec(
                "kafka_log_size_bytes",
                "Bytes of log segments per topic on this node (JMX: kafka.log:type=Log,name=Size).",
                &["topic"],
            ),
        };
        m.offline_dirs.set(0);
        m
    }
}

/// The KRaft quorum as this node sees it (`kafka.server:type=raft-metrics` in Kafka).
#[derive(Clone)]
pub struct RaftMetrics {
    pub state: IntGaugeVec,
    pub leader_id: IntGauge,
    pub leader_known: IntGauge,
    pub epoch: IntGauge,
    pub high_watermark: IntGauge,
    pub log_start_offset: IntGauge,
    pub log_end_offset: IntGauge,
    pub voters: IntGauge,
    pub is_voter: IntGauge,
    pub commit_latency: Histogram,
    pub elections: IntCounter,
    pub election_duration: Histogram,
    pub fetch_timeouts: IntCounter,
    pub election_timeouts: IntCounter,
    pub check_quorum_resignations: IntCounter,
    pub append_records: IntCounter,
    pub fetch_records: IntCounter,
    pub snapshots_installed: IntCounter,
    pub follower_lag: IntGaugeVec,
    pub follower_last_caught_up_age: GaugeVec,
    pub max_follower_lag: IntGauge,
    pub max_follower_lag_seconds: Gauge,
    pub peer_queue_depth: IntGauge,
    pub peer_requests_dropped: IntCounter,
}

/// Every value of `kafka_raft_state{state}`.
pub const RAFT_STATES: &[&str] = &[
    "leader",
    "follower",
    "candidate",
    "prospective",
    "voted",
    "unattached",
    "resigned",
    "observer",
];

impl RaftMetrics {
    fn register(b: &mut Builder) -> RaftMetrics {
        // Stays long: the catalogue of the `kafka_raft_*` metrics, one entry per metric.
        let m = RaftMetrics {
            state: b.gauge_vec(
                "kafka_raft_state",
                "1 for this node's current KRaft state, 0 for the others (JMX: kafka.server:type=raft-metrics,name=current-state).",
                &["state"],
            ),
            leader_id: b.int_gauge(
                "kafka_raft_leader_id",
                "Node id of the quorum leader this node knows, -1 when none (JMX: kafka.server:type=raft-metrics,name=current-leader).",
            ),
            leader_known: b.int_gauge(
                "kafka_raft_leader_known",
                "1 when this node knows a quorum leader for the current epoch, else 0.",
            ),
            epoch: b.int_gauge(
                "kafka_raft_epoch",
                "Current quorum epoch (JMX: kafka.server:type=raft-metrics,name=current-epoch).",
            ),
            high_watermark: b.int_gauge(
                "kafka_raft_high_watermark",
                "Metadata log high watermark known to this node, -1 when unknown (JMX: kafka.server:type=raft-metrics,name=high-watermark).",
            ),
            log_start_offset: b.int_gauge(
                "kafka_raft_log_start_offset",
                "First offset retained in this node's metadata log.",
            ),
            log_end_offset: b.int_gauge(
                "kafka_raft_log_end_offset",
                "End offset of this node's metadata log (JMX: kafka.server:type=raft-metrics,name=log-end-offset).",
            ),
            voters: b.int_gauge(
                "kafka_raft_voters",
                "Number of voters in the quorum's voter set.",
            ),
            is_voter: b.int_gauge(
                "kafka_raft_is_voter",
                "1 when this node is a voter of the quorum, 0 when it is an observer (a broker).",
            ),
            commit_latency: b.histogram(
                "kafka_raft_commit_latency_seconds",
                "Time from appending a batch on the quorum leader to its commit (JMX: kafka.server:type=raft-metrics,name=commit-latency-avg).",
                QUORUM_BUCKETS,
            ),
            elections: b.counter(
                "kafka_raft_elections_total",
                "Elections this node started as a candidate.",
            ),
            election_duration: b.histogram(
                "kafka_raft_election_duration_seconds",
                "Time from this node's election timeout to a known leader (JMX: kafka.server:type=raft-metrics,name=election-latency-avg).",
                QUORUM_BUCKETS,
            ),
            fetch_timeouts: b.counter(
                "kafka_raft_fetch_timeouts_total",
                "Times this follower heard nothing from the leader within controller.quorum.fetch.timeout.ms.",
            ),
            election_timeouts: b.counter(
                "kafka_raft_election_timeouts_total",
                "Times an election of this node timed out without a result.",
            ),
            check_quorum_resignations: b.counter(
                "kafka_raft_check_quorum_resignations_total",
                "Times this leader resigned because a majority stopped fetching from it.",
            ),
            append_records: b.counter(
                "kafka_raft_append_records_total",
                "Records appended to the metadata log by this node as leader (JMX: kafka.server:type=raft-metrics,name=append-records-rate).",
            ),
            fetch_records: b.counter(
                "kafka_raft_fetch_records_total",
                "Records this node fetched from the quorum leader (JMX: kafka.server:type=raft-metrics,name=fetch-records-rate).",
            ),
            snapshots_installed: b.counter(
                "kafka_raft_snapshots_installed_total",
                "Snapshots this node downloaded from the leader and installed.",
            ),
            follower_lag: b.gauge_vec(
                "kafka_raft_follower_lag",
                "On the quorum leader: offsets between the leader's log end and each replica's, by replica and kind (voter or observer).",
                &["replica_id", "kind"],
            ),
            follower_last_caught_up_age: b.float_gauge_vec(
                "kafka_raft_follower_last_caught_up_age_seconds",
                "On the quorum leader: seconds since each replica last caught up with the leader's log end.",
                &["replica_id", "kind"],
            ),
            max_follower_lag: b.int_gauge(
                "kafka_raft_max_follower_lag",
                "On the quorum leader: the largest voter lag in offsets (kafka-metadata-quorum MaxFollowerLag).",
            ),
            max_follower_lag_seconds: b.float_gauge(
                "kafka_raft_max_follower_lag_seconds",
                "On the quorum leader: the longest time a voter has not been caught up (kafka-metadata-quorum MaxFollowerLagTimeMs).",
            ),
            peer_queue_depth: b.int_gauge(
                "kafka_raft_peer_queue_depth",
                "KRaft requests waiting to be sent to other voters, summed over the per-peer queues (each bounded).",
            ),
            peer_requests_dropped: b.counter(
                "kafka_raft_peer_requests_dropped_total",
                "KRaft requests dropped because a peer's queue was full (the peer is unreachable or far behind; raft resends what it needs).",
            ),
        };
        for s in RAFT_STATES {
            m.state.with_label_values(&[s]).set(0);
        }
        m.leader_id.set(-1);
        m.high_watermark.set(-1);
        m
    }
}

impl Metrics {
    /// Creates the registry with every metric, plus the standard `process_*` collector.
    pub fn new() -> Metrics {
        // Stays long: the catalogue of the process-wide metrics, one entry per metric.
        let mut b = Builder::new();
        let node_info = b.gauge_vec(
            "kafka_node_info",
            "Identity of this node; the value is always 1.",
            &["node_id", "roles", "cluster_id", "version"],
        );
        let build_info = b.gauge_vec(
            "kafka_build_info",
            "Build of the running kraftd binary; the value is always 1.",
            &["version", "profile"],
        );
        let network_connections = b.gauge_vec(
            "kafka_network_connections",
            "Open client connections per listener (JMX: kafka.server:type=socket-server-metrics,name=connection-count).",
            &["listener"],
        );
        let network_requests = b.counter_vec(
            "kafka_network_requests_total",
            "Requests received, by Kafka API name (JMX: kafka.network:type=RequestMetrics,name=RequestsPerSec).",
            &["request"],
        );
        let network_request_errors = b.counter_vec(
            "kafka_network_request_errors_total",
            "Responses carrying an error code, by API and Kafka error name (JMX: kafka.network:type=RequestMetrics,name=ErrorsPerSec).",
            &["request", "error"],
        );
        let network_request_duration = b.histogram_vec(
            "kafka_network_request_duration_seconds",
            "Time from reading a request to writing its response (JMX: kafka.network:type=RequestMetrics,name=TotalTimeMs).",
            &["request"],
            LATENCY_BUCKETS,
        );
        let network_malformed_requests = b.counter_vec(
            "kafka_network_malformed_requests_total",
            "Connections closed because of an undecodable, oversized or unsupported request, by listener and reason.",
            &["listener", "reason"],
        );
        let network_connections_rejected = b.counter_vec(
            "kafka_network_connections_rejected_total",
            "Connections closed as soon as accepted, by listener and reason (per_ip_limit: max.connections.per.ip reached).",
            &["listener", "reason"],
        );
        let network_idle_closed = b.counter_vec(
            "kafka_network_idle_connections_closed_total",
            "Connections closed after connections.max.idle.ms without a request, by listener.",
            &["listener"],
        );
        let log = LogMetrics::register(&mut b);
        let (raft, raft_group) = b.group(RaftMetrics::register);
        let (metadata, metadata_group) = b.group(MetadataMetrics::register);
        let (controller, controller_group) = b.group(ControllerMetrics::register);
        let ((broker_metadata, broker, replication, groups), broker_group) = b.group(|b| {
            (
                BrokerMetadataMetrics::register(b),
                BrokerMetrics::register(b),
                ReplicationMetrics::register(b),
                GroupMetrics::register(b),
            )
        });
        #[cfg(target_os = "linux")]
        b.registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");

        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), build_profile()])
            .set(1);

        Metrics {
            registry: b.registry.clone(),
            defs: Arc::new(b.into_defs()),
            node_info,
            build_info,
            network_connections,
            network_requests,
            network_request_errors,
            network_request_duration,
            network_malformed_requests,
            network_connections_rejected,
            network_idle_closed,
            log,
            raft,
            raft_group,
            metadata,
            metadata_group,
            controller,
            controller_group,
            broker_metadata,
            broker,
            replication,
            groups,
            broker_group,
        }
    }

    /// The catalogue of kraftd's own metrics (not the standard `process_*` set).
    pub fn definitions(&self) -> &[MetricDef] {
        &self.defs
    }

    /// Sets `kafka_node_info` once the node's identity is known.
    pub fn set_node_info(&self, node_id: i32, roles: &str, cluster_id: &str) {
        self.node_info
            .with_label_values(&[
                &node_id.to_string(),
                roles,
                cluster_id,
                env!("CARGO_PKG_VERSION"),
            ])
            .set(1);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        out
    }

    /// Renders the catalogue as the Markdown table in `docs/metrics.md`.
    pub fn render_markdown_table(&self) -> String {
        let mut out = String::from("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n");
        for d in self.definitions() {
            let labels = if d.labels.is_empty() {
                "—".to_string()
            } else {
                d.labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                d.name,
                d.kind.name(),
                labels,
                d.help
            ));
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let m = Metrics::new();
        for d in m.definitions() {
            assert!(
                d.name.starts_with("kafka_") || d.name.starts_with("kraftd_"),
                "{}",
                d.name
            );
            match d.kind {
                MetricKind::Counter => assert!(d.name.ends_with("_total"), "{}", d.name),
                MetricKind::Gauge => assert!(!d.name.ends_with("_count"), "{}", d.name),
                MetricKind::Histogram => assert!(
                    d.name.ends_with("_seconds") || d.name.ends_with("_bytes"),
                    "{}",
                    d.name
                ),
            }
            assert!(!d.help.is_empty(), "{} has no HELP", d.name);
        }
    }

    #[test]
    fn render_includes_build_info_and_process_metrics() {
        let m = Metrics::new();
        m.set_node_info(1, "broker,controller", "abc");
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("kafka_build_info{"), "{text}");
        assert!(
            text.contains("kafka_node_info{cluster_id=\"abc\""),
            "{text}"
        );
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    #[test]
    fn docs_metrics_lists_every_metric() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .expect("docs/metrics.md exists");
        let table = Metrics::new().render_markdown_table();
        assert!(
            doc.contains(&table),
            "docs/metrics.md is out of date; its metric table must be exactly:\n{table}"
        );
    }
}
