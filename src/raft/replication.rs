//! Pull replication: Fetch and FetchSnapshot on both sides, the leader's replica tracking,
//! check quorum, BeginQuorumEpoch resends and the high watermark.

use crate::raft::api::Output;
use crate::raft::core::RaftCore;
use crate::raft::log::{OffsetAndEpoch, RaftLog, SnapshotId};
use crate::raft::messages::{
    BeginQuorumEpochRequest, ErrorKind, FetchRequest, FetchResponse, FetchSnapshotRequest,
    FetchSnapshotResponse, Request,
};
use crate::raft::state::{Inflight, ParkedFetch, RequestKind, Role};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// The outcome of validating a fetch position against the leader's log
/// (Kafka `ReplicatedLog.validateOffsetAndEpoch`).
enum FetchPosition {
    Valid,
    Diverging(OffsetAndEpoch),
    Snapshot(SnapshotId),
}

impl<L: RaftLog> RaftCore<L> {
    pub(crate) fn fetch_error_response(&self, error: ErrorKind) -> FetchResponse {
        FetchResponse {
            error,
            high_watermark: None,
            log_start_offset: self.log.start_offset(),
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            leader_id: self.leader_id,
            leader_epoch: self.epoch,
        }
    }

    fn leader_visible_high_watermark(&self) -> Option<Offset> {
        match &self.role {
            Role::Leader(l) if l.epoch_committed => self.high_watermark,
            _ => None,
        }
    }

    /// Leader-only validation shared by Fetch and FetchSnapshot.
    fn validate_leader_only(&self, request_epoch: Epoch) -> Option<ErrorKind> {
        if request_epoch < self.epoch {
            Some(ErrorKind::FencedLeaderEpoch)
        } else if request_epoch > self.epoch {
            Some(ErrorKind::UnknownLeaderEpoch)
        } else if !matches!(self.role, Role::Leader(_)) {
            Some(ErrorKind::NotLeaderOrFollower)
        } else if self.shutting_down {
            Some(ErrorKind::BrokerNotAvailable)
        } else {
            None
        }
    }

    fn validate_fetch_position(&self, offset: Offset, epoch: Epoch) -> FetchPosition {
        let start = self.log.start_offset();
        if offset == Offset(0) && start == Offset(0) {
            return match self.log.latest_snapshot() {
                Some(s) if s.offset > Offset(0) => FetchPosition::Snapshot(s),
                _ => FetchPosition::Valid,
            };
        }
        if let (Some(oldest), Some(latest)) =
            (self.log.earliest_snapshot(), self.log.latest_snapshot())
            && (offset < start
                || (offset == start && epoch != oldest.epoch)
                || epoch < oldest.epoch)
        {
            return FetchPosition::Snapshot(latest);
        }
        match self.log.end_offset_for_epoch(epoch) {
            Some(end) if end.epoch == epoch && end.offset >= offset => FetchPosition::Valid,
            Some(end) => FetchPosition::Diverging(end),
            None => FetchPosition::Diverging(OffsetAndEpoch::new(start, Epoch(0))),
        }
    }

