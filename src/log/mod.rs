//! The Kafka-format append-only log, used by the `__cluster_metadata` log and (later) every
//! partition log: segments of RecordBatch v2 stored byte-for-byte (`<base offset>.log`),
//! sparse offset and time indexes (only the active segment's are memory-mapped), recovery of a
//! torn tail after a crash, roll, retention, truncation and the leader epoch cache.
//!
//! Synchronous by design (`std::fs`): the raft driver runs it on its own thread, and partition
//! logs will run it on blocking threads. No clock reads: callers pass `now_ms`.

pub mod batch;
pub mod compression;
pub mod config;
pub mod epoch_cache;
pub mod error;
mod flush;
pub mod index;
#[allow(clippy::module_inception)]
pub mod log;
mod recovery;
mod retention;
pub mod segment;
mod truncation;

pub use batch::RecordBatch;
pub use config::LogConfig;
pub use error::LogError;
pub use flush::{FlushInfo, RolledFlush};
pub use log::{AppendInfo, Log};
pub use recovery::RecoveryReport;

#[cfg(test)]
mod tests;
