//! The admin subcommands' implementations (argument parsing lives in `main.rs`).

pub mod args;
pub mod consumer_groups;
pub mod dev;
pub mod metadata_dump;
pub mod metadata_quorum;
pub mod perf;
pub mod storage;
pub mod topics;
