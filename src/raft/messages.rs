//! Typed KRaft RPC messages, mirroring the fields and error semantics of Kafka's Vote (v2),
//! BeginQuorumEpoch, EndQuorumEpoch, Fetch (KRaft flavour), FetchSnapshot and DescribeQuorum.
//!
//! The core speaks only these types. The IO driver maps them to and from `kafka_protocol`
//! messages; every request concerns the single partition `__cluster_metadata-0`, so the
//! topic/partition nesting of the wire format is flattened here. Top-level and partition-level
//! error codes are folded into one [`ErrorKind`]; the driver puts `InconsistentClusterId` at the
//! top level and everything else in the partition, as Kafka does.
//!
//! Request/response matching: every request travels with a `correlation_id` chosen by the core;
//! the response to it must carry the same id back ([`Message`]). The core accepts at most one
//! in-flight request per destination and drops responses it does not expect (stale or duplicated
//! deliveries), like Kafka's `RequestManager`.

use std::time::Duration;

use bytes::Bytes;

use crate::raft::log::{Batch, OffsetAndEpoch, SnapshotId};
use crate::types::{Epoch, MonoTime, NodeId, Offset};

/// The Kafka error kinds the KRaft RPCs use. `code()` gives the wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// `NONE` (0).
    None,
    /// `OFFSET_OUT_OF_RANGE` (1).
    OffsetOutOfRange,
    /// `NOT_LEADER_OR_FOLLOWER` (6): the receiver is not the leader; the response names the
    /// leader it knows, which is how observers discover the leader.
    NotLeaderOrFollower,
    /// `BROKER_NOT_AVAILABLE` (8): the leader is shutting down (resigned).
    BrokerNotAvailable,
    /// `INVALID_REQUEST` (42): malformed request (a bug in the sender).
    InvalidRequest,
    /// `FENCED_LEADER_EPOCH` (74): the request's epoch is older than the receiver's.
    FencedLeaderEpoch,
    /// `UNKNOWN_LEADER_EPOCH` (75): the request's epoch is newer than the receiver's.
    UnknownLeaderEpoch,
    /// `INCONSISTENT_VOTER_SET` (94): sender or receiver is not one of the expected voters.
    InconsistentVoterSet,
    /// `SNAPSHOT_NOT_FOUND` (98).
    SnapshotNotFound,
    /// `POSITION_OUT_OF_RANGE` (99): FetchSnapshot position outside `[0, size)`.
    PositionOutOfRange,
    /// `INCONSISTENT_CLUSTER_ID` (104): a top-level error in Kafka.
    InconsistentClusterId,
    /// `INVALID_VOTER_KEY` (125): the request's voter id is not the receiver.
    InvalidVoterKey,
}

impl ErrorKind {
    /// The Kafka wire error code.
    pub fn code(self) -> i16 {
        match self {
            ErrorKind::None => 0,
            ErrorKind::OffsetOutOfRange => 1,
            ErrorKind::NotLeaderOrFollower => 6,
            ErrorKind::BrokerNotAvailable => 8,
            ErrorKind::InvalidRequest => 42,
            ErrorKind::FencedLeaderEpoch => 74,
            ErrorKind::UnknownLeaderEpoch => 75,
            ErrorKind::InconsistentVoterSet => 94,
            ErrorKind::SnapshotNotFound => 98,
            ErrorKind::PositionOutOfRange => 99,
            ErrorKind::InconsistentClusterId => 104,
            ErrorKind::InvalidVoterKey => 125,
        }
    }

    /// The error kind for a wire code, `None` for codes the raft core does not use.
    pub fn from_code(code: i16) -> Option<ErrorKind> {
        const ALL: [ErrorKind; 12] = [
            ErrorKind::None,
            ErrorKind::OffsetOutOfRange,
            ErrorKind::NotLeaderOrFollower,
            ErrorKind::BrokerNotAvailable,
            ErrorKind::InvalidRequest,
            ErrorKind::FencedLeaderEpoch,
            ErrorKind::UnknownLeaderEpoch,
            ErrorKind::InconsistentVoterSet,
            ErrorKind::SnapshotNotFound,
            ErrorKind::PositionOutOfRange,
            ErrorKind::InconsistentClusterId,
            ErrorKind::InvalidVoterKey,
        ];
        ALL.into_iter().find(|e| e.code() == code)
    }
}

