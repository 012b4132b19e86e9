//! The quorum controller: the active controller's request handling as pure functions of the
//! metadata image, and the task that appends their records through raft.

pub mod activation;
pub mod alter_partition;
pub mod api;
pub mod broker_heartbeat;
pub mod cluster_control;
pub mod config_control;
pub mod context;
pub mod envelope;
pub mod feature_control;
pub mod heartbeat_sessions;
pub mod partition_change;
pub mod periodic;
pub mod placement;
pub mod producer_id_control;
pub mod quorum_controller;
pub mod replication_control;
pub mod request;
pub mod request_codec;
pub mod service;
pub mod topic_validation;

#[cfg(test)]
mod tests;
