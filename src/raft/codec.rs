//! The metadata log's batches on disk and on the wire: a raft [`Batch`] is one Kafka
//! RecordBatch v2 (uncompressed, `partitionLeaderEpoch` = the batch's epoch). Data records
//! have a null key; control records carry Kafka's control key (`version`, `type`) and the
//! generated-message value (LeaderChangeMessage, SnapshotHeaderRecord, SnapshotFooterRecord).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::leader_change_message::Voter;
use kafka_protocol::messages::{
    BrokerId, LeaderChangeMessage, SnapshotFooterRecord, SnapshotHeaderRecord,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::raft::{Batch, BatchPayload, ControlRecord};
use crate::types::{Epoch, NodeId, Offset};

/// Kafka's `ControlRecordType` values used by KRaft.
const LEADER_CHANGE: i16 = 2;
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode a metadata log batch: {0}")]
    Encode(String),
    #[error("corrupt metadata log batch: {0}")]
    Decode(String),
}

fn control_key(kind: i16) -> Bytes {
    let mut k = BytesMut::with_capacity(4);
    k.put_i16(0);
    k.put_i16(kind);
    k.freeze()
}

fn voters(ids: &[NodeId]) -> Vec<Voter> {
    ids.iter()
        .map(|id| Voter::default().with_voter_id(id.0))
        .collect()
}

fn encode_message<M: Encodable>(m: &M) -> Result<Bytes, CodecError> {
    let mut b = BytesMut::new();
    m.encode(&mut b, 0)
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(b.freeze())
}

fn control_value(record: &ControlRecord) -> Result<(i16, Bytes), CodecError> {
    Ok(match record {
        ControlRecord::LeaderChange {
            leader_id,
            voters: all,
            granting_voters,
        } => (
            LEADER_CHANGE,
            encode_message(
                &LeaderChangeMessage::default()
                    .with_leader_id(BrokerId(leader_id.0))
                    .with_voters(voters(all))
                    .with_granting_voters(voters(granting_voters)),
            )?,
        ),
        ControlRecord::SnapshotHeader {
            last_contained_log_timestamp,
        } => (
            SNAPSHOT_HEADER,
            encode_message(
                &SnapshotHeaderRecord::default()
                    .with_last_contained_log_timestamp(*last_contained_log_timestamp),
            )?,
        ),
        ControlRecord::SnapshotFooter => (
            SNAPSHOT_FOOTER,
            encode_message(&SnapshotFooterRecord::default())?,
        ),
    })
}

