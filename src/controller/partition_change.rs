//! Partition state changes: leader election, ISR updates and leader-epoch rules.
//!
//! [`PartitionChangeBuilder`] computes the `PartitionChangeRecord` the controller should write
//! for one partition, or `None` when nothing would change. [`PartitionState::apply`] is the
//! replay rule for such a change. The free functions ([`fence_broker`],
//! [`controlled_shutdown_move`], [`elect_leaderless`], [`preferred_election`],
//! [`unclean_election`]) are the common controller operations expressed with the builder.
//!
//! Rules implemented:
//! - A clean leader must be in the target ISR and acceptable (an unfenced broker that is not in
//!   controlled shutdown). A valid current leader is kept.
//! - The ISR is never written empty: if the target ISR is empty the ISR field is left unchanged
//!   (its last member stays) and, having no ISR member to elect, the leader becomes -1.
//! - An unclean election takes the first acceptable replica, sets ISR = [it] and marks the
//!   partition RECOVERING. The partition returns to RECOVERED only when its leader says so
//!   through AlterPartition ([`PartitionChangeBuilder::target_leader_recovery_state`]).
//! - Leader epoch: a new leader always bumps it. Removing replicas from the replica set bumps it
//!   (the leader field is set to the current leader). An ISR shrink bumps it only on metadata
//!   versions before 3.6-IV0 ([`PartitionChangeBuilder::bump_leader_epoch_on_isr_shrink`]).

/// Whether the leader's log is known to be complete. Wire values: 0 = RECOVERED,
/// 1 = RECOVERING.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LeaderRecoveryState {
    /// The leader was elected from the ISR (the normal case).
    #[default]
    Recovered,
    /// The leader was elected uncleanly and has not yet confirmed recovery.
    Recovering,
}

impl LeaderRecoveryState {
    /// The wire value (`int8`).
    pub fn to_wire(self) -> i8 {
        match self {
            LeaderRecoveryState::Recovered => 0,
            LeaderRecoveryState::Recovering => 1,
        }
    }

    /// Parses a wire value; `None` for anything but 0 or 1.
    pub fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(LeaderRecoveryState::Recovered),
            1 => Some(LeaderRecoveryState::Recovering),
            _ => None,
        }
    }
}

/// The leader value meaning "no leader".
pub const NO_LEADER: i32 = -1;

/// The replicated state of one partition, as far as leader election is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// Assigned replicas in preference order; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The leader broker, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub leader_recovery_state: LeaderRecoveryState,
}

/// How the leader field of a partition changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderChange {
    /// The leader field is absent from the record (wire -2): leader and leader epoch stay.
    NoChange,
    /// The leader is set (possibly to the same broker, or to [`NO_LEADER`]); the leader epoch
    /// is bumped.
    To(i32),
}

/// The content of a `PartitionChangeRecord`: every `None`/`NoChange` field means "unchanged".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChange {
    pub isr: Option<Vec<i32>>,
    pub leader: LeaderChange,
    pub replicas: Option<Vec<i32>>,
    pub leader_recovery_state: Option<LeaderRecoveryState>,
}

impl PartitionChange {
    /// True when the record would change nothing.
    pub fn is_no_op(&self) -> bool {
        self.isr.is_none()
            && self.leader == LeaderChange::NoChange
            && self.replicas.is_none()
            && self.leader_recovery_state.is_none()
    }
}

impl PartitionState {
    /// The state after replaying `change`: the partition epoch always increases by one; the
    /// leader epoch increases by one exactly when the leader field is set.
    pub fn apply(&self, change: &PartitionChange) -> PartitionState {
        let mut next = self.clone();
        if let Some(isr) = &change.isr {
            next.isr = isr.clone();
        }
        if let Some(replicas) = &change.replicas {
            next.replicas = replicas.clone();
        }
        if let LeaderChange::To(leader) = change.leader {
            next.leader = leader;
            next.leader_epoch += 1;
        }
        if let Some(state) = change.leader_recovery_state {
            next.leader_recovery_state = state;
        }
        next.partition_epoch += 1;
        next
    }
}

