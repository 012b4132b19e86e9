//! The tokio shell around the sans-IO metadata code: the task that follows the committed
//! metadata log, publishes images and writes snapshots.

pub mod listener;
pub mod publisher;
