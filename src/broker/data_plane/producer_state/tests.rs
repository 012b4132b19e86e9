use super::snapshot::{self, SnapshotError};
use super::*;
use proptest::prelude::*;

fn batch(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchInfo {
    BatchInfo::new(pid, epoch, seq, count, 1_000, false)
}

/// State where producer 7, epoch 2, appended seq 0..=2 at offsets 10..=12 and 3..=4 at 13..=14.
fn state() -> ProducerStateManager {
    let mut m = ProducerStateManager::new(10);
    m.update(&batch(7, 2, 0, 3), 10, 12, NO_TIMESTAMP);
    m.update(&batch(7, 2, 3, 2), 13, 14, NO_TIMESTAMP);
    m
}

#[test]
fn sequence_arithmetic_wraps_like_kafka() {
    assert_eq!(increment_sequence(5, 3), 8);
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
    assert_eq!(decrement_sequence(8, 3), 5);
    assert_eq!(
        BatchInfo::new(1, 0, i32::MAX - 1, 4, 0, false).last_sequence,
        1
    );
    assert_eq!(BatchInfo::new(1, 0, 10, 1, 0, false).last_sequence, 10);
    assert!(in_sequence(i32::MAX, 0));
    assert!(!in_sequence(i32::MAX, i32::MIN));
    assert!(!in_sequence(-1, 1));
}

#[test]
fn check_rules_table() {
    use CheckOutcome::*;
    use ResponseError as E;
    let m = state();
    // (case, batch, expected outcome or error code)
    let cases: Vec<(&str, BatchInfo, Result<CheckOutcome, E>)> = vec![
        ("no producer id", batch(-1, -1, -1, 3), Ok(Append)),
        ("next in sequence", batch(7, 2, 5, 1), Ok(Append)),
        (
            "resend of the latest batch",
            batch(7, 2, 3, 2),
            Ok(Duplicate {
                first_offset: 13,
                last_offset: 14,
                timestamp: 1_000,
            }),
        ),
        (
            "resend of an older cached batch",
            batch(7, 2, 0, 3),
            Ok(Duplicate {
                first_offset: 10,
                last_offset: 12,
                timestamp: 1_000,
            }),
        ),
        (
            "overlapping, not identical range",
            batch(7, 2, 0, 2),
            Err(E::OutOfOrderSequenceNumber),
        ),
        ("gap", batch(7, 2, 6, 1), Err(E::OutOfOrderSequenceNumber)),
        (
            "sequence behind",
            batch(7, 2, 4, 1),
            Err(E::OutOfOrderSequenceNumber),
        ),
        (
            "stale epoch",
            batch(7, 1, 5, 1),
            Err(E::InvalidProducerEpoch),
        ),
        (
            "stale epoch resend",
            batch(7, 1, 3, 2),
            Err(E::InvalidProducerEpoch),
        ),
        ("epoch bump at 0", batch(7, 3, 0, 4), Ok(Append)),
        (
            "epoch bump not at 0",
            batch(7, 3, 5, 1),
            Err(E::OutOfOrderSequenceNumber),
        ),
        ("unknown producer at 0", batch(8, 0, 0, 1), Ok(Append)),
        (
            "unknown producer at any sequence",
            batch(8, 0, 42, 1),
            Ok(Append),
        ),
    ];
    for (name, b, want) in cases {
        let got = m.check(&b).map_err(|e| e.error());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn new_epoch_forgets_the_previous_epochs_batches() {
    let mut m = state();
    m.update(&batch(7, 3, 0, 1), 15, 15, NO_TIMESTAMP);
    let e = m.entry(7).unwrap();
    assert_eq!((e.producer_epoch, e.batches.len(), e.last_seq()), (3, 1, 0));
    // The old epoch's batch is now stale, not a duplicate.
    assert_eq!(
        m.check(&batch(7, 2, 3, 2)).unwrap_err().error(),
        ResponseError::InvalidProducerEpoch
    );
    assert_eq!(m.check(&batch(7, 3, 1, 1)), Ok(CheckOutcome::Append));
}

#[test]
fn sequence_wraps_after_i32_max() {
    let mut m = ProducerStateManager::new(0);
    let b = batch(1, 0, i32::MAX - 1, 2);
    assert_eq!(b.last_sequence, i32::MAX);
    m.update(&b, 0, 1, NO_TIMESTAMP);
    assert_eq!(m.check(&batch(1, 0, 0, 1)), Ok(CheckOutcome::Append));
    assert!(m.check(&batch(1, 0, 1, 1)).is_err());
    // A batch that itself wraps: seq MAX, 0, 1.
    let mut m = ProducerStateManager::new(0);
    m.update(&batch(1, 0, i32::MAX - 3, 3), 0, 2, NO_TIMESTAMP);
    let w = batch(1, 0, i32::MAX, 3);
    assert_eq!(w.last_sequence, 1);
    assert_eq!(m.check(&w), Ok(CheckOutcome::Append));
    m.update(&w, 3, 5, NO_TIMESTAMP);
    assert!(matches!(
        m.check(&w),
        Ok(CheckOutcome::Duplicate {
            first_offset: 3,
            ..
        })
    ));
    assert_eq!(m.check(&batch(1, 0, 2, 1)), Ok(CheckOutcome::Append));
}

#[test]
fn keeps_at_most_five_batches() {
    let mut m = ProducerStateManager::new(0);
    for i in 0..7 {
        m.update(&batch(1, 0, i, 1), i64::from(i), i64::from(i), NO_TIMESTAMP);
    }
    let e = m.entry(1).unwrap();
    assert_eq!(e.batches.len(), NUM_BATCHES_TO_RETAIN);
    assert_eq!(e.batches.front().unwrap().first_seq, 2);
    assert!(matches!(
        m.check(&batch(1, 0, 2, 1)),
        Ok(CheckOutcome::Duplicate { .. })
    ));
    // Evicted: no longer recognised, and behind the sequence.
    assert_eq!(
        m.check(&batch(1, 0, 1, 1)).unwrap_err().error(),
        ResponseError::OutOfOrderSequenceNumber
    );
}

#[test]
fn update_timestamps_and_map_end_offset() {
    let mut m = ProducerStateManager::new(0);
    m.update(&BatchInfo::new(1, 0, 0, 2, 500, false), 0, 1, NO_TIMESTAMP);
    assert_eq!(m.entry(1).unwrap().last_timestamp, 500);
    m.update(&BatchInfo::new(1, 0, 2, 1, 500, false), 2, 2, 9_000);
    assert_eq!(m.entry(1).unwrap().last_timestamp, 9_000);
    assert!(matches!(
        m.check(&BatchInfo::new(1, 0, 2, 1, 500, false)),
        Ok(CheckOutcome::Duplicate {
            timestamp: 9_000,
            ..
        })
    ));
    m.update(&batch(-1, -1, -1, 4), 3, 6, NO_TIMESTAMP);
    assert_eq!((m.map_end_offset(), m.producer_count()), (7, 1));
}

#[test]
fn expiration() {
    let mut m = ProducerStateManager::new(0);
    m.update(
        &BatchInfo::new(1, 0, 0, 1, 1_000, false),
        0,
        0,
        NO_TIMESTAMP,
    );
    m.update(
        &BatchInfo::new(2, 0, 0, 1, 5_000, false),
        1,
        1,
        NO_TIMESTAMP,
    );
    assert_eq!(m.remove_expired_producers(10_999, 10_000), 0);
    assert_eq!(m.remove_expired_producers(11_000, 10_000), 1);
    assert!(m.entry(1).is_none() && m.entry(2).is_some());
    // An expired producer comes back as unknown: any sequence is accepted.
    assert_eq!(m.check(&batch(1, 0, 17, 1)), Ok(CheckOutcome::Append));
    // A producer with an ongoing transaction never expires.
    let mut e = m.entry(2).unwrap().clone();
    e.current_txn_first_offset = Some(1);
    let mut m = ProducerStateManager::from_entries(2, [e], 0, 10_000);
    assert_eq!(m.remove_expired_producers(i64::MAX, 10_000), 0);
}

#[test]
fn truncation() {
    let mut m = ProducerStateManager::new(0);
    m.update(&batch(1, 0, 0, 2), 0, 1, NO_TIMESTAMP);
    m.update(&batch(2, 0, 0, 1), 2, 2, NO_TIMESTAMP);
    m.update(&batch(1, 0, 2, 2), 3, 4, NO_TIMESTAMP);
    assert_eq!(m.truncate_to(3), 0);
    assert_eq!(m.map_end_offset(), 3);
    assert_eq!(m.entry(1).unwrap().last_seq(), 1);
    assert_eq!(m.check(&batch(1, 0, 2, 2)), Ok(CheckOutcome::Append));
    assert_eq!(m.truncate_to(1), 2);
    assert!(m.is_empty());
    m.update(&batch(1, 0, 0, 2), 1, 2, NO_TIMESTAMP);
    m.truncate_fully_and_start_at(100);
    assert!(m.is_empty());
    assert_eq!(m.map_end_offset(), 100);
}

fn encoded(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> RecordBatch {
    let raw = crate::log::batch::tests::batch(base_offset, 0, count, 4, 1_234);
    let mut b = raw.to_vec();
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::parse(bytes::Bytes::from(b)).unwrap()
}

#[test]
fn load_from_batches_matches_live_updates() {
    let batches = [
        encoded(1, 0, 0, 3, 0),
        encoded(-1, -1, -1, 2, 3),
        encoded(2, 4, 10, 1, 5),
        encoded(1, 0, 3, 2, 6),
        encoded(1, 1, 0, 1, 8),
    ];
    let mut live = ProducerStateManager::new(0);
    for b in &batches {
        let info = BatchInfo::from_batch(b);
        live.update(&info, b.base_offset(), b.last_offset(), NO_TIMESTAMP);
    }
    let mut replayed = ProducerStateManager::new(0);
    replayed.load_from_batches(&batches);
    assert_eq!(replayed, live);
    assert_eq!(replayed.map_end_offset(), 9);
    // From a mid-log snapshot point: batches below it are skipped.
    let mut partial = ProducerStateManager::new(0);
    partial.load_from_batches(&batches[..3]);
    partial.load_from_batches(&batches);
    assert_eq!(partial, live);
    assert_eq!(BatchInfo::from_batch(&batches[2]).last_sequence, 10);
}

#[test]
fn snapshot_round_trip_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = ProducerStateManager::new(0);
    m.update(&batch(1, 0, 0, 3), 0, 2, NO_TIMESTAMP);
    m.update(&batch(1, 0, 3, 2), 3, 4, 7_000);
    m.update(&batch(9, 5, i32::MAX, 3), 5, 7, NO_TIMESTAMP);
    let path = snapshot::write_snapshot(dir.path(), &m).unwrap();
    assert_eq!(path, dir.path().join("00000000000000000008.snapshot"));
    let raw = std::fs::read(&path).unwrap();
    assert_eq!(raw.len(), 10 + 2 * 46);
    assert_eq!(&raw[..2], &[0, 1]);
    assert_eq!(&raw[6..10], &[0, 0, 0, 2]);

    let loaded = snapshot::load_latest(dir.path(), 8, 0, i64::MAX)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.map_end_offset(), 8);
    let e1 = loaded.entry(1).unwrap();
    assert_eq!(e1.batches.len(), 1);
    assert_eq!(e1.batches[0], m.entry(1).unwrap().batches[1]);
    assert_eq!(e1.last_timestamp, 7_000);
    let e9 = loaded.entry(9).unwrap();
    assert_eq!(e9.batches[0], m.entry(9).unwrap().batches[0]);
    assert_eq!(
        (e9.batches[0].first_seq, e9.batches[0].last_seq),
        (i32::MAX, 1)
    );
    // The restored last batch still answers resends and continues the sequence.
    assert!(matches!(
        loaded.check(&batch(1, 0, 3, 2)),
        Ok(CheckOutcome::Duplicate {
            first_offset: 3,
            ..
        })
    ));
    assert_eq!(loaded.check(&batch(1, 0, 5, 1)), Ok(CheckOutcome::Append));
    // Expired producers are dropped on load.
    let loaded = snapshot::load_latest(dir.path(), 8, 7_000, 5_000)
        .unwrap()
        .unwrap();
    assert!(loaded.entry(9).is_none() && loaded.entry(1).is_some());
}

#[test]
fn snapshot_corruption_retention_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = ProducerStateManager::new(0);
    for (i, off) in [(0, 0i64), (1, 1), (2, 2)] {
        m.update(&batch(1, 0, i, 1), off, off, NO_TIMESTAMP);
        snapshot::write_snapshot(dir.path(), &m).unwrap();
    }
    let offsets: Vec<i64> = snapshot::list_snapshots(dir.path())
        .unwrap()
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(offsets, vec![2, 3]);

    // Corrupt CRC: reading reports it, loading falls back to the older snapshot.
    let latest = snapshot::snapshot_path(dir.path(), 3);
    let mut raw = std::fs::read(&latest).unwrap();
    let n = raw.len();
    raw[n - 1] ^= 0xff;
    std::fs::write(&latest, &raw).unwrap();
    assert!(matches!(
        snapshot::read_snapshot(&latest),
        Err(SnapshotError::Corrupt { .. })
    ));
    let loaded = snapshot::load_latest(dir.path(), 10, 0, i64::MAX)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.map_end_offset(), 2);
    assert!(!latest.exists());
    // Wrong version and truncated files are corrupt too.
    let mut bad = snapshot::encode(&m);
    bad[1] = 2;
    assert!(snapshot::decode(&bad, &latest).is_err());
    let good = snapshot::encode(&m);
    assert!(snapshot::decode(&good[..good.len() - 3], &latest).is_err());

    snapshot::write_snapshot(dir.path(), &m).unwrap();
    assert_eq!(snapshot::delete_snapshots_above(dir.path(), 2).unwrap(), 1);
    assert_eq!(
        snapshot::load_latest(dir.path(), 1, 0, i64::MAX).unwrap(),
        None
    );
    assert_eq!(snapshot::delete_snapshots_before(dir.path(), 3).unwrap(), 1);
    assert!(snapshot::list_snapshots(dir.path()).unwrap().is_empty());
}