/// Vote (API 52, v2). `pre_vote = true` is a KIP-996 pre-vote: the epoch is the sender's
/// current (unbumped) epoch and nothing is persisted by either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRequest {
    /// `ClusterId`; `None` is accepted by any receiver.
    pub cluster_id: Option<String>,
    /// `VoterId`: the intended receiver.
    pub voter_id: NodeId,
    /// `ReplicaId` (formerly `CandidateId`).
    pub candidate_id: NodeId,
    /// `ReplicaEpoch` (formerly `CandidateEpoch`).
    pub candidate_epoch: Epoch,
    /// `LastOffsetEpoch`: epoch of the candidate's last batch (or its snapshot's epoch).
    pub last_offset_epoch: Epoch,
    /// `LastOffset`: the candidate's log end offset.
    pub last_offset: Offset,
    /// `PreVote` (v2).
    pub pre_vote: bool,
}

/// Vote response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteResponse {
    /// `ErrorCode`.
    pub error: ErrorKind,
    /// `LeaderId` as known by the responder (`None` = -1).
    pub leader_id: Option<NodeId>,
    /// `LeaderEpoch`: the responder's epoch.
    pub leader_epoch: Epoch,
    /// `VoteGranted`.
    pub vote_granted: bool,
}

/// BeginQuorumEpoch (API 53): a new leader announces itself to the voters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginQuorumEpochRequest {
    /// `ClusterId`.
    pub cluster_id: Option<String>,
    /// `VoterId`: the intended receiver.
    pub voter_id: NodeId,
    /// `LeaderId`.
    pub leader_id: NodeId,
    /// `LeaderEpoch`.
    pub leader_epoch: Epoch,
}

/// BeginQuorumEpoch / EndQuorumEpoch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEpochResponse {
    /// `ErrorCode`.
    pub error: ErrorKind,
    /// `LeaderId` as known by the responder.
    pub leader_id: Option<NodeId>,
    /// `LeaderEpoch`: the responder's epoch.
    pub leader_epoch: Epoch,
}

/// EndQuorumEpoch (API 54): a leader that resigned tells the voters, naming the preferred
/// successors (other voters by descending fetch offset) so the first of them campaigns at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndQuorumEpochRequest {
    /// `ClusterId`.
    pub cluster_id: Option<String>,
    /// `LeaderId`: the resigning leader.
    pub leader_id: NodeId,
    /// `LeaderEpoch`.
    pub leader_epoch: Epoch,
    /// `PreferredSuccessors` (v0) / `PreferredCandidates` (v1).
    pub preferred_successors: Vec<NodeId>,
}

/// Fetch (API 1), KRaft flavour: sent by followers and observers to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// `ClusterId` (tagged, v12+).
    pub cluster_id: Option<String>,
    /// `ReplicaState.ReplicaId`: the fetching node.
    pub replica_id: NodeId,
    /// `ReplicaState.ReplicaEpoch`: always -1 for KRaft.
    pub replica_epoch: i64,
    /// `CurrentLeaderEpoch`: the fetcher's epoch.
    pub current_leader_epoch: Epoch,
    /// `FetchOffset`: the fetcher's log end offset (an acknowledgement from a voter: the
    /// records below it are durable on the fetcher).
    pub fetch_offset: Offset,
    /// `LastFetchedEpoch`: epoch of the fetcher's last batch.
    pub last_fetched_epoch: Epoch,
    /// `MaxWaitMs`: how long the leader may park the request when it has nothing new.
    pub max_wait: Duration,
    /// `MaxBytes`.
    pub max_bytes: usize,
    /// `HighWatermark` (v18): the fetcher's known high watermark; the leader answers a parked
    /// fetch early when its own is larger. `None` = unknown (-1).
    pub high_watermark: Option<Offset>,
}

/// Fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// `ErrorCode`.
    pub error: ErrorKind,
    /// `HighWatermark` (`None` = -1, unknown).
    pub high_watermark: Option<Offset>,
    /// `LogStartOffset`.
    pub log_start_offset: Offset,
    /// `Records`: whole batches starting at the fetch offset.
    pub records: Vec<Batch>,
    /// `DivergingEpoch{Epoch, EndOffset}` (tagged 0): the fetcher must truncate.
    pub diverging_epoch: Option<OffsetAndEpoch>,
    /// `SnapshotId{EndOffset, Epoch}` (tagged 2): the fetcher must fetch this snapshot.
    pub snapshot_id: Option<SnapshotId>,
    /// `CurrentLeader.LeaderId` (tagged 1).
    pub leader_id: Option<NodeId>,
    /// `CurrentLeader.LeaderEpoch` (tagged 1).
    pub leader_epoch: Epoch,
}

