//! DescribeTopicPartitions (API 75, KIP-966): topics and their partitions from the image,
//! paginated by `response_partition_limit` with a cursor (topic name, partition).

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::metadata::image::MetadataImage;
use crate::metadata::partition_registration::PartitionRegistration;

/// DescribeTopicPartitions v0–v0.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DescribeTopicPartitions, 0, 0, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DescribeTopicPartitionsRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r);
        let code = first_error(resp.topics.iter().map(|t| t.error_code));
        respond(&head, &resp, code)
    })
}

pub fn handle(
    ctx: &BrokerContext,
    r: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = ctx.cache.image();
    let mut names: Vec<String> = if r.topics.is_empty() {
        image.topics.by_name.keys().cloned().collect()
    } else {
        r.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &r.cursor {
        Some(c) => (Some(c.topic_name.0.to_string()), c.partition_index),
        None => (None, 0),
    };
    let limit = if r.response_partition_limit > 0 {
        r.response_partition_limit as usize
    } else {
        2000
    };
    let mut budget = limit;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if start_topic.as_ref().is_some_and(|s| name < *s) {
            continue;
        }
        let Some(t) = image.topics.get_by_name(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(TopicName(StrBytes::from_string(name))))
                    .with_topic_authorized_operations(i32::MIN),
            );
            continue;
        };
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for (id, p) in t.partitions.range(first..) {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_partition_index(*id),
                );
                break;
            }
            budget -= 1;
            partitions.push(partition_entry(&image, *id, p));
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_is_internal(crate::group::is_internal_topic(&name))
                .with_name(Some(TopicName(StrBytes::from_string(name))))
                .with_topic_id(t.id)
                .with_partitions(partitions)
                .with_topic_authorized_operations(i32::MIN),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

/// One partition's entry; replicas on brokers that are fenced or unregistered are offline.
fn partition_entry(
    image: &MetadataImage,
    id: i32,
    p: &PartitionRegistration,
) -> DescribeTopicPartitionsResponsePartition {
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    DescribeTopicPartitionsResponsePartition::default()
        .with_error_code(if p.has_leader() {
            0
        } else {
            ResponseError::LeaderNotAvailable.code()
        })
        .with_partition_index(id)
        .with_leader_id(BrokerId(p.leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(ids(&p.replicas))
        .with_isr_nodes(ids(&p.isr))
        .with_eligible_leader_replicas(Some(ids(&p.elr)))
        .with_last_known_elr(Some(ids(&p.last_known_elr)))
        .with_offline_replicas(super::offline_replicas(image, &p.replicas))
}
