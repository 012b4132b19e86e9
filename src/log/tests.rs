//! Unit tests of the log: appends, reads, roll, truncation, retention, recovery.

use bytes::Bytes;

use super::batch::tests::batch;
use super::*;

/// Appends `n` one-record batches of 60-byte values as leader in `epoch`.
fn append_small(log: &mut Log, n: usize, epoch: i32) {
    for _ in 0..n {
        log.append_as_leader(batch(0, 0, 1, 60, 5), epoch, 0, false)
            .unwrap();
    }
}

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        index_max_bytes: 64 * 8,
        ..LogConfig::default()
    }
}

#[test]
fn leader_appends_assign_offsets_and_reads_return_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small(), 0).unwrap();
    for i in 0..50 {
        let info = log
            .append_as_leader(batch(0, 0, 3, 20, 1000 + i), 2, 0, false)
            .unwrap();
        assert_eq!(info.first_offset, i * 3);
    }
    assert_eq!(log.log_end_offset(), 150);
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    // A read in the middle of a batch returns that batch.
    let got = log.read(31, 1, i64::MAX, true).unwrap().unwrap();
    let batches = RecordBatch::split_all(got).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        (
            batches[0].base_offset(),
            batches[0].partition_leader_epoch()
        ),
        (30, 2)
    );
    // An upper bound stops before batches reaching it.
    let got = log.read(0, 1 << 20, 9, true).unwrap().unwrap();
    assert_eq!(
        RecordBatch::split_all(got)
            .unwrap()
            .last()
            .unwrap()
            .last_offset(),
        8
    );
    assert!(log.read(151, 100, i64::MAX, true).is_err());
    assert_eq!(log.offset_for_timestamp(1010).unwrap(), Some(30));
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 150)));
}

#[test]
fn follower_appends_reject_gaps_and_overlaps_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small(), 0).unwrap();
    log.append_as_follower(batch(0, 1, 2, 5, 1), 0).unwrap();
    assert!(matches!(
        log.append_as_follower(batch(5, 1, 1, 5, 1), 0),
        Err(LogError::NonContiguous {
            expected: 2,
            got: 5
        })
    ));
    assert!(log.append_as_follower(batch(1, 1, 1, 5, 1), 0).is_err());
    let two = Bytes::from([batch(2, 1, 1, 5, 1).to_vec(), batch(4, 1, 1, 5, 1).to_vec()].concat());
    assert!(log.append_as_follower(two, 0).is_err());
    assert_eq!(log.log_end_offset(), 2);
    let mut corrupt = batch(2, 1, 1, 5, 1).to_vec();
    corrupt[65] ^= 0xff;
    assert_eq!(
        log.append_as_leader(Bytes::from(corrupt), 1, 0, false)
            .unwrap_err()
            .error_code(),
        2
    );
    let huge = batch(0, 1, 1, 2_000_000, 1);
    assert_eq!(
        log.append_as_leader(huge, 1, 0, false)
            .unwrap_err()
            .error_code(),
        10
    );
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn truncation_retention_and_full_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small(), 0).unwrap();
    for e in 0..4 {
        for _ in 0..10 {
            log.append_as_leader(batch(0, 0, 2, 20, 1000), e, 0, false)
                .unwrap();
        }
    }
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 40)));
    log.truncate_to(45).unwrap();
    assert_eq!(log.log_end_offset(), 44, "the batch containing 45 goes too");
    assert_eq!(log.latest_epoch(), Some(2));
    log.append_as_leader(batch(0, 0, 1, 20, 1000), 9, 0, false)
        .unwrap();
    assert_eq!(log.end_offset_for_epoch(5), Some((2, 44)));
    let before = log.segment_count();
    assert!(log.delete_records_before(30).unwrap() > 0);
    assert!(log.segment_count() < before);
    assert_eq!(log.log_start_offset(), 30);
    assert!(log.read(10, 100, i64::MAX, true).is_err());
    log.truncate_fully_and_start_at(500, 0).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.segment_count()
        ),
        (500, 500, 1)
    );
    log.append_as_follower(batch(500, 3, 1, 5, 1), 0).unwrap();
    drop(log);
    let (log, _) = Log::open(dir.path(), small(), 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 501));
    assert_eq!(log.latest_epoch(), Some(3));
}

