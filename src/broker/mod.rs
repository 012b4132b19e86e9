//! The broker role: its metadata cache, its lifecycle with the active controller, the channel
//! it uses to reach the controller, the partitions it hosts, and its client APIs.

pub mod api;
pub mod controller_channel;
pub mod forwarding;
pub mod lifecycle;
pub mod log_manager;
pub mod metadata_cache;
pub mod partition;
pub mod produce_validation;
pub mod producer_id_manager;
pub mod producer_state;
pub mod replica_manager;
pub mod service;
