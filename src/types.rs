//! Identities and positions shared across module boundaries, in Kafka's vocabulary.
//!
//! Bare integers do not cross module boundaries: a node id, an epoch and an offset are
//! different things even though all three are integers on the wire. Each newtype has the
//! width the Kafka protocol gives it.

use std::fmt;

/// A node's `node.id` (broker and/or controller). `-1` on the wire means "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub i32);

/// A leader epoch (Raft calls it the term). `-1` on the wire means "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub i32);

/// An offset in a log (a record position; the log end offset is one past the last record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

/// A point in monotonic time, in milliseconds since an arbitrary origin.
///
/// Sans-IO modules (`raft`, `metadata`) receive time only as a `MonoTime` argument; the IO
/// shell converts from `std::time::Instant` in `clock.rs`, and the simulator from its
/// virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime(pub u64);

impl NodeId {
    /// The wire value for "no node" (`-1`).
    pub const NONE: NodeId = NodeId(-1);
}

impl Epoch {
    /// The wire value for "unknown epoch" (`-1`).
    pub const UNKNOWN: Epoch = Epoch(-1);
}

impl MonoTime {
    /// The point `d` after `self` (saturating).
    pub fn plus(self, d: std::time::Duration) -> MonoTime {
        MonoTime(self.0.saturating_add(d.as_millis() as u64))
    }

    /// The span from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: MonoTime) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A topic name and partition index, as used in partition directory names (`<topic>-<partition>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn mono_time_arithmetic_saturates() {
        let t = MonoTime(10);
        assert_eq!(t.plus(Duration::from_millis(5)), MonoTime(15));
        assert_eq!(MonoTime(3).since(t), Duration::ZERO);
        assert_eq!(t.since(MonoTime(4)), Duration::from_millis(6));
        assert_eq!(
            MonoTime(u64::MAX).plus(Duration::from_secs(1)),
            MonoTime(u64::MAX)
        );
    }

    #[test]
    fn topic_partition_displays_as_directory_name() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
    }
}
