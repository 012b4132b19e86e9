use bytes::BytesMut;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as KTimestampType,
};

use super::*;

const NOW: i64 = 1_700_000_000_000;

fn record(i: i64, key: Option<&'static [u8]>, timestamp: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: 42,
        producer_epoch: 3,
        timestamp_type: KTimestampType::Creation,
        offset: i,
        sequence: 7 + i as i32,
        timestamp,
        key: key.map(Bytes::from_static),
        value: Some(Bytes::from(format!("value-{i}-{}", "x".repeat(50)))),
        headers: IndexMap::new(),
    }
}

fn encode(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

fn records(n: i64) -> Vec<Record> {
    (0..n)
        .map(|i| record(i, Some(b"k"), NOW - 10 + i))
        .collect()
}

fn ctx() -> ValidationContext {
    ValidationContext::with_defaults(9, -1, NOW)
}

/// Recomputes the CRC after a test edits a batch.
fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Replaces the records section of an uncompressed batch with `payload` and the codec bits.
fn with_payload(uncompressed: &Bytes, payload: &[u8], codec: i16) -> Bytes {
    let mut b = uncompressed[..HEADER_SIZE].to_vec();
    b.extend_from_slice(payload);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let attrs = (i16::from_be_bytes([b[21], b[22]]) & !7) | codec;
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    fix_crc(&mut b);
    Bytes::from(b)
}

/// Raw (unframed) snappy of `data` using literals only, which any decoder accepts.
fn raw_snappy(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = data.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    for chunk in data.chunks(256) {
        out.push(60 << 2);
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
    out
}

fn err(records: Bytes, ctx: &ValidationContext) -> ResponseError {
    validate(records, ctx).unwrap_err().error()
}

#[test]
fn every_codec_passes_and_is_stored_byte_identical() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let sent = encode(&records(5), compression);
        let v = validate(sent.clone(), &ctx()).unwrap_or_else(|e| panic!("{compression:?}: {e}"));
        assert_eq!(v.batches.len(), 1);
        let b = &v.batches[0];
        assert_eq!(
            b.batch.bytes(),
            &sent,
            "{compression:?} must be stored as sent"
        );
        assert_eq!(b.compression, compression);
        assert_eq!(
            (b.producer_id, b.producer_epoch, b.base_sequence),
            (42, 3, 7)
        );
        assert_eq!(b.record_count, 5);
        assert_eq!(
            (b.max_timestamp, b.offset_delta_of_max_timestamp),
            (NOW - 6, 4)
        );
        assert_eq!(b.batch_info(), BatchInfo::new(42, 3, 7, 5, NOW - 6, false));
        assert_eq!(b.batch_info().last_sequence, 11);
        assert_eq!((v.record_count, v.bytes), (5, sent.len() as u64));
        assert_eq!(v.log_append_time, -1);
    }
}

#[test]
fn raw_snappy_without_xerial_framing_is_accepted() {
    let plain = encode(&records(3), Compression::None);
    let raw = raw_snappy(&plain[HEADER_SIZE..]);
    let sent = with_payload(&plain, &raw, 2);
    let v = validate(sent.clone(), &ctx()).unwrap();
    assert_eq!(v.batches[0].batch.bytes(), &sent);
    assert_eq!(v.batches[0].compression, Compression::Snappy);
}

#[test]
fn log_append_time_rewrites_only_the_header() {
    let sent = encode(&records(4), Compression::Lz4);
    let mut c = ctx();
    c.timestamp_type = TimestampType::LogAppendTime;
    let v = validate(sent.clone(), &c).unwrap();
    let b = &v.batches[0];
    assert_eq!(v.log_append_time, NOW);
    assert_eq!((b.max_timestamp, b.offset_delta_of_max_timestamp), (NOW, 0));
    let stored = b.batch.bytes();
    assert_eq!(b.batch.max_timestamp(), NOW);
    assert_ne!(b.batch.attributes() & 0x08, 0);
    assert_eq!(stored.len(), sent.len());
    assert_eq!(
        &stored[HEADER_SIZE..],
        &sent[HEADER_SIZE..],
        "records untouched"
    );
    assert_eq!(&stored[..17], &sent[..17]);
    // Timestamps outside the CreateTime window do not matter on LogAppendTime topics.
    c.timestamp_before_max_ms = 0;
    c.timestamp_after_max_ms = 0;
    assert!(validate(sent, &c).is_ok());
}

