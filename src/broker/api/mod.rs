//! The client-facing APIs a broker answers itself, one file per Kafka API, all reading the
//! broker's metadata cache.

pub mod describe_cluster;
pub mod describe_configs;
pub mod metadata;

use crate::broker::metadata_cache::MetadataCache;

/// What broker API handlers need: the metadata cache and the listener the request came in on
/// (brokers advertise each node's endpoint of that same listener).
#[derive(Clone)]
pub struct BrokerContext {
    pub cache: MetadataCache,
    pub listener: String,
    pub cluster_id: String,
    pub node_id: i32,
    /// The explicitly set server configs (DescribeConfigs' static broker configs).
    pub static_values: std::sync::Arc<std::collections::BTreeMap<String, String>>,
}

/// The endpoint of `broker` on `listener`, if it registered one.
pub fn endpoint<'a>(
    b: &'a crate::metadata::cluster_image::BrokerRegistration,
    listener: &str,
) -> Option<&'a crate::metadata::cluster_image::Endpoint> {
    b.listener(listener)
}
