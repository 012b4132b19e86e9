//! What this broker is for one partition, as an explicit type: the leader (with the ISR the
//! controller committed, the ISR change in flight, and each follower's progress) or a follower
//! (of a leader, in a leader epoch). Roles change only on a new leader epoch or partition
//! epoch from the metadata image or an AlterPartition answer.
//!
//! Sans-IO: time is an argument (wall-clock milliseconds), so every rule is a table test.
//!
//! Rules, as Kafka's `Partition` applies them:
//! - **High watermark** = the smallest log end offset over the *maximal* ISR (the committed ISR
//!   joined with a pending change), the leader's own included; it waits until every member has
//!   fetched at least once in this leader epoch.
//! - **Caught up**: a follower whose fetch reached the leader's log end offset at that moment
//!   is caught up now; one that reached the end the leader had at its previous fetch was
//!   caught up at that previous fetch.
//! - **Shrink**: an ISR member (other than the leader) not caught up for longer than
//!   `replica.lag.time.max.ms` leaves the ISR.
//! - **Expand**: a follower outside the ISR joins once its log end offset reaches both the high
//!   watermark and the first offset of the current leader epoch.
//! - One ISR change at a time: a new proposal waits until the pending one is answered.

use std::collections::BTreeMap;

use crate::metadata::partition_registration::PartitionRegistration;

/// A follower's progress as the leader sees it from its fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset (its latest fetch offset); -1 until it fetches in this
    /// leader epoch.
    pub log_end_offset: i64,
    /// When the follower was last known to be caught up with the leader (ms).
    pub last_caught_up_ms: i64,
    /// When it last fetched, and the leader's log end offset at that moment.
    pub last_fetch_ms: i64,
    pub last_fetch_leader_end: i64,
}

/// An ISR change the leader asks the controller to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// Members leaving (shrink) or joining (expand), for logs and metrics.
    pub kind: IsrChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsrChangeKind {
    Shrink,
    Expand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    pub node_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The replica set (preference order).
    pub replicas: Vec<i32>,
    /// The ISR the controller committed.
    pub isr: Vec<i32>,
    /// The change sent to the controller and not yet answered.
    pub pending: Option<IsrChange>,
    /// The log end offset when this leader epoch began: a follower must reach it to join.
    pub epoch_start_offset: i64,
    /// No new proposal before this time (ms) after the controller refused one.
    pub retry_after_ms: i64,
    pub followers: BTreeMap<i32, FollowerProgress>,
}

impl LeaderState {
    /// A new leadership: followers in the ISR count as caught up now (they were in sync with
    /// the previous leader); the others never were.
    pub fn new(node_id: i32, reg: &PartitionRegistration, log_end: i64, now_ms: i64) -> Self {
        let followers = reg
            .replicas
            .iter()
            .filter(|r| **r != node_id)
            .map(|r| {
                let caught_up = if reg.isr.contains(r) { now_ms } else { 0 };
                (
                    *r,
                    FollowerProgress {
                        log_end_offset: -1,
                        last_caught_up_ms: caught_up,
                        last_fetch_ms: 0,
                        last_fetch_leader_end: -1,
                    },
                )
            })
            .collect();
        LeaderState {
            node_id,
            leader_epoch: reg.leader_epoch,
            partition_epoch: reg.partition_epoch,
            replicas: reg.replicas.clone(),
            isr: reg.isr.clone(),
            pending: None,
            epoch_start_offset: log_end,
            retry_after_ms: 0,
            followers,
        }
    }

