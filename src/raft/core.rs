//! [`RaftCore`]: construction (startup rules), the step function, queries and the inputs
//! from the layer above.
//!
//! Elsewhere: transitions in `transitions.rs`, timers in `timers.rs`, RPC handlers in
//! `election.rs` (Vote, BeginQuorumEpoch, EndQuorumEpoch) and `replication.rs` (Fetch,
//! FetchSnapshot, high watermark).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::raft::api::{Input, Output, QuorumStateData, SnapshotRejection, StartupError};
use crate::raft::config::RaftConfig;
use crate::raft::log::{BatchPayload, RaftLog, SnapshotId};
use crate::raft::messages::{
    DescribeQuorumResponse, ErrorKind, Message, ReplicaDescription, Request, Response,
};
use crate::raft::state::{FollowerState, Inflight, Nominee, RequestKind, ResignedState, Role};
use crate::raft::status::{RaftCounters, RaftStatus, ReplicaStatus, StateKind};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// The sans-IO KRaft consensus core of one node. See the module documentation.
#[derive(Debug)]
pub struct RaftCore<L: RaftLog> {
    pub(crate) cfg: RaftConfig,
    pub(crate) log: L,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) epoch: Epoch,
    pub(crate) leader_id: Option<NodeId>,
    pub(crate) voted_id: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) high_watermark: Option<Offset>,
    pub(crate) inflight: BTreeMap<NodeId, Inflight>,
    pub(crate) backoff: BTreeMap<NodeId, MonoTime>,
    pub(crate) next_correlation_id: u64,
    pub(crate) counters: RaftCounters,
    pub(crate) shutting_down: bool,
    pub(crate) shutdown_reported: bool,
    pub(crate) election_started_at: Option<MonoTime>,
    pub(crate) last_election_duration: Option<Duration>,
    /// The last pre-vote granted: (epoch, candidate, its log position, until when it is
    /// preferred over equal or worse candidates). See `election.rs`.
    pub(crate) pre_vote_preference:
        Option<(Epoch, NodeId, crate::raft::log::OffsetAndEpoch, MonoTime)>,
    // Per-step scratch, turned into outputs at the end of `step`.
    pub(crate) persist_pending: bool,
    pub(crate) flush_pending: bool,
    pub(crate) pending: Vec<Output>,
    reported_leader: (Epoch, Option<NodeId>),
    reported_hw: Option<Offset>,
    next_deadline: MonoTime,
}

impl<L: RaftLog> RaftCore<L> {
    /// Starts a core from its log and the persisted `quorum-state` (`None` when the file does
    /// not exist yet). Applies Kafka's startup rules: a node that was leader comes back
    /// `Resigned` in the same epoch; a node that voted for itself comes back `Candidate`.
    pub fn new(
        cfg: RaftConfig,
        log: L,
        persisted: Option<QuorumStateData>,
        rng: ChaCha8Rng,
        now: MonoTime,
    ) -> Result<Self, StartupError> {
        cfg.validate()?;
        let start = log.start_offset();
        if start > Offset(0) {
            let earliest = log.earliest_snapshot();
            if earliest.is_none_or(|s| s.offset != start) {
                return Err(StartupError::NoSnapshotAtLogStart { start, earliest });
            }
        }
        let stored = persisted.unwrap_or_default();
        let me = cfg.node_id;
        let is_voter = cfg.is_voter(me);
        if !is_voter && (stored.voted_id == Some(me) || stored.leader_id == Some(me)) {
            return Err(StartupError::NotAVoter(me));
        }
        let mut core = RaftCore {
            epoch: stored.leader_epoch,
            leader_id: stored.leader_id,
            voted_id: stored.voted_id,
            role: Role::Unattached {
                election_deadline: now,
            },
            high_watermark: log.latest_snapshot().map(|s| s.offset),
            cfg,
            log,
            rng,
            inflight: BTreeMap::new(),
            backoff: BTreeMap::new(),
            next_correlation_id: 1,
            counters: RaftCounters::default(),
            shutting_down: false,
            shutdown_reported: false,
            election_started_at: None,
            last_election_duration: None,
            pre_vote_preference: None,
            persist_pending: false,
            flush_pending: false,
            pending: Vec::new(),
            reported_leader: (Epoch::UNKNOWN, None),
            reported_hw: None,
            next_deadline: now,
        };
        core.reported_hw = core.high_watermark;
        core.resume_role(now);
        Ok(core)
    }

