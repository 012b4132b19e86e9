//! DeleteRecords (API 21): moves a partition's log start offset forward (never beyond the
//! high watermark; -1 means up to the high watermark) and deletes whole segments below it.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::BrokerContext;

/// DeleteRecords v0–v2.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DeleteRecords, 0, 2, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DeleteRecordsRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r);
        let code = first_error(
            resp.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        respond(&head, &resp, code)
    })
}

pub fn handle(ctx: &BrokerContext, r: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(partition) = ctx.replicas.get(&name, p.partition_index) else {
                        return out.with_error_code(
                            ctx.no_replica_error(&name, p.partition_index).code(),
                        );
                    };
                    let result = partition.with_log(|log, hwm| {
                        let target = if p.offset == -1 { hwm } else { p.offset };
                        if target < 0 || target > hwm {
                            return Err(ResponseError::OffsetOutOfRange);
                        }
                        if target > log.log_start_offset() {
                            log.delete_records_before(target)
                                .map_err(|_| ResponseError::KafkaStorageError)?;
                        }
                        Ok(log.log_start_offset())
                    });
                    match result {
                        Ok(Ok(low)) => out.with_low_watermark(low),
                        Ok(Err(e)) => out.with_error_code(e.code()),
                        Err(_) => out.with_error_code(ResponseError::NotLeaderOrFollower.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
