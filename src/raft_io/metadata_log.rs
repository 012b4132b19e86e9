//! The durable `__cluster_metadata-0` log: the raft core's [`RaftLog`] over the Kafka-format
//! log engine (`crate::log`) and the snapshot store. Batches are stored as RecordBatch v2
//! (`raft::codec`).
//!
//! I/O errors here are fatal (ADR 0004): the quorum's safety rests on this log, so the process
//! logs the error and exits non-zero for systemd to restart it, rather than continuing with a
//! log it cannot trust.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::snapshot_store::SnapshotStore;
use crate::clock::Clock;
use crate::log::{Log, LogConfig, LogError, RecoveryReport};
use crate::observability::metrics::LogMetrics;
use crate::raft::codec;
use crate::raft::{Batch, BatchPayload, OffsetAndEpoch, RaftLog, SnapshotId};
use crate::types::{Epoch, Offset};

/// The metadata partition's directory name inside `metadata.log.dir`.
pub const METADATA_PARTITION_DIR: &str = "__cluster_metadata-0";

/// Largest metadata batch (Kafka's 8 MiB).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Snapshot(#[from] super::snapshot_store::SnapshotIoError),
    #[error("this controller's metadata log {} or its {} is missing although the storage is formatted: the voter has lost its copy of the quorum's log and its vote. Do not start it empty while the other voters may lack committed records (docs/raft.md). To replace the voter deliberately: keep it stopped until the other voters are healthy, remove its metadata directory and run `kraftd storage format` again", dir.display(), state.display())]
    VoterStateMissing { dir: PathBuf, state: PathBuf },
    #[error("the metadata log starts at offset {start} but no snapshot ends there (snapshots: {snapshots:?}); the directory {} is damaged", dir.display())]
    MissingSnapshot {
        dir: PathBuf,
        start: i64,
        snapshots: Vec<SnapshotId>,
    },
}

/// Prepares a freshly formatted metadata directory: the `__cluster_metadata-0` directory and
/// an initial `quorum-state` (epoch 0, no leader, no vote). Their presence later proves that a
/// voter's metadata was not lost (see [`check_voter_state`]).
pub fn initialize(
    metadata_log_dir: &Path,
    voters: Vec<crate::types::NodeId>,
) -> Result<(), MetadataLogError> {
    let dir = metadata_log_dir.join(METADATA_PARTITION_DIR);
    std::fs::create_dir_all(&dir).map_err(LogError::io(&dir))?;
    let store = super::quorum_state_store::QuorumStateStore::new(&dir, voters);
    if store.read().ok().flatten().is_none() {
        store
            .write(&crate::raft::QuorumStateData::default())
            .map_err(|e| {
                MetadataLogError::Log(LogError::Io {
                    path: dir.clone(),
                    cause: std::io::Error::other(e.to_string()),
                })
            })?;
    }
    Ok(())
}

/// A voter refuses to start when its metadata log or `quorum-state` is missing: it would
/// otherwise come back with no log and no memory of its vote, which can lose committed metadata
/// or elect two leaders in one epoch (docs/raft.md).
pub fn check_voter_state(metadata_log_dir: &Path) -> Result<(), MetadataLogError> {
    let dir = metadata_log_dir.join(METADATA_PARTITION_DIR);
    let state = dir.join(super::quorum_state_store::QUORUM_STATE_FILE);
    if dir.is_dir() && state.is_file() {
        return Ok(());
    }
    Err(MetadataLogError::VoterStateMissing { dir, state })
}

/// The metadata log of this node.
pub struct MetadataLog {
    log: Log,
    snapshots: SnapshotStore,
    clock: Clock,
    metrics: Option<LogMetrics>,
}

impl Drop for MetadataLog {
    /// A clean stop leaves an up-to-date recovery point, so the next start validates nothing
    /// twice. (A failure here only makes that recovery longer.)
    fn drop(&mut self) {
        if let Err(e) = self.log.checkpoint() {
            tracing::warn!(error = %e, "writing the metadata log's recovery point failed");
        }
    }
}

fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    tracing::error!(error = %e, "metadata log {what} failed; exiting so the node restarts on a consistent log");
    eprintln!("kraftd: fatal: metadata log {what} failed: {e}");
    std::process::exit(74);
}

impl MetadataLog {
    /// Opens (creating when new) `<metadata.log.dir>/__cluster_metadata-0`, recovering a torn
    /// tail. `segment_bytes` is `metadata.log.segment.bytes`.
    pub fn open(
        metadata_log_dir: &Path,
        segment_bytes: u64,
        clock: Clock,
    ) -> Result<(MetadataLog, RecoveryReport), MetadataLogError> {
        let dir = metadata_log_dir.join(METADATA_PARTITION_DIR);
        let config = LogConfig {
            segment_bytes,
            max_batch_bytes: MAX_BATCH_BYTES,
            // The metadata log is cleaned only below snapshots, never by retention.
            retention: None,
            retention_bytes: None,
            ..LogConfig::default()
        };
        let (log, report) = Log::open(&dir, config, clock.wall_ms())?;
        let snapshots = SnapshotStore::open(&dir)?;
        let start = log.log_start_offset();
        if start > 0 && !snapshots.ids().any(|s| s.offset.0 == start) {
            return Err(MetadataLogError::MissingSnapshot {
                dir,
                start,
                snapshots: snapshots.ids().copied().collect(),
            });
        }
        Ok((
            MetadataLog {
                log,
                snapshots,
                clock,
                metrics: None,
            },
            report,
        ))
    }

    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    /// Reports flushes, size and segment count to `metrics` from now on.
    pub fn with_metrics(mut self, metrics: LogMetrics) -> Self {
        self.metrics = Some(metrics);
        self.report_size();
        self
    }

