//! Safety invariants of a KRaft quorum, checked by the simulator after every event (the set
//! of Kafka's `RaftEventSimulationTest`).
//!
//! Checks return `Result<(), Violation>` so a harness can report the seed and the event.

use std::collections::BTreeMap;

use crate::raft::QuorumStateData;
use crate::raft::log::{Batch, BatchPayload, ControlRecord, RaftLog, SnapshotId};
use crate::raft::status::StateKind;
use crate::types::{Epoch, NodeId, Offset};

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Two nodes were leader (or were named leader) in the same epoch.
    #[error("SingleLeader: epoch {epoch} has leaders {first} and {second}")]
    SingleLeader {
        /// The epoch.
        epoch: Epoch,
        /// The first leader seen.
        first: NodeId,
        /// The other one.
        second: NodeId,
    },
    /// A node's persisted epoch decreased, or its in-memory epoch differs from the persisted one.
    #[error("MonotonicEpoch: node {node}: {detail}")]
    MonotonicEpoch {
        /// The node.
        node: NodeId,
        /// What happened.
        detail: String,
    },
    /// A high watermark decreased.
    #[error("MonotonicHighWatermark: {detail}")]
    MonotonicHighWatermark {
        /// What happened.
        detail: String,
    },
    /// The leader's high watermark is above the log end offset of more than a minority.
    #[error(
        "MajorityReachedHighWatermark: leader {leader} hw {high_watermark} reached by {reached} voters"
    )]
    MajorityReachedHighWatermark {
        /// The leader.
        leader: NodeId,
        /// Its high watermark.
        high_watermark: Offset,
        /// Voters whose log end offset is at or above it.
        reached: usize,
    },
    /// The log start offset is not covered by the earliest snapshot.
    #[error("SnapshotAtLogStart: node {node}: {detail}")]
    SnapshotAtLogStart {
        /// The node.
        node: NodeId,
        /// What happened.
        detail: String,
    },
    /// A leader had to load a snapshot.
    #[error("LeaderNeverLoadSnapshot: node {node} loaded {id:?} as leader")]
    LeaderNeverLoadSnapshot {
        /// The node.
        node: NodeId,
        /// The snapshot.
        id: SnapshotId,
    },
    /// A committed entry changed or was lost.
    #[error("ConsistentCommittedData: {detail}")]
    ConsistentCommittedData {
        /// What happened.
        detail: String,
    },
}

/// What the checker needs to know about one node at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObservation {
    /// The node.
    pub node_id: NodeId,
    /// Bumped every time the node restarts (per-process checks reset).
    pub incarnation: u64,
    /// `None` while the node is down.
    pub running: Option<RunningNode>,
    /// The durable `quorum-state` (`None` if never written).
    pub persisted: Option<QuorumStateData>,
    /// The node's log end offset (its durable end while it is down).
    pub log_end_offset: Offset,
}

/// The in-memory state of a running node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningNode {
    /// The state.
    pub state: StateKind,
    /// The epoch.
    pub epoch: Epoch,
    /// Its high watermark.
    pub high_watermark: Option<Offset>,
    /// On a leader: whether its epoch is committed (its high watermark is then authoritative).
    pub epoch_committed: bool,
}

/// Which checks run (the committed-data-loss scenario disables two, as Kafka does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvariantSet {
    /// MonotonicEpoch.
    pub monotonic_epoch: bool,
    /// MajorityReachedHighWatermark.
    pub majority_reached_high_watermark: bool,
}

impl Default for InvariantSet {
    fn default() -> Self {
        InvariantSet {
            monotonic_epoch: true,
            majority_reached_high_watermark: true,
        }
    }
}

/// Stateful checker of the per-event invariants.
#[derive(Debug, Clone, Default)]
pub struct InvariantChecker {
    enabled: InvariantSet,
    leaders: BTreeMap<Epoch, NodeId>,
    persisted_epochs: BTreeMap<NodeId, Epoch>,
    node_hw: BTreeMap<NodeId, (u64, Offset)>,
    max_leader_hw: Option<Offset>,
    max_leader_epoch: Epoch,
}

impl InvariantChecker {
    /// A checker with the given checks enabled.
    pub fn new(enabled: InvariantSet) -> Self {
        InvariantChecker {
            enabled,
            ..InvariantChecker::default()
        }
    }

