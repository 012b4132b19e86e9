//! State transitions (the table in `mod.rs`) and election bookkeeping.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::raft::core::RaftCore;
use crate::raft::log::{BatchPayload, ControlRecord, RaftLog};
use crate::raft::messages::{ErrorKind, Response};
use crate::raft::state::{
    FollowerState, LeaderState, Nominee, ReplicaProgress, ResignedState, Role,
};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

impl<L: RaftLog> RaftCore<L> {
    pub(crate) fn set_election_state(
        &mut self,
        epoch: Epoch,
        leader: Option<NodeId>,
        voted: Option<NodeId>,
    ) {
        assert!(epoch >= self.epoch, "epoch must never decrease");
        if (epoch, leader, voted) != (self.epoch, self.leader_id, self.voted_id) {
            self.epoch = epoch;
            self.leader_id = leader;
            self.voted_id = voted;
            self.persist_pending = true;
        }
    }

    pub(crate) fn record_vote(&mut self, candidate: NodeId) {
        let (epoch, leader) = (self.epoch, self.leader_id);
        self.set_election_state(epoch, leader, Some(candidate));
    }

    pub(crate) fn finish_election(&mut self, now: MonoTime) {
        if let Some(start) = self.election_started_at.take() {
            self.last_election_duration = Some(now.since(start));
        }
    }

    pub(crate) fn leave_role(&mut self) {
        // Answers to requests of the old role are of no use to the new one (and would block
        // the new role's requests to the same peers until they time out).
        self.inflight.clear();
        if let Role::Leader(l) = &mut self.role {
            let parked = std::mem::take(&mut l.parked);
            for p in parked {
                let body = self.fetch_error_response(ErrorKind::NotLeaderOrFollower);
                self.send_response(p.from, p.correlation_id, Response::Fetch(body));
            }
        }
        if let Role::Follower(f) = &self.role
            && f.snapshot.is_some()
        {
            self.log.abort_snapshot_download();
        }
    }

    // ----- transitions (see the table in mod.rs) -----

    /// To Unattached in `epoch` (a higher epoch clears leader and vote; the same epoch keeps
    /// them). The election timer is kept when the node was already waiting for an election.
    pub(crate) fn become_unattached(&mut self, now: MonoTime, epoch: Epoch) {
        let keep = match &self.role {
            Role::Unattached { election_deadline } => Some(*election_deadline),
            Role::Prospective(n) | Role::Candidate(n) => Some(n.deadline),
            _ => None,
        };
        let was_leading_or_following = matches!(self.role, Role::Leader(_) | Role::Follower(_));
        self.leave_role();
        if epoch > self.epoch {
            self.set_election_state(epoch, None, None);
        }
        let election_deadline = match keep {
            Some(d) if d > now => d,
            _ => self.random_election_deadline(now),
        };
        self.role = Role::Unattached { election_deadline };
        if was_leading_or_following && self.is_voter() {
            self.election_started_at.get_or_insert(now);
        }
    }

    /// To Follower of `leader` in `epoch` (the vote is kept within the same epoch).
    pub(crate) fn become_follower(&mut self, now: MonoTime, epoch: Epoch, leader: NodeId) {
        assert_ne!(leader, self.cfg.node_id, "cannot follow itself");
        self.leave_role();
        let voted = if epoch == self.epoch {
            self.voted_id
        } else {
            None
        };
        self.set_election_state(epoch, Some(leader), voted);
        self.role = Role::Follower(FollowerState {
            leader,
            fetch_deadline: now.plus(self.cfg.fetch_timeout),
            has_fetched: false,
            leader_resigned: false,
            next_fetch_at: now,
            snapshot: None,
        });
        self.finish_election(now);
    }

    /// To Prospective (memory only): pre-vote after `backoff`.
    pub(crate) fn become_prospective(&mut self, now: MonoTime, backoff: Duration, retries: u32) {
        assert!(self.is_voter(), "observers never campaign");
        let from_steady = matches!(self.role, Role::Follower(_) | Role::Leader(_));
        self.leave_role();
        let send_after = now.plus(backoff);
        let deadline = self.random_election_deadline(send_after);
        self.role = Role::Prospective(Nominee {
            granted: BTreeSet::from([self.cfg.node_id]),
            rejected: BTreeSet::new(),
            deadline,
            send_after,
            retries,
        });
        self.counters.pre_vote_rounds += 1;
        if from_steady {
            self.election_started_at = Some(now);
        } else {
            self.election_started_at.get_or_insert(now);
        }
        self.maybe_win_election(now);
    }

    /// To Candidate: bump the epoch and vote for itself (durable).
    pub(crate) fn become_candidate(&mut self, now: MonoTime, retries: u32) {
        self.leave_role();
        let me = self.cfg.node_id;
        let epoch = Epoch(self.epoch.0 + 1);
        self.set_election_state(epoch, None, Some(me));
        let deadline = self.random_election_deadline(now);
        self.role = Role::Candidate(Nominee {
            granted: BTreeSet::from([me]),
            rejected: BTreeSet::new(),
            deadline,
            send_after: now,
            retries,
        });
        self.counters.elections += 1;
        self.election_started_at.get_or_insert(now);
        self.maybe_win_election(now);
    }