#[test]
fn retention_deletes_old_sealed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small();
    cfg.retention = Some(std::time::Duration::from_secs(60));
    let (mut log, _) = Log::open(dir.path(), cfg, 0).unwrap();
    for i in 0..30 {
        log.append_as_leader(batch(0, 0, 2, 20, i * 1000), 0, 0, false)
            .unwrap();
    }
    let n = log.segment_count();
    let end = log.log_end_offset();
    assert_eq!(log.apply_retention(10_000, end).unwrap(), 0);
    // Nothing at or above the high watermark goes, however old.
    assert_eq!(log.apply_retention(1_000_000, 0).unwrap(), 0);
    // A bound inside the log keeps the segment holding it and everything after.
    let deleted = log.apply_retention(1_000_000, end / 2).unwrap();
    assert!(deleted > 0 && deleted < n - 1, "{deleted} of {n}");
    assert!(log.log_start_offset() <= end / 2);
    assert_eq!(
        log.apply_retention(1_000_000, end).unwrap(),
        n - 1 - deleted,
        "all but the active segment"
    );
    assert_eq!(log.segment_count(), 1);
    let start = log.log_start_offset();
    assert!(start > 0 && start < log.log_end_offset());
    assert!(log.read(start, 100, i64::MAX, true).unwrap().is_some());
    assert!(log.read(start - 1, 100, i64::MAX, true).is_err());
}

#[test]
fn reopen_keeps_everything_and_bounded_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small();
    cfg.segment_bytes = 200;
    let (mut log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    append_small(&mut log, 2000, 1);
    assert!(log.segment_count() >= 1000, "{}", log.segment_count());
    assert!(
        log.mapped_indexes() <= 2,
        "{} mappings",
        log.mapped_indexes()
    );
    // A flush alone leaves the checkpoint behind (it is rewritten at most once a minute):
    // a crash then re-validates everything after the old checkpoint and loses nothing.
    log.flush().unwrap();
    drop(log);
    let (mut log, report) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert!(report.recovered_segments > 1, "{report:?}");
    assert_eq!(log.log_end_offset(), 2000);
    log.flush().unwrap();
    log.checkpoint().unwrap();
    drop(log);
    let (log, report) = Log::open(dir.path(), cfg, 0).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(
        report.recovered_segments, 1,
        "only the active segment is scanned after a checkpoint"
    );
    assert_eq!(log.log_end_offset(), 2000);
    assert!(log.mapped_indexes() <= 2);
    let got = RecordBatch::split_all(log.read(1234, 1, i64::MAX, true).unwrap().unwrap()).unwrap();
    assert_eq!(got[0].base_offset(), 1234);
}

/// Cuts the last batch of the active segment at every byte position, and flips bytes inside
/// it: recovery keeps exactly the valid prefix, rebuilds the indexes and reports the cut.
#[test]
fn crash_recovery_keeps_exactly_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small();
    let (mut log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    for _ in 0..3 {
        log.append_as_leader(batch(0, 0, 2, 30, 7), 4, 0, false)
            .unwrap();
    }
    log.flush().unwrap();
    drop(log);
    let seg = dir.path().join("00000000000000000000.log");
    let full = std::fs::read(&seg).unwrap();
    let last = batch(0, 0, 2, 30, 7).len();
    let prefix = full.len() - last;
    for cut in prefix..full.len() {
        std::fs::write(&seg, &full[..cut]).unwrap();
        let (log, report) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
        assert_eq!(log.log_end_offset(), 4, "cut at {cut}");
        assert_eq!(
            report.truncated_bytes,
            (cut - prefix) as u64,
            "cut at {cut}"
        );
        assert_eq!(std::fs::metadata(&seg).unwrap().len() as usize, prefix);
        assert!(log.read(3, 1000, i64::MAX, true).unwrap().is_some());
        drop(log);
    }
    // The partition leader epoch (bytes 12..16) is outside the CRC by Kafka's design (leaders
    // rewrite it), so a flip there is not detectable; every other byte is.
    for flip in (prefix..full.len())
        .step_by(7)
        .filter(|f| !(prefix + 12..prefix + 16).contains(f))
    {
        let mut bad = full.clone();
        bad[flip] ^= 0x5a;
        std::fs::write(&seg, &bad).unwrap();
        let (log, report) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
        assert_eq!(log.log_end_offset(), 4, "flip at {flip}");
        assert_eq!(report.truncated_bytes as usize, last, "flip at {flip}");
        drop(log);
    }
}

