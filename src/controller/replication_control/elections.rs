//! Elections: ElectLeaders (preferred and unclean), the partition changes that follow a
//! broker being fenced, unfenced or shut down, the automatic preferred-leader rebalance, and
//! counting elections by cause.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ElectLeadersRequest, ElectLeadersResponse, TopicName, elect_leaders_response,
};
use kafka_protocol::protocol::StrBytes;

use super::{change_record, elr_min_isr, is_active, name_str, sbytes, state_of};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::partition_change::{
    self, LeaderChange, LeaderRecoveryState, PartitionChange, PartitionState,
};
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::image::MetadataImage;
use crate::metadata::partition_registration::NO_LEADER_CHANGE;
use crate::metadata::records::{ApiMessageAndVersion, MetadataRecord};

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
pub fn remove_broker_from_partitions(ctx: &Context<'_>, broker: i32) -> Vec<ApiMessageAndVersion> {
    change_partitions_of(ctx, broker, partition_change::fence_broker)
}

/// A broker restarted without a clean shutdown: it leaves every ISR and ELR (it may miss
/// records below the high watermark); leaderless partitions get an unclean leader where their
/// topic allows one.
pub fn remove_uncleanly_restarted_broker(
    ctx: &Context<'_>,
    broker: i32,
) -> Vec<ApiMessageAndVersion> {
    change_partitions_of(ctx, broker, partition_change::unclean_shutdown)
}

type BrokerChange =
    fn(&PartitionState, i32, &dyn Fn(i32) -> bool, Option<usize>) -> Option<PartitionChange>;

/// `change` of every partition `broker` is a replica of, each followed by an unclean election
/// where the partition is left without a leader and its topic allows one.
fn change_partitions_of(
    ctx: &Context<'_>,
    broker: i32,
    change: BrokerChange,
) -> Vec<ApiMessageAndVersion> {
    let image = ctx.image;
    let acceptable = |b: i32| b != broker && is_active(image, b);
    let mut out = Vec::new();
    for (topic, p, reg) in image.topics.partitions() {
        let state = state_of(reg);
        if !state.replicas.contains(&broker) {
            continue;
        }
        let elr = elr_min_isr(ctx, &topic.name);
        let Some(change) = change(&state, broker, &acceptable, elr) else {
            continue;
        };
        out.push(change_record(topic.id, p, &change));
        let next = state.apply(&change);
        if next.leader == partition_change::NO_LEADER
            && unclean_allowed(image, &topic.name)
            && let Some(unclean) = partition_change::unclean_election(&next, &acceptable, elr)
        {
            out.push(change_record(topic.id, p, &unclean));
        }
    }
    out
}