    /// The role a starting node resumes: from its persisted quorum state, unless its log has
    /// seen a newer epoch.
    fn resume_role(&mut self, now: MonoTime) {
        let me = self.cfg.node_id;
        let log_epoch = self.log.last_fetched_epoch();
        if self.epoch < log_epoch {
            self.epoch = log_epoch;
            self.leader_id = None;
            self.voted_id = None;
            self.persist_pending = true;
            self.role = Role::Unattached {
                election_deadline: self.random_election_deadline(now),
            };
        } else if self.leader_id == Some(me) {
            self.role = Role::Resigned(ResignedState {
                election_deadline: self.random_election_deadline(now),
                unacked: self.other_voters().into_iter().collect(),
                preferred: self.other_voters(),
            });
        } else if self.voted_id == Some(me) && self.leader_id.is_none() {
            self.role = Role::Candidate(Nominee {
                granted: BTreeSet::from([me]),
                rejected: BTreeSet::new(),
                deadline: self.random_election_deadline(now),
                send_after: now,
                retries: 0,
            });
            self.election_started_at = Some(now);
        } else if let Some(leader) = self.leader_id {
            self.role = Role::Follower(FollowerState {
                leader,
                fetch_deadline: now.plus(self.cfg.fetch_timeout),
                has_fetched: false,
                leader_resigned: false,
                next_fetch_at: now,
                snapshot: None,
            });
        } else {
            self.role = Role::Unattached {
                election_deadline: self.random_election_deadline(now),
            };
        }
    }

