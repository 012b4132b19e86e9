//! The broker's view of the cluster: the latest published metadata image, read by the request
//! handlers (Metadata, DescribeCluster, …) without locks. It is a metadata publisher, the
//! last of a broker's: an image reaches it only after the replica manager has acted on it, so
//! a partition this broker answers for already has its local replica. It also remembers the
//! names of topics deleted in the last [`RECENT_DELETION_WINDOW`]: a topic created again under
//! such a name may already be listed by another broker while this one has not heard of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::metadata::image::MetadataImage;
use crate::metadata_io::listener::MetadataState;
use crate::metadata_io::publisher::{MetadataPublisher, MetadataUpdate, Publishing};

/// How long a deleted topic's name counts as recently deleted.
pub const RECENT_DELETION_WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct MetadataCache {
    sender: Arc<watch::Sender<MetadataState>>,
    state: watch::Receiver<MetadataState>,
    /// Topic name → when this broker applied its deletion, for [`RECENT_DELETION_WINDOW`].
    deleted: Arc<Mutex<HashMap<String, Instant>>>,
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
            deleted: Arc::default(),
        }
    }

    /// Whether a topic named `topic` was deleted within the last [`RECENT_DELETION_WINDOW`].
    pub fn deleted_recently(&self, topic: &str) -> bool {
        self.deletions().get(topic).is_some_and(|at| {
            crate::clock::instant_now().duration_since(*at) < RECENT_DELETION_WINDOW
        })
    }

    fn deletions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        lock(&self.deleted)
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

/// Each update of the map is one insert or a prune: consistent whatever a panicking holder
/// did.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MetadataPublisher for MetadataCache {
    fn name(&self) -> &'static str {
        "metadata_cache"
    }

    fn publish<'a>(&'a self, update: &'a MetadataUpdate) -> Publishing<'a> {
        if !update.changes.removed_topics.is_empty() || !self.deletions().is_empty() {
            let now = crate::clock::instant_now();
            let mut deleted = self.deletions();
            deleted.retain(|_, at| now.duration_since(*at) < RECENT_DELETION_WINDOW);
            for name in update.changes.removed_topics.values() {
                deleted.insert(name.clone(), now);
            }
        }
        self.sender.send_replace(MetadataState {
            image: update.image.clone(),
            leader: update.leader,
            ready: true,
            in_transaction: false,
        });
        Box::pin(std::future::ready(()))
    }
}
