//! Election RPCs: Vote (with KIP-996 pre-vote), BeginQuorumEpoch and EndQuorumEpoch, plus
//! request/response dispatch and the handling common to every response.

use std::time::Duration;

use crate::raft::core::RaftCore;
use crate::raft::log::{OffsetAndEpoch, RaftLog};
use crate::raft::messages::{
    BeginQuorumEpochRequest, EndQuorumEpochRequest, ErrorKind, QuorumEpochResponse, Request,
    Response, VoteRequest, VoteResponse,
};
use crate::raft::state::{Inflight, RequestKind, Role};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

impl<L: RaftLog> RaftCore<L> {
    pub(crate) fn handle_request(
        &mut self,
        now: MonoTime,
        from: NodeId,
        correlation_id: u64,
        body: Request,
    ) {
        let response = match body {
            Request::Vote(req) => Some(Response::Vote(self.handle_vote_request(now, req))),
            Request::BeginQuorumEpoch(req) => Some(Response::BeginQuorumEpoch(
                self.handle_begin_quorum_epoch_request(now, req),
            )),
            Request::EndQuorumEpoch(req) => Some(Response::EndQuorumEpoch(
                self.handle_end_quorum_epoch_request(now, req),
            )),
            Request::Fetch(req) => self
                .handle_fetch_request(now, from, correlation_id, req)
                .map(Response::Fetch),
            Request::FetchSnapshot(req) => Some(Response::FetchSnapshot(
                self.handle_fetch_snapshot_request(now, req),
            )),
        };
        if let Some(body) = response {
            self.send_response(from, correlation_id, body);
        }
    }

    pub(crate) fn handle_response(
        &mut self,
        now: MonoTime,
        from: NodeId,
        inflight: Inflight,
        body: Response,
    ) {
        match body {
            Response::Vote(resp) => self.handle_vote_response(now, from, inflight, resp),
            Response::BeginQuorumEpoch(resp) => {
                self.handle_common_response(
                    now,
                    from,
                    resp.error,
                    resp.leader_id,
                    resp.leader_epoch,
                );
            }
            Response::EndQuorumEpoch(resp) => {
                let handled = self.handle_common_response(
                    now,
                    from,
                    resp.error,
                    resp.leader_id,
                    resp.leader_epoch,
                );
                if !handled
                    && resp.error == ErrorKind::None
                    && inflight.epoch == self.epoch
                    && let Role::Resigned(r) = &mut self.role
                {
                    r.unacked.remove(&from);
                }
            }
            Response::Fetch(resp) => self.handle_fetch_response(now, from, inflight, resp),
            Response::FetchSnapshot(resp) => {
                self.handle_fetch_snapshot_response(now, from, inflight, resp)
            }
        }
    }

    /// Kafka's `maybeHandleCommonResponse`. Returns true when the response is fully handled
    /// (stale, or it moved this node to another epoch or leader, or an error to back off on).
    pub(crate) fn handle_common_response(
        &mut self,
        now: MonoTime,
        from: NodeId,
        error: ErrorKind,
        leader_id: Option<NodeId>,
        epoch: Epoch,
    ) -> bool {
        if epoch < self.epoch || error == ErrorKind::UnknownLeaderEpoch {
            if error != ErrorKind::None {
                self.back_off(now, from);
            }
            return true;
        }
        if epoch > self.epoch
            || matches!(
                error,
                ErrorKind::FencedLeaderEpoch | ErrorKind::NotLeaderOrFollower
            )
        {
            self.maybe_transition(now, leader_id, epoch);
            if error != ErrorKind::None {
                self.back_off(now, from);
            }
            return true;
        }
        // A node that does not know the epoch's leader, or knows it but is not following it
        // (an observer whose fetches timed out is Unattached with the leader kept), follows a
        // leader that answers in its epoch.
        if let Some(l) = leader_id
            && (self.leader_id.is_none() || matches!(self.role, Role::Unattached { .. }))
        {
            self.maybe_transition(now, Some(l), epoch);
            if error == ErrorKind::None && self.leader_id == Some(l) {
                return false;
            }
            return true;
        }
        if error != ErrorKind::None {
            self.back_off(now, from);
            return true;
        }
        false
    }

