//! The broker role: its metadata cache, its lifecycle with the active controller, and the
//! channel it uses to reach the controller.

pub mod api;
pub mod controller_channel;
pub mod forwarding;
pub mod lifecycle;
pub mod log_manager;
pub mod metadata_cache;
pub mod partition;
pub mod producer_id_manager;
pub mod replica_manager;