    fn report_size(&self) {
        if let Some(m) = &self.metrics {
            let topic = [super::wire::METADATA_TOPIC];
            m.segments
                .with_label_values(&topic)
                .set(self.log.segment_count() as i64);
            m.size_bytes
                .with_label_values(&topic)
                .set(self.log.size_bytes() as i64);
        }
    }

    /// A whole frozen snapshot (for the layer above to load at startup).
    pub fn read_snapshot_file(&self, id: SnapshotId) -> Option<Bytes> {
        self.snapshots
            .read_all(id)
            .unwrap_or_else(|e| fatal("snapshot read", e))
    }

    pub fn segment_count(&self) -> usize {
        self.log.segment_count()
    }

    fn append_encoded(&mut self, batches: &[Batch]) {
        let mut buf = BytesMut::new();
        let now = self.clock.wall_ms();
        for b in batches {
            codec::encode_batch(b, now, &mut buf).unwrap_or_else(|e| fatal("batch encoding", e));
        }
        if let Err(e) = self.log.append_as_follower(buf.freeze(), now) {
            fatal("append", e);
        }
    }
}

impl RaftLog for MetadataLog {
    fn start_offset(&self) -> Offset {
        Offset(self.log.log_start_offset())
    }

    fn end_offset(&self) -> Offset {
        Offset(self.log.log_end_offset())
    }

    fn last_fetched_epoch(&self) -> Epoch {
        if self.log.log_end_offset() > self.log.log_start_offset()
            && let Some(e) = self.log.latest_epoch()
        {
            return Epoch(e);
        }
        self.snapshots.latest().map_or(Epoch(0), |s| s.epoch)
    }

    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<OffsetAndEpoch> {
        let start = self.log.log_start_offset();
        if let Some((e, end)) = self.log.end_offset_for_epoch(epoch.0)
            && end > start
        {
            return Some(OffsetAndEpoch::new(Offset(end), Epoch(e)));
        }
        let base_epoch = match self.snapshots.latest() {
            Some(s) if s.offset.0 == start => s.epoch,
            Some(_) => return None,
            None if start == 0 => Epoch(0),
            None => return None,
        };
        (base_epoch <= epoch).then(|| OffsetAndEpoch::new(Offset(start), base_epoch))
    }

    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch> {
        let end = self.log.log_end_offset();
        if from.0 >= end || from.0 < self.log.log_start_offset() {
            return Vec::new();
        }
        let bytes = match self.log.read(from.0, max_bytes, end, true) {
            Ok(Some(b)) => b,
            Ok(None) => return Vec::new(),
            Err(e) if e.is_io() => fatal("read", e),
            Err(_) => return Vec::new(),
        };
        let batches = codec::decode_batches(bytes)
            .unwrap_or_else(|e| fatal("read (decoding a stored batch)", e));
        if batches.first().is_some_and(|b| b.base_offset != from) {
            return Vec::new();
        }
        batches
    }

    fn append_as_leader(&mut self, epoch: Epoch, payload: BatchPayload) -> Batch {
        let batch = Batch {
            base_offset: self.end_offset(),
            epoch,
            payload,
        };
        self.append_encoded(std::slice::from_ref(&batch));
        batch
    }

    fn append_as_follower(&mut self, batches: &[Batch]) {
        self.append_encoded(batches);
    }

    fn truncate_to(&mut self, offset: Offset) {
        if let Err(e) = self.log.truncate_to(offset.0) {
            fatal("truncation", e);
        }
    }

    fn flush(&mut self) {
        match self.log.flush() {
            Ok(info) => {
                if let Some(m) = &self.metrics {
                    m.flush_duration.observe(info.duration.as_secs_f64());
                }
                self.report_size();
            }
            Err(e) => fatal("flush", e),
        }
    }

