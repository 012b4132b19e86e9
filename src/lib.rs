//! kraftd: a Kafka-protocol-compatible streaming server whose metadata lives in a KRaft quorum,
//! built observability-first.

pub mod config;
pub mod log;
pub mod raft;
pub mod storage;
pub mod types;