#[test]
fn a_missing_or_garbage_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small();
    cfg.segment_bytes = 300;
    let (mut log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    for _ in 0..20 {
        log.append_as_leader(batch(0, 0, 1, 100, 1), 0, 0, false)
            .unwrap();
    }
    log.flush().unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join("00000000000000000000.index")).unwrap();
    std::fs::write(
        dir.path().join("00000000000000000002.index"),
        b"garbage!garbage!x",
    )
    .unwrap();
    let (log, _) = Log::open(dir.path(), cfg, 0).unwrap();
    for o in 0..20 {
        let got = RecordBatch::split_all(log.read(o, 1, i64::MAX, true).unwrap().unwrap()).unwrap();
        assert_eq!(got[0].base_offset(), o);
    }
    assert_eq!(
        std::fs::metadata(dir.path().join("00000000000000000002.index"))
            .unwrap()
            .len()
            % 8,
        0
    );
}

/// The leader-epoch checkpoint is written at flushes, not per append: an epoch whose first
/// batch was appended after the last flush is recovered from the batches after a crash.
#[test]
fn an_epoch_appended_after_the_last_flush_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small();
    let (mut log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    append_small(&mut log, 30, 1);
    log.flush().unwrap();
    append_small(&mut log, 30, 4);
    assert_eq!(log.epoch_entries(), &[(1, 0), (4, 30)]);
    drop(log); // no flush, no close: the file still says epoch 1 only
    let (log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    assert_eq!(log.epoch_entries(), &[(1, 0), (4, 30)]);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 30)));
    // ... and the recovered entry is in the file now.
    drop(log);
    let (log, report) = Log::open(dir.path(), cfg, 0).unwrap();
    assert_eq!(log.epoch_entries(), &[(1, 0), (4, 30)], "{report:?}");
}

/// A roll does not fsync: rolled segments stay above the recovery point until a flush, or
/// until `rolled_unflushed` + `mark_flushed` (the broker's timer, without the log locked).
#[test]
fn rolled_segments_become_durable_off_the_append_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small();
    cfg.segment_bytes = 200;
    let (mut log, _) = Log::open(dir.path(), cfg.clone(), 0).unwrap();
    append_small(&mut log, 20, 1);
    assert!(log.segment_count() > 2);
    assert_eq!(log.recovery_point(), 0);
    let rolled = log
        .rolled_unflushed()
        .unwrap()
        .expect("rolled segments to flush");
    rolled.sync().unwrap();
    log.mark_flushed(rolled).unwrap();
    let active_base = log.log_end_offset() - 1;
    assert!(log.recovery_point() > 0 && log.recovery_point() <= active_base);
    assert!(
        log.rolled_unflushed().unwrap().is_none(),
        "nothing left to flush"
    );

    // A flush prepared before a truncation is not applied after it.
    append_small(&mut log, 20, 1);
    let stale = log
        .rolled_unflushed()
        .unwrap()
        .expect("more rolled segments");
    let before = log.recovery_point();
    log.truncate_to(before + 1).unwrap();
    stale.sync().unwrap();
    log.mark_flushed(stale).unwrap();
    assert!(log.recovery_point() <= before + 1);

    // Whatever was rolled and never flushed is recovered after a crash.
    append_small(&mut log, 20, 1);
    let end = log.log_end_offset();
    drop(log);
    let (log, report) = Log::open(dir.path(), cfg, 0).unwrap();
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(report.truncated_bytes, 0);
    assert!(log.mapped_indexes() <= 2);
}
