//! Turns the committed metadata log into images (Kafka's MetadataLoader), sans-IO: the
//! latest snapshot builds an image from empty, committed batches are replayed on top of it,
//! records inside a metadata transaction become visible only at its end (and are dropped on
//! abort), and nothing is published until the loader has caught up to the first high
//! watermark it was told about.

use std::sync::Arc;

use bytes::Bytes;

use crate::metadata::delta::{Changes, MetadataDelta, ReplayError};
use crate::metadata::image::{MetadataImage, Provenance};
use crate::metadata::records::{self, ApiMessageAndVersion, MetadataRecord, RecordError};
use crate::raft::codec;
use crate::raft::{Batch, BatchPayload, ControlRecord, SnapshotId};

/// A published image and how it came to be.
#[derive(Debug, Clone)]
pub struct Update {
    pub image: Arc<MetadataImage>,
    pub changes: Changes,
    /// Built from a snapshot (publishers must treat everything as changed).
    pub from_snapshot: Option<SnapshotId>,
    /// Records replayed since the previous update.
    pub records: usize,
}

/// A problem found while loading; the loader counts it and carries on without the record.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot decode the record at offset {offset}: {source}")]
    Decode { offset: i64, source: RecordError },
    #[error("cannot apply the record at offset {offset} ({record}): {source}")]
    Replay {
        offset: i64,
        record: &'static str,
        source: ReplayError,
    },
    #[error("snapshot {id:?} is unreadable: {reason}")]
    Snapshot { id: SnapshotId, reason: String },
}

/// The latest leader change seen in the committed log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderChange {
    pub epoch: i32,
    pub leader_id: i32,
    /// Offset of the LeaderChange record.
    pub offset: i64,
}

pub struct MetadataLoader {
    image: Arc<MetadataImage>,
    /// Records applied since the last published image.
    delta: MetadataDelta,
    /// State before an open metadata transaction (restored on abort).
    transaction_start: Option<MetadataDelta>,
    /// Position of the last replayed batch.
    position: Provenance,
    pending_records: usize,
    pending_snapshot: Option<SnapshotId>,
    /// Publish nothing before reaching this end offset.
    catch_up_target: Option<i64>,
    caught_up: bool,
    /// Problems since the last snapshot load (snapshots of a damaged image are not written).
    errors_since_snapshot: u64,
    errors_total: u64,
    snapshots_loaded: u64,
    leader: Option<LeaderChange>,
}

impl Default for MetadataLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl MetadataLoader {
    pub fn new() -> Self {
        let image = Arc::new(MetadataImage::empty());
        MetadataLoader {
            delta: MetadataDelta::new(&image),
            image,
            transaction_start: None,
            position: Provenance::default(),
            pending_records: 0,
            pending_snapshot: None,
            catch_up_target: None,
            caught_up: false,
            errors_since_snapshot: 0,
            errors_total: 0,
            snapshots_loaded: 0,
            leader: None,
        }
    }

    /// The last published image.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Offset and epoch of the last replayed batch (published or not).
    pub fn position(&self) -> Provenance {
        self.position
    }

    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    pub fn errors_total(&self) -> u64 {
        self.errors_total
    }

    /// Whether the current image may be written as a snapshot: no load problem since the last
    /// snapshot and no open transaction.
    pub fn snapshot_safe(&self) -> bool {
        self.errors_since_snapshot == 0 && self.transaction_start.is_none()
    }

    /// A metadata transaction is open (its records are not published yet).
    pub fn in_transaction(&self) -> bool {
        self.transaction_start.is_some()
    }

    pub fn snapshots_loaded(&self) -> u64 {
        self.snapshots_loaded
    }

    pub fn leader(&self) -> Option<LeaderChange> {
        self.leader
    }

    /// The high watermark first observed: images are published from the moment the loader
    /// reaches it. Later calls are ignored.
    pub fn set_catch_up_target(&mut self, high_watermark: i64) {
        if self.catch_up_target.is_none() {
            self.catch_up_target = Some(high_watermark);
        }
    }

