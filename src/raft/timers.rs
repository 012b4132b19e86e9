//! Timers: what is due at `now`, and when the core must be ticked next.

use std::time::Duration;

use crate::raft::api::Output;
use crate::raft::core::RaftCore;
use crate::raft::log::RaftLog;
use crate::raft::messages::Request;
use crate::raft::state::Role;
use crate::types::{MonoTime, NodeId};

impl<L: RaftLog> RaftCore<L> {
    /// Every timer strictly after `now` (a timer at or before `now` was either acted on in this
    /// step or is blocked by another timer that is later, such as a backoff or an in-flight
    /// request).
    pub(crate) fn compute_next_deadline(&self, now: MonoTime) -> MonoTime {
        let mut d = MonoTime(u64::MAX);
        let mut consider = |t: MonoTime| {
            if t > now && t < d {
                d = t;
            }
        };
        for t in self.timers() {
            consider(t);
        }
        d
    }

    pub(crate) fn timers(&self) -> Vec<MonoTime> {
        let mut d = Vec::with_capacity(8);
        for inf in self.inflight.values() {
            d.push(inf.deadline);
        }
        d.extend(self.backoff.values().copied());
        match &self.role {
            Role::Unattached { election_deadline } => {
                if self.is_voter() {
                    d.push(*election_deadline);
                }
            }
            Role::Prospective(n) | Role::Candidate(n) => {
                d.push(n.deadline);
                d.push(n.send_after);
            }
            Role::Leader(l) => {
                if self.cfg.voters.len() > 1 {
                    d.push(l.check_quorum_deadline);
                    d.push(l.next_begin_epoch);
                }
                for p in &l.parked {
                    d.push(p.deadline);
                }
            }
            Role::Follower(f) => {
                d.push(f.fetch_deadline);
                if !self.inflight.contains_key(&f.leader) {
                    d.push(f.next_fetch_at);
                }
            }
            Role::Resigned(r) => {
                d.push(r.election_deadline);
            }
        }
        d
    }

    // ----- timers -----

    pub(crate) fn poll(&mut self, now: MonoTime) {
        self.expire_requests(now);
        match &self.role {
            Role::Unattached { election_deadline } => {
                if self.is_voter() && *election_deadline <= now {
                    self.counters.election_timeouts += 1;
                    if self.shutting_down {
                        // A node on its way out does not campaign.
                        let d = self.random_election_deadline(now);
                        self.role = Role::Unattached {
                            election_deadline: d,
                        };
                    } else {
                        self.become_prospective(now, Duration::ZERO, 0);
                    }
                }
            }
            Role::Prospective(n) => {
                if n.deadline <= now {
                    self.counters.election_timeouts += 1;
                    self.lose_pre_vote(now);
                }
            }
            Role::Candidate(n) => {
                if n.deadline <= now {
                    self.counters.election_timeouts += 1;
                    let retries = n.retries + 1;
                    let backoff = self.election_backoff(retries);
                    self.become_prospective(now, backoff, retries);
                }
            }
            Role::Leader(l) => {
                if self.cfg.voters.len() > 1 && l.check_quorum_deadline <= now {
                    self.counters.check_quorum_resignations += 1;
                    self.become_resigned(now);
                } else {
                    self.poll_leader(now);
                }
            }
            Role::Follower(f) => {
                if f.fetch_deadline <= now {
                    self.counters.fetch_timeouts += 1;
                    if self.is_voter() && self.shutting_down {
                        let epoch = self.epoch;
                        self.become_unattached(now, epoch);
                    } else if self.is_voter() {
                        self.become_prospective(now, Duration::ZERO, 0);
                    } else {
                        let epoch = self.epoch;
                        self.become_unattached(now, epoch);
                    }
                }
            }
            Role::Resigned(r) => {
                if r.election_deadline <= now {
                    self.counters.election_timeouts += 1;
                    if self.shutting_down {
                        let d = self.random_election_deadline(now);
                        if let Role::Resigned(r) = &mut self.role {
                            r.election_deadline = d;
                        }
                    } else {
                        self.become_prospective(now, Duration::ZERO, 0);
                    }
                }
            }
        }
        self.send_due_requests(now);
        self.report_shutdown_ready();
    }

    /// Forgets the requests whose deadline passed (counted as timeouts).
    fn expire_requests(&mut self, now: MonoTime) {
        let expired: Vec<NodeId> = self
            .inflight
            .iter()
            .filter(|(_, i)| i.deadline <= now)
            .map(|(n, _)| *n)
            .collect();
        for n in expired {
            self.inflight.remove(&n);
            self.counters.request_timeouts += 1;
        }
    }

    /// Reports `ShutdownReady` once a node that is shutting down may stop: it is not a voter,
    /// the only voter, or a follower of another leader.
    fn report_shutdown_ready(&mut self) {
        if self.shutting_down && !self.shutdown_reported {
            let remote_leader = self.leader_id.is_some_and(|l| l != self.cfg.node_id)
                && matches!(self.role, Role::Follower(_));
            if !self.is_voter() || self.cfg.voters.len() == 1 || remote_leader {
                self.shutdown_reported = true;
                self.pending.push(Output::ShutdownReady);
            }
        }
    }

    pub(crate) fn send_due_requests(&mut self, now: MonoTime) {
        match &self.role {
            Role::Prospective(n) | Role::Candidate(n) => {
                if n.send_after > now || self.election_lost(n) {
                    return;
                }
                let pre_vote = matches!(self.role, Role::Prospective(_));
                let targets: Vec<NodeId> = self
                    .other_voters()
                    .into_iter()
                    .filter(|v| !n.granted.contains(v) && !n.rejected.contains(v))
                    .collect();
                for to in targets {
                    if self.can_send_to(now, to) {
                        let req = self.vote_request(to, pre_vote);
                        self.send_request(now, to, Request::Vote(req));
                    }
                }
            }
            Role::Follower(_) => self.maybe_send_fetch(now),
            Role::Resigned(r) => {
                let targets: Vec<NodeId> = r.unacked.iter().copied().collect();
                let preferred = r.preferred.clone();
                for to in targets {
                    if self.can_send_to(now, to) {
                        let req = self.end_quorum_epoch_request(preferred.clone());
                        self.send_request(now, to, Request::EndQuorumEpoch(req));
                    }
                }
            }
            Role::Unattached { .. } => {
                if !self.is_voter() {
                    self.maybe_send_bootstrap_fetch(now);
                }
            }
            Role::Leader(_) => {}
        }
    }
}
