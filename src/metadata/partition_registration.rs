//! One partition's replica assignment and leadership as the metadata log describes it
//! (PartitionRecord, then PartitionChangeRecords merged into it).

use uuid::Uuid;

use crate::metadata::records::{PartitionChangeRecord, PartitionRecord};

/// No leader.
pub const NO_LEADER: i32 = -1;
/// `PartitionChangeRecord.Leader` value meaning "unchanged".
pub const NO_LEADER_CHANGE: i32 = -2;

/// Whether the leader may have lost committed data (after an unclean election).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaderRecoveryState {
    #[default]
    Recovered,
    Recovering,
}

impl LeaderRecoveryState {
    pub fn from_wire(v: i8) -> Option<Self> {
        match v {
            0 => Some(Self::Recovered),
            1 => Some(Self::Recovering),
            _ => None,
        }
    }

    pub fn to_wire(self) -> i8 {
        match self {
            Self::Recovered => 0,
            Self::Recovering => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionRegistration {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    /// The leader, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_recovery_state: LeaderRecoveryState,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub directories: Vec<Uuid>,
    pub elr: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

impl PartitionRegistration {
    pub fn from_record(r: &PartitionRecord) -> Self {
        PartitionRegistration {
            replicas: r.replicas.clone(),
            isr: r.isr.clone(),
            removing_replicas: r.removing_replicas.clone(),
            adding_replicas: r.adding_replicas.clone(),
            leader: r.leader,
            leader_recovery_state: LeaderRecoveryState::from_wire(r.leader_recovery_state)
                .unwrap_or_default(),
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            directories: r.directories.clone(),
            elr: r.eligible_leader_replicas.clone().unwrap_or_default(),
            last_known_elr: r.last_known_elr.clone().unwrap_or_default(),
        }
    }

    pub fn to_record(&self, topic_id: Uuid, partition_id: i32) -> PartitionRecord {
        PartitionRecord {
            partition_id,
            topic_id,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            removing_replicas: self.removing_replicas.clone(),
            adding_replicas: self.adding_replicas.clone(),
            leader: self.leader,
            leader_recovery_state: self.leader_recovery_state.to_wire(),
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            directories: self.directories.clone(),
            eligible_leader_replicas: (!self.elr.is_empty()).then(|| self.elr.clone()),
            last_known_elr: (!self.last_known_elr.is_empty()).then(|| self.last_known_elr.clone()),
            ..Default::default()
        }
    }

    /// The state after a change record: the partition epoch always advances; the leader epoch
    /// advances when the record sets a leader (even the same one).
    pub fn merge(&self, r: &PartitionChangeRecord) -> Self {
        let mut next = self.clone();
        if let Some(isr) = &r.isr {
            next.isr = isr.clone();
        }
        if let Some(replicas) = &r.replicas {
            next.replicas = replicas.clone();
        }
        if let Some(v) = &r.removing_replicas {
            next.removing_replicas = v.clone();
        }
        if let Some(v) = &r.adding_replicas {
            next.adding_replicas = v.clone();
        }
        if let Some(v) = &r.directories {
            next.directories = v.clone();
        }
        if let Some(v) = &r.eligible_leader_replicas {
            next.elr = v.clone();
        }
        if let Some(v) = &r.last_known_elr {
            next.last_known_elr = v.clone();
        }
        if r.leader != NO_LEADER_CHANGE {
            next.leader = r.leader;
            next.leader_epoch += 1;
        }
        if let Some(state) = LeaderRecoveryState::from_wire(r.leader_recovery_state) {
            next.leader_recovery_state = state;
        }
        next.partition_epoch += 1;
        next
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// The first replica: the leader a balanced cluster would have.
    pub fn preferred_leader(&self) -> Option<i32> {
        self.replicas.first().copied()
    }

    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}
