//! Model-based property test of the log engine: any sequence of appends, rolls, truncations,
//! start-offset moves, retention and reopen-after-close reads back exactly like an in-memory
//! model (offsets, batch bytes, start/end offsets, timestamp and epoch lookups).
//! `PROPTEST_CASES` scales the number of sequences (default 48).
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

use bytes::Bytes;
use kraftd::log::batch::encode_uncompressed;
use kraftd::log::{Log, LogConfig, RecordBatch};
use proptest::prelude::*;

/// A valid uncompressed RecordBatch v2 with `count` records (offsets assigned by the log).
fn batch(count: i32, value_len: usize, timestamp: i64) -> Bytes {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| vec![b'a' + (i % 26) as u8; value_len])
        .collect();
    encode_uncompressed(0, 0, values.iter().map(Vec::as_slice), timestamp)
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: i32,
        len: usize,
        epoch_bump: bool,
    },
    Roll,
    Truncate {
        back: i64,
    },
    DeleteBefore {
        forward: i64,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..5i32, 0..120usize, any::<bool>()).prop_map(|(count, len, epoch_bump)| Op::Append { count, len, epoch_bump }),
        1 => Just(Op::Roll),
        1 => (0..12i64).prop_map(|back| Op::Truncate { back }),
        1 => (0..12i64).prop_map(|forward| Op::DeleteBefore { forward }),
        1 => Just(Op::Reopen),
    ]
}

/// The model: stored batches (base, last, epoch, timestamp, bytes) and the log start offset.
#[derive(Default)]
struct Model {
    batches: Vec<(i64, i64, i32, i64, Bytes)>,
    start: i64,
    end: i64,
    epoch: i32,
    ts: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.end
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 700,
        index_interval_bytes: 150,
        index_max_bytes: 16 * 8,
        retention: None,
        ..LogConfig::default()
    }
}

fn check(log: &Log, m: &Model) {
    assert_eq!(log.log_end_offset(), m.end());
    assert_eq!(log.log_start_offset(), m.start);
    for (base, last, epoch, _, bytes) in &m.batches {
        if *last < m.start {
            continue;
        }
        for o in (*base).max(m.start)..=*last {
            let got = log.read(o, 1, i64::MAX, true).unwrap().expect("readable");
            let got = RecordBatch::split_all(got).unwrap();
            assert_eq!(got[0].base_offset(), *base, "read at {o}");
            assert_eq!(got[0].partition_leader_epoch(), *epoch);
            // Bytes as stored: the appended batch with its assigned offset and epoch.
            assert_eq!(
                got[0].record_count(),
                RecordBatch::parse(bytes.clone()).unwrap().record_count()
            );
            assert_eq!(
                &got[0].bytes()[21..],
                &bytes[21..],
                "records and attributes byte-for-byte"
            );
        }
    }
    // Epoch lookups: the largest epoch <= e and where it ends.
    for e in 0..=m.epoch + 1 {
        let expected = m
            .batches
            .iter()
            .filter(|b| b.2 <= e)
            .map(|b| b.2)
            .max()
            .map(|ep| {
                let end = m.batches.iter().find(|b| b.2 > ep).map_or(m.end(), |b| b.0);
                (ep, end)
            });
        let got = log.end_offset_for_epoch(e);
        if let Some((ep, end)) = expected {
            assert_eq!(got, Some((ep, end)), "epoch {e}");
        }
    }
    // Timestamp lookups return the first retained batch with a timestamp >= ts.
    if let Some((_, _, _, ts, _)) = m.batches.iter().find(|b| b.1 >= m.start) {
        let want = m
            .batches
            .iter()
            .find(|b| b.1 >= m.start && b.3 >= *ts)
            .map(|b| b.0.max(m.start));
        assert_eq!(log.offset_for_timestamp(*ts).unwrap(), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        .. ProptestConfig::default()
    })]

    #[test]
    fn log_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path(), config(), 0).unwrap();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Append { count, len, epoch_bump } => {
                    if epoch_bump {
                        m.epoch += 1;
                    }
                    m.ts += 10;
                    let info = log.append_as_leader(batch(count, len, m.ts), m.epoch, 0, false).unwrap();
                    let stored = RecordBatch::parse(batch(count, len, m.ts)).unwrap().with_assigned(info.first_offset, m.epoch, None);
                    m.batches.push((info.first_offset, info.last_offset, m.epoch, m.ts, stored.into_bytes()));
                    m.end = info.last_offset + 1;
                }
                Op::Roll => log.roll(0).unwrap(),
                Op::Truncate { back } => {
                    let target = (m.end() - back).max(m.start);
                    log.truncate_to(target).unwrap();
                    // Whole batches reaching the target go; the end becomes the first one's base.
                    if target < m.end {
                        if let Some(first) = m.batches.iter().find(|b| b.1 >= target) {
                            m.end = first.0;
                        }
                        m.batches.retain(|b| b.1 < target);
                        m.start = m.start.min(m.end);
                    }
                }
                Op::DeleteBefore { forward } => {
                    let target = (m.start + forward).min(m.end());
                    log.delete_records_before(target).unwrap();
                    m.start = m.start.max(target);
                }
                Op::Reopen => {
                    log.flush().unwrap();
                    drop(log);
                    log = Log::open(dir.path(), config(), 0).unwrap().0;
                }
            }
            check(&log, &m);
            prop_assert!(log.mapped_indexes() <= 2);
        }
    }
}
