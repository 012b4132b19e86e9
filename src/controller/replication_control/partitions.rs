//! Partitions: CreatePartitions (more partitions for an existing topic) and AlterPartition (a
//! leader's ISR and recovery-state changes).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, CreatePartitionsRequest,
    CreatePartitionsResponse, alter_partition_request, alter_partition_response,
    create_partitions_request, create_partitions_response,
};

use super::{
    change_record, elr_min_isr, name_str, new_partition_record, rng_for, sbytes, state_of,
    usable_brokers, with_active_isr,
};
use crate::controller::alter_partition::{self, AlterPartitionData, BrokerLiveness};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::placement::{self, UsableBroker};
use crate::controller::topic_validation;
use crate::metadata::records::ApiMessageAndVersion;
use crate::metadata::topics_image::TopicImage;

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
        let result = create_partitions_response::CreatePartitionsTopicResult::default()
            .with_name(t.name.clone());
        match new_partitions(ctx, t, i, &brokers, &registered) {
            Ok(new_records) => {
                if !r.validate_only {
                    records.extend(new_records);
                }
                results.push(result);
            }
            Err((error, message)) => results.push(
                result
                    .with_error_code(error.code())
                    .with_error_message(sbytes(message)),
            ),
        }
    }
    ControllerResult::new(
        records,
        CreatePartitionsResponse::default().with_results(results),
    )
}

/// The PartitionRecords that grow topic `t` (the `i`th of the request) to its new count, or
/// the error and message it is answered with.
fn new_partitions(
    ctx: &Context<'_>,
    t: &create_partitions_request::CreatePartitionsTopic,
    i: usize,
    brokers: &[UsableBroker],
    registered: &[i32],
) -> Result<Vec<ApiMessageAndVersion>, (ResponseError, String)> {
    let image = ctx.image;
    let name = name_str(&t.name);
    let Some(topic) = image.topics.get_by_name(&name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Topic {name} does not exist."),
        ));
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
    topic_validation::validate_create_partitions(
        current,
        t.count,
        rf,
        assignments.as_deref(),
        registered,
    )
    .map_err(|e| (e.error(), e.to_string()))?;
    let new_assignments = match assignments {
        Some(a) => a,
        None => {
            let mut rng = rng_for(ctx, 0x5050 + i as u64);
            placement::place(brokers, t.count - current, rf, &mut rng)
                .map_err(|e| (ResponseError::InvalidReplicationFactor, e.to_string()))?
        }
    };
    let partitions = with_active_isr(image, new_assignments).ok_or_else(|| {
        (
            ResponseError::InvalidReplicaAssignment,
            "All brokers of a new partition are fenced or in controlled shutdown.".to_string(),
        )
    })?;
    Ok(partitions
        .into_iter()
        .enumerate()
        .map(|(k, (replicas, isr))| {
            new_partition_record(topic.id, current + k as i32, replicas, isr)
        })
        .collect())
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
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let elr = topic.and_then(|t| elr_min_isr(ctx, &t.name));
                alter_one_partition(topic, sender, p, version, &liveness, elr, &mut records)
            })
            .collect();
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

/// One partition of an AlterPartition request from broker `sender`: its answer, and the
/// PartitionChangeRecord (pushed onto `records`) if the change is accepted.
fn alter_one_partition(
    topic: Option<&Arc<TopicImage>>,
    sender: i32,
    p: &alter_partition_request::PartitionData,
    version: i16,
    liveness: &dyn Fn(i32) -> Option<BrokerLiveness>,
    elr_min_isr: Option<usize>,
    records: &mut Vec<ApiMessageAndVersion>,
) -> alter_partition_response::PartitionData {
    let out =
        alter_partition_response::PartitionData::default().with_partition_index(p.partition_index);
    let Some(topic) = topic else {
        return out.with_error_code(ResponseError::UnknownTopicId.code());
    };
    let Some(reg) = topic.partitions.get(&p.partition_index) else {
        return out.with_error_code(ResponseError::UnknownTopicOrPartition.code());
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
    match alter_partition::validate(&state, &data, liveness, elr_min_isr) {
        Ok(outcome) => {
            let next = match &outcome.change {
                Some(change) => {
                    records.push(change_record(topic.id, p.partition_index, change));
                    state.apply(change)
                }
                None => state.clone(),
            };
            out.with_error_code(outcome.error.map_or(0, |e| e.code()))
                .with_leader_id(BrokerId(next.leader))
                .with_leader_epoch(next.leader_epoch)
                .with_isr(next.isr.iter().map(|b| BrokerId(*b)).collect())
                .with_leader_recovery_state(next.leader_recovery_state.to_wire())
                .with_partition_epoch(next.partition_epoch)
        }
        Err(e) => out.with_error_code(e.code()),
    }
}
