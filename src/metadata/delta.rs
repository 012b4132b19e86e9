//! Changes on top of an image. [`MetadataDelta::replay`] is the only way state changes;
//! [`MetadataDelta::apply`] yields the next image. Parts of the base image the records did not
//! touch stay shared (`Arc::make_mut` copies a part only when it is first changed).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use uuid::Uuid;

use crate::metadata::cluster_image::ClusterReplayError;
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::image::{MetadataImage, Provenance};
use crate::metadata::records::{ApiMessageAndVersion, MetadataRecord};
use crate::metadata::topics_image::TopicReplayError;

/// Why a record cannot be applied to the current state. Replaying a committed log must never
/// fail; each of these means the log and this node disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Cluster(#[from] ClusterReplayError),
    #[error(transparent)]
    Topic(#[from] TopicReplayError),
    #[error("producer id block must grow: next producer id {record} after {current}")]
    ProducerIdsNotIncreasing { current: i64, record: i64 },
    #[error("{0} records are not applied by the image")]
    Unsupported(&'static str),
}

/// What a delta changed, for publishers that act on differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub features: bool,
    pub brokers: BTreeSet<i32>,
    pub controllers: BTreeSet<i32>,
    /// Created or changed topics (ids in the new image).
    pub topics: BTreeSet<Uuid>,
    /// Deleted topics: id and name.
    pub removed_topics: BTreeMap<Uuid, String>,
    pub configs: BTreeSet<ConfigResource>,
    pub producer_ids: bool,
    pub access: bool,
    /// Records replayed.
    pub records: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

#[derive(Debug, Clone)]
pub struct MetadataDelta {
    image: MetadataImage,
    changes: Changes,
}

impl MetadataDelta {
    pub fn new(base: &MetadataImage) -> Self {
        MetadataDelta {
            image: base.clone(),
            changes: Changes::default(),
        }
    }

    /// The state with every replayed record applied (provenance not yet updated).
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Applies one record. On error nothing changed.
    pub fn replay(&mut self, m: &ApiMessageAndVersion) -> Result<(), ReplayError> {
        // Stays long: one arm per metadata record type, each a few lines.
        let img = &mut self.image;
        let ch = &mut self.changes;
        match &m.record {
            MetadataRecord::FeatureLevel(r) => {
                Arc::make_mut(&mut img.features).replay(r);
                ch.features = true;
            }
            MetadataRecord::RegisterBroker(r) => {
                Arc::make_mut(&mut img.cluster).register_broker(r);
                ch.brokers.insert(r.broker_id);
            }
            MetadataRecord::UnregisterBroker(r) => {
                check_cluster(img, |c| c.unregister_broker(r.broker_id, r.broker_epoch))?;
                ch.brokers.insert(r.broker_id);
            }
            MetadataRecord::FenceBroker(r) => {
                check_cluster(img, |c| c.set_fenced(r.id, r.epoch, true))?;
                ch.brokers.insert(r.id);
            }
            MetadataRecord::UnfenceBroker(r) => {
                check_cluster(img, |c| c.set_fenced(r.id, r.epoch, false))?;
                ch.brokers.insert(r.id);
            }
            MetadataRecord::BrokerRegistrationChange(r) => {
                check_cluster(img, |c| c.change_broker(r))?;
                ch.brokers.insert(r.broker_id);
            }
            MetadataRecord::RegisterController(r) => {
                Arc::make_mut(&mut img.cluster).register_controller(r);
                ch.controllers.insert(r.controller_id);
            }
            MetadataRecord::Topic(r) => {
                if let Some(existing) = img.topics.by_name.get(&r.name)
                    && *existing != r.topic_id
                {
                    return Err(TopicReplayError::DuplicateName {
                        name: r.name.clone(),
                        existing: *existing,
                    }
                    .into());
                }
                Arc::make_mut(&mut img.topics).add_topic(r)?;
                ch.topics.insert(r.topic_id);
                ch.removed_topics.remove(&r.topic_id);
            }
            MetadataRecord::Partition(r) => {
                if !img.topics.by_id.contains_key(&r.topic_id) {
                    return Err(TopicReplayError::UnknownTopicId(r.topic_id).into());
                }
                Arc::make_mut(&mut img.topics).add_partition(r)?;
                ch.topics.insert(r.topic_id);
            }
            MetadataRecord::PartitionChange(r) => {
                let known = img
                    .topics
                    .get(&r.topic_id)
                    .ok_or(TopicReplayError::UnknownTopicId(r.topic_id))?
                    .partitions
                    .contains_key(&r.partition_id);
                if !known {
                    return Err(TopicReplayError::UnknownPartition {
                        topic_id: r.topic_id,
                        partition: r.partition_id,
                    }
                    .into());
                }
                Arc::make_mut(&mut img.topics).change_partition(r)?;
                ch.topics.insert(r.topic_id);
            }
            MetadataRecord::RemoveTopic(r) => {
                if !img.topics.by_id.contains_key(&r.topic_id) {
                    return Err(TopicReplayError::UnknownTopicId(r.topic_id).into());
                }
                let name = Arc::make_mut(&mut img.topics).remove_topic(&r.topic_id)?;
                let resource = ConfigResource::topic(&name);
                if img.configs.get(&resource).is_some() {
                    Arc::make_mut(&mut img.configs).remove_resource(&resource);
                    ch.configs.insert(resource);
                }
                ch.topics.remove(&r.topic_id);
                ch.removed_topics.insert(r.topic_id, name);
            }
            MetadataRecord::Config(r) => {
                Arc::make_mut(&mut img.configs).replay(r);
                ch.configs.insert(ConfigResource {
                    resource_type: r.resource_type,
                    name: r.resource_name.clone(),
                });
            }
            MetadataRecord::ProducerIds(r) => {
                if r.next_producer_id <= img.producer_ids.next_producer_id {
                    return Err(ReplayError::ProducerIdsNotIncreasing {
                        current: img.producer_ids.next_producer_id,
                        record: r.next_producer_id,
                    });
                }
                img.producer_ids.next_producer_id = r.next_producer_id;
                img.producer_ids.last_broker = Some((r.broker_id, r.broker_epoch));
                ch.producer_ids = true;
            }
            MetadataRecord::AccessControlEntry(_)
            | MetadataRecord::RemoveAccessControlEntry(_)
            | MetadataRecord::UserScramCredential(_)
            | MetadataRecord::RemoveUserScramCredential(_)
            | MetadataRecord::DelegationToken(_)
            | MetadataRecord::RemoveDelegationToken(_)
            | MetadataRecord::ClientQuota(_) => {
                Arc::make_mut(&mut img.access).replay(m);
                ch.access = true;
            }
            // Markers handled by the loader; nothing to change here.
            MetadataRecord::NoOp(_)
            | MetadataRecord::BeginTransaction(_)
            | MetadataRecord::EndTransaction(_)
            | MetadataRecord::AbortTransaction(_) => {}
            MetadataRecord::ZkMigrationState(_) => {}
            MetadataRecord::ClearElr(_) => {
                return Err(ReplayError::Unsupported("ClearElrRecord"));
            }
        }
        ch.records += 1;
        Ok(())
    }

    /// The next image and what changed.
    pub fn apply(self, provenance: Provenance) -> (MetadataImage, Changes) {
        let mut image = self.image;
        image.provenance = provenance;
        (image, self.changes)
    }
}

/// Runs a cluster change on a copy, committing it only on success (so a failed record leaves
/// the delta untouched and the shared base part is not copied for nothing).
fn check_cluster(
    img: &mut MetadataImage,
    f: impl FnOnce(&mut crate::metadata::cluster_image::ClusterImage) -> Result<(), ClusterReplayError>,
) -> Result<(), ReplayError> {
    let mut next = (*img.cluster).clone();
    f(&mut next)?;
    img.cluster = Arc::new(next);
    Ok(())
}
