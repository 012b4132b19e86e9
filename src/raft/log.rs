//! What the raft core needs of the metadata log: the [`RaftLog`] trait and the batch shape.
//!
//! The core calls the log synchronously (like Kafka's `ReplicatedLog`). Appends land in the
//! log immediately but are **not durable** until the driver executes an
//! [`crate::raft::Output::FlushLog`]; the core never counts a record as acknowledged before
//! that output has been executed (it precedes every `Send` of the same step). Truncation and
//! snapshot installation must be atomic and durable no later than the next flush completes.

use bytes::Bytes;

use crate::types::{Epoch, NodeId, Offset};

/// An (end offset, epoch) pair: a snapshot id, a diverging epoch, or a log position.
///
/// Ordered epoch first, then offset (Kafka's `OffsetAndEpoch.compareTo`), which is the order
/// of the Vote "log up to date" check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetAndEpoch {
    /// The (exclusive) end offset.
    pub offset: Offset,
    /// The epoch.
    pub epoch: Epoch,
}

impl OffsetAndEpoch {
    /// Builds the pair.
    pub fn new(offset: Offset, epoch: Epoch) -> Self {
        OffsetAndEpoch { offset, epoch }
    }
}

impl PartialOrd for OffsetAndEpoch {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OffsetAndEpoch {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.epoch, self.offset).cmp(&(other.epoch, other.offset))
    }
}

/// A snapshot id: `end_offset` is exclusive (last contained offset + 1) and `epoch` is the
/// epoch of the last contained record. Files are named
/// `<20-digit offset>-<10-digit epoch>.checkpoint`, see [`snapshot_file_name`].
pub type SnapshotId = OffsetAndEpoch;

/// The checkpoint file name Kafka uses for a snapshot id.
pub fn snapshot_file_name(id: SnapshotId) -> String {
    format!("{:020}-{:010}.checkpoint", id.offset.0, id.epoch.0)
}

/// A raft control record (Kafka's control batch types 2–4). Only `LeaderChange` is written
/// by the core into the log; snapshot header and footer frame snapshot files and are written by
/// the snapshot writer (driver side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlRecord {
    /// `LEADER_CHANGE` (type 2): written by every new leader at the start of its epoch.
    LeaderChange {
        /// The new leader.
        leader_id: NodeId,
        /// The voter set.
        voters: Vec<NodeId>,
        /// The voters whose votes elected this leader.
        granting_voters: Vec<NodeId>,
    },
    /// `SNAPSHOT_HEADER` (type 3).
    SnapshotHeader {
        /// `LastContainedLogTimestamp` (ms).
        last_contained_log_timestamp: i64,
    },
    /// `SNAPSHOT_FOOTER` (type 4).
    SnapshotFooter,
}

/// The payload of a batch: data records (opaque record values, null keys) or control records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchPayload {
    /// Data records; each `Bytes` is one record value, opaque to the core.
    Data(Vec<Bytes>),
    /// A control batch.
    Control(Vec<ControlRecord>),
}

/// A record batch as the core sees it: Kafka's RecordBatch v2 reduced to what raft needs
/// (base offset, `partitionLeaderEpoch`, record count, and the records). The log implementation
/// encodes it to the real v2 format (control bit set for [`BatchPayload::Control`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Offset of the first record.
    pub base_offset: Offset,
    /// `partitionLeaderEpoch`: the epoch of the leader that appended it.
    pub epoch: Epoch,
    /// The records.
    pub payload: BatchPayload,
}

impl Batch {
    /// Number of records (each takes one offset).
    pub fn record_count(&self) -> i64 {
        match &self.payload {
            BatchPayload::Data(records) => records.len() as i64,
            BatchPayload::Control(records) => records.len() as i64,
        }
    }

    /// The offset after the batch's last record.
    pub fn next_offset(&self) -> Offset {
        Offset(self.base_offset.0 + self.record_count())
    }

    /// An estimate of the batch's size on the wire (RecordBatch v2 header plus records).
    pub fn size_bytes(&self) -> usize {
        const BATCH_HEADER: usize = 61;
        const RECORD_OVERHEAD: usize = 8;
        let records: usize = match &self.payload {
            BatchPayload::Data(records) => records.iter().map(|r| r.len() + RECORD_OVERHEAD).sum(),
            BatchPayload::Control(records) => records.len() * (RECORD_OVERHEAD + 16),
        };
        BATCH_HEADER + records
    }