#[derive(Debug, Clone)]
enum Action {
    /// A new batch of `n` records from producer `p`.
    Send { p: usize, n: i32 },
    /// A resend of the producer's `k`-th most recent batch of its current epoch.
    Resend { p: usize, k: usize },
    /// A batch that skips `skip` sequence numbers.
    Gap { p: usize, skip: i32, n: i32 },
    /// The producer bumps its epoch; `bad_first` sends a non-zero first sequence first.
    Bump { p: usize, bad_first: bool },
    /// A batch from the producer's previous epoch.
    Zombie { p: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..2usize, 1..4i32).prop_map(|(p, n)| Action::Send { p, n }),
        3 => (0..2usize, 0..7usize).prop_map(|(p, k)| Action::Resend { p, k }),
        1 => (0..2usize, 1..3i32, 1..3i32).prop_map(|(p, skip, n)| Action::Gap { p, skip, n }),
        1 => (0..2usize, any::<bool>()).prop_map(|(p, bad_first)| Action::Bump { p, bad_first }),
        1 => (0..2usize).prop_map(|p| Action::Zombie { p }),
    ]
}

#[derive(Debug, Clone, Default)]
struct Client {
    epoch: i16,
    next_seq: i32,
    /// (first seq, record count, first offset, last offset) of this epoch's appended batches.
    sent: Vec<(i32, i32, i64, i64)>,
}

