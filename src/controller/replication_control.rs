//! Topics, partitions and leadership as pure functions of the pending image: CreateTopics,
//! DeleteTopics, CreatePartitions, AlterPartition, ElectLeaders, and the partition changes
//! that follow a broker being fenced, unfenced or shut down.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, ElectLeadersRequest, ElectLeadersResponse, TopicName,
    alter_partition_response, create_partitions_response, create_topics_response,
    delete_topics_response, elect_leaders_response,
};
use kafka_protocol::protocol::StrBytes;
use rand::SeedableRng;
use uuid::Uuid;

use crate::controller::alter_partition::{self, AlterPartitionData, BrokerLiveness};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::partition_change::{
    self, Election, LeaderChange, LeaderRecoveryState, PartitionChange, PartitionChangeBuilder,
    PartitionState,
};
use crate::controller::placement::{self, UsableBroker};
use crate::controller::topic_validation;
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::image::MetadataImage;
use crate::metadata::partition_registration::PartitionRegistration;
use crate::metadata::records::{
    ApiMessageAndVersion, ConfigRecord, MetadataRecord, PartitionChangeRecord, PartitionRecord,
    RemoveTopicRecord, TopicRecord,
};
use crate::metadata::topic_config;

/// The partition state the decision functions work on.
pub fn state_of(p: &PartitionRegistration) -> PartitionState {
    PartitionState {
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        leader_recovery_state: LeaderRecoveryState::from_wire(p.leader_recovery_state.to_wire())
            .unwrap_or(LeaderRecoveryState::Recovered),
    }
}

/// The PartitionChangeRecord for `change`.
pub fn change_record(
    topic_id: Uuid,
    partition_id: i32,
    change: &PartitionChange,
) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(PartitionChangeRecord {
        partition_id,
        topic_id,
        isr: change.isr.clone(),
        leader: match change.leader {
            LeaderChange::NoChange => -2,
            LeaderChange::To(l) => l,
        },
        replicas: change.replicas.clone(),
        leader_recovery_state: change.leader_recovery_state.map_or(-1, |s| s.to_wire()),
        ..Default::default()
    }))
}

/// Whether `broker` may lead or join an ISR: registered, unfenced, not shutting down.
pub fn is_active(image: &MetadataImage, broker: i32) -> bool {
    image
        .cluster
        .brokers
        .get(&broker)
        .is_some_and(|b| b.is_active())
}