    /// A newer partition epoch in the same leader epoch (an ISR or replica-set change the
    /// controller committed): adopt it and drop a pending change it answers or overtakes.
    pub fn committed(&mut self, reg: &PartitionRegistration) {
        if reg.partition_epoch <= self.partition_epoch {
            return;
        }
        self.partition_epoch = reg.partition_epoch;
        self.isr = reg.isr.clone();
        self.pending = None;
        if reg.replicas != self.replicas {
            self.replicas = reg.replicas.clone();
            let node_id = self.node_id;
            self.followers.retain(|r, _| reg.replicas.contains(r));
            for r in reg.replicas.iter().filter(|r| **r != node_id) {
                self.followers.entry(*r).or_insert(FollowerProgress {
                    log_end_offset: -1,
                    last_caught_up_ms: 0,
                    last_fetch_ms: 0,
                    last_fetch_leader_end: -1,
                });
            }
        }
    }

    /// The committed ISR joined with the pending change: the members the high watermark and
    /// acks=all wait for.
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut out = self.isr.clone();
        if let Some(p) = &self.pending {
            for r in &p.new_isr {
                if !out.contains(r) {
                    out.push(*r);
                }
            }
        }
        out
    }

    /// The high watermark the maximal ISR allows, given the leader's log end offset; `None`
    /// while a member has not fetched in this leader epoch.
    pub fn high_watermark(&self, leader_end: i64) -> Option<i64> {
        let mut hwm = leader_end;
        for r in self.maximal_isr() {
            if r == self.node_id {
                continue;
            }
            let leo = self.followers.get(&r).map_or(-1, |f| f.log_end_offset);
            if leo < 0 {
                return None;
            }
            hwm = hwm.min(leo);
        }
        Some(hwm)
    }

    /// Records a fetch by `replica` from `fetch_offset` (its log end offset). Returns an ISR
    /// expansion to propose, if the fetch made it eligible.
    pub fn on_follower_fetch(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        leader_end: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> Option<IsrChange> {
        self.record_fetch(replica, fetch_offset, leader_end, now_ms);
        self.expansion(replica, high_watermark, now_ms)
    }

    /// Records a fetch's progress only (a replica the metadata does not allow into the ISR
    /// yet: fenced, shutting down, or fetching with a stale broker epoch, KIP-903).
    pub fn record_fetch(&mut self, replica: i32, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let Some(f) = self.followers.get_mut(&replica) else {
            return;
        };
        if fetch_offset >= leader_end {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_end && f.last_fetch_leader_end >= 0 {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_end = leader_end;
    }

    /// The expansion to propose for `replica`, if it reached the high watermark and the epoch
    /// start offset.
    pub fn expansion(
        &mut self,
        replica: i32,
        high_watermark: i64,
        now_ms: i64,
    ) -> Option<IsrChange> {
        if self.pending.is_some() || self.isr.contains(&replica) || now_ms < self.retry_after_ms {
            return None;
        }
        let leo = self.followers.get(&replica)?.log_end_offset;
        if leo < high_watermark || leo < self.epoch_start_offset {
            return None;
        }
        let mut new_isr = self.isr.clone();
        new_isr.push(replica);
        Some(self.propose(new_isr, IsrChangeKind::Expand))
    }

    /// The ISR shrink due at `now_ms`, if a member fell behind for longer than `max_lag_ms`.
    pub fn shrink(&mut self, leader_end: i64, now_ms: i64, max_lag_ms: i64) -> Option<IsrChange> {
        if self.pending.is_some() || now_ms < self.retry_after_ms {
            return None;
        }
        let out_of_sync: Vec<i32> = self
            .isr
            .iter()
            .filter(|r| **r != self.node_id)
            .filter(|r| {
                self.followers.get(r).is_some_and(|f| {
                    f.log_end_offset != leader_end && now_ms - f.last_caught_up_ms > max_lag_ms
                })
            })
            .copied()
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let new_isr = self
            .isr
            .iter()
            .filter(|r| !out_of_sync.contains(r))
            .copied()
            .collect();
        Some(self.propose(new_isr, IsrChangeKind::Shrink))
    }

    fn propose(&mut self, new_isr: Vec<i32>, kind: IsrChangeKind) -> IsrChange {
        let change = IsrChange {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
            kind,
        };
        self.pending = Some(change.clone());
        change
    }

    /// The controller refused the pending change: a check after `retry_after_ms` proposes
    /// again.
    pub fn abandon_pending(&mut self, retry_after_ms: i64) {
        self.pending = None;
        self.retry_after_ms = retry_after_ms;
    }

    /// The controller committed `isr` at `partition_epoch` (AlterPartition answer).
    pub fn isr_committed(&mut self, leader_epoch: i32, isr: Vec<i32>, partition_epoch: i32) {
        if leader_epoch != self.leader_epoch || partition_epoch <= self.partition_epoch {
            self.pending = None;
            return;
        }
        self.isr = isr;
        self.partition_epoch = partition_epoch;
        self.pending = None;
    }
}

/// This broker follows `leader` (-1: the partition has no leader now) in `leader_epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionRole {
    Leader(LeaderState),
    Follower(FollowerState),
}

impl PartitionRole {
    /// Before the first metadata image reaches the partition.
    pub const UNASSIGNED: PartitionRole = PartitionRole::Follower(FollowerState {
        leader: -1,
        leader_epoch: -1,
        partition_epoch: -1,
    });

    pub fn leader_epoch(&self) -> i32 {
        match self {
            PartitionRole::Leader(l) => l.leader_epoch,
            PartitionRole::Follower(f) => f.leader_epoch,
        }
    }

    pub fn partition_epoch(&self) -> i32 {
        match self {
            PartitionRole::Leader(l) => l.partition_epoch,
            PartitionRole::Follower(f) => f.partition_epoch,
        }
    }

    pub fn as_leader(&self) -> Option<&LeaderState> {
        match self {
            PartitionRole::Leader(l) => Some(l),
            PartitionRole::Follower(_) => None,
        }
    }

    pub fn as_leader_mut(&mut self) -> Option<&mut LeaderState> {
        match self {
            PartitionRole::Leader(l) => Some(l),
            PartitionRole::Follower(_) => None,
        }
    }
}

/// What applying a registration did to the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameLeader {
        leader_epoch: i32,
    },
    BecameFollower {
        leader: i32,
        leader_epoch: i32,
    },
    /// Same leader epoch: at most the ISR or replica set changed.
    Unchanged,
}

