//! The client-facing APIs a broker answers itself, one file per Kafka API, all reading the
//! broker's metadata cache.

pub mod delete_groups;
pub mod delete_records;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use kafka_protocol::ResponseError;

use crate::broker::control_plane::metadata_cache::MetadataCache;
use crate::metadata::image::MetadataImage;

/// What broker API handlers need: the metadata cache, the partitions, the channel to the
/// controller. The listener a request came in on is in its [`Session`](crate::network::Session)
/// (brokers advertise each node's endpoint of that same listener).
#[derive(Clone)]
pub struct BrokerContext {
    pub cache: MetadataCache,
    pub cluster_id: String,
    pub node_id: i32,
    /// The explicitly set server configs (DescribeConfigs' static broker configs).
    pub static_values: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    pub replicas: std::sync::Arc<crate::broker::data_plane::replica_manager::ReplicaManager>,
    pub clock: crate::clock::Clock,
    pub metrics: crate::observability::metrics::BrokerMetrics,
    pub replication: crate::observability::metrics::ReplicationMetrics,
    /// Where admin requests go (auto-creation of topics asked for by Metadata).
    pub forward:
        std::sync::Arc<crate::broker::control_plane::controller_channel::ControllerChannel>,
    /// `auto.create.topics.enable` with `num.partitions` and `default.replication.factor`.
    pub auto_create: Option<(i32, i16)>,
    pub producer_ids:
        std::sync::Arc<crate::broker::control_plane::producer_id_manager::ProducerIdManager>,
    /// Incremental fetch sessions (KIP-227) of consumers and followers.
    pub fetch_sessions: std::sync::Arc<crate::broker::data_plane::fetch_manager::FetchManager>,
    /// This node's raft driver: how far the committed metadata log reaches.
    pub raft: crate::raft_io::driver::RaftHandle,
    /// The group coordinator (the `__consumer_offsets` partitions this broker leads).
    pub groups: std::sync::Arc<crate::broker::group_coordinator::GroupCoordinator>,
    /// `offsets.topic.*`: how `__consumer_offsets` is created on first need.
    pub offsets_topic: crate::config::GroupSettings,
}

impl BrokerContext {
    /// The error for a partition with no local replica, from the metadata this broker
    /// answers with (see [`no_replica_error`]).
    /// While this broker's image lags the metadata log it has already fetched as committed,
    /// a topic it does not know yet may exist; and a topic deleted moments ago may already be
    /// created again, listed by a broker whose metadata is ahead of this one's. Both answers
    /// are the retriable NOT_LEADER_OR_FOLLOWER, never UNKNOWN_TOPIC_OR_PARTITION.
    pub fn no_replica_error(&self, topic: &str, partition: i32) -> ResponseError {
        let image = self.cache.image();
        let e = no_replica_error(&image, topic, partition);
        if e == ResponseError::UnknownTopicOrPartition
            && (self.image_lags(&image) || self.cache.deleted_recently(topic))
        {
            ResponseError::NotLeaderOrFollower
        } else {
            e
        }
    }

    /// Whether `image` misses committed metadata records this node's raft log already holds.
    fn image_lags(&self, image: &MetadataImage) -> bool {
        let committed = self.raft.status().borrow().raft.high_watermark;
        committed.is_some_and(|hwm| image.provenance.last_offset + 1 < hwm.0)
    }

    /// As [`Self::no_replica_error`] for a request that names the leader epoch it expects:
    /// a client that knows an epoch learned of the partition from a broker whose metadata is
    /// ahead of this one's, so the answer is the retriable NOT_LEADER_OR_FOLLOWER.
    pub fn no_replica_error_at(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
    ) -> ResponseError {
        if current_leader_epoch >= 0 {
            ResponseError::NotLeaderOrFollower
        } else {
            self.no_replica_error(topic, partition)
        }
    }
}

/// The error code of `topic`-`partition` in per-partition `results` (0 when it has none).
pub fn partition_error_code(
    results: &[((String, i32), Option<ResponseError>)],
    topic: &str,
    partition: i32,
) -> i16 {
    results
        .iter()
        .find(|((n, i), _)| n == topic && *i == partition)
        .and_then(|(_, e)| *e)
        .map_or(0, |e| e.code())
}

/// The replicas of `replicas` whose broker is fenced or unknown to `image` (a partition's
/// offline replicas, as Metadata and DescribeTopicPartitions report them).
pub fn offline_replicas(
    image: &MetadataImage,
    replicas: &[i32],
) -> Vec<kafka_protocol::messages::BrokerId> {
    replicas
        .iter()
        .filter(|b| image.cluster.brokers.get(b).is_none_or(|r| r.fenced))
        .map(|b| kafka_protocol::messages::BrokerId(*b))
        .collect()
}

/// The endpoint of `broker` on `listener`, if it registered one.
pub fn endpoint<'a>(
    b: &'a crate::metadata::cluster_image::BrokerRegistration,
    listener: &str,
) -> Option<&'a crate::metadata::cluster_image::Endpoint> {
    b.listener(listener)
}

/// The error for a partition this broker has no replica of: not its leader when the cluster
/// knows the partition (a window while a replica is created, moved or deleted; clients
/// retry), else unknown.
pub fn no_replica_error(image: &MetadataImage, topic: &str, partition: i32) -> ResponseError {
    let known = image
        .topics
        .get_by_name(topic)
        .is_some_and(|t| t.partitions.contains_key(&partition));
    if known {
        ResponseError::NotLeaderOrFollower
    } else {
        ResponseError::UnknownTopicOrPartition
    }
}
