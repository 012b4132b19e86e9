//! The tokio shell around the sans-IO raft core: wire mapping of KRaft RPCs to Kafka protocol
//! messages, the metadata log's on-disk and on-wire batch format, and (as it lands) the driver,
//! transport and stores.

pub mod committed;
pub mod driver;
pub mod endpoint;
pub mod metadata_log;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod quorum_state_store;
pub mod routes;
pub mod snapshot_store;
pub mod wire;
