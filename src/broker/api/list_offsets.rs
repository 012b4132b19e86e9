//! ListOffsets (API 2): earliest (-2), latest (-1), max timestamp (-3) and by timestamp, from
//! partition leaders; the latest offset is the high watermark.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::BrokerContext;
use crate::broker::data_plane::partition::PartitionError;
use crate::log::RecordBatch;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// Offset and timestamp of the first record at or after `ts` below `hwm`, refined from the
/// batch the time index points at to the exact record.
fn offset_for_time(log: &mut crate::log::Log, hwm: i64, ts: i64) -> Option<(i64, i64)> {
    let start = log.offset_for_timestamp(ts).ok()??;
    let mut offset = start;
    while offset < hwm {
        let bytes = log.read(offset, 1 << 20, hwm, true).ok()??;
        for batch in RecordBatch::split_all(bytes).ok()? {
            if batch.max_timestamp() < ts {
                offset = batch.next_offset();
                continue;
            }
            // Record-level timestamps: decode the batch (it may be compressed).
            let mut b = batch.bytes().clone();
            if let Ok(set) = kafka_protocol::records::RecordBatchDecoder::decode(&mut b) {
                for r in set.records {
                    if r.timestamp >= ts && r.offset >= offset {
                        return Some((r.offset, r.timestamp));
                    }
                }
            }
            offset = batch.next_offset();
        }
    }
    None
}

fn max_timestamp(log: &mut crate::log::Log, hwm: i64) -> Option<(i64, i64)> {
    let mut best: Option<(i64, i64)> = None;
    let mut offset = log.log_start_offset();
    while offset < hwm {
        let bytes = log.read(offset, 1 << 20, hwm, true).ok()??;
        for batch in RecordBatch::split_all(bytes).ok()? {
            if best.is_none_or(|(_, t)| batch.max_timestamp() > t) {
                let mut b = batch.bytes().clone();
                if let Ok(set) = kafka_protocol::records::RecordBatchDecoder::decode(&mut b)
                    && let Some(r) = set.records.iter().max_by_key(|r| (r.timestamp, -r.offset))
                {
                    best = Some((r.offset, r.timestamp));
                }
            }
            offset = batch.next_offset();
        }
    }
    best
}

/// ListOffsets v1–v7.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::ListOffsets, 1, 7, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: ListOffsetsRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r, head.api_version);
        let code = first_error(
            resp.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        respond(&head, &resp, code)
    })
}

pub fn handle(ctx: &BrokerContext, r: &ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let Some(partition) = ctx.replicas.get(&name, p.partition_index) else {
                        return out.with_error_code(
                            ctx.no_replica_error_at(
                                &name,
                                p.partition_index,
                                p.current_leader_epoch,
                            )
                            .code(),
                        );
                    };
                    let epoch = partition.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != epoch {
                        let e = if p.current_leader_epoch < epoch {
                            ResponseError::FencedLeaderEpoch
                        } else {
                            ResponseError::UnknownLeaderEpoch
                        };
                        return out.with_error_code(e.code());
                    }
                    let found = partition.with_log(|log, hwm| match p.timestamp {
                        LATEST => Some((hwm, -1)),
                        EARLIEST => Some((log.log_start_offset(), -1)),
                        MAX_TIMESTAMP => max_timestamp(log, hwm),
                        ts => offset_for_time(log, hwm, ts),
                    });
                    match found {
                        Ok(Some((offset, ts))) => out
                            .with_offset(offset)
                            .with_timestamp(ts)
                            .with_leader_epoch(epoch),
                        Ok(None) => out.with_leader_epoch(epoch),
                        Err(PartitionError::NotLeader | PartitionError::NotFollower) => {
                            out.with_error_code(ResponseError::NotLeaderOrFollower.code())
                        }
                        Err(_) => out.with_error_code(ResponseError::UnknownServerError.code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let mut resp = ListOffsetsResponse::default().with_topics(topics);
    if version < 4 {
        // The leader epoch exists from v4.
        for t in &mut resp.topics {
            for p in &mut t.partitions {
                p.leader_epoch = -1;
            }
        }
    }
    resp
}