    /// Whether this is a control batch.
    pub fn is_control(&self) -> bool {
        matches!(self.payload, BatchPayload::Control(_))
    }
}

/// The metadata log, as the raft core uses it.
///
/// Contract (mirrors Kafka's `ReplicatedLog`):
/// - Offsets are dense; `start_offset() <= end_offset()`. Batches never straddle the start.
/// - The epoch cache answers [`RaftLog::end_offset_for_epoch`] for the retained log and, below
///   it, from the latest snapshot id.
/// - Appends are visible at once and durable only after [`RaftLog::flush`].
/// - [`RaftLog::truncate_to`], [`RaftLog::install_snapshot`] and
///   [`RaftLog::delete_before_snapshot`] are atomic; a crash leaves either the old or the new
///   state, and they are durable no later than the next `flush` returns.
/// - Snapshot files ([`RaftLog::create_snapshot`], a completed download) are frozen
///   atomically (write `.part`, fsync, rename) and durable on return.
/// - The log is cleaned only below a snapshot and the latest snapshot is never deleted.
pub trait RaftLog {
    /// The first offset retained in the log (equals the earliest snapshot's end offset when
    /// greater than zero).
    fn start_offset(&self) -> Offset;

    /// The log end offset (LEO): one past the last record.
    fn end_offset(&self) -> Offset;

    /// The epoch of the last batch, or of the latest snapshot when the log is empty above it,
    /// or `Epoch(0)` for an empty log.
    fn last_fetched_epoch(&self) -> Epoch;

    /// The largest epoch `<= epoch` present in the log (or snapshot) and the offset where it
    /// ends (the base offset of the next epoch, or the LEO). `None` when every known epoch is
    /// larger than `epoch`.
    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<OffsetAndEpoch>;

    /// Whole batches starting exactly at `from`, up to about `max_bytes` (at least one batch
    /// when any exists at `from`). Empty when `from` is at or past the end or not a batch start.
    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch>;

    /// Appends one batch at the end in `epoch` (the leader path) and returns it with its base
    /// offset assigned.
    fn append_as_leader(&mut self, epoch: Epoch, payload: BatchPayload) -> Batch;

    /// Appends batches replicated from the leader. The first batch's base offset equals
    /// `end_offset()` (the core checks this before calling).
    fn append_as_follower(&mut self, batches: &[Batch]);

    /// Removes every record at or after `offset` (no-op when `offset >= end_offset()`).
    fn truncate_to(&mut self, offset: Offset);

    /// Makes every appended record durable (fsync). Called by the driver for
    /// [`crate::raft::Output::FlushLog`].
    fn flush(&mut self);

    /// The latest snapshot, if any.
    fn latest_snapshot(&self) -> Option<SnapshotId>;

    /// The earliest snapshot still kept, if any.
    fn earliest_snapshot(&self) -> Option<SnapshotId>;

    /// Size in bytes of a frozen snapshot, `None` if it does not exist.
    fn snapshot_size(&self, id: SnapshotId) -> Option<u64>;

    /// Up to `max_bytes` of a frozen snapshot from `position`, `None` if it does not exist.
    fn read_snapshot(&self, id: SnapshotId, position: u64, max_bytes: usize) -> Option<Bytes>;

    /// Freezes a snapshot produced by the layer above (already validated by the core: at or
    /// below the high watermark, on a batch boundary, epoch matching the log).
    fn create_snapshot(&mut self, id: SnapshotId, data: Bytes);

    /// Appends a downloaded chunk to the partial snapshot `id` at `position`, which must equal
    /// the bytes written so far (a new download starts at 0 and discards any other partial
    /// snapshot). Returns the partial size after the write, or `None` if `position` did not
    /// match.
    fn write_snapshot_chunk(&mut self, id: SnapshotId, position: u64, chunk: &[u8]) -> Option<u64>;

    /// Drops a partial download.
    fn abort_snapshot_download(&mut self);

    /// Freezes the completed download `id`, then truncates the log fully so that it starts
    /// (and ends) at `id.offset`, forgetting older snapshots. Atomic.
    fn install_snapshot(&mut self, id: SnapshotId);

    /// Advances the log start offset to the snapshot `id` (which must exist), deleting batches
    /// and snapshots below it. Returns whether anything changed.
    fn delete_before_snapshot(&mut self, id: SnapshotId) -> bool;
}
