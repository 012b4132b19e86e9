//! The client-facing APIs a broker answers itself, one file per Kafka API, all reading the
//! broker's metadata cache.

pub mod delete_records;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;

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
    /// Where admin requests go (auto-creation of topics asked for by Metadata).
    pub forward:
        std::sync::Arc<crate::broker::control_plane::controller_channel::ControllerChannel>,
    /// `auto.create.topics.enable` with `num.partitions` and `default.replication.factor`.
    pub auto_create: Option<(i32, i16)>,
    pub producer_ids:
        std::sync::Arc<crate::broker::control_plane::producer_id_manager::ProducerIdManager>,
    /// Incremental fetch sessions (KIP-227) of consumers and followers.
    pub fetch_sessions: std::sync::Arc<crate::broker::data_plane::fetch_manager::FetchManager>,
}

/// The endpoint of `broker` on `listener`, if it registered one.
pub fn endpoint<'a>(
    b: &'a crate::metadata::cluster_image::BrokerRegistration,
    listener: &str,
) -> Option<&'a crate::metadata::cluster_image::Endpoint> {
    b.listener(listener)
}

/// The error for a partition this broker has no replica of: not its leader when the cluster
/// knows the partition, else unknown.
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
