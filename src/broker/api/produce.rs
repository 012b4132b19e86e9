//! Produce (API 0): validated batches appended by partition leaders, per-partition results,
//! acks 0 / 1 / all (all waits for the high watermark, bounded by the request's timeout).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::Instrument;

use super::BrokerContext;
use crate::broker::data_plane::partition::{Partition, PartitionError, Replicated};
use crate::broker::data_plane::planted_bug::PlantedBug;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::{EncodedResponse, first_error, respond};

/// Largest batch appended on the request's own task.
const INLINE_APPEND_BYTES: u64 = 64 * 1024;

/// The outcome of one partition's append, before acks=all waiting.
struct Pending {
    response: PartitionProduceResponse,
    /// acks=all: the partition, the offset its high watermark must reach, and the leader
    /// epoch of the append.
    wait_for: Option<(Arc<Partition>, i64, i32)>,
}

impl Pending {
    /// A partition answered at once (nothing to wait for).
    fn answered(response: PartitionProduceResponse) -> Self {
        Pending {
            response,
            wait_for: None,
        }
    }
}

fn error(index: i32, e: ResponseError, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(e.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(StrBytes::from_string))
}

/// Produce v3–v12.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::Produce, 3, 12, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: ProduceRequest = request::decode_body(&head)?;
        match handle(ctx, &r, head.api_version).await {
            Some(resp) => {
                let code = first_error(
                    resp.responses
                        .iter()
                        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
                );
                respond(&head, &resp, code)
            }
            // acks=0: the client expects no response.
            None => Ok(EncodedResponse::none()),
        }
    })
}

/// Handles a Produce request. `None` means no response is sent (acks=0).
pub async fn handle(
    ctx: &BrokerContext,
    r: &ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    handle_inner(ctx, r, version).await.map(|mut resp| {
        for t in &mut resp.responses {
            for p in &mut t.partition_responses {
                if version < 8 {
                    p.error_message = None;
                    p.record_errors.clear();
                }
                if version < 5 {
                    p.log_start_offset = -1;
                }
            }
        }
        resp
    })
}

