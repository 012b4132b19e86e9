//! Topics: CreateTopics (validation, configs, placement, the new topic's records) and
//! DeleteTopics.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    TopicName, create_topics_request, create_topics_response, delete_topics_response,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{name_str, new_partition_record, rng_for, sbytes, usable_brokers, with_active_isr};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::placement::{self, UsableBroker};
use crate::controller::topic_validation;
use crate::metadata::records::{
    ApiMessageAndVersion, ConfigRecord, MetadataRecord, RemoveTopicRecord, TopicRecord,
};
use crate::metadata::topic_config;

/// Why a topic of a CreateTopics request is not created: the error and its message.
type Refusal = (ResponseError, String);

pub fn create_topics(
    ctx: &Context<'_>,
    r: &CreateTopicsRequest,
    version: i16,
) -> ControllerResult<CreateTopicsResponse> {
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut names_seen: BTreeMap<String, usize> = BTreeMap::new();
    for t in &r.topics {
        *names_seen.entry(name_str(&t.name)).or_default() += 1;
    }
    let brokers = usable_brokers(ctx.image);
    let mut created_names: BTreeSet<String> = BTreeSet::new();
    for (i, t) in r.topics.iter().enumerate() {
        let name = name_str(&t.name);
        let planned = if names_seen.get(&name).copied().unwrap_or(0) > 1 {
            Err((
                ResponseError::InvalidRequest,
                format!("Duplicate topic name {name} in the request."),
            ))
        } else {
            plan_topic(ctx, t, &name, i, &brokers, &created_names)
        };
        let topic = match planned {
            Ok(topic) => topic,
            Err((error, message)) => {
                results.push(refused_topic(t, error, message));
                continue;
            }
        };
        results.push(topic.result(t, version));
        if r.validate_only {
            continue;
        }
        created_names.insert(name.clone());
        records.extend(topic.records(name));
    }
    ControllerResult::new(
        records,
        CreateTopicsResponse::default().with_topics(results),
    )
}

/// A topic of a CreateTopics request that passed every check.
struct NewTopic {
    topic_id: Uuid,
    /// Its topic configs, in request order.
    configs: Vec<(String, String)>,
    /// Replicas and ISR of each partition, in partition order.
    partitions: Vec<(Vec<i32>, Vec<i32>)>,
    replication_factor: i16,
}

/// Checks topic `t` (the `i`th of the request, named `name`) and decides its configs,
/// placement and id.
fn plan_topic(
    ctx: &Context<'_>,
    t: &create_topics_request::CreatableTopic,
    name: &str,
    i: usize,
    brokers: &[UsableBroker],
    created_names: &BTreeSet<String>,
) -> Result<NewTopic, Refusal> {
    let validated = validate_topic(ctx, t, name, created_names)?;
    let configs = topic_configs(t)?;
    let assignment = match validated.assignments {
        Some(a) => a,
        None => {
            let mut rng = rng_for(ctx, i as u64);
            placement::place(
                brokers,
                validated.num_partitions,
                validated.replication_factor,
                &mut rng,
            )
            .map_err(|e| (ResponseError::InvalidReplicationFactor, e.to_string()))?
        }
    };
    let replication_factor = assignment.first().map_or(0, |a| a.len() as i16);
    let partitions = with_active_isr(ctx.image, assignment).ok_or_else(|| {
        (
            ResponseError::InvalidReplicationFactor,
            "Unable to replicate the partition: all brokers are currently fenced or in controlled shutdown.".to_string(),
        )
    })?;
    Ok(NewTopic {
        topic_id: new_topic_id(ctx, i),
        configs,
        partitions,
        replication_factor,
    })
}

/// Kafka's rules for a new topic: its name (also against the topics this request already
/// created), its counts or manual assignment, the registered brokers.
fn validate_topic(
    ctx: &Context<'_>,
    t: &create_topics_request::CreatableTopic,
    name: &str,
    created_names: &BTreeSet<String>,
) -> Result<topic_validation::ValidatedTopic, Refusal> {
    let image = ctx.image;
    let existing: Vec<&str> = image
        .topics
        .by_name
        .keys()
        .map(String::as_str)
        .chain(created_names.iter().map(String::as_str))
        .collect();
    let request = topic_validation::CreateTopicRequest {
        name,
        num_partitions: t.num_partitions,
        replication_factor: t.replication_factor,
        assignments: t
            .assignments
            .iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect(),
    };
    let defaults = topic_validation::TopicDefaults {
        num_partitions: ctx.settings.num_partitions,
        replication_factor: ctx.settings.default_replication_factor,
    };
    let registered: Vec<i32> = image.cluster.brokers.keys().copied().collect();
    topic_validation::validate_create_topic(&request, &defaults, &existing, &registered)
        .map_err(|e| (e.error(), e.to_string()))
}

