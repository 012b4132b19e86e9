//! Delivery of committed state to the layer above (Kafka's `RaftClient.Listener`): the latest
//! snapshot first, then every committed batch in order, never anything at or above the high
//! watermark. When the log below the cursor is gone (a snapshot was installed from the leader,
//! or the log was cleaned before the listener read it) the listener is told to reload from the
//! latest snapshot.

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::raft::{Batch, RaftLog, SnapshotId};
use crate::types::Offset;

/// What the listener receives, in log order.
#[derive(Debug, Clone)]
pub enum CommitEvent {
    /// Replace all state with this snapshot (the whole file: header, records, footer). Batches
    /// that follow continue at `id.offset`.
    Snapshot { id: SnapshotId, data: Bytes },
    /// Committed batches (data and control), contiguous with what came before.
    Batches(Vec<Batch>),
}

/// Bytes read from the log per delivered event.
const READ_CHUNK: usize = 1 << 20;

/// The listener's position in the log, kept by the driver.
#[derive(Debug)]
pub struct CommitCursor {
    tx: mpsc::Sender<CommitEvent>,
    /// The next offset the listener needs; `None` before anything was delivered.
    next: Option<Offset>,
}

impl CommitCursor {
    pub fn new(tx: mpsc::Sender<CommitEvent>) -> Self {
        CommitCursor { tx, next: None }
    }

    /// A snapshot was installed from the leader: the listener reloads from it.
    pub fn reset(&mut self) {
        self.next = None;
    }

    /// Sends what is committed and not yet delivered. Stops early when the listener's queue
    /// is full; the next call resumes where this one stopped.
    pub fn deliver<L: RaftLog>(&mut self, log: &L, high_watermark: Option<Offset>) {
        loop {
            let next = match self.next {
                Some(n) if n >= log.start_offset() => n,
                _ => match self.start(log) {
                    Some(n) => n,
                    None => return,
                },
            };
            let Some(hwm) = high_watermark else { return };
            if next >= hwm {
                return;
            }
            let batches: Vec<Batch> = log
                .read(next, READ_CHUNK)
                .into_iter()
                .take_while(|b| b.next_offset() <= hwm)
                .collect();
            let Some(last) = batches.last() else { return };
            let after = last.next_offset();
            match self.tx.try_reserve() {
                Ok(permit) => {
                    permit.send(CommitEvent::Batches(batches));
                    self.next = Some(after);
                }
                Err(_) => return,
            }
        }
    }

    /// Starts (or restarts) from the latest snapshot, or from the log start when there is none.
    fn start<L: RaftLog>(&mut self, log: &L) -> Option<Offset> {
        match log.latest_snapshot() {
            Some(id) => {
                let size = log.snapshot_size(id)?;
                let data = log.read_snapshot(id, 0, size as usize)?;
                let permit = self.tx.try_reserve().ok()?;
                permit.send(CommitEvent::Snapshot { id, data });
                self.next = Some(id.offset);
                Some(id.offset)
            }
            None => {
                if log.start_offset() > Offset(0) {
                    // KAFKA-14240: the core refuses to start in this state; nothing to deliver.
                    return None;
                }
                self.next = Some(Offset(0));
                Some(Offset(0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{BatchPayload, MemLog};
    use crate::types::Epoch;

    fn data(n: usize) -> BatchPayload {
        BatchPayload::Data((0..n).map(|i| Bytes::from(format!("r{i}"))).collect())
    }

    fn drain(rx: &mut mpsc::Receiver<CommitEvent>) -> Vec<CommitEvent> {
        let mut out = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            out.push(ev);
        }
        out
    }

    fn offsets(events: &[CommitEvent]) -> Vec<(i64, i64)> {
        events
            .iter()
            .flat_map(|e| match e {
                CommitEvent::Batches(b) => b
                    .iter()
                    .map(|b| (b.base_offset.0, b.next_offset().0))
                    .collect(),
                CommitEvent::Snapshot { id, .. } => vec![(-1, id.offset.0)],
            })
            .collect()
    }

    #[test]
    fn delivers_committed_batches_once_in_order_and_nothing_above_the_high_watermark() {
        let mut log = MemLog::new();
        for n in [2, 3, 1] {
            log.append_as_leader(Epoch(1), data(n));
        }
        let (tx, mut rx) = mpsc::channel(16);
        let mut cursor = CommitCursor::new(tx);
        cursor.deliver(&log, None);
        assert!(
            drain(&mut rx).is_empty(),
            "nothing before a high watermark is known"
        );
        cursor.deliver(&log, Some(Offset(4)));
        assert_eq!(
            offsets(&drain(&mut rx)),
            vec![(0, 2)],
            "batch 2..5 straddles the HWM"
        );
        cursor.deliver(&log, Some(Offset(5)));
        cursor.deliver(&log, Some(Offset(5)));
        assert_eq!(offsets(&drain(&mut rx)), vec![(2, 5)]);
        cursor.deliver(&log, Some(Offset(6)));
        assert_eq!(offsets(&drain(&mut rx)), vec![(5, 6)]);
    }

    #[test]
    fn a_full_queue_pauses_delivery_and_the_next_call_resumes() {
        let mut log = MemLog::new();
        for _ in 0..3 {
            log.append_as_leader(Epoch(1), data(1));
        }
        let (tx, mut rx) = mpsc::channel(1);
        let mut cursor = CommitCursor::new(tx);
        cursor.deliver(&log, Some(Offset(1)));
        cursor.deliver(&log, Some(Offset(3)));
        assert_eq!(offsets(&drain(&mut rx)), vec![(0, 1)], "the queue was full");
        cursor.deliver(&log, Some(Offset(3)));
        let ev = drain(&mut rx);
        assert_eq!(
            offsets(&ev),
            vec![(1, 2), (2, 3)],
            "resumed after the listener drained"
        );
    }

    #[test]
    fn starts_from_the_latest_snapshot_and_restarts_from_it_after_an_install() {
        let mut log = MemLog::new();
        for _ in 0..4 {
            log.append_as_leader(Epoch(1), data(1));
        }
        let snap = SnapshotId::new(Offset(2), Epoch(1));
        log.create_snapshot(snap, Bytes::from_static(b"image@2"));
        let (tx, mut rx) = mpsc::channel(16);
        let mut cursor = CommitCursor::new(tx);
        cursor.deliver(&log, Some(Offset(4)));
        let ev = drain(&mut rx);
        assert_eq!(offsets(&ev), vec![(-1, 2), (2, 3), (3, 4)]);
        match &ev[0] {
            CommitEvent::Snapshot { data, .. } => assert_eq!(&data[..], b"image@2"),
            other => panic!("{other:?}"),
        }
        // The log is cleaned below a newer snapshot the listener has not passed yet.
        log.append_as_leader(Epoch(2), data(1));
        log.append_as_leader(Epoch(2), data(1));
        let newer = SnapshotId::new(Offset(6), Epoch(2));
        log.create_snapshot(newer, Bytes::from_static(b"image@6"));
        assert!(log.delete_before_snapshot(newer));
        cursor.deliver(&log, Some(Offset(6)));
        assert_eq!(offsets(&drain(&mut rx)), vec![(-1, 6)]);
        cursor.reset();
        cursor.deliver(&log, Some(Offset(6)));
        assert_eq!(
            offsets(&drain(&mut rx)),
            vec![(-1, 6)],
            "reset reloads the snapshot"
        );
    }
}
