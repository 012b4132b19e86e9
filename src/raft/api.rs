//! The core's public vocabulary: inputs, outputs, the persisted election state and errors.

use bytes::Bytes;

use crate::raft::config::ConfigError;
use crate::raft::log::SnapshotId;
use crate::raft::messages::Message;
use crate::types::{Epoch, NodeId, Offset};

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

/// An input to [`crate::raft::RaftCore::step`].
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

/// An output of [`crate::raft::RaftCore::step`]. See the driver rule in the module documentation.
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
