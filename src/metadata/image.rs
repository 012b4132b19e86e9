//! The metadata image: an immutable picture of everything the metadata log says, shared
//! through `Arc`s so that a new image reuses every part its delta did not touch.

use std::sync::Arc;

use crate::metadata::access_image::AccessImage;
use crate::metadata::cluster_image::ClusterImage;
use crate::metadata::configs_image::ConfigsImage;
use crate::metadata::features_image::FeaturesImage;
use crate::metadata::records::{ApiMessageAndVersion, MetadataRecord, ProducerIdsRecord};
use crate::metadata::topics_image::TopicsImage;

/// Where an image comes from: the last log offset and epoch it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    /// The last contained offset (-1 for the empty image).
    pub last_offset: i64,
    /// The epoch of the batch holding that offset.
    pub last_epoch: i32,
    /// Append time of that batch (ms since the Unix epoch; -1 if unknown).
    pub last_timestamp_ms: i64,
}

impl Default for Provenance {
    fn default() -> Self {
        Provenance {
            last_offset: -1,
            last_epoch: 0,
            last_timestamp_ms: -1,
        }
    }
}

impl Provenance {
    /// The exclusive end offset: a snapshot of this image is named after it.
    pub fn end_offset(&self) -> i64 {
        self.last_offset + 1
    }
}

/// The next producer id block start handed out by the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducerIdsImage {
    /// The first producer id not yet allocated (0 before any allocation).
    pub next_producer_id: i64,
    /// The broker and broker epoch of the last allocation (kept for the snapshot record).
    pub last_broker: Option<(i32, i64)>,
}

impl ProducerIdsImage {
    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        if let Some((broker_id, broker_epoch)) = self.last_broker {
            out.push(ApiMessageAndVersion::latest(MetadataRecord::ProducerIds(
                ProducerIdsRecord {
                    broker_id,
                    broker_epoch,
                    next_producer_id: self.next_producer_id,
                    ..Default::default()
                },
            )));
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataImage {
    pub provenance: Provenance,
    pub features: Arc<FeaturesImage>,
    pub cluster: Arc<ClusterImage>,
    pub topics: Arc<TopicsImage>,
    pub configs: Arc<ConfigsImage>,
    pub producer_ids: ProducerIdsImage,
    pub access: Arc<AccessImage>,
}

impl MetadataImage {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Nothing was ever replayed into it.
    pub fn is_empty(&self) -> bool {
        self.provenance.last_offset < 0 && self.same_content(&MetadataImage::default())
    }

    /// Equal content, ignoring provenance.
    pub fn same_content(&self, other: &MetadataImage) -> bool {
        self.features == other.features
            && self.cluster == other.cluster
            && self.topics == other.topics
            && self.configs == other.configs
            && self.producer_ids == other.producer_ids
            && self.access == other.access
    }

    /// The records that rebuild this image from the empty one: what a snapshot contains.
    /// Features come first (`metadata.version` decides how the rest is read).
    pub fn records(&self) -> Vec<ApiMessageAndVersion> {
        let mut out = Vec::new();
        self.features.records(&mut out);
        self.cluster.records(&mut out);
        self.topics.records(&mut out);
        self.configs.records(&mut out);
        self.producer_ids.records(&mut out);
        self.access.records(&mut out);
        out
    }
}