    /// Forgets a node's history (its disk was wiped).
    pub fn forget_node(&mut self, node: NodeId) {
        self.persisted_epochs.remove(&node);
        self.node_hw.remove(&node);
    }

    /// Checks SingleLeader, MonotonicEpoch, MonotonicHighWatermark and
    /// MajorityReachedHighWatermark over all nodes.
    pub fn check(&mut self, voters: &[NodeId], nodes: &[NodeObservation]) -> Result<(), Violation> {
        for n in nodes {
            if let Some(p) = n.persisted
                && let Some(l) = p.leader_id
            {
                self.note_leader(p.leader_epoch, l)?;
            }
            if let Some(r) = &n.running
                && r.state == StateKind::Leader
            {
                self.note_leader(r.epoch, n.node_id)?;
            }
            self.check_epoch(n)?;
            self.check_node_hw(n)?;
        }
        // The high watermark of the newest leader (a deposed leader of an older epoch may lag
        // until it notices, as in Kafka's check).
        let newest = nodes
            .iter()
            .filter_map(|n| n.running.as_ref().map(|r| (n, r)))
            .filter(|(_, r)| r.state == StateKind::Leader && r.epoch_committed)
            .max_by_key(|(_, r)| r.epoch);
        if let Some((n, r)) = newest
            && let Some(hw) = r.high_watermark
            && r.epoch >= self.max_leader_epoch
        {
            self.max_leader_epoch = r.epoch;
            if let Some(max) = self.max_leader_hw
                && hw < max
            {
                return Err(Violation::MonotonicHighWatermark {
                    detail: format!(
                        "leader {} of epoch {} has hw {hw} < earlier leader hw {max}",
                        n.node_id, r.epoch
                    ),
                });
            }
            self.max_leader_hw = Some(hw);
            if self.enabled.majority_reached_high_watermark {
                let reached = nodes
                    .iter()
                    .filter(|m| voters.contains(&m.node_id) && m.log_end_offset >= hw)
                    .count();
                if reached < voters.len() / 2 + 1 {
                    return Err(Violation::MajorityReachedHighWatermark {
                        leader: n.node_id,
                        high_watermark: hw,
                        reached,
                    });
                }
            }
        }
        Ok(())
    }

    fn note_leader(&mut self, epoch: Epoch, leader: NodeId) -> Result<(), Violation> {
        match self.leaders.get(&epoch) {
            Some(first) if *first != leader => Err(Violation::SingleLeader {
                epoch,
                first: *first,
                second: leader,
            }),
            Some(_) => Ok(()),
            None => {
                self.leaders.insert(epoch, leader);
                Ok(())
            }
        }
    }

    fn check_epoch(&mut self, n: &NodeObservation) -> Result<(), Violation> {
        if !self.enabled.monotonic_epoch {
            return Ok(());
        }
        let persisted = n.persisted.map_or(Epoch(0), |p| p.leader_epoch);
        if let Some(before) = self.persisted_epochs.get(&n.node_id)
            && persisted < *before
        {
            return Err(Violation::MonotonicEpoch {
                node: n.node_id,
                detail: format!("persisted epoch went from {before} to {persisted}"),
            });
        }
        self.persisted_epochs.insert(n.node_id, persisted);
        if let Some(r) = &n.running
            && r.epoch != persisted
        {
            return Err(Violation::MonotonicEpoch {
                node: n.node_id,
                detail: format!(
                    "in-memory epoch {} differs from persisted {persisted}",
                    r.epoch
                ),
            });
        }
        Ok(())
    }

    fn check_node_hw(&mut self, n: &NodeObservation) -> Result<(), Violation> {
        let Some(r) = &n.running else { return Ok(()) };
        let Some(hw) = r.high_watermark else {
            return Ok(());
        };
        if let Some((inc, before)) = self.node_hw.get(&n.node_id)
            && *inc == n.incarnation
            && hw < *before
        {
            return Err(Violation::MonotonicHighWatermark {
                detail: format!("node {} hw went from {before} to {hw}", n.node_id),
            });
        }
        self.node_hw.insert(n.node_id, (n.incarnation, hw));
        Ok(())
    }
}

