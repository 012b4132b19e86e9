//! OffsetFetch (API 9): a group's committed offsets (v8+: several groups per request).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::FetchedOffset;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// OffsetFetch v1–v9.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::OffsetFetch, 1, 9, serve);

/// One group's committed offsets by topic, or the group's error.
type GroupOffsets = Result<Vec<(String, Vec<FetchedOffset>)>, ResponseError>;

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: OffsetFetchRequest = request::decode_body(&head)?;
        let version = head.api_version;
        if version >= 8 {
            let mut groups = Vec::new();
            for g in &r.groups {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                        .collect::<Vec<_>>()
                });
                let fetched = fetch(ctx, &g.group_id.0, topics, r.require_stable).await;
                groups.push(group_response(&g.group_id, fetched));
            }
            let code = groups
                .iter()
                .map(|g| g.error_code)
                .find(|c| *c != 0)
                .unwrap_or(0);
            let resp = OffsetFetchResponse::default().with_groups(groups);
            return respond(&head, &resp, code);
        }
        let topics = r.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let fetched = fetch(ctx, &r.group_id.0, topics, version >= 7 && r.require_stable).await;
        let resp = match fetched {
            Ok(topics) => OffsetFetchResponse::default().with_topics(
                topics
                    .into_iter()
                    .map(|(name, parts)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p.partition)
                                            .with_committed_offset(p.offset)
                                            .with_committed_leader_epoch(p.leader_epoch)
                                            .with_metadata(p.metadata.map(StrBytes::from_string))
                                            .with_error_code(p.error.map_or(0, |e| e.code()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
            Err(e) => OffsetFetchResponse::default().with_error_code(e.code()),
        };
        let code = resp.error_code;
        respond(&head, &resp, code)
    })
}

async fn fetch(
    ctx: &BrokerContext,
    group: &StrBytes,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> GroupOffsets {
    let group = group.to_string();
    let g = group.clone();
    ctx.groups
        .call(&group, move |shard, _, _| {
            shard.fetch_offsets(&g, topics.as_deref(), require_stable)
        })
        .await
}

fn group_response(id: &GroupId, fetched: GroupOffsets) -> OffsetFetchResponseGroup {
    match fetched {
        Ok(topics) => OffsetFetchResponseGroup::default()
            .with_group_id(id.clone())
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, parts)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(
                                parts
                                    .into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(p.partition)
                                            .with_committed_offset(p.offset)
                                            .with_committed_leader_epoch(p.leader_epoch)
                                            .with_metadata(p.metadata.map(StrBytes::from_string))
                                            .with_error_code(p.error.map_or(0, |e| e.code()))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        Err(e) => OffsetFetchResponseGroup::default()
            .with_group_id(id.clone())
            .with_error_code(e.code()),
    }
}
