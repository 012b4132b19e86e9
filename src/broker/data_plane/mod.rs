//! The broker's data plane: the partitions it hosts and everything on the produce and fetch
//! path — partition state (leadership, high watermark, flushes), the replica manager that
//! follows the metadata image, partition directories, produce validation and producer state,
//! and incremental fetch sessions (KIP-227): `fetch_session` (one session), `fetch_session_cache`
//! (the bounded cache and its eviction), `fetch_manager` (what a Fetch request and its response
//! do to them) and, on the fetcher's side, `fetch_session_handler`.

pub mod fetch_manager;
pub mod fetch_session;
pub mod fetch_session_cache;
pub mod fetch_session_handler;
pub mod high_watermark_checkpoint;
pub mod log_dir_failure;
pub mod log_manager;
pub mod partition;
pub mod partition_state;
pub mod planted_bug;
pub mod produce_validation;
pub mod producer_state;
pub mod replica_fetcher;
pub mod replica_manager;