    pub(crate) fn vote_request(&self, to: NodeId, pre_vote: bool) -> VoteRequest {
        VoteRequest {
            cluster_id: Some(self.cfg.cluster_id.clone()),
            voter_id: to,
            candidate_id: self.cfg.node_id,
            candidate_epoch: self.epoch,
            last_offset_epoch: self.log.last_fetched_epoch(),
            last_offset: self.log.end_offset(),
            pre_vote,
        }
    }

    pub(crate) fn end_quorum_epoch_request(&self, preferred: Vec<NodeId>) -> EndQuorumEpochRequest {
        EndQuorumEpochRequest {
            cluster_id: Some(self.cfg.cluster_id.clone()),
            leader_id: self.cfg.node_id,
            leader_epoch: self.epoch,
            preferred_successors: preferred,
        }
    }

    fn vote_response(&self, error: ErrorKind, granted: bool) -> VoteResponse {
        VoteResponse {
            error,
            leader_id: self.leader_id,
            leader_epoch: self.epoch,
            vote_granted: granted,
        }
    }

    fn handle_vote_request(&mut self, now: MonoTime, req: VoteRequest) -> VoteResponse {
        if !self.cluster_id_matches(&req.cluster_id) {
            return self.vote_response(ErrorKind::InconsistentClusterId, false);
        }
        let epoch_invalid = if req.pre_vote {
            req.last_offset_epoch > req.candidate_epoch
        } else {
            req.last_offset_epoch >= req.candidate_epoch
        };
        if req.last_offset < Offset(0) || req.last_offset_epoch < Epoch(0) || epoch_invalid {
            return self.vote_response(ErrorKind::InvalidRequest, false);
        }
        if req.candidate_epoch < self.epoch {
            return self.vote_response(ErrorKind::FencedLeaderEpoch, false);
        }
        if req.candidate_id.0 < 0 {
            return self.vote_response(ErrorKind::InvalidRequest, false);
        }
        if req.candidate_epoch > self.epoch {
            self.become_unattached(now, req.candidate_epoch);
        }
        if req.voter_id != self.cfg.node_id {
            return self.vote_response(ErrorKind::InvalidVoterKey, false);
        }
        if !self.cfg.is_voter(req.candidate_id) {
            return self.vote_response(ErrorKind::InconsistentVoterSet, false);
        }
        let candidate_log = OffsetAndEpoch::new(req.last_offset, req.last_offset_epoch);
        let local_log = OffsetAndEpoch::new(self.log.end_offset(), self.log.last_fetched_epoch());
        let up_to_date = candidate_log >= local_log;
        let mut granted = self.can_grant_vote(req.candidate_id, up_to_date, req.pre_vote);
        if req.pre_vote && candidate_log == local_log && matches!(self.role, Role::Prospective(_)) {
            granted = self.break_pre_vote_tie(now, req.candidate_id);
        }
        if req.pre_vote && granted {
            granted = self.prefer_pre_vote_candidate(now, req.candidate_id, candidate_log);
        }
        if !up_to_date && !req.pre_vote {
            self.hurry_better_candidate(now);
        }
        if granted && !req.pre_vote && self.voted_id != Some(req.candidate_id) {
            self.record_vote(req.candidate_id);
            // "The candidate has at least as good of a chance of getting elected as us."
            let deadline = self.random_election_deadline(now);
            if let Role::Unattached { election_deadline } = &mut self.role {
                *election_deadline = deadline;
            }
        }
        self.vote_response(ErrorKind::None, granted)
    }

