//! kraftd: a Kafka-protocol-compatible streaming server whose metadata lives in a KRaft quorum,
//! built observability-first.
//!
//! # Layers (who may depend on whom)
//!
//! A module may import modules of lower layers only; `tests/architecture` reads this table
//! and checks every `crate::` path in `src/` against it (and that `docs/ARCHITECTURE.md` shows
//! the same table).
//!
//! ```text
//! layer 11: app, cli              composition root; admin commands and the load generator
//! layer 10: broker                client APIs, replica manager, lifecycle, forwarding
//! layer  9: controller            quorum controller, its APIs, Envelope
//! layer  8: metadata_io           follows the committed log; ordered metadata publishers
//! layer  7: raft_io               raft driver, peers, KRaft routes, metadata log, stores
//! layer  6: network               listeners, sessions, services and route tables (no role)
//! layer  5: storage               meta.properties, bootstrap checkpoint, startup checks
//! layer  4: metadata, group       sans-IO: records, image, delta, loader, snapshots; groups
//! layer  3: raft                  sans-IO KRaft core and the metadata batch codec
//! layer  2: observability, log    metric registry and catalogue; Kafka-format segments
//! layer  1: clock, config         the one clock; typed server configuration
//! layer  0: types, protocol, shutdown, atomic_file
//! ```

pub mod app;
pub mod atomic_file;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controller;
pub mod group;
pub mod log;
pub mod metadata;
pub mod metadata_io;
pub mod network;
pub mod observability;
pub mod protocol;
pub mod raft;
pub mod raft_io;
pub mod shutdown;
pub mod storage;
pub mod types;
