//! kraftd: a Kafka-protocol-compatible streaming server whose metadata lives in a KRaft quorum,
//! built observability-first.
//!
//! # Module map (who may depend on whom)
//!
//! ```text
//! main.rs ─▶ cli ─▶ app ─▶ network, observability, storage, config
//! network ─▶ protocol                       (framing, ApiVersions table, error codes)
//! raft    ─▶ types only                     (sans-IO: no tokio, fs, net, clock, thread RNG)
//! log     ─▶ types                          (Kafka-format segments, used by every log)
//! metadata                                  (sans-IO: records, image, delta, loader, snapshots)
//! metadata_io ─▶ metadata, raft_io          (the task that follows the committed log)
//! controller ─▶ metadata                    (pure request functions + the controller task)
//! broker  ─▶ metadata, network              (metadata cache, lifecycle, client APIs)
//! config, storage, observability, clock     (leaves; no dependency on the roles)
//! ```

pub mod app;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controller;
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
