//! Per-role state of the core (memory only; the durable part is `QuorumStateData`).

use std::collections::{BTreeMap, BTreeSet};

use crate::raft::log::SnapshotId;
use crate::raft::messages::FetchRequest;
use crate::types::{Epoch, MonoTime, NodeId, Offset};

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
