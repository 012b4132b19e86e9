//! Consumer groups, sans-IO: the classic group protocol's state machine, committed offsets,
//! and the records of `__consumer_offsets` that make both durable. Time and member ids are
//! inputs; the broker's IO shell (`broker::group_coordinator`) appends the records, waits for
//! them to be replicated and answers the requests.

pub mod classic_group;
pub mod consumer_protocol;
pub mod offsets;
pub mod records;
pub mod shard;

#[cfg(test)]
mod tests;

/// The internal topic that holds committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The topics Kafka treats as internal (flagged in Metadata, protected from deletion).
pub fn is_internal_topic(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == "__transaction_state"
}

/// The `__consumer_offsets` partition that holds `group` (as Kafka places it: the absolute
/// value of the group id's Java `String.hashCode`, modulo the partition count).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}