/// Elects leaders for leaderless partitions once `newly_active` becomes active (from the ISR,
/// or from the ELR when the ISR is empty); unclean elections only where the topic allows them.
pub fn elect_for_leaderless(
    ctx: &Context<'_>,
    newly_active: Option<i32>,
) -> Vec<ApiMessageAndVersion> {
    let image = ctx.image;
    let acceptable = |b: i32| Some(b) == newly_active || is_active(image, b);
    change_partitions(image, |topic, s| {
        if s.leader != partition_change::NO_LEADER {
            return None;
        }
        let elr = elr_min_isr(ctx, topic);
        partition_change::elect_leaderless(s, &acceptable, elr).or_else(|| {
            unclean_allowed(image, topic)
                .then(|| partition_change::unclean_election(s, &acceptable, elr))
                .flatten()
        })
    })
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
            let elr = elr_min_isr(ctx, &topic.name);
            match elect_partition(r.election_type, &state_of(reg), &acceptable, elr) {
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
    elr: Option<usize>,
) -> Result<PartitionChange, (ResponseError, Option<StrBytes>)> {
    let change = match election_type {
        0 => {
            if state.replicas.first() == Some(&state.leader) {
                return Err((ResponseError::ElectionNotNeeded, None));
            }
            partition_change::preferred_election(state, acceptable, elr)
        }
        1 => {
            if state.leader != partition_change::NO_LEADER {
                return Err((ResponseError::ElectionNotNeeded, None));
            }
            partition_change::unclean_election(state, acceptable, elr)
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

/// Why a partition got a new leader (the `cause` label of
/// `kafka_controller_partition_leader_elections_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElectionCause {
    /// The first leader of a new partition (CreateTopics, CreatePartitions).
    NewTopic,
    /// The leader was fenced, unregistered or replaced by a new incarnation.
    BrokerFenced,
    /// The leader entered controlled shutdown.
    ControlledShutdown,
    /// A partition without a leader got one when a broker was unfenced.
    Leaderless,
    /// Leadership moved to the preferred replica (ElectLeaders or the automatic rebalance).
    Preferred,
    /// A leader from outside the ISR (the topic allows unclean election, or ElectLeaders
    /// asked for it); it may have lost committed records.
    Unclean,
}

impl ElectionCause {
    pub const ALL: [ElectionCause; 6] = [
        ElectionCause::NewTopic,
        ElectionCause::BrokerFenced,
        ElectionCause::ControlledShutdown,
        ElectionCause::Leaderless,
        ElectionCause::Preferred,
        ElectionCause::Unclean,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ElectionCause::NewTopic => "new_topic",
            ElectionCause::BrokerFenced => "broker_fenced",
            ElectionCause::ControlledShutdown => "controlled_shutdown",
            ElectionCause::Leaderless => "leaderless",
            ElectionCause::Preferred => "preferred",
            ElectionCause::Unclean => "unclean",
        }
    }

    /// The cause of the clean elections among `records` (one controller result): what the
    /// records do to brokers says why leaders moved; partition changes alone are preferred
    /// elections (ElectLeaders, the rebalance).
    fn of(records: &[ApiMessageAndVersion]) -> ElectionCause {
        records
            .iter()
            .find_map(|r| match &r.record {
                MetadataRecord::Partition(_) => Some(ElectionCause::NewTopic),
                MetadataRecord::RegisterBroker(_) | MetadataRecord::UnregisterBroker(_) => {
                    Some(ElectionCause::BrokerFenced)
                }
                MetadataRecord::BrokerRegistrationChange(c) if c.fenced == 1 => {
                    Some(ElectionCause::BrokerFenced)
                }
                MetadataRecord::BrokerRegistrationChange(c) if c.in_controlled_shutdown == 1 => {
                    Some(ElectionCause::ControlledShutdown)
                }
                MetadataRecord::BrokerRegistrationChange(c) if c.fenced == -1 => {
                    Some(ElectionCause::Leaderless)
                }
                _ => None,
            })
            .unwrap_or(ElectionCause::Preferred)
    }
}

/// The leader elections `records` (one controller result, written on top of `image`) make,
/// by cause: a partition whose leader becomes a broker other than its previous leader. A
/// partition left without a leader, or a leader epoch bump of the same leader, is no election.
pub fn leader_elections(
    image: &MetadataImage,
    records: &[ApiMessageAndVersion],
) -> BTreeMap<ElectionCause, u64> {
    let cause = ElectionCause::of(records);
    let mut leaders: BTreeMap<(uuid::Uuid, i32), i32> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for r in records {
        let (key, leader, unclean) = match &r.record {
            MetadataRecord::Partition(p) => ((p.topic_id, p.partition_id), p.leader, false),
            MetadataRecord::PartitionChange(c) if c.leader != NO_LEADER_CHANGE => (
                (c.topic_id, c.partition_id),
                c.leader,
                c.leader_recovery_state == LeaderRecoveryState::Recovering.to_wire(),
            ),
            _ => continue,
        };
        let previous = leaders.insert(key, leader).unwrap_or_else(|| {
            image
                .topics
                .get(&key.0)
                .and_then(|t| t.partitions.get(&key.1))
                .map_or(partition_change::NO_LEADER, |p| p.leader)
        });
        if leader != partition_change::NO_LEADER && leader != previous {
            let cause = if unclean {
                ElectionCause::Unclean
            } else {
                cause
            };
            *out.entry(cause).or_insert(0) += 1;
        }
    }
    out
}

/// At most this many preferred elections per rebalance (Kafka's controller bounds each run
/// the same way); the next check continues.
const MAX_REBALANCE_ELECTIONS: usize = 1000;

/// The automatic preferred-leader rebalance: for every broker whose leader imbalance (the
/// share of partitions it is the preferred leader of that another broker leads) exceeds
/// `imbalance_percentage`, move those partitions back to it where it may lead (unfenced, not
/// in controlled shutdown) and is in the ISR.
pub fn rebalance_preferred_leaders(
    ctx: &Context<'_>,
    imbalance_percentage: u32,
) -> Vec<ApiMessageAndVersion> {
    let image = ctx.image;
    // preferred broker → (partitions it is preferred for, those it does not lead)
    let mut per_broker: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for (_, _, p) in image.topics.partitions() {
        if let Some(preferred) = p.preferred_leader() {
            let e = per_broker.entry(preferred).or_insert((0, 0));
            e.0 += 1;
            if p.leader != preferred {
                e.1 += 1;
            }
        }
    }
    let imbalanced = |b: i32| {
        per_broker
            .get(&b)
            .is_some_and(|(total, off)| off * 100 > total * u64::from(imbalance_percentage))
    };
    let acceptable = |b: i32| is_active(image, b);
    let mut out = Vec::new();
    for (topic, p, reg) in image.topics.partitions() {
        if out.len() >= MAX_REBALANCE_ELECTIONS {
            break;
        }
        let Some(preferred) = reg.preferred_leader() else {
            continue;
        };
        if reg.leader == preferred || !imbalanced(preferred) || !reg.isr.contains(&preferred) {
            continue;
        }
        let elr = elr_min_isr(ctx, &topic.name);
        if let Some(change) = partition_change::preferred_election(&state_of(reg), &acceptable, elr)
            && change.leader == LeaderChange::To(preferred)
        {
            out.push(change_record(topic.id, p, &change));
        }
    }
    if !out.is_empty() {
        tracing::info!(
            partitions = out.len(),
            "moving leadership back to preferred replicas (leader imbalance above {imbalance_percentage}%)"
        );
    }
    out
}
