//! OffsetCommit (API 8): a group's consumed positions, acknowledged once the in-sync replicas
//! of its `__consumer_offsets` partition hold them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::{CommitPartition, CommitRequest, Reply};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};

/// OffsetCommit v2–v9.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::OffsetCommit, 2, 9, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: OffsetCommitRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r, head.api_version).await;
        let code = first_error(
            resp.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        respond(&head, &resp, code)
    })
}

pub async fn handle(
    ctx: &BrokerContext,
    r: &OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let image = ctx.cache.image();
    let mut results: Vec<((String, i32), Option<ResponseError>)> = Vec::new();
    let mut partitions = Vec::new();
    for t in &r.topics {
        let name = t.name.0.to_string();
        let known = image.topics.get_by_name(&name);
        for p in &t.partitions {
            if known.is_none_or(|k| !k.partitions.contains_key(&p.partition_index)) {
                results.push((
                    (name.clone(), p.partition_index),
                    Some(ResponseError::UnknownTopicOrPartition),
                ));
                continue;
            }
            partitions.push(CommitPartition {
                topic: name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
    }
    let commit = CommitRequest {
        group_id: r.group_id.0.to_string(),
        generation: r.generation_id_or_member_epoch,
        member_id: r.member_id.to_string(),
        instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
        retention_ms: if (2..=4).contains(&version) {
            r.retention_time_ms
        } else {
            -1
        },
        partitions,
    };
    if !commit.partitions.is_empty() {
        let group = commit.group_id.clone();
        let asked: Vec<(String, i32)> = commit
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        match ctx
            .groups
            .request(&group, move |shard, now, reply, out| {
                shard.commit(now, commit, reply, out)
            })
            .await
        {
            Ok(Reply::Commit { partitions, .. }) => results.extend(partitions),
            Ok(_) => results.extend(
                asked
                    .into_iter()
                    .map(|tp| (tp, Some(ResponseError::UnknownServerError))),
            ),
            Err(e) => results.extend(asked.into_iter().map(|tp| (tp, Some(e)))),
        }
    }
    // Answer in request order, grouped by topic.
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.clone())))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(super::partition_error_code(
                                    &results,
                                    &name,
                                    p.partition_index,
                                ))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
