//! A leader and its followers as real partitions over real logs, exchanging records the way
//! the Fetch handler and the replica fetcher do (without the network).

use bytes::Bytes;
use uuid::Uuid;

use super::*;
use crate::broker::data_plane::partition_state::tests::reg;

const NOW: i64 = 1_700_000_000_000;

fn settings(min_isr: i32) -> PartitionSettings {
    PartitionSettings {
        log: LogConfig {
            index_max_bytes: 64 * 8,
            ..LogConfig::default()
        },
        log_append_time: false,
        min_insync_replicas: min_isr,
        flush_before_ack: false,
        flush_messages: i64::MAX as u64,
        flush_interval: None,
        compacted: false,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        max_uncompressed_bytes: 100 << 20,
        eligible_leader_replicas: false,
    }
}

struct Replica {
    _dir: tempfile::TempDir,
    p: Partition,
}

fn replica(node: i32, min_isr: i32) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), settings(min_isr).log, NOW).unwrap();
    let p = Partition::new(("t", 0, Uuid::nil()), node, log, settings(min_isr), 0, NOW);
    Replica { _dir: dir, p }
}

fn records(n: usize) -> Bytes {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
    crate::log::batch::encode_uncompressed(0, -1, values.iter().map(|v| v.as_slice()), NOW)
}

/// One fetch of `follower` from `leader`, applied as the replica fetcher does.
fn fetch(leader: &Partition, follower: &Partition, replica: i32, now: i64) {
    let pos = follower.fetch_position().expect("a follower");
    let (read, change) = leader
        .read_for_follower(replica, pos.fetch_offset, 1 << 20, true, true, now)
        .unwrap();
    if let Some(change) = change {
        // The controller commits every expansion at the next partition epoch.
        let epoch = leader.lock().role.partition_epoch() + 1;
        leader.isr_answered(change.leader_epoch, Some((change.new_isr, epoch)), now);
    }
    follower
        .append_as_follower(
            pos.current_leader_epoch,
            read.records,
            read.high_watermark,
            read.log_start_offset,
            now,
        )
        .unwrap();
}

#[test]
fn the_high_watermark_follows_the_slowest_isr_member_and_reaches_the_followers() {
    let (l, f2, f3) = (replica(1, 2), replica(2, 2), replica(3, 2));
    let r = reg(1, 0, 0, &[1, 2, 3]);
    l.p.update(&r, settings(2), NOW);
    f2.p.update(&r, settings(2), NOW);
    f3.p.update(&r, settings(2), NOW);
    let a = l.p.append_as_leader(records(3), -1, 9, NOW).unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.leader_epoch), (0, 2, 0));
    assert_eq!(l.p.high_watermark(), 0);
    assert_eq!(l.p.replicated(3, 0), Replicated::Pending);
    // Replica 2 fetches the records, then fetches again from their end.
    fetch(&l.p, &f2.p, 2, NOW);
    fetch(&l.p, &f2.p, 2, NOW);
    assert_eq!(f2.p.log_end_offset(), 3);
    assert_eq!(l.p.high_watermark(), 0, "replica 3 has not fetched yet");
    fetch(&l.p, &f3.p, 3, NOW);
    fetch(&l.p, &f3.p, 3, NOW);
    assert_eq!(l.p.high_watermark(), 3);
    assert_eq!(l.p.replicated(3, 0), Replicated::Committed);
    // The followers learn it with their next fetch.
    assert_eq!(f2.p.high_watermark(), 0);
    fetch(&l.p, &f2.p, 2, NOW);
    assert_eq!(f2.p.high_watermark(), 3);
    // Consumers read only committed records, and only from the leader.
    assert!(f2.p.read(0, 1 << 20, true).is_err());
    let read = l.p.read(0, 1 << 20, true).unwrap();
    assert_eq!(read.high_watermark, 3);
}

#[test]
fn min_insync_replicas_refuses_before_and_reports_after_the_append() {
    let (l, f2) = (replica(1, 2), replica(2, 2));
    l.p.update(&reg(1, 0, 0, &[1]), settings(2), NOW);
    let refused = l.p.append_as_leader(records(1), -1, 9, NOW);
    assert!(matches!(
        refused,
        Err(PartitionError::NotEnoughReplicas { isr: 1, min: 2 })
    ));
    // acks=1 is not subject to min.insync.replicas.
    l.p.append_as_leader(records(1), 1, 9, NOW).unwrap();
    // Replica 2 catches up and is added to the ISR.
    f2.p.update(&reg(1, 0, 0, &[1]), settings(2), NOW);
    fetch(&l.p, &f2.p, 2, NOW);
    fetch(&l.p, &f2.p, 2, NOW);
    assert!(!l.p.leadership().under_min_isr);
    let a = l.p.append_as_leader(records(2), -1, 9, NOW).unwrap();
    // The ISR shrinks back to the leader before the follower fetches the append: the high
    // watermark passes it with fewer than min.insync.replicas in sync.
    let shrink = l.p.maybe_shrink_isr(NOW + 60_000, 30_000).expect("shrink");
    assert_eq!(shrink.new_isr, vec![1]);
    l.p.isr_answered(0, Some((vec![1], 2)), NOW + 60_000);
    assert_eq!(
        l.p.replicated(a.last_offset + 1, a.leader_epoch),
        Replicated::BelowMinIsr
    );
    assert!(l.p.leadership().under_min_isr);
}