/// The kind of leader election to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Election {
    /// Keep a valid leader; otherwise the first acceptable target-ISR member in replica order.
    #[default]
    Online,
    /// The first replica if it is acceptable and in the target ISR; otherwise keep a valid
    /// leader; otherwise the next acceptable target-ISR member in replica order.
    Preferred,
    /// Like [`Election::Online`]; if that finds nobody, the first acceptable replica even
    /// outside the ISR (ISR becomes [it], recovery state RECOVERING). May lose data.
    Unclean,
}

/// Computes the change to one partition. Start with [`PartitionChangeBuilder::new`], set the
/// targets, then [`build`](PartitionChangeBuilder::build).
pub struct PartitionChangeBuilder<'a> {
    state: &'a PartitionState,
    is_acceptable_leader: &'a dyn Fn(i32) -> bool,
    target_isr: Option<Vec<i32>>,
    target_replicas: Option<Vec<i32>>,
    target_leader_recovery_state: Option<LeaderRecoveryState>,
    election: Election,
    bump_leader_epoch_on_isr_shrink: bool,
}

impl<'a> PartitionChangeBuilder<'a> {
    /// A builder that, unless told otherwise, keeps replicas and ISR, runs an online election
    /// and does not bump the leader epoch on ISR shrink (metadata version ≥ 3.6-IV0).
    /// `is_acceptable_leader` says whether a broker may lead (unfenced, not in controlled
    /// shutdown, not being removed).
    pub fn new(state: &'a PartitionState, is_acceptable_leader: &'a dyn Fn(i32) -> bool) -> Self {
        PartitionChangeBuilder {
            state,
            is_acceptable_leader,
            target_isr: None,
            target_replicas: None,
            target_leader_recovery_state: None,
            election: Election::Online,
            bump_leader_epoch_on_isr_shrink: false,
        }
    }

    /// The ISR the partition should have.
    pub fn target_isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = Some(isr);
        self
    }

    /// The replica set the partition should have.
    pub fn target_replicas(mut self, replicas: Vec<i32>) -> Self {
        self.target_replicas = Some(replicas);
        self
    }

    /// The leader recovery state the leader asks for (AlterPartition).
    pub fn target_leader_recovery_state(mut self, state: LeaderRecoveryState) -> Self {
        self.target_leader_recovery_state = Some(state);
        self
    }

    pub fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// `true` for metadata versions before 3.6-IV0, where an ISR shrink also bumps the leader
    /// epoch.
    pub fn bump_leader_epoch_on_isr_shrink(mut self, bump: bool) -> Self {
        self.bump_leader_epoch_on_isr_shrink = bump;
        self
    }

    /// The change to write, or `None` when the partition would not change.
    pub fn build(self) -> Option<PartitionChange> {
        let state = self.state;
        let target_isr = self.target_isr.clone().unwrap_or_else(|| state.isr.clone());
        let target_replicas = self
            .target_replicas
            .clone()
            .unwrap_or_else(|| state.replicas.clone());

        let mut change = PartitionChange {
            isr: None,
            leader: LeaderChange::NoChange,
            replicas: None,
            leader_recovery_state: None,
        };

        let (leader, unclean) = self.elect(&target_isr, &target_replicas);
        if leader != state.leader {
            change.leader = LeaderChange::To(leader);
            if unclean {
                change.isr = Some(vec![leader]);
                if state.leader_recovery_state != LeaderRecoveryState::Recovering {
                    change.leader_recovery_state = Some(LeaderRecoveryState::Recovering);
                }
            }
        }

        // Removing replicas forces a leader epoch bump.
        if change.leader == LeaderChange::NoChange
            && !contains_all(&target_replicas, &state.replicas)
        {
            change.leader = LeaderChange::To(state.leader);
        }

        // Never write an empty ISR; an unclean election has already set it.
        if change.isr.is_none() && !target_isr.is_empty() && target_isr != state.isr {
            change.isr = Some(target_isr);
        }

        if self.bump_leader_epoch_on_isr_shrink
            && change.leader == LeaderChange::NoChange
            && change
                .isr
                .as_ref()
                .is_some_and(|isr| !contains_all(isr, &state.isr))
        {
            change.leader = LeaderChange::To(state.leader);
        }

        if !target_replicas.is_empty() && target_replicas != state.replicas {
            change.replicas = Some(target_replicas);
        }

        if change.leader_recovery_state.is_none()
            && let Some(target) = self.target_leader_recovery_state
            && target != state.leader_recovery_state
        {
            change.leader_recovery_state = Some(target);
        }

        (!change.is_no_op()).then_some(change)
    }

    /// The elected leader (possibly [`NO_LEADER`]) and whether the election was unclean.
    fn elect(&self, target_isr: &[i32], target_replicas: &[i32]) -> (i32, bool) {
        let acceptable = self.is_acceptable_leader;
        let valid = |broker: i32| broker >= 0 && target_isr.contains(&broker) && acceptable(broker);
        let current = self.state.leader;
        match self.election {
            Election::Preferred => {
                if let Some(&preferred) = target_replicas.first()
                    && valid(preferred)
                {
                    return (preferred, false);
                }
                if valid(current) {
                    return (current, false);
                }
                let next = target_replicas.iter().skip(1).copied().find(|&r| valid(r));
                (next.unwrap_or(NO_LEADER), false)
            }
            Election::Online | Election::Unclean => {
                if valid(current) {
                    return (current, false);
                }
                if let Some(leader) = target_replicas.iter().copied().find(|&r| valid(r)) {
                    return (leader, false);
                }
                if self.election == Election::Unclean
                    && let Some(leader) = target_replicas.iter().copied().find(|&r| acceptable(r))
                {
                    return (leader, true);
                }
                (NO_LEADER, false)
            }
        }
    }
}