    /// Replaces all state with a snapshot (`data` holds its whole file).
    pub fn load_snapshot(
        &mut self,
        id: SnapshotId,
        data: Bytes,
        errors: &mut Vec<LoadError>,
    ) -> Option<Update> {
        let batches = match codec::decode_batches(data) {
            Ok(b) => b,
            Err(e) => {
                self.count_error();
                errors.push(LoadError::Snapshot {
                    id,
                    reason: e.to_string(),
                });
                return None;
            }
        };
        let empty = MetadataImage::empty();
        let mut delta = MetadataDelta::new(&empty);
        let mut timestamp = -1;
        let mut failed = 0;
        for b in &batches {
            match &b.payload {
                BatchPayload::Control(controls) => {
                    for c in controls {
                        if let ControlRecord::SnapshotHeader {
                            last_contained_log_timestamp,
                        } = c
                        {
                            timestamp = *last_contained_log_timestamp;
                        }
                    }
                }
                BatchPayload::Data(values) => {
                    for (i, v) in values.iter().enumerate() {
                        let offset = b.base_offset.0 + i as i64;
                        if let Err(e) = replay_value(&mut delta, offset, v) {
                            failed += 1;
                            errors.push(e);
                        }
                    }
                }
            }
        }
        self.errors_total += failed;
        self.errors_since_snapshot = failed;
        self.snapshots_loaded += 1;
        self.delta = delta;
        self.transaction_start = None;
        self.position = Provenance {
            last_offset: id.offset.0 - 1,
            last_epoch: id.epoch.0,
            last_timestamp_ms: timestamp,
        };
        self.pending_records = self.delta.changes().records;
        self.pending_snapshot = Some(id);
        self.maybe_publish()
    }

    /// Replays committed batches; returns the new image when one is published.
    pub fn apply_batches(
        &mut self,
        batches: &[Batch],
        timestamp_ms: i64,
        errors: &mut Vec<LoadError>,
    ) -> Option<Update> {
        for b in batches {
            match &b.payload {
                BatchPayload::Control(controls) => {
                    for (i, c) in controls.iter().enumerate() {
                        if let ControlRecord::LeaderChange { leader_id, .. } = c {
                            self.leader = Some(LeaderChange {
                                epoch: b.epoch.0,
                                leader_id: leader_id.0,
                                offset: b.base_offset.0 + i as i64,
                            });
                        }
                    }
                }
                BatchPayload::Data(values) => {
                    for (i, v) in values.iter().enumerate() {
                        let offset = b.base_offset.0 + i as i64;
                        match records::decode(v) {
                            Ok(m) => self.replay(offset, &m, errors),
                            Err(source) => {
                                self.count_error();
                                errors.push(LoadError::Decode { offset, source });
                            }
                        }
                    }
                }
            }
            self.position = Provenance {
                last_offset: b.next_offset().0 - 1,
                last_epoch: b.epoch.0,
                last_timestamp_ms: timestamp_ms,
            };
        }
        self.maybe_publish()
    }

    fn replay(&mut self, offset: i64, m: &ApiMessageAndVersion, errors: &mut Vec<LoadError>) {
        match &m.record {
            MetadataRecord::BeginTransaction(_) if self.transaction_start.is_none() => {
                self.transaction_start = Some(self.delta.clone());
            }
            MetadataRecord::EndTransaction(_) => self.transaction_start = None,
            MetadataRecord::AbortTransaction(_) => {
                if let Some(before) = self.transaction_start.take() {
                    self.delta = before;
                }
            }
            _ => {}
        }
        match self.delta.replay(m) {
            Ok(()) => self.pending_records += 1,
            Err(source) => {
                self.count_error();
                errors.push(LoadError::Replay {
                    offset,
                    record: m.record.name(),
                    source,
                });
            }
        }
    }

    fn count_error(&mut self) {
        self.errors_total += 1;
        self.errors_since_snapshot += 1;
    }

    fn maybe_publish(&mut self) -> Option<Update> {
        if !self.caught_up {
            let target = self.catch_up_target?;
            if self.position.end_offset() < target || self.position.last_offset < 0 {
                return None;
            }
            self.caught_up = true;
        }
        if self.transaction_start.is_some() {
            return None;
        }
        let delta = std::mem::replace(&mut self.delta, MetadataDelta::new(&self.image));
        let (image, changes) = delta.apply(self.position);
        let image = Arc::new(image);
        self.image = image.clone();
        self.delta = MetadataDelta::new(&self.image);
        let update = Update {
            image,
            changes,
            from_snapshot: self.pending_snapshot.take(),
            records: std::mem::take(&mut self.pending_records),
        };
        Some(update)
    }
}

fn replay_value(delta: &mut MetadataDelta, offset: i64, value: &Bytes) -> Result<(), LoadError> {
    let m = records::decode(value).map_err(|source| LoadError::Decode { offset, source })?;
    delta.replay(&m).map_err(|source| LoadError::Replay {
        offset,
        record: m.record.name(),
        source,
    })
}
