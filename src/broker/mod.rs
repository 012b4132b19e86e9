//! The broker role: its metadata cache, its lifecycle with the active controller, and the
//! channel it uses to reach the controller.

pub mod api;
pub mod controller_channel;
pub mod forwarding;
pub mod lifecycle;
pub mod metadata_cache;
pub mod produce_validation;
pub mod producer_state;