/// SnapshotAtLogStart for one node's log: the log start is at most the earliest snapshot's end
/// offset, equals it when above zero, and the earliest snapshot's epoch is in the epoch cache.
pub fn check_snapshot_at_log_start(node: NodeId, log: &impl RaftLog) -> Result<(), Violation> {
    let start = log.start_offset();
    let fail = |detail: String| Err(Violation::SnapshotAtLogStart { node, detail });
    match log.earliest_snapshot() {
        None if start > Offset(0) => fail(format!("log starts at {start} without a snapshot")),
        None => Ok(()),
        Some(s) if start > s.offset => {
            fail(format!("log start {start} above earliest snapshot {s:?}"))
        }
        Some(s) if start > Offset(0) && start != s.offset => fail(format!(
            "log start {start} is not the earliest snapshot {s:?}"
        )),
        Some(s) => match log.end_offset_for_epoch(s.epoch) {
            Some(e) if e.epoch == s.epoch && e.offset >= s.offset => Ok(()),
            other => fail(format!(
                "snapshot {s:?} not valid against the epoch cache ({other:?})"
            )),
        },
    }
}

/// LeaderNeverLoadSnapshot: call when a node reports `SnapshotInstalled` in state `state`.
pub fn check_snapshot_load(
    node: NodeId,
    state: StateKind,
    id: SnapshotId,
) -> Result<(), Violation> {
    if state == StateKind::Leader {
        return Err(Violation::LeaderNeverLoadSnapshot { node, id });
    }
    Ok(())
}

/// A stable 64-bit FNV-1a digest.
pub fn digest(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The digest of one batch's content (epoch, offsets and records).
pub fn batch_digest(batch: &Batch) -> u64 {
    let mut h = digest(&batch.base_offset.0.to_le_bytes(), batch.epoch.0 as u64);
    match &batch.payload {
        BatchPayload::Data(records) => {
            for r in records {
                h = digest(r, h);
            }
        }
        BatchPayload::Control(records) => {
            for r in records {
                let tag: u8 = match r {
                    ControlRecord::LeaderChange { .. } => 2,
                    ControlRecord::SnapshotHeader { .. } => 3,
                    ControlRecord::SnapshotFooter => 4,
                };
                h = digest(&[tag], h);
            }
        }
    }
    h
}

/// The global record of committed data: every committed batch and snapshot ever observed,
/// keyed by offset. Observing a different value at a committed offset is a violation
/// (ConsistentCommittedData: no committed entry is ever lost or changed).
#[derive(Debug, Clone, Default)]
pub struct CommittedHistory {
    batches: BTreeMap<Offset, (Offset, u64)>,
    snapshots: BTreeMap<Offset, u64>,
    high_watermark: Offset,
}

impl CommittedHistory {
    /// An empty history.
    pub fn new() -> Self {
        CommittedHistory::default()
    }

    /// The highest committed offset observed.
    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    /// Number of committed batches recorded.
    pub fn batch_count(&self) -> usize {
        self.batches.len()
    }

    /// Records a batch that `node` holds below its high watermark.
    pub fn observe_batch(&mut self, node: NodeId, batch: &Batch) -> Result<(), Violation> {
        let d = (batch.next_offset(), batch_digest(batch));
        match self.batches.get(&batch.base_offset) {
            Some(prev) if *prev != d => Err(Violation::ConsistentCommittedData {
                detail: format!(
                    "node {node} has a different committed batch at {} (epoch {})",
                    batch.base_offset, batch.epoch
                ),
            }),
            Some(_) => Ok(()),
            None => {
                self.batches.insert(batch.base_offset, d);
                self.high_watermark = self.high_watermark.max(batch.next_offset());
                Ok(())
            }
        }
    }

    /// Forgets batches and states below `offset` (no node can observe them again: every log
    /// and snapshot starts at or above it). Keeps long soak runs bounded in memory.
    pub fn prune_below(&mut self, offset: Offset) {
        self.batches = self.batches.split_off(&offset);
        self.snapshots = self.snapshots.split_off(&offset);
    }

    /// Records the state digest of a snapshot (or of applied state) at `end_offset`.
    pub fn observe_state(
        &mut self,
        node: NodeId,
        end_offset: Offset,
        state: u64,
    ) -> Result<(), Violation> {
        match self.snapshots.get(&end_offset) {
            Some(prev) if *prev != state => Err(Violation::ConsistentCommittedData {
                detail: format!("node {node} has a different committed state at {end_offset}"),
            }),
            Some(_) => Ok(()),
            None => {
                self.snapshots.insert(end_offset, state);
                Ok(())
            }
        }
    }
}