#[test]
fn a_new_leader_epoch_ends_the_wait_of_the_old_one() {
    let l = replica(1, 1);
    l.p.update(&reg(1, 4, 0, &[1, 2]), settings(1), NOW);
    let a = l.p.append_as_leader(records(1), -1, 9, NOW).unwrap();
    assert_eq!(l.p.replicated(1, a.leader_epoch), Replicated::Pending);
    let t = l.p.update(&reg(2, 5, 1, &[2]), settings(1), NOW);
    assert_eq!(
        t,
        Transition::BecameFollower {
            leader: 2,
            leader_epoch: 5
        }
    );
    assert_eq!(
        l.p.replicated(1, a.leader_epoch),
        Replicated::LostLeadership
    );
    assert!(matches!(
        l.p.append_as_leader(records(1), 1, 9, NOW),
        Err(PartitionError::NotLeader)
    ));
}

#[test]
fn a_deposed_leader_truncates_what_the_new_leader_never_had() {
    // Replica 1 led epoch 0 and appended 3 records that nobody else got.
    let (old, new) = (replica(1, 1), replica(2, 1));
    let r0 = reg(1, 0, 0, &[1, 2]);
    old.p.update(&r0, settings(1), NOW);
    new.p.update(&r0, settings(1), NOW);
    old.p.append_as_leader(records(2), 1, 9, NOW).unwrap();
    fetch(&old.p, &new.p, 2, NOW);
    old.p.append_as_leader(records(3), 1, 9, NOW).unwrap();
    assert_eq!((old.p.log_end_offset(), new.p.log_end_offset()), (5, 2));
    // Replica 2 leads epoch 1 and appends its own records.
    let r1 = reg(2, 1, 1, &[2, 1]);
    new.p.update(&r1, settings(1), NOW);
    old.p.update(&r1, settings(1), NOW);
    new.p.append_as_leader(records(1), 1, 9, NOW).unwrap();
    // The old leader fetches with its last epoch (0) from offset 5: the leader's epoch 0 ended
    // at 2, so it truncates there and then fetches epoch 1's record.
    let pos = old.p.fetch_position().unwrap();
    assert_eq!((pos.fetch_offset, pos.last_fetched_epoch), (5, Some(0)));
    let end = new
        .p
        .with_log(|log, _| log.end_offset_for_epoch(0))
        .unwrap();
    assert_eq!(end, Some((0, 2)));
    assert_eq!(old.p.truncate_to_diverging(0, 2, NOW).unwrap(), 2);
    fetch(&new.p, &old.p, 1, NOW);
    assert_eq!(old.p.log_end_offset(), 3);
    assert_eq!(old.p.fetch_position().unwrap().last_fetched_epoch, Some(1));
}

#[test]
fn a_follower_never_truncates_below_its_high_watermark() {
    let (l, f) = (replica(1, 1), replica(2, 1));
    let r = reg(1, 0, 0, &[1, 2]);
    l.p.update(&r, settings(1), NOW);
    f.p.update(&r, settings(1), NOW);
    l.p.append_as_leader(records(4), 1, 9, NOW).unwrap();
    fetch(&l.p, &f.p, 2, NOW);
    fetch(&l.p, &f.p, 2, NOW);
    assert_eq!(f.p.high_watermark(), 4);
    let refused = f.p.truncate_to_diverging(0, 2, NOW);
    assert!(matches!(
        refused,
        Err(PartitionError::TruncationBelowHighWatermark {
            target: 2,
            high_watermark: 4
        })
    ));
    assert_eq!(f.p.log_end_offset(), 4, "nothing removed");
}

#[test]
fn followers_rebuild_producer_state_so_a_new_leader_recognises_retries() {
    let (l, f) = (replica(1, 1), replica(2, 1));
    let r = reg(1, 0, 0, &[1, 2]);
    l.p.update(&r, settings(1), NOW);
    f.p.update(&r, settings(1), NOW);
    let mut b = bytes::BytesMut::new();
    crate::log::batch::encode_records_into(
        &mut b,
        0,
        -1,
        crate::log::batch::ProducerFields {
            producer_id: 42,
            producer_epoch: 0,
            base_sequence: 0,
        },
        [b"x".as_slice(), b"y".as_slice()],
        NOW,
    );
    let batch = b.freeze();
    let first = l.p.append_as_leader(batch.clone(), -1, 9, NOW).unwrap();
    fetch(&l.p, &f.p, 2, NOW);
    // Leadership moves to replica 2; the producer retries the same batch there.
    let r1 = reg(2, 1, 1, &[2, 1]);
    f.p.update(&r1, settings(1), NOW);
    let retry = f.p.append_as_leader(batch, -1, 9, NOW).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, first.base_offset);
    assert_eq!(f.p.log_end_offset(), 2);
}

#[test]
fn with_eligible_leader_replicas_the_high_watermark_waits_for_min_isr() {
    let l = replica(1, 2);
    let elr = PartitionSettings {
        eligible_leader_replicas: true,
        ..settings(2)
    };
    l.p.update(&reg(1, 0, 0, &[1]), elr.clone(), NOW);
    l.p.append_as_leader(records(2), 1, 9, NOW).unwrap();
    assert_eq!(
        l.p.high_watermark(),
        0,
        "ISR of one under min.insync.replicas=2"
    );
    l.p.update(&reg(1, 0, 0, &[1]), settings(2), NOW);
    l.p.append_as_leader(records(1), 1, 9, NOW).unwrap();
    assert_eq!(l.p.high_watermark(), 3, "without ELR an ISR of one commits");
}