    /// Pre-vote preference: after granting a pre-vote to X, for one election timeout this voter
    /// grants pre-votes in the same epoch only to candidates at least as good as X (a longer
    /// log, or an equal log and a lower id). Several prospective voters that lost the leader
    /// together (four survivors of five) then converge on one candidate instead of several
    /// becoming candidates and splitting the vote. Pre-votes are not binding, so this changes
    /// only who campaigns first.
    fn prefer_pre_vote_candidate(
        &mut self,
        now: MonoTime,
        candidate: NodeId,
        candidate_log: OffsetAndEpoch,
    ) -> bool {
        if let Some((epoch, preferred, preferred_log, until)) = self.pre_vote_preference
            && epoch == self.epoch
            && now < until
            && preferred != candidate
        {
            let better = candidate_log > preferred_log
                || (candidate_log == preferred_log && candidate < preferred);
            if !better {
                return false;
            }
        }
        let until = now.plus(self.cfg.election_timeout);
        self.pre_vote_preference = Some((self.epoch, candidate, candidate_log, until));
        true
    }

    /// Two prospective voters with identical logs (they lost the leader at the same moment)
    /// would grant each other's pre-vote, both become candidates and split the vote. Only the
    /// lower id goes on: the higher one grants it and steps aside; the lower one refuses the
    /// higher one and asks it again (its earlier refusal was given while it still followed the
    /// leader). Pre-votes carry no safety weight, so this only affects liveness.
    fn break_pre_vote_tie(&mut self, now: MonoTime, candidate: NodeId) -> bool {
        if candidate < self.cfg.node_id {
            self.lose_pre_vote(now);
            true
        } else {
            if let Role::Prospective(n) = &mut self.role {
                n.rejected.remove(&candidate);
                // An answer still in flight was given while the peer followed the leader.
                self.inflight.remove(&candidate);
            }
            false
        }
    }

    /// This voter just refused a binding vote because its own log is ahead of the candidate's:
    /// it would make a better candidate, so it campaigns soon instead of waiting a full
    /// election timeout (a graceful handover to a successor that missed the last records would
    /// otherwise stall for up to 2T). Timing only; the vote rules are unchanged.
    fn hurry_better_candidate(&mut self, now: MonoTime) {
        if self.shutting_down {
            return;
        }
        let base = self.cfg.retry_backoff.as_millis().max(1) as u64;
        let soon = MonoTime(now.0 + base + rand::Rng::random_range(&mut self.rng, 0..base));
        if let Role::Unattached { election_deadline } = &mut self.role {
            *election_deadline = (*election_deadline).min(soon);
        }
    }

    /// Kafka's `canGrantVote` per state (1.3, step 8 of the reference).
    fn can_grant_vote(&self, candidate: NodeId, up_to_date: bool, pre_vote: bool) -> bool {
        if !self.is_voter() {
            // Observers answer pre-votes on the log check only; their answers are not counted.
            return pre_vote && up_to_date;
        }
        match &self.role {
            Role::Leader(_) => false,
            Role::Candidate(_) | Role::Resigned(_) => pre_vote && up_to_date,
            Role::Follower(f) => pre_vote && up_to_date && !f.has_fetched,
            Role::Unattached { .. } | Role::Prospective(_) => {
                if pre_vote {
                    return up_to_date;
                }
                match self.voted_id {
                    Some(v) if v == candidate => true,
                    Some(_) if self.cfg.test_only_grant_second_vote => {
                        up_to_date && self.leader_id.is_none()
                    }
                    Some(_) => false,
                    None => self.leader_id.is_none() && up_to_date,
                }
            }
        }
    }

