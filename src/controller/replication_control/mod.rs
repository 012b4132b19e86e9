//! Topics, partitions and leadership as pure functions of the pending image: CreateTopics,
//! DeleteTopics, CreatePartitions, AlterPartition, ElectLeaders, and the partition changes
//! that follow a broker being fenced, unfenced or shut down.
//!
//! One file per noun: `topics` (CreateTopics, DeleteTopics), `partitions` (CreatePartitions,
//! AlterPartition), `elections` (ElectLeaders and the elections that follow a broker's
//! state); this file holds what they share.

mod elections;
mod partitions;
mod topics;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;
use rand::SeedableRng;
use uuid::Uuid;

use crate::controller::context::Context;
use crate::controller::partition_change::{
    LeaderChange, LeaderRecoveryState, PartitionChange, PartitionState,
};
use crate::controller::placement::UsableBroker;
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::image::MetadataImage;
use crate::metadata::partition_registration::PartitionRegistration;
use crate::metadata::records::{
    ApiMessageAndVersion, MetadataRecord, PartitionChangeRecord, PartitionRecord,
};

pub use elections::{
    ElectionCause, elect_for_leaderless, elect_leaders, leader_elections,
    rebalance_preferred_leaders, remove_broker_from_partitions, remove_uncleanly_restarted_broker,
};
pub use partitions::{alter_partition, create_partitions};
pub use topics::{create_topics, delete_topics};

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
        elr: p.elr.clone(),
        last_known_elr: p.last_known_elr.clone(),
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
        eligible_leader_replicas: change.elr.clone(),
        last_known_elr: change.last_known_elr.clone(),
        ..Default::default()
    }))
}

/// `Some(min.insync.replicas)` of `topic` when eligible leader replicas are enabled (the
/// `eligible.leader.replicas.version` feature is finalized at 1 or above): the topic's
/// config, else the cluster-wide broker default, else this controller's static one.
pub fn elr_min_isr(ctx: &Context<'_>, topic: &str) -> Option<usize> {
    let image = ctx.image;
    if !image.features.eligible_leader_replicas_enabled() {
        return None;
    }
    let configured = image
        .configs
        .value(&ConfigResource::topic(topic), MIN_INSYNC_REPLICAS)
        .or_else(|| {
            image
                .configs
                .value(&ConfigResource::broker(None), MIN_INSYNC_REPLICAS)
        })
        .and_then(|v| v.parse::<usize>().ok());
    Some(
        configured
            .unwrap_or(ctx.settings.min_insync_replicas.max(1) as usize)
            .max(1),
    )
}

const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// Whether `broker` may lead or join an ISR: registered, unfenced, not shutting down.
pub fn is_active(image: &MetadataImage, broker: i32) -> bool {
    image
        .cluster
        .brokers
        .get(&broker)
        .is_some_and(|b| b.is_active())
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

/// New partitions for `assignment` (replica lists in partition order): ISR = the active
/// replicas, leader = the first of them. `None` when a partition would have no active replica.
fn with_active_isr(
    image: &MetadataImage,
    assignment: Vec<Vec<i32>>,
) -> Option<Vec<(Vec<i32>, Vec<i32>)>> {
    assignment
        .into_iter()
        .map(|replicas| {
            let isr: Vec<i32> = replicas
                .iter()
                .copied()
                .filter(|b| is_active(image, *b))
                .collect();
            (!isr.is_empty()).then_some((replicas, isr))
        })
        .collect()
}

/// The PartitionRecord of a new partition (epochs 0, led by the first of its ISR).
fn new_partition_record(
    topic_id: Uuid,
    partition_id: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::Partition(PartitionRecord {
        partition_id,
        topic_id,
        leader: isr[0],
        replicas,
        isr,
        leader_epoch: 0,
        partition_epoch: 0,
        ..Default::default()
    }))
}
