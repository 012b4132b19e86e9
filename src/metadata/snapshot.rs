//! Writing an image as a snapshot file (header, the image's records in batches, footer, in
//! the metadata log's RecordBatch format) and deciding when to write one.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::metadata::image::MetadataImage;
use crate::metadata::records::{self, RecordError};
use crate::raft::codec::{self, CodecError};
use crate::raft::{Batch, BatchPayload, ControlRecord, OffsetAndEpoch, SnapshotId};
use crate::types::{Epoch, Offset};

/// Records per data batch in a snapshot file.
const RECORDS_PER_BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotWriteError {
    #[error("cannot encode a record of the image: {0}")]
    Record(#[from] RecordError),
    #[error(transparent)]
    Batch(#[from] CodecError),
    #[error("the image contains nothing (offset {0}) and needs no snapshot")]
    Empty(i64),
}

/// The snapshot id of an image: its end offset and the epoch of its last record.
pub fn snapshot_id(image: &MetadataImage) -> SnapshotId {
    OffsetAndEpoch::new(
        Offset(image.provenance.end_offset()),
        Epoch(image.provenance.last_epoch),
    )
}

/// Serializes `image` as a snapshot file; `now_ms` stamps the batches.
pub fn encode(
    image: &MetadataImage,
    now_ms: i64,
) -> Result<(SnapshotId, Bytes), SnapshotWriteError> {
    let id = snapshot_id(image);
    if id.offset.0 <= 0 {
        return Err(SnapshotWriteError::Empty(image.provenance.last_offset));
    }
    let values = image
        .records()
        .iter()
        .map(records::encode)
        .collect::<Result<Vec<_>, _>>()?;
    let epoch = id.epoch;
    let mut out = BytesMut::new();
    let mut offset = 0i64;
    let mut push = |payload: BatchPayload, out: &mut BytesMut| -> Result<(), CodecError> {
        let b = Batch {
            base_offset: Offset(offset),
            epoch,
            payload,
        };
        offset = b.next_offset().0;
        codec::encode_batch(&b, now_ms, out)
    };
    push(
        BatchPayload::Control(vec![ControlRecord::SnapshotHeader {
            last_contained_log_timestamp: image.provenance.last_timestamp_ms.max(0),
        }]),
        &mut out,
    )?;
    for chunk in values.chunks(RECORDS_PER_BATCH) {
        push(BatchPayload::Data(chunk.to_vec()), &mut out)?;
    }
    push(
        BatchPayload::Control(vec![ControlRecord::SnapshotFooter]),
        &mut out,
    )?;
    Ok((id, out.freeze()))
}

/// When a node writes a snapshot: after `max_bytes` of committed batches or `max_interval`
/// since the last one, whichever comes first, and only when something new was committed.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    pub max_bytes: u64,
    /// Zero disables the time trigger.
    pub max_interval: Duration,
    bytes_since: u64,
    last_snapshot_end: i64,
    last_at: Option<Duration>,
}

impl SnapshotPolicy {
    /// `now` is a monotonic time (from process start).
    pub fn new(max_bytes: u64, max_interval: Duration, now: Duration) -> Self {
        SnapshotPolicy {
            max_bytes,
            max_interval,
            bytes_since: 0,
            last_snapshot_end: 0,
            last_at: Some(now),
        }
    }

    /// Committed batches of `bytes` were applied.
    pub fn committed(&mut self, bytes: u64) {
        self.bytes_since += bytes;
    }

    /// A snapshot at `end_offset` exists now (written or loaded).
    pub fn snapshot_taken(&mut self, end_offset: i64, now: Duration) {
        self.bytes_since = 0;
        self.last_snapshot_end = self.last_snapshot_end.max(end_offset);
        self.last_at = Some(now);
    }

    pub fn last_snapshot_end(&self) -> i64 {
        self.last_snapshot_end
    }

    /// Whether an image ending at `end_offset` should be written now.
    pub fn due(&self, end_offset: i64, now: Duration) -> bool {
        if end_offset <= self.last_snapshot_end {
            return false;
        }
        if self.bytes_since >= self.max_bytes {
            return true;
        }
        !self.max_interval.is_zero()
            && self
                .last_at
                .is_some_and(|at| now.saturating_sub(at) >= self.max_interval)
    }
}