/// The role after `reg` reaches a partition in `role` whose log ends at `log_end`. A stale
/// registration (an older leader epoch, or an older partition epoch) changes nothing.
pub fn next_role(
    role: &mut PartitionRole,
    node_id: i32,
    reg: &PartitionRegistration,
    log_end: i64,
    now_ms: i64,
) -> Transition {
    let (epoch, pepoch) = (role.leader_epoch(), role.partition_epoch());
    if reg.leader_epoch < epoch || (reg.leader_epoch == epoch && reg.partition_epoch < pepoch) {
        return Transition::Unchanged;
    }
    if reg.leader_epoch == epoch && epoch >= 0 {
        match role {
            PartitionRole::Leader(l) if reg.leader == node_id => {
                l.committed(reg);
                return Transition::Unchanged;
            }
            PartitionRole::Follower(f) if reg.leader == f.leader => {
                f.partition_epoch = reg.partition_epoch;
                return Transition::Unchanged;
            }
            // The same epoch with another leader cannot come from one controller; take it as
            // a new leadership below.
            _ => {}
        }
    }
    if reg.leader == node_id {
        *role = PartitionRole::Leader(LeaderState::new(node_id, reg, log_end, now_ms));
        Transition::BecameLeader {
            leader_epoch: reg.leader_epoch,
        }
    } else {
        *role = PartitionRole::Follower(FollowerState {
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
            partition_epoch: reg.partition_epoch,
        });
        Transition::BecameFollower {
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A registration of replicas 1, 2, 3 (also used by the partition tests).
    pub(crate) fn reg(leader: i32, epoch: i32, pepoch: i32, isr: &[i32]) -> PartitionRegistration {
        PartitionRegistration {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            partition_epoch: pepoch,
            ..Default::default()
        }
    }

    fn leader(isr: &[i32], now: i64) -> LeaderState {
        LeaderState::new(1, &reg(1, 5, 7, isr), 100, now)
    }

    #[test]
    fn the_high_watermark_waits_for_every_isr_member_to_fetch() {
        let mut l = leader(&[1, 2, 3], 0);
        assert_eq!(l.high_watermark(150), None);
        l.on_follower_fetch(2, 120, 150, 100, 10);
        assert_eq!(l.high_watermark(150), None, "replica 3 has not fetched");
        l.on_follower_fetch(3, 140, 150, 100, 10);
        assert_eq!(l.high_watermark(150), Some(120));
        l.on_follower_fetch(2, 150, 150, 120, 20);
        assert_eq!(l.high_watermark(150), Some(140));
    }

    #[test]
    fn the_high_watermark_ignores_replicas_outside_the_isr_but_counts_a_pending_expansion() {
        let mut l = leader(&[1, 2], 0);
        l.on_follower_fetch(2, 150, 150, 100, 10);
        assert_eq!(
            l.high_watermark(150),
            Some(150),
            "replica 3 is not in the ISR"
        );
        // Replica 3 reaches the high watermark: it is proposed, and counted from then on.
        let change = l
            .on_follower_fetch(3, 150, 160, 150, 20)
            .expect("expansion");
        assert_eq!(change.new_isr, vec![1, 2, 3]);
        assert_eq!(change.kind, IsrChangeKind::Expand);
        assert_eq!((change.leader_epoch, change.partition_epoch), (5, 7));
        assert_eq!(l.high_watermark(160), Some(150));
    }

    #[test]
    fn a_follower_joins_only_after_reaching_the_high_watermark_and_the_epoch_start() {
        let mut l = leader(&[1, 2], 0);
        // Below the high watermark.
        assert!(l.on_follower_fetch(3, 90, 150, 95, 10).is_none());
        // At the high watermark but below the epoch start offset (100).
        assert!(l.on_follower_fetch(3, 95, 150, 95, 20).is_none());
        assert!(l.on_follower_fetch(3, 100, 150, 100, 30).is_some());
        // One change at a time.
        l.followers.get_mut(&2).unwrap().log_end_offset = 150;
        assert!(l.shrink(150, 1_000_000, 10).is_none());
    }

    #[test]
    fn an_ineligible_replica_only_records_its_progress() {
        let mut l = leader(&[1, 2], 0);
        l.record_fetch(3, 150, 150, 10);
        assert_eq!(l.followers[&3].log_end_offset, 150);
        assert!(l.pending.is_none(), "not proposed");
        assert!(l.expansion(3, 100, 20).is_some(), "proposed once eligible");
    }

    #[test]
    fn a_member_that_stops_catching_up_is_shrunk_after_the_lag_time() {
        let max_lag = 30_000;
        let mut l = leader(&[1, 2, 3], 0);
        // Replica 2 keeps fetching the end; replica 3 stops after its first fetch.
        l.on_follower_fetch(3, 100, 100, 100, 1_000);
        for t in (2_000..=40_000).step_by(1_000) {
            l.on_follower_fetch(2, 100 + t / 1_000, 100 + t / 1_000, 100, t);
        }
        assert!(
            l.shrink(140, 30_000, max_lag).is_none(),
            "within the lag time"
        );
        let change = l.shrink(140, 31_001, max_lag).expect("shrink");
        assert_eq!(change.new_isr, vec![1, 2]);
        assert_eq!(change.kind, IsrChangeKind::Shrink);
        // While pending, the high watermark still waits for replica 3 (maximal ISR).
        assert_eq!(l.high_watermark(140), Some(100));
        l.isr_committed(5, vec![1, 2], 8);
        assert_eq!(l.high_watermark(140), Some(140));
        assert_eq!(l.partition_epoch, 8);
    }

    #[test]
    fn a_follower_behind_but_reaching_the_previous_end_counts_as_caught_up_then() {
        let mut l = leader(&[1, 2], 0);
        l.on_follower_fetch(2, 100, 110, 100, 1_000);
        // Reaches 110 (the leader's end at its previous fetch) while the leader moved on.
        l.on_follower_fetch(2, 110, 120, 100, 2_000);
        assert_eq!(l.followers[&2].last_caught_up_ms, 1_000);
        assert!(l.shrink(120, 1_000 + 30_000, 30_000).is_none());
        assert!(l.shrink(120, 1_000 + 30_001, 30_000).is_some());
    }

    #[test]
    fn a_follower_at_the_leader_end_is_never_shrunk() {
        let mut l = leader(&[1, 2], 0);
        l.on_follower_fetch(2, 100, 100, 100, 0);
        assert!(l.shrink(100, 1_000_000, 30_000).is_none(), "idle partition");
    }

    #[test]
    fn stale_or_refused_answers_leave_the_committed_isr() {
        let mut l = leader(&[1, 2], 0);
        l.on_follower_fetch(3, 100, 100, 100, 0).expect("expansion");
        l.isr_committed(4, vec![1, 2, 3], 9);
        assert_eq!(l.isr, vec![1, 2], "an answer for an older leader epoch");
        assert!(l.pending.is_none());
        l.on_follower_fetch(3, 100, 100, 100, 1)
            .expect("proposed again");
        l.abandon_pending(500);
        assert!(l.pending.is_none());
        assert!(
            l.on_follower_fetch(3, 100, 100, 100, 499).is_none(),
            "backing off"
        );
        assert!(l.on_follower_fetch(3, 100, 100, 100, 500).is_some());
        l.abandon_pending(0);
        assert_eq!(l.isr, vec![1, 2]);
    }

    #[test]
    fn roles_change_only_on_a_new_leader_or_partition_epoch() {
        let mut role = PartitionRole::UNASSIGNED;
        assert_eq!(
            next_role(&mut role, 2, &reg(1, 5, 7, &[1, 2, 3]), 0, 0),
            Transition::BecameFollower {
                leader: 1,
                leader_epoch: 5
            }
        );
        // A stale registration changes nothing.
        assert_eq!(
            next_role(&mut role, 2, &reg(2, 4, 9, &[2]), 0, 0),
            Transition::Unchanged
        );
        assert_eq!(role.leader_epoch(), 5);
        // An ISR change in the same epoch.
        assert_eq!(
            next_role(&mut role, 2, &reg(1, 5, 8, &[1, 2]), 0, 0),
            Transition::Unchanged
        );
        assert_eq!(role.partition_epoch(), 8);
        assert_eq!(
            next_role(&mut role, 2, &reg(2, 6, 9, &[2, 3]), 40, 0),
            Transition::BecameLeader { leader_epoch: 6 }
        );
        let l = role.as_leader().unwrap();
        assert_eq!((l.epoch_start_offset, l.isr.clone()), (40, vec![2, 3]));
        // The leader adopts a newer ISR from the image and forgets its pending change.
        let l = role.as_leader_mut().unwrap();
        l.on_follower_fetch(1, 40, 40, 40, 0).expect("expansion");
        assert_eq!(
            next_role(&mut role, 2, &reg(2, 6, 10, &[1, 2, 3]), 40, 0),
            Transition::Unchanged
        );
        let l = role.as_leader().unwrap();
        assert_eq!((l.isr.clone(), l.pending.clone()), (vec![1, 2, 3], None));
        // Leadership moves away.
        assert_eq!(
            next_role(&mut role, 2, &reg(3, 7, 11, &[2, 3]), 40, 0),
            Transition::BecameFollower {
                leader: 3,
                leader_epoch: 7
            }
        );
    }
}