    fn latest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots.latest()
    }

    fn earliest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots.earliest()
    }

    fn snapshot_size(&self, id: SnapshotId) -> Option<u64> {
        self.snapshots.size(id)
    }

    fn read_snapshot(&self, id: SnapshotId, position: u64, max_bytes: usize) -> Option<Bytes> {
        self.snapshots
            .read(id, position, max_bytes)
            .unwrap_or_else(|e| fatal("snapshot read", e))
    }

    fn create_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        if let Err(e) = self.snapshots.create(id, &data) {
            fatal("snapshot write", e);
        }
    }

    fn write_snapshot_chunk(&mut self, id: SnapshotId, position: u64, chunk: &[u8]) -> Option<u64> {
        self.snapshots
            .write_chunk(id, position, chunk)
            .unwrap_or_else(|e| fatal("snapshot download", e))
    }

    fn abort_snapshot_download(&mut self) {
        if let Err(e) = self.snapshots.abort_download() {
            fatal("snapshot download cleanup", e);
        }
    }

    fn install_snapshot(&mut self, id: SnapshotId) {
        match self.snapshots.complete_download(id) {
            Ok(true) => {}
            Ok(false) => fatal(
                "snapshot install",
                format!("no completed download of {id:?}"),
            ),
            Err(e) => fatal("snapshot install", e),
        }
        if let Err(e) = self
            .log
            .truncate_fully_and_start_at(id.offset.0, self.clock.wall_ms())
        {
            fatal("truncation for a snapshot", e);
        }
        if let Err(e) = self.snapshots.delete_before(id) {
            fatal("snapshot cleanup", e);
        }
    }

    fn delete_before_snapshot(&mut self, id: SnapshotId) -> bool {
        if self.snapshots.size(id).is_none() {
            return false;
        }
        let start_before = self.log.log_start_offset();
        let target = id.offset.0.min(self.log.log_end_offset());
        if let Err(e) = self.log.delete_records_before(target) {
            fatal("cleaning", e);
        }
        let deleted = self
            .snapshots
            .delete_before(id)
            .unwrap_or_else(|e| fatal("snapshot cleanup", e));
        self.log.log_start_offset() != start_before || deleted > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::ControlRecord;
    use crate::types::NodeId;

    fn data(n: usize) -> BatchPayload {
        BatchPayload::Data((0..n).map(|i| Bytes::from(format!("r{i}"))).collect())
    }

    #[test]
    fn behaves_like_the_raft_log_contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::new();
        let (mut log, _) = MetadataLog::open(dir.path(), 1 << 20, clock).unwrap();
        assert_eq!(
            (
                log.start_offset(),
                log.end_offset(),
                log.last_fetched_epoch()
            ),
            (Offset(0), Offset(0), Epoch(0))
        );
        assert_eq!(
            log.end_offset_for_epoch(Epoch(3)),
            Some(OffsetAndEpoch::new(Offset(0), Epoch(0)))
        );
        let lc = log.append_as_leader(
            Epoch(1),
            BatchPayload::Control(vec![ControlRecord::LeaderChange {
                leader_id: NodeId(1),
                voters: vec![NodeId(1)],
                granting_voters: vec![NodeId(1)],
            }]),
        );
        assert_eq!(lc.base_offset, Offset(0));
        let b = log.append_as_leader(Epoch(1), data(3));
        assert_eq!(b.base_offset, Offset(1));
        log.append_as_follower(&[Batch {
            base_offset: Offset(4),
            epoch: Epoch(2),
            payload: data(2),
        }]);
        log.flush();
        assert_eq!(log.end_offset(), Offset(6));
        assert_eq!(log.last_fetched_epoch(), Epoch(2));
        assert_eq!(
            log.end_offset_for_epoch(Epoch(1)),
            Some(OffsetAndEpoch::new(Offset(4), Epoch(1)))
        );
        assert_eq!(log.read(Offset(1), 1 << 20).len(), 2);
        assert!(log.read(Offset(2), 1 << 20).is_empty(), "not a batch start");
        assert_eq!(log.read(Offset(0), 1)[0], lc);
        drop(log);

        let (mut log, report) = MetadataLog::open(dir.path(), 1 << 20, clock).unwrap();
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(log.end_offset(), Offset(6));
        log.truncate_to(Offset(4));
        assert_eq!(
            (log.end_offset(), log.last_fetched_epoch()),
            (Offset(4), Epoch(1))
        );

        // Snapshot, clean below it, then install a downloaded one.
        let snap = SnapshotId::new(Offset(4), Epoch(1));
        log.create_snapshot(snap, Bytes::from_static(b"state"));
        assert!(log.delete_before_snapshot(snap) || log.start_offset() == Offset(0));
        let next = SnapshotId::new(Offset(100), Epoch(5));
        assert_eq!(log.write_snapshot_chunk(next, 0, b"abc"), Some(3));
        log.install_snapshot(next);
        assert_eq!(
            (
                log.start_offset(),
                log.end_offset(),
                log.last_fetched_epoch()
            ),
            (Offset(100), Offset(100), Epoch(5))
        );
        assert_eq!(log.latest_snapshot(), Some(next));
        assert_eq!(
            log.end_offset_for_epoch(Epoch(6)),
            Some(OffsetAndEpoch::new(Offset(100), Epoch(5)))
        );
        drop(log);
        let (log, _) = MetadataLog::open(dir.path(), 1 << 20, clock).unwrap();
        assert_eq!(
            (log.start_offset(), log.end_offset()),
            (Offset(100), Offset(100))
        );
        assert_eq!(
            log.read_snapshot_file(next).unwrap(),
            Bytes::from_static(b"abc")
        );
    }
}