    /// Feeds one input at time `now`; appends the outputs, in execution order, to `out`.
    pub fn step(&mut self, now: MonoTime, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Tick => {}
            Input::Received { from, msg } => match msg {
                Message::Request {
                    correlation_id,
                    body,
                } => self.handle_request(now, from, correlation_id, body),
                Message::Response {
                    correlation_id,
                    body,
                } => match self.inflight.get(&from) {
                    Some(inf) if inf.correlation_id == correlation_id => {
                        let inf = *inf;
                        self.inflight.remove(&from);
                        self.handle_response(now, from, inf, body);
                    }
                    _ => self.counters.unexpected_responses += 1,
                },
            },
            Input::Append { epoch, records } => self.handle_append(now, epoch, records),
            Input::Resign { epoch } => {
                if epoch == self.epoch && matches!(self.role, Role::Leader(_)) {
                    self.become_resigned(now);
                }
            }
            Input::Shutdown => {
                self.shutting_down = true;
                if matches!(self.role, Role::Leader(_)) {
                    self.become_resigned(now);
                }
            }
            Input::CreateSnapshot { id, data } => self.handle_create_snapshot(id, data),
            Input::CleanLog => {
                if let Some(latest) = self.log.latest_snapshot() {
                    self.log.delete_before_snapshot(latest);
                }
            }
        }
        self.poll(now);
        self.drain_outputs(out);
        self.next_deadline = self.compute_next_deadline(now);
    }

    /// The earliest time at which `step(Input::Tick)` has something to do. The driver must tick
    /// the core no later than this (`MonoTime(u64::MAX)`: nothing scheduled).
    pub fn next_deadline(&self) -> MonoTime {
        self.next_deadline
    }

    /// The log (for the driver to flush and to read committed data).
    pub fn log(&self) -> &L {
        &self.log
    }

    /// Mutable access to the log, for the driver to execute [`Output::FlushLog`].
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// Consumes the core, returning its log (the simulator "crashes" a node this way).
    pub fn into_log(self) -> L {
        self.log
    }

    /// The configuration.
    pub fn config(&self) -> &RaftConfig {
        &self.cfg
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The state kind.
    pub fn state(&self) -> StateKind {
        match self.role {
            Role::Unattached { .. } => StateKind::Unattached,
            Role::Prospective(_) => StateKind::Prospective,
            Role::Candidate(_) => StateKind::Candidate,
            Role::Leader(_) => StateKind::Leader,
            Role::Follower(_) => StateKind::Follower,
            Role::Resigned(_) => StateKind::Resigned,
        }
    }

    /// The known leader of the current epoch.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.leader_id
    }

    /// The high watermark known to this node.
    pub fn high_watermark(&self) -> Option<Offset> {
        self.high_watermark
    }

    /// The election state as it must be persisted.
    pub fn quorum_state(&self) -> QuorumStateData {
        QuorumStateData {
            leader_epoch: self.epoch,
            leader_id: self.leader_id,
            voted_id: self.voted_id,
        }
    }

    /// A cheap status snapshot for metrics.
    pub fn status(&self) -> RaftStatus {
        let leo = self.log.end_offset();
        let (replicas, epoch_committed) = match &self.role {
            Role::Leader(l) => {
                let mut rows = Vec::with_capacity(l.replicas.len());
                for (id, p) in &l.replicas {
                    let (end, last_fetch, caught_up) = if *id == self.cfg.node_id {
                        (Some(leo), None, None)
                    } else {
                        (p.end_offset, p.last_fetch, p.last_caught_up)
                    };
                    rows.push(ReplicaStatus {
                        replica_id: *id,
                        is_voter: self.cfg.is_voter(*id),
                        log_end_offset: end,
                        lag: end.map(|e| (leo.0 - e.0).max(0)),
                        last_fetch_time: last_fetch,
                        last_caught_up_time: caught_up,
                    });
                }
                (rows, l.epoch_committed)
            }
            _ => (Vec::new(), false),
        };
        RaftStatus {
            node_id: self.cfg.node_id,
            is_voter: self.is_voter(),
            state: self.state(),
            epoch: self.epoch,
            leader_id: self.leader_id,
            voted_id: self.voted_id,
            high_watermark: self.high_watermark,
            log_start_offset: self.log.start_offset(),
            log_end_offset: leo,
            last_fetched_epoch: self.log.last_fetched_epoch(),
            latest_snapshot: self.log.latest_snapshot(),
            voters: self.cfg.voters.clone(),
            replicas,
            epoch_committed,
            election_started_at: self.election_started_at,
            last_election_duration: self.last_election_duration,
            counters: self.counters,
        }
    }

    /// DescribeQuorum, answered from the leader's replica states; other nodes answer
    /// `NotLeaderOrFollower` with their leader hint.
    pub fn describe_quorum(&self) -> DescribeQuorumResponse {
        let Role::Leader(l) = &self.role else {
            return DescribeQuorumResponse {
                error: ErrorKind::NotLeaderOrFollower,
                leader_id: self.leader_id,
                leader_epoch: self.epoch,
                high_watermark: None,
                current_voters: Vec::new(),
                observers: Vec::new(),
            };
        };
        let leo = self.log.end_offset();
        let mut voters = Vec::new();
        let mut observers = Vec::new();
        for (id, p) in &l.replicas {
            let row = if *id == self.cfg.node_id {
                ReplicaDescription {
                    replica_id: *id,
                    log_end_offset: Some(leo),
                    last_fetch_time: None,
                    last_caught_up_time: None,
                }
            } else {
                ReplicaDescription {
                    replica_id: *id,
                    log_end_offset: p.end_offset,
                    last_fetch_time: p.last_fetch,
                    last_caught_up_time: p.last_caught_up,
                }
            };
            if self.cfg.is_voter(*id) {
                voters.push(row);
            } else {
                observers.push(row);
            }
        }
        DescribeQuorumResponse {
            error: ErrorKind::None,
            leader_id: Some(self.cfg.node_id),
            leader_epoch: self.epoch,
            high_watermark: if l.epoch_committed {
                self.high_watermark
            } else {
                None
            },
            current_voters: voters,
            observers,
        }
    }

    // ----- helpers shared by the handlers -----

    pub(crate) fn is_voter(&self) -> bool {
        self.cfg.is_voter(self.cfg.node_id)
    }

    pub(crate) fn other_voters(&self) -> Vec<NodeId> {
        self.cfg
            .voters
            .iter()
            .copied()
            .filter(|v| *v != self.cfg.node_id)
            .collect()
    }

    pub(crate) fn cluster_id_matches(&self, cluster_id: &Option<String>) -> bool {
        cluster_id
            .as_ref()
            .is_none_or(|c| *c == self.cfg.cluster_id)
    }

    pub(crate) fn random_election_deadline(&mut self, now: MonoTime) -> MonoTime {
        let t = self.cfg.election_timeout.as_millis() as u64;
        let jitter = if t == 0 {
            0
        } else {
            self.rng.random_range(0..t)
        };
        MonoTime(now.0.saturating_add(t + jitter))
    }

    /// Binary exponential backoff after a lost election, capped by `election_backoff_max`.
    pub(crate) fn election_backoff(&mut self, retries: u32) -> Duration {
        let max = self.cfg.election_backoff_max.as_millis() as u64;
        let base = self.cfg.retry_backoff.as_millis().max(1) as u64;
        let slots = 1u64 << retries.clamp(1, 10);
        let ms = (base * self.rng.random_range(1..=slots)).min(max.max(1));
        Duration::from_millis(ms)
    }

    pub(crate) fn can_send_to(&self, now: MonoTime, to: NodeId) -> bool {
        !self.inflight.contains_key(&to) && self.backoff.get(&to).is_none_or(|b| *b <= now)
    }

    pub(crate) fn send_request(&mut self, now: MonoTime, to: NodeId, body: Request) {
        let kind = match &body {
            Request::Vote(v) => RequestKind::Vote {
                pre_vote: v.pre_vote,
            },
            Request::BeginQuorumEpoch(_) => RequestKind::BeginQuorumEpoch,
            Request::EndQuorumEpoch(_) => RequestKind::EndQuorumEpoch,
            Request::Fetch(_) => RequestKind::Fetch,
            Request::FetchSnapshot(_) => RequestKind::FetchSnapshot,
        };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        self.inflight.insert(
            to,
            Inflight {
                correlation_id,
                deadline: now.plus(self.cfg.request_timeout),
                epoch: self.epoch,
                kind,
            },
        );
        self.pending.push(Output::Send {
            to,
            msg: Message::Request {
                correlation_id,
                body,
            },
        });
    }

    pub(crate) fn send_response(&mut self, to: NodeId, correlation_id: u64, body: Response) {
        self.pending.push(Output::Send {
            to,
            msg: Message::Response {
                correlation_id,
                body,
            },
        });
    }

    pub(crate) fn back_off(&mut self, now: MonoTime, node: NodeId) {
        self.backoff.insert(node, now.plus(self.cfg.retry_backoff));
    }

    // ----- inputs from the layer above -----

    fn handle_append(&mut self, now: MonoTime, epoch: Epoch, records: Vec<Bytes>) {
        let accept = epoch == self.epoch
            && matches!(self.role, Role::Leader(_))
            && !self.shutting_down
            && !records.is_empty();
        if !accept {
            self.pending.push(Output::AppendRejected { epoch });
            return;
        }
        let batch = self
            .log
            .append_as_leader(epoch, BatchPayload::Data(records));
        self.counters.appended_records += batch.record_count() as u64;
        self.flush_pending = true;
        self.pending.push(Output::Appended {
            epoch,
            base_offset: batch.base_offset,
            last_offset: Offset(batch.next_offset().0 - 1),
        });
        self.complete_parked_fetches(now, false);
        self.maybe_advance_leader_high_watermark(now);
    }

    fn handle_create_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        let reject = |reason| Output::SnapshotRejected { id, reason };
        if self.high_watermark.is_none_or(|hw| id.offset > hw) {
            self.pending
                .push(reject(SnapshotRejection::AboveHighWatermark));
            return;
        }
        let floor = self
            .log
            .latest_snapshot()
            .map_or(self.log.start_offset(), |s| s.offset);
        if id.offset <= floor {
            self.pending.push(reject(SnapshotRejection::NotNewer));
            return;
        }
        if id.offset != self.log.end_offset() && self.log.read(id.offset, 1).is_empty() {
            self.pending
                .push(reject(SnapshotRejection::NotBatchAligned));
            return;
        }
        // The record just before the end offset must carry `id.epoch`.
        let prev_epoch = match self.log.end_offset_for_epoch(id.epoch) {
            Some(e) if e.epoch == id.epoch && e.offset >= id.offset => {
                let next_epoch_start = self.log.end_offset_for_epoch(Epoch(id.epoch.0 - 1));
                next_epoch_start.is_none_or(|p| p.offset < id.offset)
            }
            _ => false,
        };
        if !prev_epoch {
            self.pending.push(reject(SnapshotRejection::EpochMismatch));
            return;
        }
        self.log.create_snapshot(id, data);
        self.pending.push(Output::SnapshotCreated { id });
    }

    fn drain_outputs(&mut self, out: &mut Vec<Output>) {
        if self.persist_pending {
            self.persist_pending = false;
            out.push(Output::PersistQuorumState(self.quorum_state()));
        }
        if self.flush_pending {
            self.flush_pending = false;
            out.push(Output::FlushLog {
                up_to: self.log.end_offset(),
            });
        }
        out.append(&mut self.pending);
        if self.high_watermark != self.reported_hw {
            self.reported_hw = self.high_watermark;
            if let Some(hw) = self.high_watermark {
                out.push(Output::Committed { high_watermark: hw });
            }
        }
        let leader = (self.epoch, self.leader_id);
        if leader != self.reported_leader {
            self.reported_leader = leader;
            out.push(Output::LeaderChanged {
                epoch: self.epoch,
                leader_id: self.leader_id,
            });
        }
    }
}