/// The topic configs of `t`, each checked.
fn topic_configs(
    t: &create_topics_request::CreatableTopic,
) -> Result<Vec<(String, String)>, Refusal> {
    let mut configs = Vec::new();
    for c in &t.configs {
        let key = c.name.to_string();
        let Some(value) = c.value.as_ref().map(|v| v.to_string()) else {
            return Err((
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {key}"),
            ));
        };
        if let Err(e) = topic_config::validate(&key, &value) {
            return Err((ResponseError::InvalidConfig, e.to_string()));
        }
        configs.push((key, value));
    }
    Ok(configs)
}

/// A topic id derived from the log position (see `rng_for`), unused in the image.
fn new_topic_id(ctx: &Context<'_>, i: usize) -> Uuid {
    use rand::RngCore;
    let mut rng = rng_for(ctx, 0x7070 + i as u64);
    let mut bytes = [0u8; 16];
    loop {
        rng.fill_bytes(&mut bytes);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        if ctx.image.topics.get(&id).is_none() {
            break id;
        }
    }
}

/// The answer for a topic that is not created.
fn refused_topic(
    t: &create_topics_request::CreatableTopic,
    e: ResponseError,
    msg: String,
) -> create_topics_response::CreatableTopicResult {
    create_topics_response::CreatableTopicResult::default()
        .with_name(t.name.clone())
        .with_error_code(e.code())
        .with_error_message(sbytes(msg))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

impl NewTopic {
    /// The answer for the topic; v5+ also lists its configs.
    fn result(
        &self,
        t: &create_topics_request::CreatableTopic,
        version: i16,
    ) -> create_topics_response::CreatableTopicResult {
        let mut result = create_topics_response::CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_topic_id(self.topic_id)
            .with_num_partitions(self.partitions.len() as i32)
            .with_replication_factor(self.replication_factor);
        if version >= 5 {
            result = result.with_configs(Some(
                self.configs
                    .iter()
                    .map(|(k, v)| {
                        create_topics_response::CreatableTopicConfigs::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(sbytes(v.clone()))
                            .with_config_source(1) // DYNAMIC_TOPIC_CONFIG
                    })
                    .collect(),
            ));
        }
        result
    }

    /// The records that create the topic `name`: the topic, its configs, its partitions.
    fn records(self, name: String) -> Vec<ApiMessageAndVersion> {
        let topic_id = self.topic_id;
        let latest = ApiMessageAndVersion::latest;
        let mut records = vec![latest(MetadataRecord::Topic(TopicRecord {
            name: name.clone(),
            topic_id,
            ..Default::default()
        }))];
        for (k, v) in self.configs {
            records.push(latest(MetadataRecord::Config(ConfigRecord {
                resource_type: crate::metadata::configs_image::resource_type::TOPIC,
                resource_name: name.clone(),
                name: k,
                value: Some(v),
                ..Default::default()
            })));
        }
        for (p, (replicas, isr)) in self.partitions.into_iter().enumerate() {
            records.push(new_partition_record(topic_id, p as i32, replicas, isr));
        }
        records
    }
}

pub fn delete_topics(
    ctx: &Context<'_>,
    r: &DeleteTopicsRequest,
    version: i16,
) -> ControllerResult<DeleteTopicsResponse> {
    let image = ctx.image;
    let mut records = Vec::new();
    let mut responses = Vec::new();
    let mut removed = BTreeSet::new();
    // v6 names topics by name or id; earlier versions list names.
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        r.topics
            .iter()
            .map(|t| (t.name.as_ref().map(name_str), t.topic_id))
            .collect()
    } else {
        r.topic_names
            .iter()
            .map(|n| (Some(name_str(n)), Uuid::nil()))
            .collect()
    };
    for (name, id) in wanted {
        let topic = match (&name, id.is_nil()) {
            (Some(n), true) => image.topics.get_by_name(n),
            (_, false) => image.topics.get(&id),
            (None, true) => None,
        };
        let mut result = delete_topics_response::DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
            .with_topic_id(id);
        match topic {
            // Deleting __consumer_offsets would lose every group's committed offsets.
            Some(t) if crate::group::is_internal_topic(&t.name) => {
                result = result
                    .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
                    .with_topic_id(t.id)
                    .with_error_code(ResponseError::InvalidTopicException.code())
                    .with_error_message(sbytes(format!(
                        "The internal topic {} cannot be deleted.",
                        t.name
                    )));
            }
            Some(t) if removed.insert(t.id) => {
                result = result
                    .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
                    .with_topic_id(t.id);
                records.push(ApiMessageAndVersion::latest(MetadataRecord::RemoveTopic(
                    RemoveTopicRecord {
                        topic_id: t.id,
                        ..Default::default()
                    },
                )));
            }
            Some(_) => {
                result = result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(sbytes("Duplicate topic in the request.".into()));
            }
            None => {
                let e = if id.is_nil() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::UnknownTopicId
                };
                result = result.with_error_code(e.code());
            }
        }
        responses.push(result);
    }
    ControllerResult::new(
        records,
        DeleteTopicsResponse::default().with_responses(responses),
    )
}