/// FetchSnapshot (API 59): position-based download of a snapshot from the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSnapshotRequest {
    /// `ClusterId` (tagged).
    pub cluster_id: Option<String>,
    /// `ReplicaId`.
    pub replica_id: NodeId,
    /// `CurrentLeaderEpoch`.
    pub current_leader_epoch: Epoch,
    /// `SnapshotId`.
    pub snapshot_id: SnapshotId,
    /// `Position`: bytes already downloaded.
    pub position: u64,
    /// `MaxBytes`.
    pub max_bytes: usize,
}

/// FetchSnapshot response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSnapshotResponse {
    /// `ErrorCode`.
    pub error: ErrorKind,
    /// `SnapshotId`.
    pub snapshot_id: SnapshotId,
    /// `Size`: total snapshot size in bytes.
    pub size: u64,
    /// `Position` of `unaligned_records` within the snapshot.
    pub position: u64,
    /// `UnalignedRecords`: the raw slice `[position, position + len)`.
    pub unaligned_records: Bytes,
    /// `CurrentLeader.LeaderId`.
    pub leader_id: Option<NodeId>,
    /// `CurrentLeader.LeaderEpoch`.
    pub leader_epoch: Epoch,
}

/// One replica's row in a DescribeQuorum response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaDescription {
    /// `ReplicaId`.
    pub replica_id: NodeId,
    /// `LogEndOffset` (`None` = -1: never fetched in this epoch).
    pub log_end_offset: Option<Offset>,
    /// `LastFetchTimestamp` in the core's monotonic time; the driver converts to wall clock.
    pub last_fetch_time: Option<MonoTime>,
    /// `LastCaughtUpTimestamp` in the core's monotonic time.
    pub last_caught_up_time: Option<MonoTime>,
}

/// DescribeQuorum (API 55) response data, answered by the leader (see
/// [`crate::raft::RaftCore::describe_quorum`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeQuorumResponse {
    /// `ErrorCode`: `NotLeaderOrFollower` on a non-leader.
    pub error: ErrorKind,
    /// `LeaderId`.
    pub leader_id: Option<NodeId>,
    /// `LeaderEpoch`.
    pub leader_epoch: Epoch,
    /// `HighWatermark`.
    pub high_watermark: Option<Offset>,
    /// `CurrentVoters`.
    pub current_voters: Vec<ReplicaDescription>,
    /// `Observers`.
    pub observers: Vec<ReplicaDescription>,
}

/// A request between quorum members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Vote / pre-vote.
    Vote(VoteRequest),
    /// BeginQuorumEpoch.
    BeginQuorumEpoch(BeginQuorumEpochRequest),
    /// EndQuorumEpoch.
    EndQuorumEpoch(EndQuorumEpochRequest),
    /// Fetch.
    Fetch(FetchRequest),
    /// FetchSnapshot.
    FetchSnapshot(FetchSnapshotRequest),
}

/// A response between quorum members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Vote / pre-vote.
    Vote(VoteResponse),
    /// BeginQuorumEpoch.
    BeginQuorumEpoch(QuorumEpochResponse),
    /// EndQuorumEpoch.
    EndQuorumEpoch(QuorumEpochResponse),
    /// Fetch.
    Fetch(FetchResponse),
    /// FetchSnapshot.
    FetchSnapshot(FetchSnapshotResponse),
}

/// What travels between cores: a request or the response to one, with its correlation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request; the receiver answers with a [`Message::Response`] carrying the same id.
    Request {
        /// Chosen by the sender, unique per sender.
        correlation_id: u64,
        /// The request.
        body: Request,
    },
    /// The response to the request with `correlation_id`.
    Response {
        /// Copied from the request.
        correlation_id: u64,
        /// The response.
        body: Response,
    },
}

impl Request {
    /// A short name for traces.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Vote(r) if r.pre_vote => "PreVote",
            Request::Vote(_) => "Vote",
            Request::BeginQuorumEpoch(_) => "BeginQuorumEpoch",
            Request::EndQuorumEpoch(_) => "EndQuorumEpoch",
            Request::Fetch(_) => "Fetch",
            Request::FetchSnapshot(_) => "FetchSnapshot",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for code in [0, 1, 6, 8, 42, 74, 75, 94, 98, 99, 104, 125] {
            let kind = ErrorKind::from_code(code).unwrap();
            assert_eq!(kind.code(), code);
        }
        assert_eq!(ErrorKind::from_code(3), None);
    }
}
