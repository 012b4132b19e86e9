//! An in-memory [`RaftLog`] for tests and the deterministic simulator.
//!
//! It tracks the flushed prefix separately from the appended tail: [`MemLog::crash`] drops
//! every record that was not flushed, and any partially downloaded snapshot, which is what a
//! hard kill does to a real log (Kafka's `MockLog.reopen`). Truncation, snapshot creation,
//! installation and cleaning are durable at once (the strictest reading of the trait contract).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::raft::log::{Batch, BatchPayload, OffsetAndEpoch, RaftLog, SnapshotId};
use crate::types::{Epoch, Offset};

/// An in-memory metadata log with crash semantics.
#[derive(Debug, Clone, Default)]
pub struct MemLog {
    start: Offset,
    batches: Vec<Batch>,
    flushed_end: Offset,
    snapshots: BTreeMap<(Offset, Epoch), Bytes>,
    partial: Option<(SnapshotId, Vec<u8>)>,
    flushes: u64,
}

impl MemLog {
    /// An empty log starting at offset 0.
    pub fn new() -> Self {
        MemLog::default()
    }

    /// Simulates a hard crash: unflushed records and partial downloads are lost.
    pub fn crash(&mut self) {
        let flushed = self.flushed_end;
        self.batches.retain(|b| b.next_offset() <= flushed);
        self.partial = None;
    }

    /// All retained batches, in order.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The end of the flushed (durable) prefix.
    pub fn flushed_end(&self) -> Offset {
        self.flushed_end
    }

    /// How many times `flush` was called.
    pub fn flush_count(&self) -> u64 {
        self.flushes
    }

    /// The content of a frozen snapshot.
    pub fn snapshot_data(&self, id: SnapshotId) -> Option<&Bytes> {
        self.snapshots.get(&(id.offset, id.epoch))
    }

    /// All frozen snapshot ids, oldest first.
    pub fn snapshot_ids(&self) -> Vec<SnapshotId> {
        self.snapshots
            .keys()
            .map(|(o, e)| OffsetAndEpoch::new(*o, *e))
            .collect()
    }

    /// Forces the log start offset without a snapshot. Only for tests that build a corrupt
    /// log (KAFKA-14240: the core must refuse to start on it).
    #[doc(hidden)]
    pub fn corrupt_start_offset_for_test(&mut self, start: Offset) {
        self.batches.retain(|b| b.base_offset >= start);
        self.start = start;
        if self.flushed_end < start {
            self.flushed_end = start;
        }
    }

    fn index_of(&self, offset: Offset) -> Result<usize, usize> {
        self.batches
            .binary_search_by(|b| b.base_offset.cmp(&offset))
    }
}

impl RaftLog for MemLog {
    fn start_offset(&self) -> Offset {
        self.start
    }

    fn end_offset(&self) -> Offset {
        self.batches.last().map_or(self.start, |b| b.next_offset())
    }

    fn last_fetched_epoch(&self) -> Epoch {
        match self.batches.last() {
            Some(b) => b.epoch,
            None => self.latest_snapshot().map_or(Epoch(0), |s| s.epoch),
        }
    }

    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<OffsetAndEpoch> {
        let mut found: Option<OffsetAndEpoch> = None;
        for b in &self.batches {
            if b.epoch > epoch {
                break;
            }
            found = Some(OffsetAndEpoch::new(b.next_offset(), b.epoch));
        }
        if found.is_some() {
            return found;
        }
        let base_epoch = match self.latest_snapshot() {
            Some(s) if s.offset == self.start => s.epoch,
            Some(_) => return None,
            None if self.start == Offset(0) => Epoch(0),
            None => return None,
        };
        (base_epoch <= epoch).then(|| OffsetAndEpoch::new(self.start, base_epoch))
    }

    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch> {
        let Ok(mut i) = self.index_of(from) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut size = 0;
        while i < self.batches.len() {
            let b = &self.batches[i];
            if !out.is_empty() && size + b.size_bytes() > max_bytes {
                break;
            }
            size += b.size_bytes();
            out.push(b.clone());
            i += 1;
        }
        out
    }

    fn append_as_leader(&mut self, epoch: Epoch, payload: BatchPayload) -> Batch {
        let batch = Batch {
            base_offset: self.end_offset(),
            epoch,
            payload,
        };
        assert!(batch.record_count() > 0, "empty batch appended");
        assert!(
            epoch >= self.last_fetched_epoch(),
            "leader append with an older epoch"
        );
        self.batches.push(batch.clone());
        batch
    }

    fn append_as_follower(&mut self, batches: &[Batch]) {
        for b in batches {
            assert_eq!(
                b.base_offset,
                self.end_offset(),
                "follower append not at the end"
            );
            assert!(
                b.epoch >= self.last_fetched_epoch(),
                "follower append with an older epoch"
            );
            self.batches.push(b.clone());
        }
    }

    fn truncate_to(&mut self, offset: Offset) {
        assert!(
            offset >= self.start,
            "truncation below the log start offset"
        );
        self.batches.retain(|b| b.base_offset < offset);
        assert!(
            self.batches
                .last()
                .is_none_or(|b| b.next_offset() <= offset),
            "truncation inside a batch"
        );
        if self.flushed_end > offset {
            self.flushed_end = offset.max(self.start);
        }
    }