#[test]
fn create_time_header_is_corrected_when_it_disagrees_with_the_records() {
    let sent = encode(&records(3), Compression::None);
    let mut b = sent.to_vec();
    b[35..43].copy_from_slice(&(NOW + 99).to_be_bytes());
    fix_crc(&mut b);
    let v = validate(Bytes::from(b), &ctx()).unwrap();
    assert_eq!(v.batches[0].batch.bytes(), &sent);
}

#[test]
fn batch_level_rules_table() {
    use ResponseError as E;
    let good = encode(&records(3), Compression::None);
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.to_vec();
        f(&mut b);
        Bytes::from(b)
    };
    let crc = |f: &dyn Fn(&mut Vec<u8>)| {
        edit(&|b| {
            f(b);
            fix_crc(b);
        })
    };
    let cases: Vec<(&str, Bytes, E)> = vec![
        ("empty", Bytes::new(), E::InvalidRecord),
        (
            "truncated batch",
            good.slice(..good.len() - 5),
            E::InvalidRecord,
        ),
        ("truncated header", good.slice(..30), E::InvalidRecord),
        (
            "length below any header",
            edit(&|b| b[8..12].copy_from_slice(&5i32.to_be_bytes())),
            E::CorruptMessage,
        ),
        (
            "v2 batch shorter than its header",
            Bytes::from({
                let mut b = good[..32].to_vec();
                b[8..12].copy_from_slice(&20i32.to_be_bytes());
                b
            }),
            E::CorruptMessage,
        ),
        (
            "corrupt CRC",
            edit(&|b| *b.last_mut().unwrap() ^= 1),
            E::CorruptMessage,
        ),
        ("magic 1", edit(&|b| b[16] = 1), E::InvalidRecord),
        ("magic 0", edit(&|b| b[16] = 0), E::InvalidRecord),
        ("unknown magic", edit(&|b| b[16] = 7), E::InvalidRecord),
        (
            "two batches",
            Bytes::from([good.clone(), good.clone()].concat()),
            E::InvalidRecord,
        ),
        (
            "base offset not 0",
            crc(&|b| b[0..8].copy_from_slice(&5i64.to_be_bytes())),
            E::InvalidRecord,
        ),
        (
            "count above records",
            crc(&|b| {
                b[57..61].copy_from_slice(&4i32.to_be_bytes());
                b[23..27].copy_from_slice(&3i32.to_be_bytes());
            }),
            E::InvalidRecord,
        ),
        (
            "count below records",
            crc(&|b| {
                b[57..61].copy_from_slice(&2i32.to_be_bytes());
                b[23..27].copy_from_slice(&1i32.to_be_bytes());
            }),
            E::InvalidRecord,
        ),
        (
            "count disagrees with last offset delta",
            crc(&|b| b[57..61].copy_from_slice(&2i32.to_be_bytes())),
            E::InvalidRecord,
        ),
        (
            "zero records",
            crc(&|b| {
                b[57..61].copy_from_slice(&0i32.to_be_bytes());
                b[23..27].copy_from_slice(&(-1i32).to_be_bytes());
            }),
            E::InvalidRecord,
        ),
        ("control batch", crc(&|b| b[22] |= 0x20), E::InvalidRecord),
        (
            "producer id without sequence",
            crc(&|b| b[53..57].copy_from_slice(&(-1i32).to_be_bytes())),
            E::InvalidRecord,
        ),
        ("unknown codec", crc(&|b| b[22] |= 0x07), E::CorruptMessage),
        (
            "undecodable gzip",
            crc(&|b| b[22] |= 0x01),
            E::CorruptMessage,
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(err(bytes, &ctx()), want, "{name}");
    }
    // Incomplete bytes after the batch are dropped, as Kafka trims them.
    let tail = Bytes::from([good.to_vec(), good[..20].to_vec()].concat());
    assert_eq!(
        validate(tail, &ctx()).unwrap().batches[0].batch.bytes(),
        &good
    );
}