proptest! {
    #[test]
    fn resends_get_original_offsets_and_gaps_are_refused(
        start in prop_oneof![Just(0i32), Just(i32::MAX - 4)],
        actions in proptest::collection::vec(action(), 1..80),
    ) {
        let mut m = ProducerStateManager::new(0);
        let mut log_end = 0i64;
        let mut clients = [Client { next_seq: start, ..Client::default() }, Client::default()];
        // (pid, epoch, first seq, last seq) of every appended batch, in log order.
        let mut appended: Vec<(i64, i16, i32, i32)> = Vec::new();
        for a in actions {
            match a {
                Action::Send { p, n } => {
                    let c = &mut clients[p];
                    let b = batch(p as i64, c.epoch, c.next_seq, n);
                    prop_assert_eq!(m.check(&b), Ok(CheckOutcome::Append));
                    m.update(&b, log_end, log_end + i64::from(n) - 1, NO_TIMESTAMP);
                    c.sent.push((c.next_seq, n, log_end, log_end + i64::from(n) - 1));
                    appended.push((p as i64, c.epoch, b.base_sequence, b.last_sequence));
                    log_end += i64::from(n);
                    c.next_seq = increment_sequence(c.next_seq, n);
                }
                Action::Resend { p, k } => {
                    let c = &clients[p];
                    if k >= c.sent.len() {
                        continue;
                    }
                    let (seq, n, first, last) = c.sent[c.sent.len() - 1 - k];
                    let got = m.check(&batch(p as i64, c.epoch, seq, n));
                    if k < NUM_BATCHES_TO_RETAIN {
                        prop_assert_eq!(got, Ok(CheckOutcome::Duplicate {
                            first_offset: first,
                            last_offset: last,
                            timestamp: 1_000,
                        }));
                    } else {
                        prop_assert!(got.is_err(), "an evicted resend must not be appended");
                    }
                }
                Action::Gap { p, skip, n } => {
                    let c = &clients[p];
                    let known = m.entry(p as i64).is_some();
                    let got = m.check(&batch(p as i64, c.epoch, increment_sequence(c.next_seq, skip), n));
                    if known {
                        prop_assert_eq!(
                            got.map_err(|e| e.error()),
                            Err(ResponseError::OutOfOrderSequenceNumber)
                        );
                    }
                }
                Action::Bump { p, bad_first } => {
                    let c = &mut clients[p];
                    if c.epoch == i16::MAX - 1 {
                        continue;
                    }
                    let known = m.entry(p as i64).is_some();
                    if bad_first && known {
                        let got = m.check(&batch(p as i64, c.epoch + 1, 3, 1));
                        prop_assert_eq!(
                            got.map_err(|e| e.error()),
                            Err(ResponseError::OutOfOrderSequenceNumber)
                        );
                    }
                    c.epoch += 1;
                    c.next_seq = 0;
                    c.sent.clear();
                }
                Action::Zombie { p } => {
                    let c = &clients[p];
                    let current = m.entry(p as i64).map(|e| e.producer_epoch);
                    if c.epoch == 0 || current != Some(c.epoch) {
                        continue;
                    }
                    let got = m.check(&batch(p as i64, c.epoch - 1, 0, 1));
                    prop_assert_eq!(
                        got.map_err(|e| e.error()),
                        Err(ResponseError::InvalidProducerEpoch)
                    );
                }
            }
        }
        // No gap was ever accepted: per producer and epoch, each batch continues the previous.
        for pid in 0..2i64 {
            let mut prev: Option<(i16, i32)> = None;
            for &(_, epoch, first, last) in appended.iter().filter(|b| b.0 == pid) {
                if let Some((pe, plast)) = prev
                    && pe == epoch
                {
                    prop_assert!(in_sequence(plast, first), "gap {plast} -> {first}");
                } else if prev.is_some() {
                    prop_assert_eq!(first, 0);
                }
                prev = Some((epoch, last));
            }
        }
    }
}

