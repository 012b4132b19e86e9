//! Committed offsets of the groups of one `__consumer_offsets` partition, and the commits
//! still being written (which `require_stable` fetches wait for).

use std::collections::BTreeMap;

use super::records::OffsetValue;

/// A topic partition named as clients name it.
pub type TopicPartition = (String, i32);

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// An expiry asked for explicitly (OffsetCommit v2–v4 retention time).
    pub expire_timestamp: Option<i64>,
}

impl CommittedOffset {
    pub fn from_stored(v: &OffsetValue) -> CommittedOffset {
        CommittedOffset {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata.clone(),
            commit_timestamp: v.commit_timestamp,
            expire_timestamp: v.expire_timestamp,
        }
    }

    pub fn stored(&self) -> OffsetValue {
        OffsetValue {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata.clone(),
            commit_timestamp: self.commit_timestamp,
            expire_timestamp: self.expire_timestamp,
        }
    }
}

/// Offsets by group, then by topic partition.
#[derive(Debug, Default, Clone)]
pub struct OffsetStore {
    committed: BTreeMap<String, BTreeMap<TopicPartition, CommittedOffset>>,
    /// Commits appended but not yet acknowledged by the log, per group and partition.
    pending: BTreeMap<String, BTreeMap<TopicPartition, u32>>,
}

impl OffsetStore {
    pub fn get(&self, group: &str, tp: &TopicPartition) -> Option<&CommittedOffset> {
        self.committed.get(group)?.get(tp)
    }

    pub fn group(&self, group: &str) -> Option<&BTreeMap<TopicPartition, CommittedOffset>> {
        self.committed.get(group)
    }

    pub fn groups(
        &self,
    ) -> impl Iterator<Item = (&String, &BTreeMap<TopicPartition, CommittedOffset>)> {
        self.committed.iter()
    }

    pub fn put(&mut self, group: &str, tp: TopicPartition, offset: CommittedOffset) {
        self.committed
            .entry(group.to_string())
            .or_default()
            .insert(tp, offset);
    }

    pub fn remove(&mut self, group: &str, tp: &TopicPartition) -> Option<CommittedOffset> {
        let offsets = self.committed.get_mut(group)?;
        let removed = offsets.remove(tp);
        if offsets.is_empty() {
            self.committed.remove(group);
        }
        removed
    }

    /// Removes every offset of `group`; returns their partitions.
    pub fn remove_group(&mut self, group: &str) -> Vec<TopicPartition> {
        self.committed
            .remove(group)
            .map(|o| o.into_keys().collect())
            .unwrap_or_default()
    }

    pub fn has_offsets(&self, group: &str) -> bool {
        self.committed.get(group).is_some_and(|o| !o.is_empty())
    }

    pub fn begin_pending(&mut self, group: &str, tps: impl IntoIterator<Item = TopicPartition>) {
        let pending = self.pending.entry(group.to_string()).or_default();
        for tp in tps {
            *pending.entry(tp).or_default() += 1;
        }
    }

    pub fn end_pending(&mut self, group: &str, tps: impl IntoIterator<Item = TopicPartition>) {
        let Some(pending) = self.pending.get_mut(group) else {
            return;
        };
        for tp in tps {
            if let Some(n) = pending.get_mut(&tp) {
                *n -= 1;
                if *n == 0 {
                    pending.remove(&tp);
                }
            }
        }
        if pending.is_empty() {
            self.pending.remove(group);
        }
    }

    pub fn is_pending(&self, group: &str, tp: &TopicPartition) -> bool {
        self.pending.get(group).is_some_and(|p| p.contains_key(tp))
    }

    /// Number of committed offsets held.
    pub fn len(&self) -> usize {
        self.committed.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.committed.is_empty()
    }
}
