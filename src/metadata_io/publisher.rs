//! Ordered, lossless delivery of metadata to the parts of a node that act on it.
//!
//! The listener task hands every image the loader publishes — one per applied run of
//! committed batches, and one per loaded snapshot — to each registered [`MetadataPublisher`],
//! in registration order, one update at a time, never skipping or merging updates. A
//! publisher sees the new image, the one before it and the loader's summary of what changed.
//! The order is the contract between publishers: a broker registers its replica manager
//! before its metadata cache, so a partition appears in this broker's Metadata answers only
//! once its local replica exists. A slow publisher delays the ones after it and the next
//! update; `kafka_metadata_publish_duration_seconds{publisher}` shows which one (ADR 0010).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::metadata::delta::Changes;
use crate::metadata::image::MetadataImage;
use crate::metadata::loader::LeaderChange;
use crate::raft::SnapshotId;

/// One published image and how it differs from the previous one.
#[derive(Debug, Clone)]
pub struct MetadataUpdate {
    pub image: Arc<MetadataImage>,
    /// The image publishers saw last (the empty image before the first update).
    pub previous: Arc<MetadataImage>,
    /// What the records since `previous` changed; after a snapshot, everything the snapshot
    /// holds.
    pub changes: Changes,
    /// Set when the image was loaded from this snapshot rather than built from records.
    pub from_snapshot: Option<SnapshotId>,
    /// The last quorum leader change committed at or before the image.
    pub leader: Option<LeaderChange>,
}

/// The future of one publication.
pub type Publishing<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A part of the node that follows the metadata image.
pub trait MetadataPublisher: Send + Sync + 'static {
    /// A short stable name (the `publisher` label of the metrics).
    fn name(&self) -> &'static str;

    /// Acts on `update`. The next update (and the next publisher) waits for this to finish.
    fn publish<'a>(&'a self, update: &'a MetadataUpdate) -> Publishing<'a>;
}