#[test]
fn recover_from_snapshot_and_log() {
    use crate::log::{Log, LogConfig};
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
    let mut live = ProducerStateManager::new(0);
    let append = |log: &mut Log, live: &mut ProducerStateManager, pid, seq, count| {
        let raw = encoded(pid, 0, seq, count, 0).into_bytes();
        let info = log.append_as_leader(raw.clone(), 0, 0, false).unwrap();
        let b = RecordBatch::parse(raw).unwrap();
        live.update(
            &BatchInfo::from_batch(&b),
            info.first_offset,
            info.last_offset,
            NO_TIMESTAMP,
        );
    };
    append(&mut log, &mut live, 1, 0, 2);
    append(&mut log, &mut live, 2, 0, 1);
    snapshot::write_snapshot(dir.path(), &live).unwrap();
    append(&mut log, &mut live, 1, 2, 3);
    append(&mut log, &mut live, 2, 1, 1);

    let recovered = snapshot::recover(dir.path(), &log, 0, i64::MAX).unwrap();
    assert_eq!(recovered.map_end_offset(), 7);
    // The snapshot keeps one batch per producer, so compare what matters: the latest batch.
    for pid in [1, 2] {
        let (r, l) = (recovered.entry(pid).unwrap(), live.entry(pid).unwrap());
        assert_eq!(r.batches.back(), l.batches.back());
        assert_eq!(r.producer_epoch, l.producer_epoch);
    }
    assert_eq!(
        recovered.check(&batch(1, 0, 5, 1)),
        Ok(CheckOutcome::Append)
    );
    assert!(matches!(
        recovered.check(&batch(1, 0, 2, 3)),
        Ok(CheckOutcome::Duplicate {
            first_offset: 3,
            last_offset: 5,
            ..
        })
    ));
    // Without any snapshot the whole log is replayed and matches the live state exactly.
    for (_, p) in snapshot::list_snapshots(dir.path()).unwrap() {
        std::fs::remove_file(p).unwrap();
    }
    assert_eq!(
        snapshot::recover(dir.path(), &log, 0, i64::MAX).unwrap(),
        live
    );
    // A snapshot above the log end (left by a truncation) is deleted, not used.
    let mut ahead = live.clone();
    ahead.update_map_end_offset(50);
    snapshot::write_snapshot(dir.path(), &ahead).unwrap();
    assert_eq!(
        snapshot::recover(dir.path(), &log, 0, i64::MAX).unwrap(),
        live
    );
    assert!(snapshot::list_snapshots(dir.path()).unwrap().is_empty());
}
