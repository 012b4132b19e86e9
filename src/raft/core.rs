//! [`RaftCore`]: the state, the step function, timers and state transitions.
//!
//! RPC handlers live in `election.rs` (Vote, BeginQuorumEpoch, EndQuorumEpoch) and
//! `replication.rs` (Fetch, FetchSnapshot, high watermark).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::raft::config::{ConfigError, RaftConfig};
use crate::raft::log::{BatchPayload, ControlRecord, RaftLog, SnapshotId};
use crate::raft::messages::{
    DescribeQuorumResponse, ErrorKind, FetchRequest, Message, ReplicaDescription, Request, Response,
};
use crate::raft::status::{RaftCounters, RaftStatus, ReplicaStatus, StateKind};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// The persisted election state, Kafka's `quorum-state` fields. The driver writes it as JSON
/// (`leaderId`, `leaderEpoch`, `votedId`, `data_version`) with temp file, fsync, rename, fsync dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuorumStateData {
    /// `leaderEpoch`.
    pub leader_epoch: Epoch,
    /// `leaderId` (`None` = -1).
    pub leader_id: Option<NodeId>,
    /// `votedId` (`None` = -1).
    pub voted_id: Option<NodeId>,
}

/// An input to [`RaftCore::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; timers are checked (also done on every other input).
    Tick,
    /// A message from another node.
    Received {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: Message,
    },
    /// The layer above asks the leader of `epoch` to append one batch of records.
    Append {
        /// The epoch the caller believes it leads; a mismatch is rejected.
        epoch: Epoch,
        /// Record values (opaque).
        records: Vec<Bytes>,
    },
    /// The layer above asks the leader of `epoch` to resign (Kafka `resign(epoch)`).
    Resign {
        /// The epoch to resign from.
        epoch: Epoch,
    },
    /// Graceful shutdown started: a leader resigns and hands over through EndQuorumEpoch;
    /// [`Output::ShutdownReady`] tells the driver when it may exit.
    Shutdown,
    /// The layer above produced a snapshot of its state at `id` (must be committed and on a
    /// batch boundary); the core validates it and freezes it through the log.
    CreateSnapshot {
        /// The snapshot id (exclusive end offset, epoch of the last contained record).
        id: SnapshotId,
        /// The serialized snapshot (header, records, footer).
        data: Bytes,
    },
    /// Clean the log below the latest snapshot (retention decided by the layer above; the
    /// latest snapshot is never deleted).
    CleanLog,
}

/// An output of [`RaftCore::step`]. See the driver rule in the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write `quorum-state` durably. Emitted before any `Send` of the same step.
    PersistQuorumState(QuorumStateData),
    /// Flush (fsync) the log up to `up_to` (the LEO). Emitted before any `Send` of the same step.
    FlushLog {
        /// The log end offset to make durable.
        up_to: Offset,
    },
    /// Send a message.
    Send {
        /// The destination node.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// The high watermark advanced: records below it are committed and may be applied.
    Committed {
        /// The new high watermark (exclusive).
        high_watermark: Offset,
    },
    /// The known leader or epoch changed.
    LeaderChanged {
        /// The epoch.
        epoch: Epoch,
        /// The leader, if known.
        leader_id: Option<NodeId>,
    },
    /// This node, leader of `epoch`, has committed its epoch's first record: the layer above
    /// may act as the active controller once it has applied up to `epoch_start_offset`
    /// (KAFKA-17333: never before).
    LeaderEpochCommitted {
        /// The epoch.
        epoch: Epoch,
        /// Offset of this leader's LeaderChange record.
        epoch_start_offset: Offset,
    },
    /// An `Input::Append` was accepted.
    Appended {
        /// The epoch.
        epoch: Epoch,
        /// First offset of the batch.
        base_offset: Offset,
        /// Last offset of the batch (inclusive).
        last_offset: Offset,
    },
    /// An `Input::Append` was rejected: this node is not the leader of that epoch.
    AppendRejected {
        /// The epoch the caller gave.
        epoch: Epoch,
    },
    /// A snapshot from `Input::CreateSnapshot` was frozen.
    SnapshotCreated {
        /// The id.
        id: SnapshotId,
    },
    /// A snapshot from `Input::CreateSnapshot` was refused.
    SnapshotRejected {
        /// The id.
        id: SnapshotId,
        /// Why.
        reason: SnapshotRejection,
    },
    /// A snapshot downloaded from the leader replaced the log: the layer above must reload its
    /// state from it (Kafka `handleLoadSnapshot`). Never emitted on a leader.
    SnapshotInstalled {
        /// The id.
        id: SnapshotId,
    },
    /// After `Input::Shutdown`: the node may stop (it is an observer, the only voter, or a
    /// remote leader is known).
    ShutdownReady,
}

/// Why a snapshot was refused (KAFKA-13968: snapshots only of committed, batch-aligned state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotRejection {
    /// The end offset is above the high watermark (or the high watermark is unknown).
    AboveHighWatermark,
    /// Not newer than the latest snapshot (or below the log start).
    NotNewer,
    /// The end offset is not on a batch boundary of the log.
    NotBatchAligned,
    /// The epoch does not match the epoch of the record before the end offset.
    EpochMismatch,
}

/// Why the core refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    /// The configuration is invalid.
    #[error("invalid raft config: {0}")]
    Config(#[from] ConfigError),
    /// KAFKA-14240: the log starts above zero but no snapshot covers its start.
    #[error(
        "log start offset {start} > 0 without a snapshot at it (earliest snapshot: {earliest:?})"
    )]
    NoSnapshotAtLogStart {
        /// The log start offset.
        start: Offset,
        /// The earliest snapshot found.
        earliest: Option<SnapshotId>,
    },
    /// The persisted state records a vote or leadership of a node that is not a voter.
    #[error("quorum-state names {0} but this node is not a voter")]
    NotAVoter(NodeId),
}