    fn handle_vote_response(
        &mut self,
        now: MonoTime,
        from: NodeId,
        inf: Inflight,
        resp: VoteResponse,
    ) {
        if self.handle_common_response(now, from, resp.error, resp.leader_id, resp.leader_epoch) {
            return;
        }
        let RequestKind::Vote { pre_vote } = inf.kind else {
            return;
        };
        if inf.epoch != self.epoch || resp.leader_epoch != self.epoch || !self.cfg.is_voter(from) {
            return;
        }
        let nominee = match (&mut self.role, pre_vote) {
            (Role::Prospective(n), true) | (Role::Candidate(n), false) => n,
            _ => return,
        };
        if resp.vote_granted {
            nominee.granted.insert(from);
        } else {
            nominee.rejected.insert(from);
        }
        let lost = {
            let n = match &self.role {
                Role::Prospective(n) | Role::Candidate(n) => n,
                _ => return,
            };
            self.election_lost(n)
        };
        if lost {
            match &self.role {
                Role::Prospective(_) => self.lose_pre_vote(now),
                Role::Candidate(n) => {
                    let retries = n.retries + 1;
                    let backoff = self.election_backoff(retries);
                    self.become_prospective(now, backoff, retries);
                }
                _ => {}
            }
        } else {
            self.maybe_win_election(now);
        }
    }

    fn quorum_epoch_response(&self, error: ErrorKind) -> QuorumEpochResponse {
        QuorumEpochResponse {
            error,
            leader_id: self.leader_id,
            leader_epoch: self.epoch,
        }
    }

    fn handle_begin_quorum_epoch_request(
        &mut self,
        now: MonoTime,
        req: BeginQuorumEpochRequest,
    ) -> QuorumEpochResponse {
        if !self.cluster_id_matches(&req.cluster_id) {
            return self.quorum_epoch_response(ErrorKind::InconsistentClusterId);
        }
        if req.leader_epoch < self.epoch {
            return self.quorum_epoch_response(ErrorKind::FencedLeaderEpoch);
        }
        if req.voter_id != self.cfg.node_id {
            return self.quorum_epoch_response(ErrorKind::InvalidVoterKey);
        }
        if !self.cfg.is_voter(req.leader_id) {
            return self.quorum_epoch_response(ErrorKind::InconsistentVoterSet);
        }
        self.maybe_transition(now, Some(req.leader_id), req.leader_epoch);
        self.quorum_epoch_response(ErrorKind::None)
    }

    fn handle_end_quorum_epoch_request(
        &mut self,
        now: MonoTime,
        req: EndQuorumEpochRequest,
    ) -> QuorumEpochResponse {
        if !self.cluster_id_matches(&req.cluster_id) {
            return self.quorum_epoch_response(ErrorKind::InconsistentClusterId);
        }
        if req.leader_epoch < self.epoch {
            return self.quorum_epoch_response(ErrorKind::FencedLeaderEpoch);
        }
        if !self.cfg.is_voter(req.leader_id) {
            return self.quorum_epoch_response(ErrorKind::InconsistentVoterSet);
        }
        self.maybe_transition(now, Some(req.leader_id), req.leader_epoch);
        if req.leader_epoch == self.epoch && self.leader_id == Some(req.leader_id) {
            let me = self.cfg.node_id;
            let delay = match req.preferred_successors.iter().position(|p| *p == me) {
                Some(pos) => self.successor_backoff(pos, req.preferred_successors.len()),
                None => self.cfg.election_backoff_max,
            };
            match &mut self.role {
                Role::Follower(f) if f.leader == req.leader_id => {
                    // The leader is gone: pre-votes no longer disrupt it.
                    f.has_fetched = false;
                    f.leader_resigned = true;
                    f.fetch_deadline = f.fetch_deadline.min(now.plus(delay));
                }
                Role::Unattached { election_deadline } => {
                    *election_deadline = (*election_deadline).min(now.plus(delay));
                }
                _ => {}
            }
        }
        self.quorum_epoch_response(ErrorKind::None)
    }

    /// Kafka's `strictExponentialElectionBackoffMs`: position 0 campaigns at once, later
    /// positions wait exponentially longer, capped at `election_backoff_max`.
    fn successor_backoff(&self, position: usize, total: usize) -> Duration {
        if position == 0 {
            return Duration::ZERO;
        }
        let max = self.cfg.election_backoff_max.as_millis() as u64;
        let shift = (total.saturating_sub(1)).min(20) as u32;
        let ms = ((max >> shift).max(1) << (position - 1).min(20)).min(max);
        Duration::from_millis(ms)
    }
}
