//! The broker's control plane: its view of the metadata (the metadata cache), its lifecycle
//! with the active controller (registration, heartbeats, controlled shutdown), the channel to
//! the controller, forwarding of admin requests, producer-id blocks, and the ISR changes its
//! partition leaders send to the controller.

pub mod alter_partition_sender;
pub mod controller_channel;
pub mod forwarding;
pub mod lifecycle;
pub mod metadata_cache;
pub mod producer_id_manager;
