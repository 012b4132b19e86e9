//! Partition state changes: leader election, ISR updates and leader-epoch rules.
//!
//! [`PartitionChangeBuilder`] computes the `PartitionChangeRecord` the controller should write
//! for one partition, or `None` when nothing would change. [`PartitionState::apply`] is the
//! replay rule for such a change. The free functions ([`fence_broker`],
//! [`controlled_shutdown_move`], [`elect_leaderless`], [`preferred_election`],
//! [`unclean_election`], [`unclean_shutdown`]) are the common controller operations expressed
//! with the builder.
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
//!
//! Eligible leader replicas (KIP-966), when enabled
//! ([`PartitionChangeBuilder::eligible_leader_replicas`], ADR 0013):
//! - While the target ISR is smaller than the topic's `min.insync.replicas`, the members that
//!   leave the ISR join the ELR (ELR = current ELR ∪ current ISR − target ISR): acks=all
//!   writes stop below min ISR, so they hold every record up to the high watermark. Replicas
//!   that restarted uncleanly ([`PartitionChangeBuilder::unclean_shutdown_replicas`]) never
//!   enter it and leave it. Once the ISR reaches min ISR again the ELR is cleared.
//! - The ISR may become empty (leader -1). With an empty ISR, an acceptable ELR member is a
//!   clean leader: it becomes the ISR alone and leaves the ELR.
//! - The last known leader: when the ISR first becomes empty, `last_known_elr` = [the leader
//!   it had]; it is cleared once the partition has a leader again. With ISR and ELR both empty,
//!   that last known leader is elected if acceptable — marked RECOVERING like an unclean
//!   election, since it may have restarted without its last records.
//! - An unclean election clears the ELR.

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
    /// Eligible leader replicas (KIP-966).
    pub elr: Vec<i32>,
    /// The last known leader when the ISR became empty (KIP-966).
    pub last_known_elr: Vec<i32>,
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
    pub elr: Option<Vec<i32>>,
    pub last_known_elr: Option<Vec<i32>>,
}

impl PartitionChange {
    /// A change of nothing: every field "unchanged".
    pub fn none() -> PartitionChange {
        PartitionChange {
            isr: None,
            leader: LeaderChange::NoChange,
            replicas: None,
            leader_recovery_state: None,
            elr: None,
            last_known_elr: None,
        }
    }

    /// True when the record would change nothing.
    pub fn is_no_op(&self) -> bool {
        *self == PartitionChange::none()
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
        if let Some(elr) = &change.elr {
            next.elr = elr.clone();
        }
        if let Some(last) = &change.last_known_elr {
            next.last_known_elr = last.clone();
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
    /// `Some(min.insync.replicas)` when eligible leader replicas are enabled.
    elr_min_isr: Option<usize>,
    unclean_shutdown_replicas: Vec<i32>,
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
            elr_min_isr: None,
            unclean_shutdown_replicas: Vec::new(),
        }
    }

    /// Enables eligible leader replicas for a topic whose `min.insync.replicas` is `min_isr`
    /// (`None` keeps them off: the ELR fields are cleared if set).
    pub fn eligible_leader_replicas(mut self, min_isr: Option<usize>) -> Self {
        self.elr_min_isr = min_isr;
        self
    }

