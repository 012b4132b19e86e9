//! Topics by id and by name, with their partitions (TopicRecord, PartitionRecord,
//! PartitionChangeRecord, RemoveTopicRecord).

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::metadata::partition_registration::PartitionRegistration;
use crate::metadata::records::{
    ApiMessageAndVersion, MetadataRecord, PartitionChangeRecord, PartitionRecord, TopicRecord,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// Why a topic record cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicReplayError {
    #[error("topic id {0} is not known")]
    UnknownTopicId(Uuid),
    #[error("partition {partition} of topic id {topic_id} is not known")]
    UnknownPartition { topic_id: Uuid, partition: i32 },
    #[error("topic {name} already exists with id {existing}")]
    DuplicateName { name: String, existing: Uuid },
}

/// All topics. Each topic is shared between images until it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicsImage {
    pub by_id: BTreeMap<Uuid, Arc<TopicImage>>,
    pub by_name: BTreeMap<String, Uuid>,
}

impl TopicsImage {
    pub fn get_by_name(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.by_name.get(name).and_then(|id| self.by_id.get(id))
    }

    pub fn get(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.by_id.get(id)
    }

    pub fn partition_count(&self) -> usize {
        self.by_id.values().map(|t| t.partitions.len()).sum()
    }

    /// Every partition with its topic.
    pub fn partitions(&self) -> impl Iterator<Item = (&TopicImage, i32, &PartitionRegistration)> {
        self.by_id
            .values()
            .flat_map(|t| t.partitions.iter().map(move |(p, r)| (&**t, *p, r)))
    }

    pub fn add_topic(&mut self, r: &TopicRecord) -> Result<(), TopicReplayError> {
        if let Some(existing) = self.by_name.get(&r.name)
            && *existing != r.topic_id
        {
            return Err(TopicReplayError::DuplicateName {
                name: r.name.clone(),
                existing: *existing,
            });
        }
        self.by_name.insert(r.name.clone(), r.topic_id);
        self.by_id.insert(
            r.topic_id,
            Arc::new(TopicImage {
                name: r.name.clone(),
                id: r.topic_id,
                partitions: BTreeMap::new(),
            }),
        );
        Ok(())
    }

    pub fn add_partition(&mut self, r: &PartitionRecord) -> Result<(), TopicReplayError> {
        let topic = self
            .by_id
            .get_mut(&r.topic_id)
            .ok_or(TopicReplayError::UnknownTopicId(r.topic_id))?;
        Arc::make_mut(topic)
            .partitions
            .insert(r.partition_id, PartitionRegistration::from_record(r));
        Ok(())
    }

    pub fn change_partition(&mut self, r: &PartitionChangeRecord) -> Result<(), TopicReplayError> {
        let topic = self
            .by_id
            .get_mut(&r.topic_id)
            .ok_or(TopicReplayError::UnknownTopicId(r.topic_id))?;
        let current =
            topic
                .partitions
                .get(&r.partition_id)
                .ok_or(TopicReplayError::UnknownPartition {
                    topic_id: r.topic_id,
                    partition: r.partition_id,
                })?;
        let next = current.merge(r);
        Arc::make_mut(topic).partitions.insert(r.partition_id, next);
        Ok(())
    }

    /// Removes a topic; returns its name (configs of that name go too).
    pub fn remove_topic(&mut self, id: &Uuid) -> Result<String, TopicReplayError> {
        let topic = self
            .by_id
            .remove(id)
            .ok_or(TopicReplayError::UnknownTopicId(*id))?;
        self.by_name.remove(&topic.name);
        Ok(topic.name.clone())
    }

    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        for t in self.by_id.values() {
            out.push(ApiMessageAndVersion::latest(MetadataRecord::Topic(
                TopicRecord {
                    name: t.name.clone(),
                    topic_id: t.id,
                    ..Default::default()
                },
            )));
            for (p, reg) in &t.partitions {
                out.push(ApiMessageAndVersion::latest(MetadataRecord::Partition(
                    reg.to_record(t.id, *p),
                )));
            }
        }
    }
}
