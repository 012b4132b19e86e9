//! A cheap snapshot of the core's state for metrics and DescribeQuorum (the core has no
//! metrics dependency; the driver reads [`crate::raft::RaftCore::status`] after each step).

use std::time::Duration;

use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// The quorum state of a node (Kafka's `EpochState` implementations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateKind {
    /// Knows an epoch, possibly a vote, no leader it follows.
    Unattached,
    /// Pre-voting (KIP-996) without bumping the epoch.
    Prospective,
    /// Bumped the epoch, voted for itself, asking for votes.
    Candidate,
    /// Elected leader of the epoch.
    Leader,
    /// Fetching from the leader of the epoch.
    Follower,
    /// A former leader of the epoch that stepped down (or restarted) and may not lead again in it.
    Resigned,
}

impl StateKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Unattached => "unattached",
            StateKind::Prospective => "prospective",
            StateKind::Candidate => "candidate",
            StateKind::Leader => "leader",
            StateKind::Follower => "follower",
            StateKind::Resigned => "resigned",
        }
    }
}

/// Monotonic event counters (never reset while the process lives).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RaftCounters {
    /// Elections started (transitions to candidate, each bumping the epoch).
    pub elections: u64,
    /// Pre-vote rounds started (transitions to prospective).
    pub pre_vote_rounds: u64,
    /// Election timer expiries (unattached, prospective, candidate, resigned).
    pub election_timeouts: u64,
    /// Fetch timer expiries on followers.
    pub fetch_timeouts: u64,
    /// Check-quorum expiries that made the leader resign.
    pub check_quorum_resignations: u64,
    /// Records appended as leader (including control records).
    pub appended_records: u64,
    /// Records appended as follower from fetch responses.
    pub fetched_records: u64,
    /// Requests forgotten after the request timeout.
    pub request_timeouts: u64,
    /// Responses dropped because no matching request was in flight.
    pub unexpected_responses: u64,
    /// Snapshots installed from the leader.
    pub snapshots_installed: u64,
    /// Times this node became leader.
    pub leaderships: u64,
}

/// One replica's progress as seen by the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The replica.
    pub replica_id: NodeId,
    /// Voter (true) or observer.
    pub is_voter: bool,
    /// Its fetch offset in this epoch, `None` before its first valid fetch.
    pub log_end_offset: Option<Offset>,
    /// Leader LEO minus its end offset (`None` before its first fetch).
    pub lag: Option<i64>,
    /// When it last fetched.
    pub last_fetch_time: Option<MonoTime>,
    /// When it was last caught up with the leader's LEO.
    pub last_caught_up_time: Option<MonoTime>,
}

/// A point-in-time view of a [`crate::raft::RaftCore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node.
    pub node_id: NodeId,
    /// Whether this node is a voter (otherwise an observer).
    pub is_voter: bool,
    /// The state.
    pub state: StateKind,
    /// The current epoch.
    pub epoch: Epoch,
    /// The known leader of the current epoch.
    pub leader_id: Option<NodeId>,
    /// The vote cast in the current epoch.
    pub voted_id: Option<NodeId>,
    /// The high watermark known to this node (`None` until known).
    pub high_watermark: Option<Offset>,
    /// Log start offset.
    pub log_start_offset: Offset,
    /// Log end offset.
    pub log_end_offset: Offset,
    /// Epoch of the last batch.
    pub last_fetched_epoch: Epoch,
    /// The latest snapshot in the log (created here or installed from the leader).
    pub latest_snapshot: Option<crate::raft::SnapshotId>,
    /// The voter set.
    pub voters: Vec<NodeId>,
    /// On the leader: every voter and known observer (the leader itself included).
    pub replicas: Vec<ReplicaStatus>,
    /// On the leader: whether a record of its epoch is committed (its LeaderChange).
    pub epoch_committed: bool,
    /// When the current election started (left follower/leader), if one is running.
    pub election_started_at: Option<MonoTime>,
    /// Duration of the last completed election (from its start to leader or follower).
    pub last_election_duration: Option<Duration>,
    /// Counters.
    pub counters: RaftCounters,
}

impl RaftStatus {
    /// Kafka's `current-state` metric value: `leader`, `candidate`, `voted`, `follower`,
    /// `unattached`, `observer`, plus ours: `prospective`, `resigned`.
    pub fn metric_state(&self) -> &'static str {
        match self.state {
            StateKind::Follower if !self.is_voter => "observer",
            StateKind::Unattached if self.voted_id.is_some() => "voted",
            s => s.as_str(),
        }
    }

    /// On the leader: the largest lag of any voter or observer other than the leader.
    pub fn max_follower_lag(&self) -> Option<i64> {
        self.replicas
            .iter()
            .filter(|r| r.replica_id != self.node_id)
            .filter_map(|r| r.lag)
            .max()
    }
}
