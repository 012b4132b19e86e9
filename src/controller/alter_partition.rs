//! Validation of one AlterPartition entry (an ISR change proposed by the partition leader)
//! against the controller's view, with Kafka's error codes.

use kafka_protocol::ResponseError;

use crate::controller::partition_change::{
    LeaderChange, LeaderRecoveryState, PartitionChange, PartitionChangeBuilder, PartitionState,
};

/// What the controller knows about a proposed ISR member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerLiveness {
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub broker_epoch: i64,
}

/// One partition of an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionData {
    /// The sender (must be the leader).
    pub broker_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Proposed ISR with each member's broker epoch (-1: not given, before v3).
    pub new_isr_with_epochs: Vec<(i32, i64)>,
    pub leader_recovery_state: i8,
}

/// An accepted proposal: the change to write (none when nothing changes) and, when the change
/// elected another leader, the error the leader is told (the change is still written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterOutcome {
    pub change: Option<PartitionChange>,
    pub error: Option<ResponseError>,
}

/// Validates one proposal; `elr_min_isr` is the topic's `min.insync.replicas` when eligible
/// leader replicas are on (a shrink below it moves the removed members into the ELR).
pub fn validate(
    state: &PartitionState,
    data: &AlterPartitionData,
    liveness: &dyn Fn(i32) -> Option<BrokerLiveness>,
    elr_min_isr: Option<usize>,
) -> Result<AlterOutcome, ResponseError> {
    if data.leader_epoch > state.leader_epoch || data.partition_epoch > state.partition_epoch {
        // The sender knows a newer state than ours: this controller is behind.
        return Err(ResponseError::NotController);
    }
    if data.leader_epoch < state.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch);
    }
    if data.broker_id != state.leader {
        return Err(ResponseError::InvalidRequest);
    }
    if data.partition_epoch < state.partition_epoch {
        return Err(ResponseError::InvalidUpdateVersion);
    }
    let isr: Vec<i32> = data.new_isr_with_epochs.iter().map(|(b, _)| *b).collect();
    if isr.is_empty()
        || !isr.iter().all(|b| state.replicas.contains(b))
        || !isr.contains(&state.leader)
    {
        return Err(ResponseError::InvalidRequest);
    }
    let recovery = LeaderRecoveryState::from_wire(data.leader_recovery_state)
        .ok_or(ResponseError::InvalidRequest)?;
    if recovery == LeaderRecoveryState::Recovering && isr.len() > 1 {
        return Err(ResponseError::InvalidRequest);
    }
    if state.leader_recovery_state == LeaderRecoveryState::Recovered
        && recovery == LeaderRecoveryState::Recovering
    {
        return Err(ResponseError::InvalidRequest);
    }
    for (b, epoch) in &data.new_isr_with_epochs {
        let eligible = liveness(*b).is_some_and(|l| {
            !l.fenced && !l.in_controlled_shutdown && (*epoch < 0 || l.broker_epoch == *epoch)
        });
        // The leader itself is eligible: it is sending this request.
        if !eligible && *b != state.leader {
            return Err(ResponseError::IneligibleReplica);
        }
    }
    let acceptable = |b: i32| liveness(b).is_some_and(|l| !l.fenced && !l.in_controlled_shutdown);
    let change = PartitionChangeBuilder::new(state, &acceptable)
        .target_isr(isr)
        .target_leader_recovery_state(recovery)
        .eligible_leader_replicas(elr_min_isr)
        .build();
    let error = match &change {
        Some(c) => match c.leader {
            LeaderChange::To(l) if l != state.leader => Some(ResponseError::NewLeaderElected),
            _ => None,
        },
        None => None,
    };
    Ok(AlterOutcome { change, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PartitionState {
        PartitionState {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 5,
            partition_epoch: 9,
            leader_recovery_state: LeaderRecoveryState::Recovered,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        }
    }

    fn data(isr: &[i32]) -> AlterPartitionData {
        AlterPartitionData {
            broker_id: 1,
            leader_epoch: 5,
            partition_epoch: 9,
            new_isr_with_epochs: isr.iter().map(|b| (*b, 100 + *b as i64)).collect(),
            leader_recovery_state: 0,
        }
    }

    fn live(b: i32) -> Option<BrokerLiveness> {
        (1..=3).contains(&b).then(|| BrokerLiveness {
            fenced: b == 3,
            in_controlled_shutdown: false,
            broker_epoch: 100 + b as i64,
        })
    }

    #[test]
    fn validation_errors_carry_kafka_codes() {
        let s = state();
        let cases: Vec<(AlterPartitionData, ResponseError)> = vec![
            (
                AlterPartitionData {
                    leader_epoch: 6,
                    ..data(&[1, 2])
                },
                ResponseError::NotController,
            ),
            (
                AlterPartitionData {
                    partition_epoch: 10,
                    ..data(&[1, 2])
                },
                ResponseError::NotController,
            ),
            (
                AlterPartitionData {
                    leader_epoch: 4,
                    ..data(&[1, 2])
                },
                ResponseError::FencedLeaderEpoch,
            ),
            (
                AlterPartitionData {
                    broker_id: 2,
                    ..data(&[1, 2])
                },
                ResponseError::InvalidRequest,
            ),
            (
                AlterPartitionData {
                    partition_epoch: 8,
                    ..data(&[1, 2])
                },
                ResponseError::InvalidUpdateVersion,
            ),
            (data(&[1, 4]), ResponseError::InvalidRequest),
            (data(&[2]), ResponseError::InvalidRequest),
            (data(&[]), ResponseError::InvalidRequest),
            (
                AlterPartitionData {
                    leader_recovery_state: 1,
                    ..data(&[1])
                },
                ResponseError::InvalidRequest,
            ),
            (
                AlterPartitionData {
                    leader_recovery_state: 7,
                    ..data(&[1])
                },
                ResponseError::InvalidRequest,
            ),
            (data(&[1, 3]), ResponseError::IneligibleReplica),
            (
                AlterPartitionData {
                    new_isr_with_epochs: vec![(1, 101), (2, 99)],
                    ..data(&[])
                },
                ResponseError::IneligibleReplica,
            ),
        ];
        for (d, want) in cases {
            assert_eq!(validate(&s, &d, &live, None), Err(want), "{d:?}");
        }
    }

    #[test]
    fn a_valid_shrink_changes_the_isr_only() {
        let out = validate(&state(), &data(&[1, 2]), &live, None).unwrap();
        let c = out.change.expect("a change");
        assert_eq!(c.isr, Some(vec![1, 2]));
        assert_eq!(c.leader, LeaderChange::NoChange);
        assert_eq!(out.error, None);
        let next = state().apply(&c);
        assert_eq!((next.leader_epoch, next.partition_epoch), (5, 10));
        // The same ISR again changes nothing.
        let same = PartitionState {
            isr: vec![1, 2],
            partition_epoch: 10,
            ..state()
        };
        let d = AlterPartitionData {
            partition_epoch: 10,
            ..data(&[1, 2])
        };
        assert_eq!(validate(&same, &d, &live, None).unwrap().change, None);
        // Epochs of members are optional before v3.
        let d = AlterPartitionData {
            new_isr_with_epochs: vec![(1, -1), (2, -1)],
            ..data(&[])
        };
        assert!(validate(&state(), &d, &live, None).is_ok());
    }
}
