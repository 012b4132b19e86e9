//! FindCoordinator (API 10): the broker that coordinates a group — the leader of the group's
//! `__consumer_offsets` partition. The topic is created on the first request that needs it
//! (COORDINATOR_NOT_AVAILABLE until it exists; clients retry). v4+ batches keys (KIP-699).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::{OFFSETS_TOPIC, partition_for};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// FindCoordinator v0–v6.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::FindCoordinator, 0, 6, serve);

/// Key types: a consumer group, a transactional id.
const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

fn serve<'a>(ctx: &'a BrokerContext, session: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: FindCoordinatorRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &session.listener, &r, head.api_version).await;
        let code = if head.api_version >= 4 {
            resp.coordinators
                .iter()
                .map(|c| c.error_code)
                .find(|c| *c != 0)
                .unwrap_or(0)
        } else {
            resp.error_code
        };
        respond(&head, &resp, code)
    })
}

pub async fn handle(
    ctx: &BrokerContext,
    listener: &str,
    r: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if version >= 4 {
        r.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![r.key.to_string()]
    };
    let mut found = Vec::new();
    for key in keys {
        found.push(find(ctx, listener, r.key_type, &key).await);
    }
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(found);
    }
    let c = found.pop().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(if version >= 1 { c.error_message } else { None })
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}

fn failed(key: &str, e: ResponseError, message: Option<String>) -> Coordinator {
    Coordinator::default()
        .with_key(StrBytes::from_string(key.to_string()))
        .with_error_code(e.code())
        .with_error_message(message.map(StrBytes::from_string))
        .with_node_id(BrokerId(-1))
        .with_host(StrBytes::from_static_str(""))
        .with_port(-1)
}

async fn find(ctx: &BrokerContext, listener: &str, key_type: i8, key: &str) -> Coordinator {
    match key_type {
        GROUP_KEY => {}
        TRANSACTION_KEY => {
            return failed(
                key,
                ResponseError::TransactionalIdAuthorizationFailed,
                Some("transactions are not supported by this broker".into()),
            );
        }
        _ => {
            return failed(
                key,
                ResponseError::InvalidRequest,
                Some(format!("unknown key type {key_type}")),
            );
        }
    }
    if key.is_empty() {
        return failed(
            key,
            ResponseError::InvalidRequest,
            Some("empty group id".into()),
        );
    }
    let image = ctx.cache.image();
    let Some(topic) = image.topics.get_by_name(OFFSETS_TOPIC) else {
        create_offsets_topic(ctx).await;
        return failed(key, ResponseError::CoordinatorNotAvailable, None);
    };
    let partition = partition_for(key, topic.partitions.len() as i32);
    let leader = topic.partitions.get(&partition).map_or(-1, |p| p.leader);
    let endpoint = image
        .cluster
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .and_then(|b| super::endpoint(b, listener));
    match endpoint {
        Some(e) => Coordinator::default()
            .with_key(StrBytes::from_string(key.to_string()))
            .with_node_id(BrokerId(leader))
            .with_host(StrBytes::from_string(e.host.clone()))
            .with_port(e.port as i32),
        None => failed(key, ResponseError::CoordinatorNotAvailable, None),
    }
}

/// Asks the controller to create `__consumer_offsets` (compacted, `offsets.topic.*`). A
/// refusal (too few brokers for its replication factor) is logged; clients keep retrying.
async fn create_offsets_topic(ctx: &BrokerContext) {
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let s = &ctx.offsets_topic;
    let config = |k: &'static str, v: String| {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(k))
            .with_value(Some(StrBytes::from_string(v)))
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(OFFSETS_TOPIC)))
                .with_num_partitions(s.offsets_partitions)
                .with_replication_factor(s.offsets_replication_factor)
                .with_configs(vec![
                    config("cleanup.policy", "compact".into()),
                    config("compression.type", "producer".into()),
                    config("segment.bytes", s.offsets_segment_bytes.to_string()),
                ]),
        ]);
    match ctx.forward.send(&req, 7).await {
        Ok(resp) => {
            for t in resp.topics {
                match ResponseError::try_from_code(t.error_code) {
                    None => tracing::info!(
                        partitions = s.offsets_partitions,
                        replication_factor = s.offsets_replication_factor,
                        "created {OFFSETS_TOPIC}"
                    ),
                    Some(ResponseError::TopicAlreadyExists) => {}
                    Some(e) => {
                        tracing::warn!(error = ?e, message = ?t.error_message, replication_factor = s.offsets_replication_factor, "creating {OFFSETS_TOPIC} failed; consumer groups wait for it (offsets.topic.replication.factor may exceed the brokers registered)")
                    }
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "creating {OFFSETS_TOPIC} failed"),
    }
}