#[test]
fn limits_acks_and_versions() {
    let sent = encode(&records(3), Compression::None);
    let mut c = ctx();
    c.max_message_bytes = sent.len();
    assert!(validate(sent.clone(), &c).is_ok());
    c.max_message_bytes = sent.len() - 1;
    assert_eq!(err(sent.clone(), &c), ResponseError::MessageTooLarge);
    let mut c = ctx();
    c.segment_bytes = sent.len() - 1;
    assert_eq!(err(sent.clone(), &c), ResponseError::RecordListTooLarge);
    for acks in [-1, 0, 1] {
        assert!(
            validate(
                sent.clone(),
                &ValidationContext::with_defaults(9, acks, NOW)
            )
            .is_ok()
        );
    }
    for acks in [2, -2] {
        assert_eq!(
            err(
                sent.clone(),
                &ValidationContext::with_defaults(9, acks, NOW)
            ),
            ResponseError::InvalidRequiredAcks
        );
    }
    let zstd = encode(&records(3), Compression::Zstd);
    assert_eq!(
        err(zstd.clone(), &ValidationContext::with_defaults(6, -1, NOW)),
        ResponseError::UnsupportedCompressionType
    );
    assert!(validate(zstd, &ValidationContext::with_defaults(7, -1, NOW)).is_ok());
}

#[test]
fn inner_offsets_must_be_zero_based_and_in_order() {
    // Offsets 0, 2, 4: the count matches but the deltas do not, compressed or not.
    let gappy: Vec<Record> = (0..3).map(|i| record(i * 2, Some(b"k"), NOW)).collect();
    for compression in [Compression::None, Compression::Gzip] {
        let mut b = encode(&gappy, compression).to_vec();
        // The encoder set lastOffsetDelta 4; make the header self-consistent with 3 records.
        b[23..27].copy_from_slice(&2i32.to_be_bytes());
        fix_crc(&mut b);
        let e = validate(Bytes::from(b), &ctx()).unwrap_err();
        assert_eq!(e.error(), ResponseError::InvalidRecord, "{compression:?}");
        assert!(e.message().contains("offset delta"), "{e}");
    }
}

#[test]
fn timestamps() {
    let mut c = ctx();
    c.timestamp_before_max_ms = 1_000;
    c.timestamp_after_max_ms = 500;
    let at = |ts: &[i64]| {
        let rs: Vec<Record> = ts
            .iter()
            .enumerate()
            .map(|(i, t)| record(i as i64, Some(b"k"), *t))
            .collect();
        encode(&rs, Compression::Snappy)
    };
    assert!(validate(at(&[NOW - 1_000, NOW + 500]), &c).is_ok());
    let e = validate(at(&[NOW, NOW - 1_001, NOW + 501]), &c).unwrap_err();
    assert_eq!(e.error(), ResponseError::InvalidTimestamp);
    let idx: Vec<i32> = e.record_errors().iter().map(|r| r.batch_index).collect();
    assert_eq!(idx, vec![1, 2]);
    // Kafka 4's defaults: any past timestamp, at most one hour ahead.
    assert!(validate(at(&[0, NOW + 3_600_000]), &ctx()).is_ok());
    assert_eq!(
        err(at(&[NOW + 3_600_001]), &ctx()),
        ResponseError::InvalidTimestamp
    );
    // -1 (no timestamp) is never out of range.
    let v = validate(at(&[-1, -1]), &c).unwrap();
    assert_eq!(
        (
            v.batches[0].max_timestamp,
            v.batches[0].offset_delta_of_max_timestamp
        ),
        (-1, -1)
    );
    // A producer may not claim LogAppendTime on a LogAppendTime topic.
    let mut b = at(&[NOW]).to_vec();
    b[22] |= 0x08;
    fix_crc(&mut b);
    c.timestamp_type = TimestampType::LogAppendTime;
    assert_eq!(err(Bytes::from(b), &c), ResponseError::InvalidTimestamp);
}

#[test]
fn compacted_topics_need_keys() {
    let mut c = ctx();
    c.compacted = true;
    let keyed = encode(&records(2), Compression::Gzip);
    assert!(validate(keyed, &c).is_ok());
    let rs = vec![record(0, Some(b"k"), NOW), record(1, None, NOW)];
    let e = validate(encode(&rs, Compression::Gzip), &c).unwrap_err();
    assert_eq!(e.error(), ResponseError::InvalidRecord);
    assert_eq!(e.record_errors().len(), 1);
    assert_eq!(e.record_errors()[0].batch_index, 1);
    // Null keys are fine on delete topics.
    assert!(validate(encode(&rs, Compression::Gzip), &ctx()).is_ok());
    // A key error wins over a timestamp error on the same record, as in Kafka.
    c.timestamp_before_max_ms = 0;
    let old = vec![record(0, None, NOW - 5)];
    assert_eq!(
        err(encode(&old, Compression::None), &c),
        ResponseError::InvalidRecord
    );
}

