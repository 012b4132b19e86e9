//! OffsetDelete (API 47): removes a group's committed offsets for topics its members do not
//! consume.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::Reply;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// OffsetDelete v0.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::OffsetDelete, 0, 0, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: OffsetDeleteRequest = request::decode_body(&head)?;
        let group = r.group_id.0.to_string();
        let partitions: Vec<(String, i32)> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.partition_index))
            })
            .collect();
        let g = group.clone();
        let answer = ctx
            .groups
            .request(&group, move |shard, _, reply, out| {
                shard.delete_offsets(&g, &partitions, reply, out)
            })
            .await;
        let (error, results) = match answer {
            Ok(Reply::DeleteOffsets { error, partitions }) => (error, partitions),
            Ok(_) => (Some(ResponseError::UnknownServerError), Vec::new()),
            Err(e) => (Some(e), Vec::new()),
        };
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let name = t.name.0.to_string();
                OffsetDeleteResponseTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.clone())))
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
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
        let code = error.map_or(0, |e| e.code());
        let resp = OffsetDeleteResponse::default()
            .with_error_code(code)
            .with_topics(if error.is_some() { Vec::new() } else { topics });
        respond(&head, &resp, code)
    })
}