    /// Handles a Fetch. Returns the response, or `None` when the fetch was parked.
    pub(crate) fn handle_fetch_request(
        &mut self,
        now: MonoTime,
        from: NodeId,
        correlation_id: u64,
        req: FetchRequest,
    ) -> Option<FetchResponse> {
        if !self.cluster_id_matches(&req.cluster_id) {
            return Some(self.fetch_error_response(ErrorKind::InconsistentClusterId));
        }
        if req.fetch_offset < Offset(0)
            || req.last_fetched_epoch < Epoch(0)
            || req.last_fetched_epoch > req.current_leader_epoch
        {
            return Some(self.fetch_error_response(ErrorKind::InvalidRequest));
        }
        if let Some(error) = self.validate_leader_only(req.current_leader_epoch) {
            return Some(self.fetch_error_response(error));
        }
        let is_voter = self.cfg.is_voter(req.replica_id);
        if is_voter {
            self.record_voter_fetch(now, req.replica_id);
        }
        let response = self.build_fetch_response(&req);
        let valid = response.diverging_epoch.is_none() && response.snapshot_id.is_none();
        if valid && req.replica_id.0 >= 0 {
            self.update_replica_state(now, req.replica_id, req.fetch_offset);
            self.maybe_advance_leader_high_watermark(now);
        }
        let hw_news = match (self.leader_visible_high_watermark(), req.high_watermark) {
            (Some(hw), Some(known)) => hw > known,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let must_answer =
            !valid || !response.records.is_empty() || req.max_wait.is_zero() || hw_news;
        if must_answer {
            return Some(response);
        }
        let deadline = now.plus(req.max_wait);
        if let Role::Leader(l) = &mut self.role {
            l.parked.retain(|p| p.from != from);
            l.parked.push(ParkedFetch {
                from,
                correlation_id,
                request: req,
                deadline,
            });
        }
        None
    }

    /// The response to a validated fetch, read from the log now (no state change).
    fn build_fetch_response(&self, req: &FetchRequest) -> FetchResponse {
        let mut resp = self.fetch_error_response(ErrorKind::None);
        resp.high_watermark = self.leader_visible_high_watermark();
        match self.validate_fetch_position(req.fetch_offset, req.last_fetched_epoch) {
            FetchPosition::Snapshot(id) => resp.snapshot_id = Some(id),
            FetchPosition::Diverging(end) => resp.diverging_epoch = Some(end),
            FetchPosition::Valid => {
                let max = req.max_bytes.min(self.cfg.fetch_max_bytes);
                resp.records = self.log.read(req.fetch_offset, max);
            }
        }
        resp
    }

    fn record_voter_fetch(&mut self, now: MonoTime, voter: NodeId) {
        let majority = self.cfg.majority();
        let timeout = self.cfg.check_quorum_timeout();
        if let Role::Leader(l) = &mut self.role {
            l.fetched_voters.insert(voter);
            // The leader counts itself.
            if l.fetched_voters.len() + 1 >= majority {
                l.fetched_voters.clear();
                l.check_quorum_deadline = now.plus(timeout);
            }
        }
    }

    fn update_replica_state(&mut self, now: MonoTime, replica: NodeId, fetch_offset: Offset) {
        let leo = self.log.end_offset();
        if let Role::Leader(l) = &mut self.role {
            let p = l.replicas.entry(replica).or_default();
            if fetch_offset >= leo {
                p.last_caught_up = Some(now);
            } else if let (Some(prev_leo), Some(prev_fetch)) = (p.leo_at_last_fetch, p.last_fetch)
                && fetch_offset >= prev_leo
            {
                p.last_caught_up = Some(prev_fetch);
            }
            p.end_offset = Some(fetch_offset);
            p.last_fetch = Some(now);
            p.leo_at_last_fetch = Some(leo);
        }
    }

    /// Kafka's `maybeUpdateHighWatermark`: the largest offset held by a majority of voters,
    /// only once above the epoch start offset, never decreasing.
    pub(crate) fn maybe_advance_leader_high_watermark(&mut self, now: MonoTime) {
        let me = self.cfg.node_id;
        let leo = self.log.end_offset();
        let Role::Leader(l) = &self.role else {
            return;
        };
        let mut offsets: Vec<Option<Offset>> = self
            .cfg
            .voters
            .iter()
            .map(|v| {
                if *v == me {
                    Some(leo)
                } else {
                    l.replicas.get(v).and_then(|p| p.end_offset)
                }
            })
            .collect();
        offsets.sort_by(|a, b| b.cmp(a));
        let Some(candidate) = offsets[self.cfg.voters.len() / 2] else {
            return;
        };
        if candidate <= l.epoch_start_offset
            || self.high_watermark.is_some_and(|hw| candidate <= hw)
        {
            return;
        }
        let first_commit = !l.epoch_committed;
        let epoch_start_offset = l.epoch_start_offset;
        self.high_watermark = Some(candidate);
        if let Role::Leader(l) = &mut self.role {
            l.epoch_committed = true;
        }
        if first_commit {
            self.pending.push(Output::LeaderEpochCommitted {
                epoch: self.epoch,
                epoch_start_offset,
            });
        }
        self.complete_parked_fetches(now, false);
    }

    /// Answers parked fetches that have news (records, a higher high watermark) or expired.
    pub(crate) fn complete_parked_fetches(&mut self, now: MonoTime, all: bool) {
        let leo = self.log.end_offset();
        let hw = self.leader_visible_high_watermark();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let (due, keep): (Vec<ParkedFetch>, Vec<ParkedFetch>) =
            std::mem::take(&mut l.parked).into_iter().partition(|p| {
                all || p.deadline <= now
                    || leo > p.request.fetch_offset
                    || hw.is_some_and(|h| p.request.high_watermark.is_none_or(|k| h > k))
            });
        l.parked = keep;
        for p in due {
            let resp = self.build_fetch_response(&p.request);
            self.send_response(
                p.from,
                p.correlation_id,
                crate::raft::messages::Response::Fetch(resp),
            );
        }
    }

    pub(crate) fn poll_leader(&mut self, now: MonoTime) {
        self.complete_parked_fetches(now, false);
        let period = self.cfg.begin_quorum_epoch_period();
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        if l.next_begin_epoch > now {
            return;
        }
        l.next_begin_epoch = now.plus(period);
        let stale: Vec<NodeId> = self
            .cfg
            .voters
            .iter()
            .copied()
            .filter(|v| *v != self.cfg.node_id)
            .filter(|v| {
                l.replicas
                    .get(v)
                    .and_then(|p| p.last_fetch)
                    .is_none_or(|t| now.since(t) >= period)
            })
            .collect();
        for to in stale {
            if self.can_send_to(now, to) {
                let req = BeginQuorumEpochRequest {
                    cluster_id: Some(self.cfg.cluster_id.clone()),
                    voter_id: to,
                    leader_id: self.cfg.node_id,
                    leader_epoch: self.epoch,
                };
                self.send_request(now, to, Request::BeginQuorumEpoch(req));
            }
        }
    }

    // ----- follower side -----

    pub(crate) fn maybe_send_fetch(&mut self, now: MonoTime) {
        let Role::Follower(f) = &self.role else {
            return;
        };
        let leader = f.leader;
        if f.next_fetch_at > now || !self.can_send_to(now, leader) {
            return;
        }
        let body = match f.snapshot {
            Some((id, position)) => Request::FetchSnapshot(FetchSnapshotRequest {
                cluster_id: Some(self.cfg.cluster_id.clone()),
                replica_id: self.cfg.node_id,
                current_leader_epoch: self.epoch,
                snapshot_id: id,
                position,
                max_bytes: self.cfg.fetch_snapshot_max_bytes,
            }),
            None => Request::Fetch(self.fetch_request()),
        };
        self.send_request(now, leader, body);
    }

    fn fetch_request(&self) -> FetchRequest {
        FetchRequest {
            cluster_id: Some(self.cfg.cluster_id.clone()),
            replica_id: self.cfg.node_id,
            replica_epoch: -1,
            current_leader_epoch: self.epoch,
            fetch_offset: self.log.end_offset(),
            last_fetched_epoch: self.log.last_fetched_epoch(),
            max_wait: self.cfg.fetch_max_wait,
            max_bytes: self.cfg.fetch_max_bytes,
            high_watermark: self.high_watermark,
        }
    }

    /// An observer without a leader asks a bootstrap server, starting from a random one
    /// (Kafka `RequestManager.findReadyBootstrapServer`).
    pub(crate) fn maybe_send_bootstrap_fetch(&mut self, now: MonoTime) {
        if !self.inflight.is_empty() {
            return;
        }
        let servers = self.cfg.bootstrap_servers.clone();
        let start = rand::Rng::random_range(&mut self.rng, 0..servers.len());
        for i in 0..servers.len() {
            let to = servers[(start + i) % servers.len()];
            if self.can_send_to(now, to) {
                let req = self.fetch_request();
                self.send_request(now, to, Request::Fetch(req));
                return;
            }
        }
    }

    fn follower_fetched_successfully(&mut self, now: MonoTime) {
        let timeout = self.cfg.fetch_timeout;
        if let Role::Follower(f) = &mut self.role {
            if !f.leader_resigned {
                // After EndQuorumEpoch the election timer set by it keeps running.
                f.has_fetched = true;
                f.fetch_deadline = now.plus(timeout);
            }
            f.next_fetch_at = now;
        }
    }

    fn update_follower_high_watermark(&mut self, leader_hw: Option<Offset>) {
        if let Some(hw) = leader_hw {
            let candidate = hw.min(self.log.end_offset());
            if self.high_watermark.is_none_or(|h| candidate > h) {
                self.high_watermark = Some(candidate);
            }
        }
    }

    pub(crate) fn handle_fetch_response(
        &mut self,
        now: MonoTime,
        from: NodeId,
        inf: Inflight,
        resp: FetchResponse,
    ) {
        if self.handle_common_response(now, from, resp.error, resp.leader_id, resp.leader_epoch) {
            return;
        }
        if inf.kind != RequestKind::Fetch || inf.epoch != self.epoch {
            return;
        }
        let Role::Follower(f) = &self.role else {
            return;
        };
        if f.leader != from || f.snapshot.is_some() {
            return;
        }
        if let Some(div) = resp.diverging_epoch {
            let hw = self.high_watermark.unwrap_or(Offset(0));
            // Kafka's truncateToEndOffset: with the same epoch locally, both logs hold that
            // epoch's batches from the same leader, so the smaller end is a batch boundary in
            // both. With an older local epoch, truncate to where it ends locally (the leader's
            // offset may fall inside a local batch); the next fetch narrows it further.
            let target = match self.log.end_offset_for_epoch(div.epoch) {
                Some(local) if local.epoch == div.epoch => local.offset.min(div.offset),
                Some(local) => local.offset,
                None => self.log.start_offset().max(hw),
            }
            .max(self.log.start_offset());
            assert!(
                target >= hw,
                "node {}: diverging epoch {:?} would truncate to {target} below the high watermark {hw}",
                self.cfg.node_id,
                div
            );
            self.log.truncate_to(target);
            // The prefix left is not yet known to match the leader: no high watermark update.
            self.follower_fetched_successfully(now);
            return;
        } else if let Some(id) = resp.snapshot_id {
            if let Role::Follower(f) = &mut self.role {
                f.snapshot = Some((id, 0));
            }
            self.follower_fetched_successfully(now);
            return;
        } else if let Some(first) = resp.records.first() {
            if first.base_offset != self.log.end_offset() {
                // A response to a position we no longer have; fetch again.
                self.follower_fetched_successfully(now);
                return;
            }
            let count: i64 = resp.records.iter().map(|b| b.record_count()).sum();
            self.log.append_as_follower(&resp.records);
            self.counters.fetched_records += count as u64;
            self.flush_pending = true;
        }
        self.update_follower_high_watermark(resp.high_watermark);
        self.follower_fetched_successfully(now);
    }

    pub(crate) fn handle_fetch_snapshot_request(
        &mut self,
        now: MonoTime,
        req: FetchSnapshotRequest,
    ) -> FetchSnapshotResponse {
        let mut resp = FetchSnapshotResponse {
            error: ErrorKind::None,
            snapshot_id: req.snapshot_id,
            size: 0,
            position: req.position,
            unaligned_records: bytes::Bytes::new(),
            leader_id: self.leader_id,
            leader_epoch: self.epoch,
        };
        if !self.cluster_id_matches(&req.cluster_id) {
            resp.error = ErrorKind::InconsistentClusterId;
            return resp;
        }
        if let Some(error) = self.validate_leader_only(req.current_leader_epoch) {
            resp.error = error;
            return resp;
        }
        if self.cfg.is_voter(req.replica_id) {
            self.record_voter_fetch(now, req.replica_id);
        }
        let Some(size) = self
            .log
            .snapshot_size(req.snapshot_id)
            .filter(|_| req.snapshot_id.offset > Offset(0))
        else {
            resp.error = ErrorKind::SnapshotNotFound;
            return resp;
        };
        if req.position >= size {
            resp.error = ErrorKind::PositionOutOfRange;
            return resp;
        }
        let max = req.max_bytes.min(self.cfg.fetch_snapshot_max_bytes).max(1);
        resp.size = size;
        resp.unaligned_records = self
            .log
            .read_snapshot(req.snapshot_id, req.position, max)
            .unwrap_or_default();
        resp
    }

    pub(crate) fn handle_fetch_snapshot_response(
        &mut self,
        now: MonoTime,
        from: NodeId,
        inf: Inflight,
        resp: FetchSnapshotResponse,
    ) {
        if self.handle_common_response(now, from, resp.error, resp.leader_id, resp.leader_epoch) {
            // SnapshotNotFound / PositionOutOfRange are handled below, the rest is done.
            if !matches!(
                resp.error,
                ErrorKind::SnapshotNotFound | ErrorKind::PositionOutOfRange
            ) {
                return;
            }
        }
        if inf.kind != RequestKind::FetchSnapshot || inf.epoch != self.epoch {
            return;
        }
        let Role::Follower(f) = &self.role else {
            return;
        };
        let Some((id, position)) = f.snapshot else {
            return;
        };
        if f.leader != from {
            return;
        }
        if matches!(
            resp.error,
            ErrorKind::SnapshotNotFound | ErrorKind::PositionOutOfRange
        ) {
            self.log.abort_snapshot_download();
            if let Role::Follower(f) = &mut self.role {
                f.snapshot = None;
            }
            return;
        }
        if resp.snapshot_id != id || resp.position != position || resp.unaligned_records.is_empty()
        {
            self.follower_fetched_successfully(now);
            return;
        }
        let Some(written) = self
            .log
            .write_snapshot_chunk(id, position, &resp.unaligned_records)
        else {
            self.log.abort_snapshot_download();
            if let Role::Follower(f) = &mut self.role {
                f.snapshot = None;
            }
            return;
        };
        if written >= resp.size {
            self.log.install_snapshot(id);
            self.counters.snapshots_installed += 1;
            if self.high_watermark.is_none_or(|h| h < id.offset) {
                self.high_watermark = Some(id.offset);
            }
            self.flush_pending = true;
            self.pending.push(Output::SnapshotInstalled { id });
            if let Role::Follower(f) = &mut self.role {
                f.snapshot = None;
            }
        } else if let Role::Follower(f) = &mut self.role {
            f.snapshot = Some((id, written));
        }
        self.follower_fetched_successfully(now);
    }
}