#[test]
fn malformed_records_inside_a_valid_crc() {
    let good = encode(&records(2), Compression::None);
    // Drop the last byte of the records section (header count of the last record).
    let cut = with_payload(&good, &good[HEADER_SIZE..good.len() - 1], 0);
    assert_eq!(err(cut, &ctx()), ResponseError::InvalidRecord);
    // Extra bytes after the declared records.
    let mut extra = good[HEADER_SIZE..].to_vec();
    extra.extend_from_slice(&[0, 0]);
    assert_eq!(
        err(with_payload(&good, &extra, 0), &ctx()),
        ResponseError::InvalidRecord
    );
    // The same through a compressed payload.
    let raw = raw_snappy(&extra);
    assert_eq!(
        err(with_payload(&good, &raw, 2), &ctx()),
        ResponseError::InvalidRecord
    );
}

/// The produce path as the broker runs it: validate, check, append, update; a resend is
/// answered with the original offsets and not appended again.
#[test]
fn validate_check_append_update_with_a_resend() {
    use crate::broker::data_plane::producer_state::{CheckOutcome, ProducerStateManager};
    use crate::log::{Log, LogConfig};
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
    let mut state = ProducerStateManager::new(0);
    let mut produce = |sent: Bytes| -> (i64, i64) {
        let v = validate(sent, &ctx()).unwrap();
        let b = &v.batches[0];
        let info = b.batch_info();
        match state.check(&info).unwrap() {
            CheckOutcome::Duplicate {
                first_offset,
                last_offset,
                ..
            } => (first_offset, last_offset),
            CheckOutcome::Append => {
                let a = log
                    .append_as_leader(b.batch.bytes().clone(), 0, NOW, false)
                    .unwrap();
                state.update(&info, a.first_offset, a.last_offset, v.log_append_time);
                (a.first_offset, a.last_offset)
            }
        }
    };
    let first = encode(&records(3), Compression::Zstd);
    assert_eq!(produce(first.clone()), (0, 2));
    assert_eq!(produce(first), (0, 2));
    let next: Vec<Record> = (0..2)
        .map(|i| {
            let mut r = record(i, Some(b"k"), NOW);
            r.sequence = 10 + i as i32;
            r
        })
        .collect();
    assert_eq!(produce(encode(&next, Compression::Lz4)), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
}

/// Key, value, timestamp offset from now, headers.
type ArbRecord = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    i64,
    Vec<(String, Option<Vec<u8>>)>,
);

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        -5_000i64..5_000,
        proptest::collection::vec(
            (
                "[a-z]{0,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)),
            ),
            0..3,
        ),
    )
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_well_formed_batch_passes_unchanged(
        recs in proptest::collection::vec(arb_record(), 1..20),
        codec in 0usize..5,
    ) {
        let compression = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ][codec];
        let records: Vec<Record> = recs
            .iter()
            .enumerate()
            .map(|(i, (k, v, dt, hs))| {
                let mut r = record(i as i64, None, NOW + dt);
                r.key = k.clone().map(Bytes::from);
                r.value = v.clone().map(Bytes::from);
                r.headers = hs
                    .iter()
                    .map(|(hk, hv)| (kafka_protocol::protocol::StrBytes::from_string(hk.clone()), hv.clone().map(Bytes::from)))
                    .collect();
                r
            })
            .collect();
        let sent = encode(&records, compression);
        let v = validate(sent.clone(), &ctx()).unwrap();
        let b = &v.batches[0];
        prop_assert_eq!(b.batch.bytes(), &sent);
        prop_assert_eq!(b.record_count as usize, records.len());
        let max = records.iter().map(|r| r.timestamp).max().unwrap();
        let first_at_max = records.iter().position(|r| r.timestamp == max).unwrap();
        prop_assert_eq!(b.max_timestamp, max);
        prop_assert_eq!(b.offset_delta_of_max_timestamp as usize, first_at_max);
        let mut c = ctx();
        c.compacted = true;
        let keyless = records.iter().position(|r| r.key.is_none());
        match validate(sent, &c) {
            Ok(_) => prop_assert!(keyless.is_none()),
            Err(e) => {
                prop_assert_eq!(e.error(), ResponseError::InvalidRecord);
                prop_assert_eq!(e.record_errors()[0].batch_index as usize, keyless.unwrap());
            }
        }
    }
}