fn contains_all(set: &[i32], members: &[i32]) -> bool {
    members.iter().all(|m| set.contains(m))
}

fn without(list: &[i32], broker: i32) -> Vec<i32> {
    list.iter().copied().filter(|&b| b != broker).collect()
}

/// A fenced (or unregistering) broker leaves the ISR and, if it led, leadership moves to the
/// next acceptable ISR member in replica order. If it was the last ISR member it stays in the
/// ISR and the leader becomes -1.
pub fn fence_broker(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    remove_from_isr(state, broker, is_acceptable_leader)
}

/// A broker entering controlled shutdown leaves the ISR and gives up leadership, exactly as
/// when fenced; the broker itself is never acceptable as the new leader.
pub fn controlled_shutdown_move(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    remove_from_isr(state, broker, is_acceptable_leader)
}

fn remove_from_isr(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    let acceptable = |b: i32| b != broker && is_acceptable_leader(b);
    PartitionChangeBuilder::new(state, &acceptable)
        .target_isr(without(&state.isr, broker))
        .build()
}

/// Online election for a leaderless partition (after a broker is unfenced); `None` when the
/// partition has a leader or no ISR member is acceptable.
pub fn elect_leaderless(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    if state.leader != NO_LEADER {
        return None;
    }
    PartitionChangeBuilder::new(state, is_acceptable_leader).build()
}

/// Same as [`elect_leaderless`]: unfencing a broker makes leaderless partitions electable.
pub fn unfence_broker(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    elect_leaderless(state, is_acceptable_leader)
}

/// Moves leadership to the preferred (first) replica if it is acceptable and in the ISR;
/// `None` if it already leads or cannot.
pub fn preferred_election(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    PartitionChangeBuilder::new(state, is_acceptable_leader)
        .election(Election::Preferred)
        .build()
}

/// Unclean election for a leaderless partition whose ISR has no acceptable member.
pub fn unclean_election(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionChange> {
    PartitionChangeBuilder::new(state, is_acceptable_leader)
        .election(Election::Unclean)
        .build()
}

#[cfg(test)]
mod tests;