/// The same error for every partition of the request.
fn refuse_all(r: &ProduceRequest, e: ResponseError, message: Option<&str>) -> ProduceResponse {
    let responses = r
        .topic_data
        .iter()
        .map(|t| {
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_partition_responses(
                    t.partition_data
                        .iter()
                        .map(|p| error(p.index, e, message.map(str::to_string)))
                        .collect(),
                )
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

async fn handle_inner(
    ctx: &BrokerContext,
    r: &ProduceRequest,
    api_version: i16,
) -> Option<ProduceResponse> {
    if let Some(refused) = refuse_request(r) {
        return Some(refused);
    }
    let now = ctx.clock.wall_ms();
    let mut topics: Vec<(TopicName, Vec<Pending>)> = Vec::new();
    for t in &r.topic_data {
        let name = t.name.0.to_string();
        let mut parts = Vec::new();
        for p in &t.partition_data {
            parts.push(append_partition(ctx, &name, p, r.acks, api_version, now).await);
        }
        topics.push((t.name.clone(), parts));
    }
    if r.acks == 0 {
        return None;
    }
    Some(wait_for_replicas(ctx, topics, r.timeout_ms).await)
}

/// The answer to a request refused as a whole (acks not -1, 0 or 1; a transactional
/// request), or `None` to serve it.
fn refuse_request(r: &ProduceRequest) -> Option<ProduceResponse> {
    if !matches!(r.acks, -1..=1) {
        return Some(refuse_all(r, ResponseError::InvalidRequiredAcks, None));
    }
    if r.transactional_id.is_some() {
        // Transactions are not served yet; refuse rather than store records without their
        // transactional guarantees.
        return Some(refuse_all(
            r,
            ResponseError::TransactionalIdAuthorizationFailed,
            Some("transactions are not supported by this broker"),
        ));
    }
    None
}

/// Appends the records of partition `p` of topic `name` as its leader.
async fn append_partition(
    ctx: &BrokerContext,
    name: &str,
    p: &PartitionProduceData,
    acks: i16,
    version: i16,
    now: i64,
) -> Pending {
    let Some(partition) = ctx.replicas.get(name, p.index) else {
        let e = ctx.no_replica_error(name, p.index);
        return Pending::answered(error(p.index, e, None));
    };
    let Some(records) = p.records.clone().filter(|r| !r.is_empty()) else {
        return Pending::answered(error(
            p.index,
            ResponseError::CorruptMessage,
            Some("no records".into()),
        ));
    };
    let bytes = records.len() as u64;
    let p2 = partition.clone();
    let span = tracing::info_span!("log.append", topic = %name, partition = p.index, bytes);
    // A small page-cache append takes microseconds and runs here. Large batches (their
    // copy and index updates take longer) and appends that may fsync go to the blocking
    // pool, so that they never stall the other requests of this worker.
    let appended = if bytes > INLINE_APPEND_BYTES || partition.append_may_sync() {
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            p2.append_as_leader(records, acks, version, now)
        })
        .await
        .unwrap_or(Err(PartitionError::NotLeader))
    } else {
        let _entered = span.enter();
        p2.append_as_leader(records, acks, version, now)
    };
    match appended {
        Ok(a) => {
            ctx.metrics
                .topic_bytes_in
                .with_label_values(&[name])
                .inc_by(bytes);
            ctx.metrics
                .topic_messages_in
                .with_label_values(&[name])
                .inc_by(a.records);
            Pending {
                response: PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_base_offset(a.base_offset)
                    .with_log_append_time_ms(a.log_append_time)
                    .with_log_start_offset(a.log_start_offset),
                wait_for: (acks == -1)
                    .then(|| (partition.clone(), a.last_offset + 1, a.leader_epoch)),
            }
        }
        Err(e) => {
            if let PartitionError::Log(l) = &e
                && l.is_io()
            {
                ctx.replicas
                    .log_dir_failures()
                    .report_partition(&partition, l);
            }
            Pending::answered(append_error(p.index, e))
        }
    }
}

/// The answer for a partition whose append failed.
fn append_error(index: i32, e: PartitionError) -> PartitionProduceResponse {
    match e {
        PartitionError::NotLeader | PartitionError::NotFollower => {
            error(index, ResponseError::NotLeaderOrFollower, None)
        }
        e @ PartitionError::NotEnoughReplicas { .. } => {
            error(index, ResponseError::NotEnoughReplicas, Some(e.to_string()))
        }
        PartitionError::Invalid(e) => {
            let mut resp = error(index, e.error(), Some(e.message()));
            resp.record_errors = e
                .record_errors()
                .iter()
                .map(|r| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(r.batch_index)
                        .with_batch_index_error_message(Some(StrBytes::from_string(
                            r.message.clone(),
                        )))
                })
                .collect();
            resp
        }
        PartitionError::Producer(e) => error(index, e.error(), Some(e.to_string())),
        e @ PartitionError::TruncationBelowHighWatermark { .. } => error(
            index,
            ResponseError::UnknownServerError,
            Some(e.to_string()),
        ),
        PartitionError::Log(e) => {
            let code = e.error_code();
            error(
                index,
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError),
                Some(e.to_string()),
            )
        }
    }
}

/// The answers in request order; under acks=all each appended partition first waits, until
/// the request's timeout, for its high watermark to pass its last offset.
async fn wait_for_replicas(
    ctx: &BrokerContext,
    topics: Vec<(TopicName, Vec<Pending>)>,
    timeout_ms: i32,
) -> ProduceResponse {
    // acks=all: every appended partition's high watermark must pass its last offset.
    let deadline = crate::clock::instant_now() + Duration::from_millis(timeout_ms.max(0) as u64);
    let mut responses = Vec::new();
    for (name, parts) in topics {
        let mut out = Vec::new();
        for p in parts {
            let mut response = p.response;
            if let Some((partition, needed, epoch)) = p.wait_for {
                let waiting = ctx.metrics.purgatory_size.with_label_values(&["Produce"]);
                waiting.inc();
                let started = crate::clock::instant_now();
                let outcome = if PlantedBug::AcksBeforeReplication.is_active() {
                    Replicated::Committed
                } else {
                    partition
                        .wait_replicated(needed, epoch, deadline)
                        .instrument(tracing::info_span!("produce.wait_for_replicas", needed))
                        .await
                };
                waiting.dec();
                ctx.replication
                    .acks_all_wait
                    .observe(started.elapsed().as_secs_f64());
                let error = match outcome {
                    Replicated::Committed => None,
                    Replicated::BelowMinIsr => Some(ResponseError::NotEnoughReplicasAfterAppend),
                    Replicated::LostLeadership => Some(ResponseError::NotLeaderOrFollower),
                    Replicated::Pending => Some(ResponseError::RequestTimedOut),
                };
                if let Some(e) = error {
                    response = response.with_error_code(e.code());
                }
            }
            out.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(out),
        );
    }
    ProduceResponse::default().with_responses(responses)
}