    /// To Leader: persist, append the LeaderChange control batch, announce with
    /// BeginQuorumEpoch.
    pub(crate) fn become_leader(&mut self, now: MonoTime, granting: Vec<NodeId>) {
        self.leave_role();
        let me = self.cfg.node_id;
        let (epoch, voted) = (self.epoch, self.voted_id);
        self.set_election_state(epoch, Some(me), voted);
        let epoch_start_offset = self.log.end_offset();
        let batch = self.log.append_as_leader(
            epoch,
            BatchPayload::Control(vec![ControlRecord::LeaderChange {
                leader_id: me,
                voters: self.cfg.voters.clone(),
                granting_voters: granting,
            }]),
        );
        self.counters.appended_records += batch.record_count() as u64;
        self.counters.leaderships += 1;
        self.flush_pending = true;
        let replicas = self
            .cfg
            .voters
            .iter()
            .map(|v| (*v, ReplicaProgress::default()))
            .collect();
        self.role = Role::Leader(Box::new(LeaderState {
            epoch_start_offset,
            epoch_committed: false,
            replicas,
            check_quorum_deadline: now.plus(self.cfg.check_quorum_timeout()),
            fetched_voters: BTreeSet::new(),
            next_begin_epoch: now,
            parked: Vec::new(),
        }));
        self.inflight.clear();
        self.backoff.clear();
        self.finish_election(now);
        self.maybe_advance_leader_high_watermark(now);
    }

    /// To Resigned (memory only): stop accepting writes, send EndQuorumEpoch with the other
    /// voters ordered by descending fetch offset as preferred successors.
    pub(crate) fn become_resigned(&mut self, now: MonoTime) {
        let mut preferred: Vec<(Option<Offset>, NodeId)> = match &self.role {
            Role::Leader(l) => self
                .other_voters()
                .into_iter()
                .map(|v| (l.replicas.get(&v).and_then(|p| p.end_offset), v))
                .collect(),
            _ => self.other_voters().into_iter().map(|v| (None, v)).collect(),
        };
        preferred.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        self.leave_role();
        let preferred: Vec<NodeId> = preferred.into_iter().map(|(_, v)| v).collect();
        self.role = Role::Resigned(ResignedState {
            election_deadline: self.random_election_deadline(now),
            unacked: preferred.iter().copied().collect(),
            preferred,
        });
        self.inflight.clear();
    }

    /// Reacts to a leader and epoch learned from any message (Kafka `maybeTransition`).
    pub(crate) fn maybe_transition(&mut self, now: MonoTime, leader: Option<NodeId>, epoch: Epoch) {
        let me = self.cfg.node_id;
        if epoch > self.epoch {
            match leader {
                Some(l) if l != me => self.become_follower(now, epoch, l),
                _ => self.become_unattached(now, epoch),
            }
        } else if epoch == self.epoch
            && let Some(l) = leader
            && l != me
        {
            match &self.role {
                // Only a node that does not know the epoch's leader yet starts following (a
                // prospective that left its leader keeps campaigning).
                Role::Prospective(_) | Role::Candidate(_) => {
                    if self.leader_id.is_none() {
                        self.become_follower(now, epoch, l);
                    }
                }
                Role::Unattached { .. } => {
                    if self.leader_id.is_none_or(|known| known == l) {
                        self.become_follower(now, epoch, l);
                    }
                }
                // Two leaders in one epoch would be a safety violation elsewhere; the
                // simulator's SingleLeader invariant reports it. Keep the current state.
                Role::Follower(_) | Role::Leader(_) | Role::Resigned(_) => {}
            }
        }
    }

    pub(crate) fn election_lost(&self, n: &Nominee) -> bool {
        let unrecorded = self
            .cfg
            .voters
            .iter()
            .filter(|v| !n.granted.contains(v) && !n.rejected.contains(v))
            .count();
        n.granted.len() + unrecorded < self.cfg.majority()
    }

    /// A lost or timed-out pre-vote: back to following the last known leader, or Unattached.
    pub(crate) fn lose_pre_vote(&mut self, now: MonoTime) {
        let epoch = self.epoch;
        match self.leader_id {
            Some(l) if l != self.cfg.node_id => self.become_follower(now, epoch, l),
            _ => self.become_unattached(now, epoch),
        }
    }

    /// Checks a running pre-vote or election for a majority.
    pub(crate) fn maybe_win_election(&mut self, now: MonoTime) {
        let majority = self.cfg.majority();
        match &self.role {
            Role::Prospective(n) if n.granted.len() >= majority => {
                let retries = n.retries;
                self.become_candidate(now, retries);
            }
            Role::Candidate(n) if n.granted.len() >= majority => {
                let granting = n.granted.iter().copied().collect();
                self.become_leader(now, granting);
            }
            _ => {}
        }
    }
}