    /// Replicas whose broker restarted without a clean shutdown: they may miss records below
    /// the high watermark, so they leave (and never enter) the ELR.
    pub fn unclean_shutdown_replicas(mut self, brokers: &[i32]) -> Self {
        self.unclean_shutdown_replicas = brokers.to_vec();
        self
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
        let mut target_isr = self.target_isr.clone().unwrap_or_else(|| state.isr.clone());
        let target_replicas = self
            .target_replicas
            .clone()
            .unwrap_or_else(|| state.replicas.clone());
        let elr_enabled = self.elr_min_isr.is_some();
        let mut target_elr = self.target_elr(&target_isr);

        let mut change = PartitionChange::none();

        let election = self.elect(&target_isr, &target_elr, &target_replicas);
        let mut clean = true;
        if election.leader != state.leader {
            change.leader = LeaderChange::To(election.leader);
            if target_elr.contains(&election.leader) {
                // A clean leader from the ELR: it alone is the ISR.
                target_isr = vec![election.leader];
                target_elr.retain(|&b| b != election.leader);
            } else if election.unclean {
                clean = false;
                change.isr = Some(vec![election.leader]);
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

        // An unclean election (or ELR turned off) clears the ELR.
        if !clean || !elr_enabled {
            target_elr.clear();
        }
        if target_elr != state.elr {
            change.elr = Some(target_elr);
        }

        // Without ELR the ISR is never written empty; an unclean election has already set it.
        if change.isr.is_none()
            && (!target_isr.is_empty() || elr_enabled)
            && target_isr != state.isr
        {
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

        change.last_known_elr = self.last_known_leader(&change, elr_enabled);

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

    /// The ELR before the election: empty when ELR is off or the target ISR is at min ISR;
    /// below it, the current ELR and ISR members that are not in the target ISR, without
    /// replicas that restarted uncleanly.
    fn target_elr(&self, target_isr: &[i32]) -> Vec<i32> {
        let state = self.state;
        let Some(min_isr) = self.elr_min_isr else {
            // Off: no replica is eligible through the ELR (a stale one is cleared).
            return Vec::new();
        };
        if target_isr.len() >= min_isr {
            return Vec::new();
        }
        let mut elr = Vec::new();
        for &b in state.elr.iter().chain(&state.isr) {
            if !target_isr.contains(&b)
                && !self.unclean_shutdown_replicas.contains(&b)
                && !elr.contains(&b)
            {
                elr.push(b);
            }
        }
        elr
    }

    /// The `last_known_elr` field to write: [the leader] when the ISR first becomes empty,
    /// emptied when the partition has (or keeps) a leader, unchanged otherwise.
    fn last_known_leader(&self, change: &PartitionChange, elr_enabled: bool) -> Option<Vec<i32>> {
        let state = self.state;
        if !elr_enabled {
            return (!state.last_known_elr.is_empty()).then(Vec::new);
        }
        let isr_emptied = change.isr.as_ref().is_some_and(|isr| isr.is_empty());
        if isr_emptied && state.last_known_elr != [state.leader] && state.leader != NO_LEADER {
            return Some(vec![state.leader]);
        }
        let will_lead = match change.leader {
            LeaderChange::To(l) => l != NO_LEADER,
            LeaderChange::NoChange => state.leader != NO_LEADER,
        };
        (will_lead && !isr_emptied && !state.last_known_elr.is_empty()).then(Vec::new)
    }

    /// The elected leader (possibly [`NO_LEADER`]) and whether the election was unclean.
    fn elect(&self, target_isr: &[i32], target_elr: &[i32], target_replicas: &[i32]) -> Elected {
        let acceptable = self.is_acceptable_leader;
        // A clean leader is in the target ISR, or in the ELR when the ISR is empty.
        let valid = |broker: i32| {
            broker >= 0
                && (target_isr.contains(&broker)
                    || (target_isr.is_empty() && target_elr.contains(&broker)))
                && acceptable(broker)
        };
        let clean = |leader: i32| Elected {
            leader,
            unclean: false,
        };
        let current = self.state.leader;
        let first_valid = |skip: usize| {
            target_replicas
                .iter()
                .skip(skip)
                .copied()
                .find(|&r| valid(r))
        };
        let found = match self.election {
            Election::Preferred => target_replicas
                .first()
                .copied()
                .filter(|&p| valid(p))
                .or_else(|| valid(current).then_some(current))
                .or_else(|| first_valid(1)),
            Election::Online | Election::Unclean => {
                valid(current).then_some(current).or_else(|| first_valid(0))
            }
        };
        if let Some(leader) = found {
            return clean(leader);
        }
        if let Some(last) = self.electable_last_known_leader(target_isr, target_elr) {
            return Elected {
                leader: last,
                unclean: true,
            };
        }
        if self.election == Election::Unclean
            && let Some(leader) = target_replicas.iter().copied().find(|&r| acceptable(r))
        {
            return Elected {
                leader,
                unclean: true,
            };
        }
        clean(NO_LEADER)
    }

    /// With ELR, ISR and ELR both empty: the last known leader, if it may lead.
    fn electable_last_known_leader(&self, target_isr: &[i32], target_elr: &[i32]) -> Option<i32> {
        if self.elr_min_isr.is_none() || !target_isr.is_empty() || !target_elr.is_empty() {
            return None;
        }
        match self.state.last_known_elr.as_slice() {
            [last] if (self.is_acceptable_leader)(*last) => Some(*last),
            _ => None,
        }
    }
}

/// The outcome of an election.
struct Elected {
    leader: i32,
    /// Not from the ISR or ELR: RECOVERING, may have lost committed records.
    unclean: bool,
}

fn contains_all(set: &[i32], members: &[i32]) -> bool {
    members.iter().all(|m| set.contains(m))
}

fn without(list: &[i32], broker: i32) -> Vec<i32> {
    list.iter().copied().filter(|&b| b != broker).collect()
}

/// A fenced (or unregistering) broker leaves the ISR and, if it led, leadership moves to the
/// next acceptable ISR member in replica order. If it was the last ISR member it stays in the
/// ISR and the leader becomes -1 — unless eligible leader replicas are on (`elr_min_isr`, the
/// topic's `min.insync.replicas`): then it joins the ELR, the ISR may become empty and an
/// acceptable ELR member may lead.
pub fn fence_broker(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    remove_from_isr(state, broker, is_acceptable_leader, elr_min_isr)
}

/// A broker entering controlled shutdown leaves the ISR and gives up leadership, exactly as
/// when fenced; the broker itself is never acceptable as the new leader.
pub fn controlled_shutdown_move(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    remove_from_isr(state, broker, is_acceptable_leader, elr_min_isr)
}

fn remove_from_isr(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    let acceptable = |b: i32| b != broker && is_acceptable_leader(b);
    PartitionChangeBuilder::new(state, &acceptable)
        .target_isr(without(&state.isr, broker))
        .eligible_leader_replicas(elr_min_isr)
        .build()
}

/// Online election for a leaderless partition (after a broker is unfenced): from the ISR, or
/// from the ELR when the ISR is empty; `None` when the partition has a leader or nobody is
/// electable.
pub fn elect_leaderless(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    if state.leader != NO_LEADER {
        return None;
    }
    PartitionChangeBuilder::new(state, is_acceptable_leader)
        .eligible_leader_replicas(elr_min_isr)
        .build()
}

/// Same as [`elect_leaderless`]: unfencing a broker makes leaderless partitions electable.
pub fn unfence_broker(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    elect_leaderless(state, is_acceptable_leader, elr_min_isr)
}

/// Moves leadership to the preferred (first) replica if it is acceptable and in the ISR;
/// `None` if it already leads or cannot.
pub fn preferred_election(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    PartitionChangeBuilder::new(state, is_acceptable_leader)
        .election(Election::Preferred)
        .eligible_leader_replicas(elr_min_isr)
        .build()
}

/// Unclean election for a leaderless partition whose ISR (and ELR) has no acceptable member.
pub fn unclean_election(
    state: &PartitionState,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    PartitionChangeBuilder::new(state, is_acceptable_leader)
        .election(Election::Unclean)
        .eligible_leader_replicas(elr_min_isr)
        .build()
}

/// A broker that restarted without a clean shutdown (a new incarnation whose registration
/// does not carry its previous broker epoch) may miss records below the high watermark: it
/// leaves the ISR and the ELR of the partition. `None` when it is in neither.
pub fn unclean_shutdown(
    state: &PartitionState,
    broker: i32,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
    elr_min_isr: Option<usize>,
) -> Option<PartitionChange> {
    if !state.isr.contains(&broker) && !state.elr.contains(&broker) {
        return None;
    }
    let acceptable = |b: i32| b != broker && is_acceptable_leader(b);
    PartitionChangeBuilder::new(state, &acceptable)
        .target_isr(without(&state.isr, broker))
        .unclean_shutdown_replicas(&[broker])
        .eligible_leader_replicas(elr_min_isr)
        .build()
}

#[cfg(test)]
mod tests;
