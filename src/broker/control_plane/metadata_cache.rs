//! The broker's view of the cluster: the latest published metadata image, read by the request
//! handlers (Metadata, DescribeCluster, …) without locks. It is a metadata publisher, the
//! last of a broker's: an image reaches it only after the replica manager has acted on it, so
//! a partition this broker answers for already has its local replica.

use std::sync::Arc;

use tokio::sync::watch;

use crate::metadata::image::MetadataImage;
use crate::metadata_io::listener::MetadataState;
use crate::metadata_io::publisher::{MetadataPublisher, MetadataUpdate, Publishing};

#[derive(Clone)]
pub struct MetadataCache {
    sender: Arc<watch::Sender<MetadataState>>,
    state: watch::Receiver<MetadataState>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MetadataCache {
    /// An empty cache, not ready until its first publication.
    pub fn new() -> Self {
        let (sender, state) = watch::channel(MetadataState::default());
        MetadataCache {
            sender: Arc::new(sender),
            state,
        }
    }

    /// The current image (cheap: an `Arc`).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.state.borrow().image.clone()
    }

    /// Whether an image was published yet.
    pub fn is_ready(&self) -> bool {
        self.state.borrow().ready
    }

    /// The last offset contained in the image (-1 before any).
    pub fn last_offset(&self) -> i64 {
        self.state.borrow().image.provenance.last_offset
    }

    /// Waits until the image contains `offset`.
    pub async fn wait_for_offset(&self, offset: i64) {
        let mut rx = self.state.clone();
        let _ = rx
            .wait_for(|s| s.ready && s.image.provenance.last_offset >= offset)
            .await;
    }

    /// Waits up to `timeout` for the first published image; `false` if none came.
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        let mut rx = self.state.clone();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(|s| s.ready)).await,
            Ok(Ok(_))
        )
    }

    pub fn subscribe(&self) -> watch::Receiver<MetadataState> {
        self.state.clone()
    }
}

impl MetadataPublisher for MetadataCache {
    fn name(&self) -> &'static str {
        "metadata_cache"
    }

    fn publish<'a>(&'a self, update: &'a MetadataUpdate) -> Publishing<'a> {
        self.sender.send_replace(MetadataState {
            image: update.image.clone(),
            leader: update.leader,
            ready: true,
            in_transaction: false,
        });
        Box::pin(std::future::ready(()))
    }
}
