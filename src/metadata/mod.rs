//! The metadata the quorum replicates: record types and their encoding, the immutable image
//! every node builds from the committed log, the deltas that produce it, the loader that
//! follows the log, and snapshots of the image.

pub mod access_image;
pub mod cluster_image;
pub mod config_resolution;
pub mod configs_image;
pub mod delta;
pub mod features_image;
pub mod image;
pub mod loader;
pub mod partition_registration;
pub mod records;
pub mod snapshot;
pub mod topic_config;
pub mod topic_name;
pub mod topics_image;

#[cfg(test)]
mod tests;
