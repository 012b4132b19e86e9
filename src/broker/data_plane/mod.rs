//! The broker's data plane: the partitions it hosts and everything on the produce and fetch
//! path — partition state (leadership, high watermark, flushes), the replica manager that
//! follows the metadata image, partition directories, produce validation and producer state.

pub mod high_watermark_checkpoint;
pub mod log_manager;
pub mod partition;
pub mod partition_state;
pub mod produce_validation;
pub mod producer_state;
pub mod replica_fetcher;
pub mod replica_manager;