/// Encodes one batch as a RecordBatch v2 with every record stamped `timestamp_ms`.
pub fn encode_batch(
    batch: &Batch,
    timestamp_ms: i64,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let record = |i: usize, control: bool, key: Option<Bytes>, value: Bytes| Record {
        transactional: false,
        control,
        delete_horizon: false,
        partition_leader_epoch: batch.epoch.0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: batch.base_offset.0 + i as i64,
        // The encoder keeps records in one batch while offset − sequence is constant; starting
        // at -1 keeps the header's baseSequence at NO_SEQUENCE (-1), as for any
        // non-idempotent batch.
        sequence: i as i32 - 1,
        timestamp: timestamp_ms,
        key,
        value: Some(value),
        headers: IndexMap::new(),
    };
    let records: Vec<Record> = match &batch.payload {
        BatchPayload::Data(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| record(i, false, None, v.clone()))
            .collect(),
        BatchPayload::Control(controls) => controls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (kind, value) = control_value(c)?;
                Ok(record(i, true, Some(control_key(kind)), value))
            })
            .collect::<Result<_, CodecError>>()?,
    };
    if records.is_empty() {
        return Err(CodecError::Encode(
            "a batch needs at least one record".into(),
        ));
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(out, records.iter(), &options)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Encodes consecutive batches.
pub fn encode_batches(batches: &[Batch], timestamp_ms: i64) -> Result<Bytes, CodecError> {
    let mut out = BytesMut::new();
    for b in batches {
        encode_batch(b, timestamp_ms, &mut out)?;
    }
    Ok(out.freeze())
}

fn decode_control(key: &Bytes, value: &Bytes) -> Result<Option<ControlRecord>, CodecError> {
    let mut k = key.clone();
    if k.remaining() < 4 {
        return Err(CodecError::Decode(
            "control record key shorter than 4 bytes".into(),
        ));
    }
    let _version = k.get_i16();
    let kind = k.get_i16();
    let mut v = value.clone();
    let bad = |e: anyhow::Error| CodecError::Decode(e.to_string());
    Ok(match kind {
        LEADER_CHANGE => {
            let m = LeaderChangeMessage::decode(&mut v, 0).map_err(bad)?;
            Some(ControlRecord::LeaderChange {
                leader_id: NodeId(m.leader_id.0),
                voters: m.voters.iter().map(|v| NodeId(v.voter_id)).collect(),
                granting_voters: m
                    .granting_voters
                    .iter()
                    .map(|v| NodeId(v.voter_id))
                    .collect(),
            })
        }
        SNAPSHOT_HEADER => {
            let m = SnapshotHeaderRecord::decode(&mut v, 0).map_err(bad)?;
            Some(ControlRecord::SnapshotHeader {
                last_contained_log_timestamp: m.last_contained_log_timestamp,
            })
        }
        SNAPSHOT_FOOTER => Some(ControlRecord::SnapshotFooter),
        // Kafka ignores control types it does not know.
        _ => None,
    })
}

/// The most the records of one compressed metadata batch may decompress to: Kafka's KRaft
/// writes batches of at most 8 MiB (uncompressed, as this codec does).
pub const MAX_UNCOMPRESSED_BATCH: usize = 8 << 20;

/// Decompresses a batch's records within [`MAX_UNCOMPRESSED_BATCH`] (the codec's own
/// decompression trusts the sizes the compressed bytes claim).
fn decompress_bounded(records: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    let payload = std::mem::take(records);
    Ok(crate::log::compression::decompress(
        payload,
        compression,
        MAX_UNCOMPRESSED_BATCH,
    )?)
}

/// Decodes RecordBatch v2 bytes (CRC-checked) into raft batches, in order.
pub fn decode_batches(bytes: Bytes) -> Result<Vec<Batch>, CodecError> {
    let mut buf = bytes;
    let mut out = Vec::new();
    while buf.has_remaining() {
        let set =
            RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(&decompress_bounded))
                .map_err(|e| CodecError::Decode(e.to_string()))?;
        let Some(first) = set.records.first() else {
            continue;
        };
        let base_offset = Offset(first.offset);
        // Offsets are i64 on the wire but the batch's last offset plus one must be one too
        // (every reader computes the next offset).
        if first.offset.checked_add(set.records.len() as i64).is_none() {
            return Err(CodecError::Decode(format!(
                "a batch of {} records at base offset {} passes the largest offset",
                set.records.len(),
                first.offset
            )));
        }
        let epoch = Epoch(first.partition_leader_epoch);
        let payload = if first.control {
            let mut controls = Vec::new();
            for r in &set.records {
                let key = r.key.clone().unwrap_or_default();
                let value = r.value.clone().unwrap_or_default();
                if let Some(c) = decode_control(&key, &value)? {
                    controls.push(c);
                }
            }
            BatchPayload::Control(controls)
        } else {
            BatchPayload::Data(
                set.records
                    .iter()
                    .map(|r| r.value.clone().unwrap_or_default())
                    .collect(),
            )
        };
        out.push(Batch {
            base_offset,
            epoch,
            payload,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Batch> {
        vec![
            Batch {
                base_offset: Offset(0),
                epoch: Epoch(1),
                payload: BatchPayload::Control(vec![ControlRecord::LeaderChange {
                    leader_id: NodeId(2),
                    voters: vec![NodeId(1), NodeId(2), NodeId(3)],
                    granting_voters: vec![NodeId(2), NodeId(3)],
                }]),
            },
            Batch {
                base_offset: Offset(1),
                epoch: Epoch(1),
                payload: BatchPayload::Data(vec![
                    Bytes::from_static(b"a"),
                    Bytes::from_static(b"bc"),
                ]),
            },
            Batch {
                base_offset: Offset(3),
                epoch: Epoch(4),
                payload: BatchPayload::Control(vec![
                    ControlRecord::SnapshotHeader {
                        last_contained_log_timestamp: 77,
                    },
                    ControlRecord::SnapshotFooter,
                ]),
            },
        ]
    }

    #[test]
    fn batches_round_trip_through_record_batch_v2() {
        let bytes = encode_batches(&sample(), 1_700_000_000_000).unwrap();
        assert_eq!(decode_batches(bytes).unwrap(), sample());
    }

    #[test]
    fn corruption_is_detected() {
        let bytes = encode_batches(&sample(), 0).unwrap();
        let mut v = bytes.to_vec();
        let last = v.len() - 1;
        v[last] ^= 0xff;
        assert!(decode_batches(Bytes::from(v)).is_err());
    }

    /// Sets the compression bits of the batch at the start of `b` and recomputes its CRC.
    fn with_records(batch: &[u8], compression: Compression, records: &[u8]) -> Bytes {
        let mut b = batch[..61].to_vec();
        b[22] = (b[22] & !0x07) | compression as u8;
        b.extend_from_slice(records);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    }

    #[test]
    fn offsets_past_the_largest_are_corrupt_not_a_panic() {
        // Found by fuzzing: a base offset near i64::MAX plus a record's offset delta overflowed,
        // first in the record codec, then in every reader adding a record's index to the base
        // offset (the metadata loader). The base offset is outside the CRC, so a damaged file
        // or a peer could carry it.
        let batch = Batch {
            base_offset: Offset(0),
            epoch: Epoch(1),
            payload: BatchPayload::Data(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
        };
        let encoded = encode_batches(&[batch], 0).unwrap();
        for base in [i64::MAX, i64::MAX - 1] {
            let mut bytes = encoded.to_vec();
            bytes[0..8].copy_from_slice(&base.to_be_bytes());
            let err = decode_batches(Bytes::from(bytes)).unwrap_err();
            assert!(err.to_string().contains("largest offset"), "{err}");
        }
        let mut bytes = encoded.to_vec();
        bytes[0..8].copy_from_slice(&(i64::MAX - 2).to_be_bytes());
        let decoded = decode_batches(Bytes::from(bytes)).unwrap();
        assert_eq!(decoded[0].next_offset(), Offset(i64::MAX));
    }

    #[test]
    fn compressed_records_decompress_only_within_the_bound() {
        use kafka_protocol::compression::{Compressor, Zstd};
        let plain = encode_batches(&sample()[1..2], 0).unwrap();
        let records = plain.slice(61..);
        // A compressed batch within the bound decodes as the uncompressed one.
        let mut small = BytesMut::new();
        Zstd::compress(&mut small, |b| {
            b.extend_from_slice(&records);
            Ok(())
        })
        .unwrap();
        let zstd = with_records(&plain, Compression::Zstd, &small);
        assert_eq!(decode_batches(zstd).unwrap(), sample()[1..2].to_vec());
        // 64 MiB of zeros compress to a few kilobytes: refused at the bound, not inflated.
        let zeros = vec![0u8; 64 << 20];
        let mut bomb = BytesMut::new();
        Zstd::compress(&mut bomb, |b| {
            b.extend_from_slice(&zeros);
            Ok(())
        })
        .unwrap();
        let err = decode_batches(with_records(&plain, Compression::Zstd, &bomb)).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        // A raw snappy block claiming 4 GiB is refused before anything is allocated for it.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let err = decode_batches(with_records(&plain, Compression::Snappy, &claim)).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }
}