    fn flush(&mut self) {
        self.flushes += 1;
        self.flushed_end = self.end_offset();
    }

    fn latest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots
            .keys()
            .next_back()
            .map(|(o, e)| OffsetAndEpoch::new(*o, *e))
    }

    fn earliest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots
            .keys()
            .next()
            .map(|(o, e)| OffsetAndEpoch::new(*o, *e))
    }

    fn snapshot_size(&self, id: SnapshotId) -> Option<u64> {
        self.snapshot_data(id).map(|d| d.len() as u64)
    }

    fn read_snapshot(&self, id: SnapshotId, position: u64, max_bytes: usize) -> Option<Bytes> {
        let data = self.snapshot_data(id)?;
        let start = (position as usize).min(data.len());
        let end = start.saturating_add(max_bytes).min(data.len());
        Some(data.slice(start..end))
    }

    fn create_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        self.snapshots.insert((id.offset, id.epoch), data);
    }

    fn write_snapshot_chunk(&mut self, id: SnapshotId, position: u64, chunk: &[u8]) -> Option<u64> {
        if position == 0 {
            self.partial = Some((id, Vec::new()));
        }
        let (pid, buf) = self.partial.as_mut()?;
        if *pid != id || buf.len() as u64 != position {
            return None;
        }
        buf.extend_from_slice(chunk);
        Some(buf.len() as u64)
    }

    fn abort_snapshot_download(&mut self) {
        self.partial = None;
    }

    fn install_snapshot(&mut self, id: SnapshotId) {
        let (pid, buf) = self.partial.take().expect("install without a download");
        assert_eq!(pid, id, "install of a different snapshot");
        self.snapshots
            .insert((id.offset, id.epoch), Bytes::from(buf));
        self.batches.clear();
        self.start = id.offset;
        self.flushed_end = id.offset;
        self.snapshots.retain(|(o, _), _| *o >= id.offset);
    }

    fn delete_before_snapshot(&mut self, id: SnapshotId) -> bool {
        assert!(
            self.snapshot_data(id).is_some(),
            "cleaning up to a missing snapshot"
        );
        if id.offset <= self.start || id.offset > self.end_offset() {
            return false;
        }
        self.batches.retain(|b| b.base_offset >= id.offset);
        self.start = id.offset;
        if self.flushed_end < id.offset {
            self.flushed_end = id.offset;
        }
        self.snapshots.retain(|(o, _), _| *o >= id.offset);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> BatchPayload {
        BatchPayload::Data((0..n).map(|i| Bytes::from(vec![i as u8])).collect())
    }

    #[test]
    fn crash_drops_unflushed_tail() {
        let mut log = MemLog::new();
        log.append_as_leader(Epoch(1), data(2));
        log.flush();
        log.append_as_leader(Epoch(1), data(3));
        assert_eq!(log.end_offset(), Offset(5));
        log.crash();
        assert_eq!(log.end_offset(), Offset(2));
    }

    #[test]
    fn epoch_cache_answers_largest_epoch_at_or_below() {
        let mut log = MemLog::new();
        log.append_as_leader(Epoch(1), data(2));
        log.append_as_leader(Epoch(3), data(2));
        assert_eq!(
            log.end_offset_for_epoch(Epoch(0)),
            Some(OffsetAndEpoch::new(Offset(0), Epoch(0)))
        );
        assert_eq!(
            log.end_offset_for_epoch(Epoch(2)),
            Some(OffsetAndEpoch::new(Offset(2), Epoch(1)))
        );
        assert_eq!(
            log.end_offset_for_epoch(Epoch(3)),
            Some(OffsetAndEpoch::new(Offset(4), Epoch(3)))
        );
        let id = OffsetAndEpoch::new(Offset(2), Epoch(1));
        log.create_snapshot(id, Bytes::from_static(b"s"));
        assert!(log.delete_before_snapshot(id));
        assert_eq!(log.start_offset(), Offset(2));
        assert_eq!(
            log.end_offset_for_epoch(Epoch(2)),
            Some(OffsetAndEpoch::new(Offset(2), Epoch(1)))
        );
        assert_eq!(log.end_offset_for_epoch(Epoch(0)), None);
    }

    #[test]
    fn snapshot_download_installs_atomically() {
        let mut log = MemLog::new();
        log.append_as_leader(Epoch(1), data(1));
        let id = OffsetAndEpoch::new(Offset(10), Epoch(2));
        assert_eq!(log.write_snapshot_chunk(id, 0, b"ab"), Some(2));
        assert_eq!(log.write_snapshot_chunk(id, 3, b"x"), None);
        assert_eq!(log.write_snapshot_chunk(id, 2, b"c"), Some(3));
        log.install_snapshot(id);
        assert_eq!(log.start_offset(), Offset(10));
        assert_eq!(log.end_offset(), Offset(10));
        assert_eq!(log.last_fetched_epoch(), Epoch(2));
        assert_eq!(
            log.read_snapshot(id, 1, 10).unwrap(),
            Bytes::from_static(b"bc")
        );
    }
}
