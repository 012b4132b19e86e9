//! DeleteRecords (API 21): moves a partition's log start offset forward (never beyond the
//! high watermark; -1 means up to the high watermark) and deletes whole segments below it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::BrokerContext;

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
                        return out.with_error_code(ResponseError::UnknownTopicOrPartition.code());
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
