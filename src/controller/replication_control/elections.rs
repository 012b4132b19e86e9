//! Elections: ElectLeaders (preferred and unclean), and the partition changes that follow a
//! broker being fenced, unfenced or shut down.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, TopicName, elect_leaders_response,
};
use kafka_protocol::protocol::StrBytes;

use super::{change_record, is_active, name_str, sbytes, state_of};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::partition_change::{
    self, Election, LeaderChange, PartitionChange, PartitionChangeBuilder, PartitionState,
};
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::ApiMessageAndVersion;

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
            let Some((topic, reg)) = topic.and_then(|t| t.partitions.get(&p).map(|reg| (t, reg)))
            else {
                partition_result
                    .push(res.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            match elect_partition(r.election_type, &state_of(reg), &acceptable) {
                Ok(change) => {
                    records.push(change_record(topic.id, p, &change));
                    partition_result.push(res);
                }
                Err((error, message)) => partition_result.push(
                    res.with_error_code(error.code())
                        .with_error_message(message),
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

/// The leader change an election of `election_type` (0 = preferred, 1 = unclean) makes to one
/// partition, or the error (and message) it is answered with.
fn elect_partition(
    election_type: i8,
    state: &PartitionState,
    acceptable: &dyn Fn(i32) -> bool,
) -> Result<PartitionChange, (ResponseError, Option<StrBytes>)> {
    let change = match election_type {
        0 => {
            if state.replicas.first() == Some(&state.leader) {
                return Err((ResponseError::ElectionNotNeeded, None));
            }
            partition_change::preferred_election(state, acceptable)
        }
        1 => {
            if state.leader != partition_change::NO_LEADER {
                return Err((ResponseError::ElectionNotNeeded, None));
            }
            PartitionChangeBuilder::new(state, acceptable)
                .election(Election::Unclean)
                .build()
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                sbytes(format!("Unknown election type {other}")),
            ));
        }
    };
    match change {
        Some(c) if matches!(c.leader, LeaderChange::To(l) if l != partition_change::NO_LEADER) => {
            Ok(c)
        }
        _ => Err((
            ResponseError::PreferredLeaderNotAvailable,
            sbytes("Failed to elect leader: no eligible replica is available.".into()),
        )),
    }
}
