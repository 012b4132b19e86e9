//! OffsetForLeaderEpoch (API 23): the end offset of a leader epoch in the partition leader's
//! log (the first offset of the next larger epoch, or the log end for the current one), used
//! by consumers to detect truncation after an unclean leader change.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::BrokerContext;

/// OffsetForLeaderEpoch v2–v4.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::OffsetForLeaderEpoch, 2, 4, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: OffsetForLeaderEpochRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r);
        let code = first_error(
            resp.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        respond(&head, &resp, code)
    })
}

pub fn handle(
    ctx: &BrokerContext,
    r: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(partition) = ctx.replicas.get(&name, p.partition) else {
                        return out.with_error_code(
                            ctx.no_replica_error_at(&name, p.partition, p.current_leader_epoch)
                                .code(),
                        );
                    };
                    let current = partition.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != current {
                        let e = if p.current_leader_epoch < current {
                            ResponseError::FencedLeaderEpoch
                        } else {
                            ResponseError::UnknownLeaderEpoch
                        };
                        return out.with_error_code(e.code());
                    }
                    match partition.with_log(|log, _| log.end_offset_for_epoch(p.leader_epoch)) {
                        Ok(Some((epoch, end))) => out.with_leader_epoch(epoch).with_end_offset(end),
                        Ok(None) => out,
                        Err(_) => out.with_error_code(ResponseError::NotLeaderOrFollower.code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