#[derive(Debug, Clone)]
pub(crate) struct Nominee {
    pub(crate) granted: BTreeSet<NodeId>,
    pub(crate) rejected: BTreeSet<NodeId>,
    pub(crate) deadline: MonoTime,
    pub(crate) send_after: MonoTime,
    pub(crate) retries: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct FollowerState {
    pub(crate) leader: NodeId,
    pub(crate) fetch_deadline: MonoTime,
    pub(crate) has_fetched: bool,
    /// The leader sent EndQuorumEpoch: it is gone even if fetches still succeed.
    pub(crate) leader_resigned: bool,
    pub(crate) next_fetch_at: MonoTime,
    pub(crate) snapshot: Option<(SnapshotId, u64)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaProgress {
    pub(crate) end_offset: Option<Offset>,
    pub(crate) last_fetch: Option<MonoTime>,
    pub(crate) last_caught_up: Option<MonoTime>,
    pub(crate) leo_at_last_fetch: Option<Offset>,
}

#[derive(Debug, Clone)]
pub(crate) struct ParkedFetch {
    pub(crate) from: NodeId,
    pub(crate) correlation_id: u64,
    pub(crate) request: FetchRequest,
    pub(crate) deadline: MonoTime,
}

#[derive(Debug, Clone)]
pub(crate) struct LeaderState {
    pub(crate) epoch_start_offset: Offset,
    pub(crate) epoch_committed: bool,
    pub(crate) replicas: BTreeMap<NodeId, ReplicaProgress>,
    pub(crate) check_quorum_deadline: MonoTime,
    pub(crate) fetched_voters: BTreeSet<NodeId>,
    pub(crate) next_begin_epoch: MonoTime,
    pub(crate) parked: Vec<ParkedFetch>,
}

#[derive(Debug, Clone)]
pub(crate) struct ResignedState {
    pub(crate) election_deadline: MonoTime,
    pub(crate) unacked: BTreeSet<NodeId>,
    pub(crate) preferred: Vec<NodeId>,
}

#[derive(Debug, Clone)]
pub(crate) enum Role {
    Unattached { election_deadline: MonoTime },
    Prospective(Nominee),
    Candidate(Nominee),
    Leader(Box<LeaderState>),
    Follower(FollowerState),
    Resigned(ResignedState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Vote { pre_vote: bool },
    BeginQuorumEpoch,
    EndQuorumEpoch,
    Fetch,
    FetchSnapshot,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Inflight {
    pub(crate) correlation_id: u64,
    pub(crate) deadline: MonoTime,
    pub(crate) epoch: Epoch,
    pub(crate) kind: RequestKind,
}

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
            persist_pending: false,
            flush_pending: false,
            pending: Vec::new(),
            reported_leader: (Epoch::UNKNOWN, None),
            reported_hw: None,
            next_deadline: now,
        };
        core.reported_hw = core.high_watermark;
        let log_epoch = core.log.last_fetched_epoch();
        if core.epoch < log_epoch {
            core.epoch = log_epoch;
            core.leader_id = None;
            core.voted_id = None;
            core.persist_pending = true;
            core.role = Role::Unattached {
                election_deadline: core.random_election_deadline(now),
            };
        } else if core.leader_id == Some(me) {
            core.role = Role::Resigned(ResignedState {
                election_deadline: core.random_election_deadline(now),
                unacked: core.other_voters().into_iter().collect(),
                preferred: core.other_voters(),
            });
        } else if core.voted_id == Some(me) && core.leader_id.is_none() {
            core.role = Role::Candidate(Nominee {
                granted: BTreeSet::from([me]),
                rejected: BTreeSet::new(),
                deadline: core.random_election_deadline(now),
                send_after: now,
                retries: 0,
            });
            core.election_started_at = Some(now);
        } else if let Some(leader) = core.leader_id {
            core.role = Role::Follower(FollowerState {
                leader,
                fetch_deadline: now.plus(core.cfg.fetch_timeout),
                has_fetched: false,
                leader_resigned: false,
                next_fetch_at: now,
                snapshot: None,
            });
        } else {
            core.role = Role::Unattached {
                election_deadline: core.random_election_deadline(now),
            };
        }
        Ok(core)
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

    /// Every timer strictly after `now` (a timer at or before `now` was either acted on in this
    /// step or is blocked by another timer that is later, such as a backoff or an in-flight
    /// request).
    fn compute_next_deadline(&self, now: MonoTime) -> MonoTime {
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

    fn timers(&self) -> Vec<MonoTime> {
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

    fn set_election_state(&mut self, epoch: Epoch, leader: Option<NodeId>, voted: Option<NodeId>) {
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

    fn finish_election(&mut self, now: MonoTime) {
        if let Some(start) = self.election_started_at.take() {
            self.last_election_duration = Some(now.since(start));
        }
    }

    fn leave_role(&mut self) {
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

    // ----- timers -----

    fn poll(&mut self, now: MonoTime) {
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
        if self.shutting_down && !self.shutdown_reported {
            let remote_leader = self.leader_id.is_some_and(|l| l != self.cfg.node_id)
                && matches!(self.role, Role::Follower(_));
            if !self.is_voter() || self.cfg.voters.len() == 1 || remote_leader {
                self.shutdown_reported = true;
                self.pending.push(Output::ShutdownReady);
            }
        }
    }

    fn send_due_requests(&mut self, now: MonoTime) {
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
