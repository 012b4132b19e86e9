//! DescribeLogDirs (API 35): each log directory of this broker with its free and total bytes
//! and the size of every partition in it.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{first_error, respond};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;

/// DescribeLogDirs v1–v4.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DescribeLogDirs, 1, 4, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DescribeLogDirsRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r, head.api_version);
        let code = first_error(resp.results.iter().map(|d| d.error_code));
        respond(&head, &resp, code)
    })
}

pub fn handle(
    ctx: &BrokerContext,
    r: &DescribeLogDirsRequest,
    version: i16,
) -> DescribeLogDirsResponse {
    let wanted = |topic: &str, p: i32| match &r.topics {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&p)),
    };
    let results: Vec<DescribeLogDirsResult> = ctx
        .replicas
        .log_dirs()
        .into_iter()
        .map(|(dir, offline, partitions)| {
            let (free, total) = crate::storage::disk_space(&dir).unwrap_or((0, 0));
            let mut by_topic: std::collections::BTreeMap<String, Vec<DescribeLogDirsPartition>> =
                std::collections::BTreeMap::new();
            for (topic, p) in partitions {
                if !wanted(&topic, p) {
                    continue;
                }
                let size = ctx.replicas.get(&topic, p).map_or(0, |x| x.size().0 as i64);
                by_topic.entry(topic).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p)
                        .with_partition_size(size)
                        .with_offset_lag(0),
                );
            }
            DescribeLogDirsResult::default()
                .with_error_code(if offline {
                    ResponseError::KafkaStorageError.code()
                } else {
                    0
                })
                .with_log_dir(StrBytes::from_string(dir.display().to_string()))
                .with_total_bytes(total as i64)
                .with_usable_bytes(free as i64)
                .with_topics(
                    by_topic
                        .into_iter()
                        .map(|(t, parts)| {
                            DescribeLogDirsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t)))
                                .with_partitions(parts)
                        })
                        .collect(),
                )
        })
        .collect();
    let mut resp = DescribeLogDirsResponse::default().with_results(results);
    if version < 4 {
        // Disk totals exist from v4.
        for d in &mut resp.results {
            d.total_bytes = -1;
            d.usable_bytes = -1;
        }
    }
    resp
}
