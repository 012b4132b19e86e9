//! Metadata (API 3): live brokers on the request's listener, the cluster id, a controller id
//! (as Kafka in KRaft mode reports to clients: a live broker, since clients cannot reach the
//! controllers), and topics with their partitions' leader, replicas, ISR and offline replicas.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::metadata::image::MetadataImage;
use crate::metadata::topics_image::TopicImage;

/// Kafka's "authorized operations not requested" marker.
const OPERATIONS_OMITTED: i32 = i32::MIN;

fn brokers(image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    image
        .cluster
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let e = super::endpoint(b, listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(StrBytes::from_string(e.host.clone()))
                    .with_port(i32::from(e.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect()
}

fn topic(image: &MetadataImage, t: &TopicImage) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|(id, p)| {
            let error = if p.has_leader() {
                0
            } else {
                ResponseError::LeaderNotAvailable.code()
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(*id)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
                .with_offline_replicas(super::offline_replicas(image, &p.replicas))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(crate::group::is_internal_topic(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

fn unknown(name: Option<TopicName>, id: uuid::Uuid) -> MetadataResponseTopic {
    let error = if name.is_none() && !id.is_nil() {
        ResponseError::UnknownTopicId
    } else {
        ResponseError::UnknownTopicOrPartition
    };
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name)
        .with_topic_id(id)
        .with_topic_authorized_operations(OPERATIONS_OMITTED)
}

/// Creates the unknown topics a client asked for (`auto.create.topics.enable`) through the
/// active controller; Kafka answers LEADER_NOT_AVAILABLE for them until they exist.
async fn auto_create(ctx: &BrokerContext, names: &[String]) -> Vec<(String, ResponseError)> {
    use kafka_protocol::messages::CreateTopicsRequest;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let Some((partitions, rf)) = ctx.auto_create else {
        return names
            .iter()
            .map(|n| (n.clone(), ResponseError::UnknownTopicOrPartition))
            .collect();
    };
    let mut out = Vec::new();
    let mut create = Vec::new();
    for n in names {
        match crate::metadata::topic_name::validate(n) {
            Ok(()) => create.push(n.clone()),
            Err(_) => out.push((n.clone(), ResponseError::InvalidTopicException)),
        }
    }
    if !create.is_empty() {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(
                create
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(n.clone())))
                            .with_num_partitions(partitions)
                            .with_replication_factor(rf)
                    })
                    .collect(),
            );
        match ctx.forward.send(&req, 7).await {
            Ok(resp) => {
                for t in resp.topics {
                    let e = match ResponseError::try_from_code(t.error_code) {
                        None | Some(ResponseError::TopicAlreadyExists) => {
                            ResponseError::LeaderNotAvailable
                        }
                        Some(ResponseError::InvalidTopicException) => {
                            ResponseError::InvalidTopicException
                        }
                        Some(_) => ResponseError::UnknownTopicOrPartition,
                    };
                    out.push((t.name.0.to_string(), e));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "auto-creating topics failed");
                out.extend(
                    create
                        .into_iter()
                        .map(|n| (n, ResponseError::LeaderNotAvailable)),
                );
            }
        }
    }
    out
}

/// Metadata v0–v12.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::Metadata, 0, 12, serve);

fn serve<'a>(ctx: &'a BrokerContext, session: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let mut r: MetadataRequest = request::decode_body(&head)?;
        if head.api_version == 0 && r.topics.as_ref().is_some_and(|t| t.is_empty()) {
            r.topics = None; // v0: an empty list means every topic
        }
        let resp = handle(ctx, &session.listener, &r, head.api_version).await;
        respond(&head, &resp, 0)
    })
}

/// Answers from the current image, auto-creating unknown topics when allowed.
pub async fn handle(
    ctx: &BrokerContext,
    listener: &str,
    r: &MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let mut resp = answer(ctx, listener, r);
    let allowed = version < 4 || r.allow_auto_topic_creation;
    let unknown: Vec<String> = resp
        .topics
        .iter()
        .filter(|t| t.error_code == ResponseError::UnknownTopicOrPartition.code())
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    if allowed && !unknown.is_empty() && r.topics.is_some() {
        let created = auto_create(ctx, &unknown).await;
        for t in &mut resp.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if let Some((_, e)) = created.iter().find(|(n, _)| *n == name) {
                t.error_code = e.code();
            }
        }
    }
    resp
}

fn answer(ctx: &BrokerContext, listener: &str, r: &MetadataRequest) -> MetadataResponse {
    let image = ctx.cache.image();
    let brokers = brokers(&image, listener);
    let controller_id = brokers.first().map_or(-1, |b| b.node_id.0);
    let topics = match &r.topics {
        None => image
            .topics
            .by_name
            .values()
            .filter_map(|id| image.topics.get(id))
            .map(|t| topic(&image, t))
            .collect(),
        Some(list) => list
            .iter()
            .map(|req| {
                let found = match &req.name {
                    Some(n) => image.topics.get_by_name(n.0.as_str()),
                    None => image.topics.get(&req.topic_id),
                };
                match found {
                    Some(t) => topic(&image, t),
                    None => unknown(req.name.clone(), req.topic_id),
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(ctx.cluster_id.clone())))
        .with_controller_id(BrokerId(controller_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(OPERATIONS_OMITTED)
}
