//! The broker role: its client APIs (`api/`, one file per API, served by `service`), its data
//! plane (`data_plane/`: partitions, replica manager, logs, produce validation, producer state)
//! and its control plane (`control_plane/`: metadata cache, lifecycle, controller channel,
//! forwarding, producer ids).

pub mod api;
pub mod control_plane;
pub mod data_plane;
pub mod group_coordinator;
pub mod service;
