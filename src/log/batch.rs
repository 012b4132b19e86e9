//! A zero-copy view of a Kafka RecordBatch v2 header, with validation and the header rewrites
//! a leader does on append (base offset, partition leader epoch, LogAppendTime), recomputing
//! the CRC-32C.
//!
//! Layout (big-endian):
//! ```text
//! 0  baseOffset i64        8  batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8              17 crc u32 (CRC-32C of bytes 21..)
//! 21 attributes i16        23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64      43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32      57 recordCount i32      61 records…
//! ```

use bytes::{Bytes, BytesMut};

use super::error::LogError;

pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` counts: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;
const CRC_OFFSET: usize = 17;
const CRC_START: usize = 21;
const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
const ATTR_CONTROL: i16 = 0x20;

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// One whole batch (header and records) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
}

impl RecordBatch {
    /// Size of the batch that starts at `buf`, if its length field is readable.
    pub fn size_at(buf: &[u8]) -> Option<usize> {
        if buf.len() < LOG_OVERHEAD {
            return None;
        }
        let len = i32_at(buf, 8);
        if len < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Some(0);
        }
        Some(LOG_OVERHEAD + len as usize)
    }

    /// Wraps and validates one complete batch (framing, magic, CRC, counts).
    pub fn parse(bytes: Bytes) -> Result<RecordBatch, LogError> {
        if bytes.len() < HEADER_SIZE {
            return Err(LogError::Corrupt(format!(
                "batch of {} bytes is shorter than the {HEADER_SIZE}-byte header",
                bytes.len()
            )));
        }
        let declared = i32_at(&bytes, 8);
        if declared < (HEADER_SIZE - LOG_OVERHEAD) as i32
            || LOG_OVERHEAD + declared as usize != bytes.len()
        {
            return Err(LogError::Corrupt(format!(
                "batch length {declared} does not match its {} bytes",
                bytes.len()
            )));
        }
        let b = RecordBatch { bytes };
        if b.magic() != 2 {
            return Err(LogError::Corrupt(format!(
                "magic {} is not supported (only RecordBatch v2)",
                b.magic()
            )));
        }
        let crc = crc32c::crc32c(&b.bytes[CRC_START..]);
        if crc != b.crc() {
            return Err(LogError::Corrupt(format!(
                "CRC-32C mismatch (stored {:#010x}, computed {crc:#010x})",
                b.crc()
            )));
        }
        if b.record_count() < 0 || b.last_offset_delta() < 0 {
            return Err(LogError::InvalidRecord(format!(
                "negative record count {} or last offset delta {}",
                b.record_count(),
                b.last_offset_delta()
            )));
        }
        if b.record_count() > 0
            && i64::from(b.last_offset_delta()) != i64::from(b.record_count()) - 1
        {
            return Err(LogError::InvalidRecord(format!(
                "last offset delta {} does not match {} records",
                b.last_offset_delta(),
                b.record_count()
            )));
        }
        Ok(b)
    }

    /// Splits a buffer of consecutive batches, validating each.
    pub fn split_all(mut buf: Bytes) -> Result<Vec<RecordBatch>, LogError> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let size = Self::size_at(&buf)
                .filter(|s| *s >= HEADER_SIZE)
                .ok_or_else(|| LogError::Corrupt("truncated batch header".into()))?;
            if size > buf.len() {
                return Err(LogError::Corrupt(format!(
                    "batch of {size} bytes but only {} remain",
                    buf.len()
                )));
            }
            out.push(Self::parse(buf.split_to(size))?);
        }
        Ok(out)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        i64_at(&self.bytes, 0)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        i32_at(&self.bytes, 12)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[16] as i8
    }
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(
            self.bytes[CRC_OFFSET..CRC_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        )
    }
    pub fn attributes(&self) -> i16 {
        i16_at(&self.bytes, 21)
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & ATTR_CONTROL != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        i32_at(&self.bytes, 23)
    }
    pub fn base_timestamp(&self) -> i64 {
        i64_at(&self.bytes, 27)
    }
    pub fn max_timestamp(&self) -> i64 {
        i64_at(&self.bytes, 35)
    }
    pub fn producer_id(&self) -> i64 {
        i64_at(&self.bytes, 43)
    }
    pub fn record_count(&self) -> i32 {
        i32_at(&self.bytes, 57)
    }

    /// Rewrites the header as the leader does: assigns `base_offset` and the partition leader
    /// epoch, optionally stamps LogAppendTime as the max timestamp, and recomputes the CRC.
    pub fn with_assigned(
        &self,
        base_offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> RecordBatch {
        let mut b = BytesMut::from(&self.bytes[..]);
        b[0..8].copy_from_slice(&base_offset.to_be_bytes());
        b[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
        if let Some(ts) = log_append_time {
            let attrs = i16_at(&b, 21) | ATTR_TIMESTAMP_TYPE;
            b[21..23].copy_from_slice(&attrs.to_be_bytes());
            b[35..43].copy_from_slice(&ts.to_be_bytes());
        }
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        RecordBatch { bytes: b.freeze() }
    }
}

fn put_varint(b: &mut BytesMut, v: i64) {
    use bytes::BufMut;
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        b.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    b.put_u8(z as u8);
}

/// The idempotent-producer fields of a batch header; `NONE` for a plain producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerFields {
    /// No producer id, epoch or sequence (a non-idempotent producer).
    pub const NONE: ProducerFields = ProducerFields {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Encodes an uncompressed RecordBatch v2 of key-less records with one timestamp (producer id
/// -1, no sequence). Used by tests and benchmarks.
pub fn encode_uncompressed<'a>(
    base_offset: i64,
    epoch: i32,
    values: impl IntoIterator<Item = &'a [u8]>,
    timestamp: i64,
) -> Bytes {
    let mut b = BytesMut::new();
    encode_records_into(
        &mut b,
        base_offset,
        epoch,
        ProducerFields::NONE,
        values,
        timestamp,
    );
    b.freeze()
}

/// Appends an uncompressed RecordBatch v2 of key-less, header-less records sharing one
/// timestamp to `b`, as a producer sends it (the load generator builds its batches here).
pub fn encode_records_into<'a>(
    b: &mut BytesMut,
    base_offset: i64,
    epoch: i32,
    producer: ProducerFields,
    values: impl IntoIterator<Item = &'a [u8]>,
    timestamp: i64,
) {
    use bytes::BufMut;
    let start = b.len();
    b.put_i64(base_offset);
    b.put_i32(0); // batch length, patched below
    b.put_i32(epoch);
    b.put_i8(2);
    b.put_u32(0); // CRC, patched below
    b.put_i16(0);
    b.put_i32(0); // last offset delta, patched below
    b.put_i64(timestamp);
    b.put_i64(timestamp);
    b.put_i64(producer.producer_id);
    b.put_i16(producer.producer_epoch);
    b.put_i32(producer.base_sequence);
    b.put_i32(0); // record count, patched below
    let mut count = 0i32;
    for (i, value) in values.into_iter().enumerate() {
        // attributes, timestamp delta 0, offset delta, key -1, value, no headers
        let offset_delta = i as i64;
        let body_len =
            1 + 1 + varint_len(offset_delta) + 1 + varint_len(value.len() as i64) + value.len() + 1;
        put_varint(b, body_len as i64);
        b.put_u8(0);
        put_varint(b, 0);
        put_varint(b, offset_delta);
        put_varint(b, -1);
        put_varint(b, value.len() as i64);
        b.extend_from_slice(value);
        put_varint(b, 0);
        count += 1;
    }
    let batch = &mut b[start..];
    let length = (batch.len() - LOG_OVERHEAD) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    batch[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Bytes of `v` as a zigzag varint.
fn varint_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    (64 - z.max(1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid uncompressed batch with `count` records of `value_len` bytes.
    pub fn batch(
        base_offset: i64,
        epoch: i32,
        count: i32,
        value_len: usize,
        timestamp: i64,
    ) -> Bytes {
        let value = vec![b'v'; value_len];
        encode_uncompressed(
            base_offset,
            epoch,
            (0..count).map(|_| value.as_slice()),
            timestamp,
        )
    }

    #[test]
    fn varint_lengths_match_the_encoder() {
        for v in [
            0i64,
            1,
            -1,
            63,
            64,
            -64,
            -65,
            8191,
            8192,
            1 << 20,
            i32::MAX as i64,
        ] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(varint_len(v), b.len(), "{v}");
        }
    }

    #[test]
    fn producer_fields_and_offset_deltas_are_encoded() {
        let values = vec![vec![b'x'; 300]; 200];
        let mut b = BytesMut::new();
        b.extend_from_slice(b"prefix");
        let producer = ProducerFields {
            producer_id: 7,
            producer_epoch: 2,
            base_sequence: 40,
        };
        encode_records_into(&mut b, 0, -1, producer, values.iter().map(Vec::as_slice), 9);
        let batch = RecordBatch::parse(b.freeze().slice(6..)).unwrap();
        assert_eq!(
            (
                batch.producer_id(),
                batch.record_count(),
                batch.last_offset_delta(),
                batch.max_timestamp()
            ),
            (7, 200, 199, 9)
        );
        assert_eq!(i32_at(batch.bytes(), 53), 40);
    }

    #[test]
    fn parse_rewrite_and_detect_corruption() {
        let raw = batch(0, 0, 3, 10, 1000);
        let b = RecordBatch::parse(raw.clone()).unwrap();
        assert_eq!(
            (b.base_offset(), b.last_offset(), b.record_count()),
            (0, 2, 3)
        );
        let moved = b.with_assigned(42, 7, Some(5000));
        let moved = RecordBatch::parse(moved.into_bytes()).unwrap();
        assert_eq!(
            (
                moved.base_offset(),
                moved.partition_leader_epoch(),
                moved.max_timestamp()
            ),
            (42, 7, 5000)
        );
        let mut bad = raw.to_vec();
        bad[70] ^= 1;
        assert!(matches!(
            RecordBatch::parse(Bytes::from(bad)),
            Err(LogError::Corrupt(_))
        ));
        let mut magic = raw.to_vec();
        magic[16] = 1;
        assert!(RecordBatch::parse(Bytes::from(magic)).is_err());
        assert!(RecordBatch::parse(raw.slice(..40)).is_err());
        let two = [raw.clone(), batch(3, 0, 1, 5, 1)].concat();
        assert_eq!(RecordBatch::split_all(Bytes::from(two)).unwrap().len(), 2);
    }
}