fn unclean_allowed(image: &MetadataImage, topic: &str) -> bool {
    image
        .configs
        .value(
            &ConfigResource::topic(topic),
            "unclean.leader.election.enable",
        )
        .or_else(|| {
            image.configs.value(
                &ConfigResource::broker(None),
                "unclean.leader.election.enable",
            )
        })
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Partition changes for every partition `f` wants to change.
fn change_partitions(
    image: &MetadataImage,
    mut f: impl FnMut(&str, &PartitionState) -> Option<PartitionChange>,
) -> Vec<ApiMessageAndVersion> {
    let mut out = Vec::new();
    for (topic, p, reg) in image.topics.partitions() {
        if let Some(change) = f(&topic.name, &state_of(reg)) {
            out.push(change_record(topic.id, p, &change));
        }
    }
    out
}

/// A broker leaves every ISR and loses its leaderships (fenced, shutting down or unregistering).
/// A partition left without a leader gets an unclean leader where its topic allows one.
pub fn remove_broker_from_partitions(
    image: &MetadataImage,
    broker: i32,
) -> Vec<ApiMessageAndVersion> {
    let acceptable = |b: i32| b != broker && is_active(image, b);
    let mut out = Vec::new();
    for (topic, p, reg) in image.topics.partitions() {
        let state = state_of(reg);
        if !state.replicas.contains(&broker) {
            continue;
        }
        let Some(change) = partition_change::fence_broker(&state, broker, &acceptable) else {
            continue;
        };
        out.push(change_record(topic.id, p, &change));
        let next = state.apply(&change);
        if next.leader == partition_change::NO_LEADER
            && unclean_allowed(image, &topic.name)
            && let Some(unclean) = partition_change::unclean_election(&next, &acceptable)
        {
            out.push(change_record(topic.id, p, &unclean));
        }
    }
    out
}

/// Elects leaders for leaderless partitions once `broker` becomes active; unclean elections
/// only where the topic allows them. Returns the records and the number of unclean elections.
pub fn elect_for_leaderless(
    image: &MetadataImage,
    newly_active: Option<i32>,
) -> (Vec<ApiMessageAndVersion>, u64) {
    let acceptable = |b: i32| Some(b) == newly_active || is_active(image, b);
    let mut unclean = 0;
    let records = change_partitions(image, |topic, s| {
        if s.leader != partition_change::NO_LEADER {
            return None;
        }
        partition_change::elect_leaderless(s, &acceptable).or_else(|| {
            if unclean_allowed(image, topic) {
                let c = partition_change::unclean_election(s, &acceptable);
                if c.is_some() {
                    unclean += 1;
                }
                c
            } else {
                None
            }
        })
    });
    (records, unclean)
}

fn name_str(n: &TopicName) -> String {
    n.0.to_string()
}

fn sbytes(s: String) -> Option<StrBytes> {
    Some(StrBytes::from_string(s))
}

/// A topic id derived from the cluster id and the offset the topic is written at: unique in
/// the log, reproducible when the controller's decisions are replayed.
fn rng_for(ctx: &Context<'_>, salt: u64) -> rand_chacha::ChaCha8Rng {
    let mut seed = [0u8; 32];
    let cluster = ctx.settings.cluster_id.as_bytes();
    for (i, b) in cluster.iter().enumerate() {
        seed[i % 24] ^= *b;
    }
    seed[24..32].copy_from_slice(&(ctx.next_offset as u64 ^ salt.rotate_left(32)).to_le_bytes());
    rand_chacha::ChaCha8Rng::from_seed(seed)
}

fn usable_brokers(image: &MetadataImage) -> Vec<UsableBroker> {
    image
        .cluster
        .brokers
        .values()
        .map(|b| UsableBroker {
            id: b.id,
            rack: b.rack.clone(),
            fenced: !b.is_active(),
        })
        .collect()
}

pub fn create_topics(
    ctx: &Context<'_>,
    r: &CreateTopicsRequest,
    version: i16,
) -> ControllerResult<CreateTopicsResponse> {
    let image = ctx.image;
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut names_seen: BTreeMap<String, usize> = BTreeMap::new();
    for t in &r.topics {
        *names_seen.entry(name_str(&t.name)).or_default() += 1;
    }
    let brokers = usable_brokers(image);
    let mut created_names: BTreeSet<String> = BTreeSet::new();
    for (i, t) in r.topics.iter().enumerate() {
        let name = name_str(&t.name);
        let fail = |e: ResponseError, msg: String| {
            create_topics_response::CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(e.code())
                .with_error_message(sbytes(msg))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        };
        if names_seen.get(&name).copied().unwrap_or(0) > 1 {
            results.push(fail(
                ResponseError::InvalidRequest,
                format!("Duplicate topic name {name} in the request."),
            ));
            continue;
        }
        let existing: Vec<&str> = image
            .topics
            .by_name
            .keys()
            .map(String::as_str)
            .chain(created_names.iter().map(String::as_str))
            .collect();
        let request = topic_validation::CreateTopicRequest {
            name: &name,
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
        let validated = match topic_validation::validate_create_topic(
            &request,
            &defaults,
            &existing,
            &registered,
        ) {
            Ok(v) => v,
            Err(e) => {
                results.push(fail(e.error(), e.to_string()));
                continue;
            }
        };
        let mut configs = Vec::new();
        let mut config_error = None;
        for c in &t.configs {
            let key = c.name.to_string();
            let Some(value) = c.value.as_ref().map(|v| v.to_string()) else {
                config_error = Some(format!("Null value not supported for topic configs: {key}"));
                break;
            };
            if let Err(e) = topic_config::validate(&key, &value) {
                config_error = Some(e.to_string());
                break;
            }
            configs.push((key, value));
        }
        if let Some(msg) = config_error {
            results.push(fail(ResponseError::InvalidConfig, msg));
            continue;
        }
        let assignment = match validated.assignments {
            Some(a) => a,
            None => {
                let mut rng = rng_for(ctx, i as u64);
                match placement::place(
                    &brokers,
                    validated.num_partitions,
                    validated.replication_factor,
                    &mut rng,
                ) {
                    Ok(a) => a,
                    Err(e) => {
                        results.push(fail(ResponseError::InvalidReplicationFactor, e.to_string()));
                        continue;
                    }
                }
            }
        };
        // New partitions: ISR = the active replicas, leader = the first of them.
        let mut partitions = Vec::new();
        let mut no_active = false;
        for replicas in &assignment {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|b| is_active(image, *b))
                .collect();
            if isr.is_empty() {
                no_active = true;
                break;
            }
            partitions.push((replicas.clone(), isr));
        }
        if no_active {
            results.push(fail(
                ResponseError::InvalidReplicationFactor,
                "Unable to replicate the partition: all brokers are currently fenced or in controlled shutdown.".into(),
            ));
            continue;
        }
        let topic_id = {
            use rand::RngCore;
            let mut rng = rng_for(ctx, 0x7070 + i as u64);
            let mut bytes = [0u8; 16];
            loop {
                rng.fill_bytes(&mut bytes);
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                if image.topics.get(&id).is_none() {
                    break id;
                }
            }
        };
        let rf = assignment.first().map_or(0, |a| a.len() as i16);
        let mut result = create_topics_response::CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_topic_id(topic_id)
            .with_num_partitions(assignment.len() as i32)
            .with_replication_factor(rf);
        if version >= 5 {
            result = result.with_configs(Some(
                configs
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
        results.push(result);
        if r.validate_only {
            continue;
        }
        created_names.insert(name.clone());
        let latest = ApiMessageAndVersion::latest;
        records.push(latest(MetadataRecord::Topic(TopicRecord {
            name: name.clone(),
            topic_id,
            ..Default::default()
        })));
        for (k, v) in &configs {
            records.push(latest(MetadataRecord::Config(ConfigRecord {
                resource_type: crate::metadata::configs_image::resource_type::TOPIC,
                resource_name: name.clone(),
                name: k.clone(),
                value: Some(v.clone()),
                ..Default::default()
            })));
        }
        for (p, (replicas, isr)) in partitions.into_iter().enumerate() {
            records.push(latest(MetadataRecord::Partition(PartitionRecord {
                partition_id: p as i32,
                topic_id,
                leader: isr[0],
                replicas,
                isr,
                leader_epoch: 0,
                partition_epoch: 0,
                ..Default::default()
            })));
        }
    }
    ControllerResult::new(
        records,
        CreateTopicsResponse::default().with_topics(results),
    )
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

pub fn create_partitions(
    ctx: &Context<'_>,
    r: &CreatePartitionsRequest,
) -> ControllerResult<CreatePartitionsResponse> {
    let image = ctx.image;
    let mut records = Vec::new();
    let mut results = Vec::new();
    let brokers = usable_brokers(image);
    let registered: Vec<i32> = image.cluster.brokers.keys().copied().collect();
    for (i, t) in r.topics.iter().enumerate() {
        let name = name_str(&t.name);
        let mut result = create_partitions_response::CreatePartitionsTopicResult::default()
            .with_name(t.name.clone());
        let Some(topic) = image.topics.get_by_name(&name) else {
            results.push(
                result
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_error_message(sbytes(format!("Topic {name} does not exist."))),
            );
            continue;
        };
        let current = topic.partitions.len() as i32;
        let rf = topic
            .partitions
            .values()
            .next()
            .map_or(1, |p| p.replicas.len() as i16);
        let assignments: Option<Vec<Vec<i32>>> = t.assignments.as_ref().map(|a| {
            a.iter()
                .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        });
        let checked = topic_validation::validate_create_partitions(
            current,
            t.count,
            rf,
            assignments.as_deref(),
            &registered,
        );
        let new_assignments = match checked {
            Err(e) => {
                results.push(
                    result
                        .with_error_code(e.error().code())
                        .with_error_message(sbytes(e.to_string())),
                );
                continue;
            }
            Ok(()) => match assignments {
                Some(a) => a,
                None => {
                    let mut rng = rng_for(ctx, 0x5050 + i as u64);
                    match placement::place(&brokers, t.count - current, rf, &mut rng) {
                        Ok(a) => a,
                        Err(e) => {
                            results.push(
                                result
                                    .with_error_code(ResponseError::InvalidReplicationFactor.code())
                                    .with_error_message(sbytes(e.to_string())),
                            );
                            continue;
                        }
                    }
                }
            },
        };
        let mut new_records = Vec::new();
        for (k, replicas) in new_assignments.into_iter().enumerate() {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|b| is_active(image, *b))
                .collect();
            if isr.is_empty() {
                new_records.clear();
                result = result
                    .with_error_code(ResponseError::InvalidReplicaAssignment.code())
                    .with_error_message(sbytes(
                        "All brokers of a new partition are fenced or in controlled shutdown."
                            .into(),
                    ));
                break;
            }
            new_records.push(ApiMessageAndVersion::latest(MetadataRecord::Partition(
                PartitionRecord {
                    partition_id: current + k as i32,
                    topic_id: topic.id,
                    leader: isr[0],
                    replicas,
                    isr,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    ..Default::default()
                },
            )));
        }
        if !r.validate_only {
            records.extend(new_records);
        }
        results.push(result);
    }
    ControllerResult::new(
        records,
        CreatePartitionsResponse::default().with_results(results),
    )
}

pub fn alter_partition(
    ctx: &Context<'_>,
    r: &AlterPartitionRequest,
    version: i16,
) -> ControllerResult<AlterPartitionResponse> {
    let image = ctx.image;
    let sender = r.broker_id.0;
    match image.cluster.brokers.get(&sender) {
        Some(b) if b.epoch == r.broker_epoch => {}
        _ => {
            return ControllerResult::answer(
                AlterPartitionResponse::default()
                    .with_error_code(ResponseError::StaleBrokerEpoch.code()),
            );
        }
    }
    let liveness = |b: i32| {
        image.cluster.brokers.get(&b).map(|reg| BrokerLiveness {
            fenced: reg.fenced,
            in_controlled_shutdown: reg.in_controlled_shutdown,
            broker_epoch: reg.epoch,
        })
    };
    let mut records = Vec::new();
    let mut topics = Vec::new();
    for t in &r.topics {
        let topic = image.topics.get(&t.topic_id);
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let mut out = alter_partition_response::PartitionData::default()
                .with_partition_index(p.partition_index);
            let Some(topic) = topic else {
                partitions.push(out.with_error_code(ResponseError::UnknownTopicId.code()));
                continue;
            };
            let Some(reg) = topic.partitions.get(&p.partition_index) else {
                partitions.push(out.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let new_isr: Vec<(i32, i64)> = if version >= 3 {
                p.new_isr_with_epochs
                    .iter()
                    .map(|b| (b.broker_id.0, b.broker_epoch))
                    .collect()
            } else {
                p.new_isr.iter().map(|b| (b.0, -1)).collect()
            };
            let state = state_of(reg);
            let data = AlterPartitionData {
                broker_id: sender,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr_with_epochs: new_isr,
                leader_recovery_state: p.leader_recovery_state,
            };
            match alter_partition::validate(&state, &data, &liveness) {
                Ok(outcome) => {
                    let next = match &outcome.change {
                        Some(change) => {
                            records.push(change_record(topic.id, p.partition_index, change));
                            state.apply(change)
                        }
                        None => state.clone(),
                    };
                    out = out
                        .with_error_code(outcome.error.map_or(0, |e| e.code()))
                        .with_leader_id(BrokerId(next.leader))
                        .with_leader_epoch(next.leader_epoch)
                        .with_isr(next.isr.iter().map(|b| BrokerId(*b)).collect())
                        .with_leader_recovery_state(next.leader_recovery_state.to_wire())
                        .with_partition_epoch(next.partition_epoch);
                }
                Err(e) => out = out.with_error_code(e.code()),
            }
            partitions.push(out);
        }
        topics.push(
            alter_partition_response::TopicData::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    ControllerResult::new(
        records,
        AlterPartitionResponse::default().with_topics(topics),
    )
}

/// ElectLeaders: 0 = preferred, 1 = unclean.
pub fn elect_leaders(
    ctx: &Context<'_>,
    r: &ElectLeadersRequest,
    _version: i16,
) -> ControllerResult<ElectLeadersResponse> {
    let image = ctx.image;
    let acceptable = |b: i32| is_active(image, b);
    let wanted: Vec<(String, Vec<i32>)> = match &r.topic_partitions {
        Some(list) => list
            .iter()
            .map(|t| (name_str(&t.topic), t.partitions.clone()))
            .collect(),
        None => image
            .topics
            .by_id
            .values()
            .map(|t| (t.name.clone(), t.partitions.keys().copied().collect()))
            .collect(),
    };
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (topic_name, parts) in wanted {
        let topic = image.topics.get_by_name(&topic_name);
        let mut partition_result = Vec::new();
        for p in parts {
            let res = elect_leaders_response::PartitionResult::default().with_partition_id(p);
            let Some(reg) = topic.and_then(|t| t.partitions.get(&p)) else {
                partition_result
                    .push(res.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let topic = topic.expect("found above");
            let state = state_of(reg);
            let change = match r.election_type {
                0 => {
                    if state.replicas.first() == Some(&state.leader) {
                        partition_result
                            .push(res.with_error_code(ResponseError::ElectionNotNeeded.code()));
                        continue;
                    }
                    partition_change::preferred_election(&state, &acceptable)
                }
                1 => {
                    if state.leader != partition_change::NO_LEADER {
                        partition_result
                            .push(res.with_error_code(ResponseError::ElectionNotNeeded.code()));
                        continue;
                    }
                    PartitionChangeBuilder::new(&state, &acceptable)
                        .election(Election::Unclean)
                        .build()
                }
                other => {
                    partition_result.push(
                        res.with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(sbytes(format!("Unknown election type {other}"))),
                    );
                    continue;
                }
            };
            match change {
                Some(c) if matches!(c.leader, LeaderChange::To(l) if l != partition_change::NO_LEADER) =>
                {
                    records.push(change_record(topic.id, p, &c));
                    partition_result.push(res);
                }
                _ => partition_result.push(
                    res.with_error_code(ResponseError::PreferredLeaderNotAvailable.code())
                        .with_error_message(sbytes(
                            "Failed to elect leader: no eligible replica is available.".into(),
                        )),
                ),
            }
        }
        results.push(
            elect_leaders_response::ReplicaElectionResult::default()
                .with_topic(TopicName(StrBytes::from_string(topic_name)))
                .with_partition_result(partition_result),
        );
    }
    ControllerResult::new(
        records,
        ElectLeadersResponse::default().with_replica_election_results(results),
    )
}
