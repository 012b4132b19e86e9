//! Validation of the records a producer sends for one partition, before the append.
//!
//! The rules are those of a Kafka 4 broker for Produce v3+ (RecordBatch v2 only), applied in
//! Kafka's order:
//! 1. `acks` must be -1, 0 or 1 (`INVALID_REQUIRED_ACKS`);
//! 2. exactly one complete batch, of magic 2 (`INVALID_RECORD`, as Kafka's Produce request
//!    validation answers for v3+, older magics included; a length field below the smallest
//!    legacy message is `CORRUPT_MESSAGE`); zstd needs Produce v7+
//!    (`UNSUPPORTED_COMPRESSION_TYPE`); incomplete bytes after the batch are dropped, as Kafka
//!    trims them;
//! 3. base offset 0 (`INVALID_RECORD`), size ≤ `max.message.bytes` (`MESSAGE_TOO_LARGE`, per
//!    batch), header size and CRC (`CORRUPT_MESSAGE`);
//! 4. the batch header: record count > 0 and equal to `lastOffsetDelta + 1`, no control batch,
//!    a producer id needs a sequence ≥ 0 (`INVALID_RECORD`);
//! 5. every record, decompressed with the batch's codec: well formed, exactly `recordCount`
//!    records with offset deltas 0..n-1 in order (`INVALID_RECORD`); then per record, a key on
//!    compacted topics (`INVALID_RECORD`) and, on CreateTime topics, a timestamp within
//!    [now - `message.timestamp.before.max.ms`, now + `message.timestamp.after.max.ms`]
//!    unless it is -1; a producer may not set the LogAppendTime flag (`INVALID_TIMESTAMP`).
//!    Record errors are collected for the whole batch (Produce v8+ reports them per record);
//!    any timestamp error makes the partition error `INVALID_TIMESTAMP`;
//! 6. the append must fit in a segment: size ≤ `segment.bytes` (`RECORD_LIST_TOO_LARGE`).
//!
//! The batch is stored as sent, never recompressed. Its header is rewritten (CRC recomputed)
//! only where Kafka rewrites it too: on LogAppendTime topics (flag set, max timestamp = now),
//! and on CreateTime topics when the header's max timestamp or timestamp type disagrees with
//! the records. Stricter than Kafka on inner offsets: Kafka rebuilds (recompresses) a
//! compressed batch whose offset deltas are not 0..n-1 and does not look at them in an
//! uncompressed one; this broker refuses both with `INVALID_RECORD`, so that it never
//! recompresses and every stored record's offset is its batch's base offset plus its delta.
//! Compressed records are decompressed whole in memory to be checked, up to
//! `max_uncompressed_bytes` (a batch that expands further is refused as corrupt).
//!
//! Pure: `now_ms` comes from the caller.

#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::Compression;

use crate::broker::data_plane::producer_state::{BatchInfo, NO_TIMESTAMP};
use crate::log::batch::{HEADER_SIZE, LOG_OVERHEAD};
use crate::log::{LogError, RecordBatch};

const MAGIC_OFFSET: usize = 16;
const ATTR_COMPRESSION: i16 = 0x07;
const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;

/// A topic's `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// What validation needs from the request, the topic's configuration and the clock.
#[derive(Debug, Clone)]
pub struct ValidationContext {
    /// The Produce request version (zstd needs v7+).
    pub api_version: i16,
    pub acks: i16,
    pub timestamp_type: TimestampType,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `segment.bytes`: the records of one append must fit in a segment.
    pub segment_bytes: usize,
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub compacted: bool,
    /// The most bytes one batch's records may decompress to (`socket.request.max.bytes`: no
    /// more than an uncompressed request could carry).
    pub max_uncompressed_bytes: usize,
    pub now_ms: i64,
}

impl ValidationContext {
    /// Kafka 4's topic defaults (CreateTime, `max.message.bytes` 1048588, 1 GiB segments, no
    /// bound on past timestamps, at most one hour in the future, not compacted) for a Produce
    /// request of `api_version` with `acks`.
    pub fn with_defaults(api_version: i16, acks: i16, now_ms: i64) -> ValidationContext {
        ValidationContext {
            api_version,
            acks,
            timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1_048_588,
            segment_bytes: 1 << 30,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            compacted: false,
            max_uncompressed_bytes: 104_857_600,
            now_ms,
        }
    }
}

/// One validated batch, ready for `Log::append_as_leader` (which assigns its offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBatch {
    /// The batch as it will be stored (the bytes sent, or a header rewrite of them).
    pub batch: RecordBatch,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    pub is_transactional: bool,
    pub compression: Compression,
    /// The batch's max timestamp as stored (now on LogAppendTime topics; -1 if no record has a
    /// timestamp).
    pub max_timestamp: i64,
    /// Offset delta (within the batch) of the first record carrying `max_timestamp`.
    pub offset_delta_of_max_timestamp: i32,
}

impl ValidatedBatch {
    /// The producer state's view of this batch.
    pub fn batch_info(&self) -> BatchInfo {
        BatchInfo::new(
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self.record_count,
            self.max_timestamp,
            self.is_transactional,
        )
    }
}

/// The result of [`validate`]: the batches to append and totals for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBatches {
    pub batches: Vec<ValidatedBatch>,
    pub record_count: u64,
    pub bytes: u64,
    /// The LogAppendTime stamped (the Produce response's `log_append_time_ms`), -1 on
    /// CreateTime topics.
    pub log_append_time: i64,
}

/// One refused record, for the Produce response's `record_errors` (v8+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("invalid required acks {0}: must be -1, 0 or 1")]
    InvalidRequiredAcks(i16),
    #[error("no complete record batch for the partition (Produce v{0})")]
    NoBatch(i16),
    #[error("record batch magic {magic} is not 2, the only format of Produce v{version}")]
    NotMagicV2 { version: i16, magic: i8 },
    #[error("more than one record batch for the partition (Produce v{0} carries exactly one)")]
    NotOneBatch(i16),
    #[error("zstd-compressed records need Produce v7 or later (got v{0})")]
    ZstdBeforeV7(i16),
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    #[error("the record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: usize },
    #[error("the records of {size} bytes exceed segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: usize },
    #[error("invalid record batch: {0}")]
    InvalidBatch(String),
    #[error("{}", records_message(.errors, *.invalid_timestamp))]
    Records {
        errors: Vec<RecordError>,
        invalid_timestamp: bool,
    },
}

fn records_message(errors: &[RecordError], invalid_timestamp: bool) -> String {
    if invalid_timestamp {
        "records refused: a timestamp is outside the accepted range".to_string()
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| format!("record {}: {}", e.batch_index, e.message))
            .collect();
        format!(
            "{} records refused (first three: [{}])",
            errors.len(),
            shown.join(", ")
        )
    }
}

impl ValidationError {
    /// The error code for the partition's Produce response.
    pub fn error(&self) -> ResponseError {
        match self {
            ValidationError::InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
            ValidationError::NoBatch(_)
            | ValidationError::NotMagicV2 { .. }
            | ValidationError::NotOneBatch(_)
            | ValidationError::InvalidBatch(_) => ResponseError::InvalidRecord,
            ValidationError::ZstdBeforeV7(_) => ResponseError::UnsupportedCompressionType,
            ValidationError::Corrupt(_) => ResponseError::CorruptMessage,
            ValidationError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
            ValidationError::RecordListTooLarge { .. } => ResponseError::RecordListTooLarge,
            ValidationError::Records {
                invalid_timestamp, ..
            } => {
                if *invalid_timestamp {
                    ResponseError::InvalidTimestamp
                } else {
                    ResponseError::InvalidRecord
                }
            }
        }
    }

    /// The message for the Produce response's `error_message`.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Per-record errors (only for record-level refusals).
    pub fn record_errors(&self) -> &[RecordError] {
        match self {
            ValidationError::Records { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The size of the complete batch at the start of `buf`; `Ok(None)` when it is incomplete.
fn complete_batch_size(buf: &[u8]) -> Result<Option<usize>, ValidationError> {
    if buf.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let len = i32_at(buf, 8);
    // The smallest legacy message (magic 0) is 14 bytes after the offset and length.
    if len < 14 {
        return Err(ValidationError::Corrupt(format!(
            "batch length field {len} is below the 14-byte minimum"
        )));
    }
    let size = LOG_OVERHEAD + len as usize;
    if buf.len() < MAGIC_OFFSET + 1 || buf.len() < size {
        return Ok(None);
    }
    Ok(Some(size))
}

/// Validates the records of one partition of a Produce request; see the module documentation.
pub fn validate(
    records: Bytes,
    ctx: &ValidationContext,
) -> Result<ValidatedBatches, ValidationError> {
    if !matches!(ctx.acks, -1..=1) {
        return Err(ValidationError::InvalidRequiredAcks(ctx.acks));
    }
    let version = ctx.api_version;
    let Some(size) = complete_batch_size(&records)? else {
        return Err(ValidationError::NoBatch(version));
    };
    // Kafka reads any magic other than 2 as a legacy batch, which Produce v3+ refuses.
    let magic = records[MAGIC_OFFSET] as i8;
    if magic != 2 {
        return Err(ValidationError::NotMagicV2 { version, magic });
    }
    // A complete batch has at least 26 bytes, so the attributes are there.
    let attributes = i16::from_be_bytes([records[21], records[22]]);
    let compression = match attributes & ATTR_COMPRESSION {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        other => {
            return Err(ValidationError::Corrupt(format!(
                "unknown compression type id {other}"
            )));
        }
    };
    if compression == Compression::Zstd && version < 7 {
        return Err(ValidationError::ZstdBeforeV7(version));
    }
    if complete_batch_size(&records[size..])?.is_some() {
        return Err(ValidationError::NotOneBatch(version));
    }
    let raw = records.slice(..size);
    let base_offset = i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes"));
    if base_offset != 0 {
        return Err(ValidationError::InvalidBatch(format!(
            "the base offset of the record batch should be 0, but it is {base_offset}"
        )));
    }
    if size > ctx.max_message_bytes {
        return Err(ValidationError::MessageTooLarge {
            size,
            max: ctx.max_message_bytes,
        });
    }
    if size < HEADER_SIZE {
        return Err(ValidationError::Corrupt(format!(
            "batch of {size} bytes is shorter than the {HEADER_SIZE}-byte v2 header"
        )));
    }
    let batch = RecordBatch::parse(raw).map_err(|e| match e {
        LogError::InvalidRecord(m) => ValidationError::InvalidBatch(m),
        other => ValidationError::Corrupt(other.to_string()),
    })?;
    let validated = validate_batch(batch, compression, ctx)?;
    if size > ctx.segment_bytes {
        return Err(ValidationError::RecordListTooLarge {
            size,
            max: ctx.segment_bytes,
        });
    }
    Ok(ValidatedBatches {
        record_count: validated.record_count as u64,
        bytes: validated.batch.size() as u64,
        log_append_time: match ctx.timestamp_type {
            TimestampType::LogAppendTime => ctx.now_ms,
            TimestampType::CreateTime => NO_TIMESTAMP,
        },
        batches: vec![validated],
    })
}

fn validate_batch(
    batch: RecordBatch,
    compression: Compression,
    ctx: &ValidationContext,
) -> Result<ValidatedBatch, ValidationError> {
    let b = batch.bytes();
    let producer_epoch = i16::from_be_bytes([b[51], b[52]]);
    let base_sequence = i32_at(b, 53);
    let count = batch.record_count();
    if count <= 0 {
        return Err(ValidationError::InvalidBatch(format!(
            "record count {count} is not positive"
        )));
    }
    // `RecordBatch::parse` checked lastOffsetDelta == count - 1 for a positive count.
    if batch.is_control() {
        return Err(ValidationError::InvalidBatch(
            "control batches are written by the broker, never by producers".into(),
        ));
    }
    if batch.producer_id() >= 0 && base_sequence < 0 {
        return Err(ValidationError::InvalidBatch(format!(
            "producer {} sent a batch without a valid base sequence ({base_sequence})",
            batch.producer_id()
        )));
    }
    let producer_sets_log_append_time = batch.attributes() & ATTR_TIMESTAMP_TYPE != 0;
    let payload = b.slice(HEADER_SIZE..);
    let records =
        crate::log::compression::decompress(payload, compression, ctx.max_uncompressed_bytes)
            .map_err(|e| ValidationError::Corrupt(e.to_string()))?;
    let scan = scan_records(&records, count, batch.base_timestamp())?;

    check_records(&scan.records, ctx, producer_sets_log_append_time)?;

    let (max_timestamp, offset_delta_of_max_timestamp, want_log_append_time) =
        match ctx.timestamp_type {
            TimestampType::LogAppendTime => (ctx.now_ms, 0, true),
            TimestampType::CreateTime => (scan.max_timestamp, scan.offset_delta_of_max, false),
        };
    let batch = if batch.max_timestamp() != max_timestamp
        || producer_sets_log_append_time != want_log_append_time
    {
        rewrite_max_timestamp(&batch, want_log_append_time, max_timestamp)
    } else {
        batch
    };
    Ok(ValidatedBatch {
        producer_id: batch.producer_id(),
        producer_epoch,
        base_sequence,
        record_count: count,
        is_transactional: batch.attributes() & ATTR_TRANSACTIONAL != 0,
        compression,
        max_timestamp,
        offset_delta_of_max_timestamp,
        batch,
    })
}

/// Per-record checks: keys on a compacted topic, CreateTime timestamps within the allowed
/// window, and no LogAppendTime set by the producer. Every failing record is reported.
fn check_records(
    records: &[ScannedRecord],
    ctx: &ValidationContext,
    producer_sets_log_append_time: bool,
) -> Result<(), ValidationError> {
    let mut errors = Vec::new();
    let mut invalid_timestamp = false;
    for (i, r) in records.iter().enumerate() {
        let batch_index = i as i32;
        if ctx.compacted && !r.has_key {
            errors.push(RecordError {
                batch_index,
                message: "a record on a compacted topic needs a key".into(),
            });
            continue;
        }
        if ctx.timestamp_type == TimestampType::CreateTime && r.timestamp != NO_TIMESTAMP {
            let diff = i128::from(ctx.now_ms) - i128::from(r.timestamp);
            if diff > i128::from(ctx.timestamp_before_max_ms)
                || -diff > i128::from(ctx.timestamp_after_max_ms)
            {
                invalid_timestamp = true;
                errors.push(RecordError {
                    batch_index,
                    message: format!(
                        "timestamp {} of record {i} is outside [{}, {}]",
                        r.timestamp,
                        ctx.now_ms.saturating_sub(ctx.timestamp_before_max_ms),
                        ctx.now_ms.saturating_add(ctx.timestamp_after_max_ms)
                    ),
                });
            }
        } else if producer_sets_log_append_time {
            invalid_timestamp = true;
            errors.push(RecordError {
                batch_index,
                message: "producers may not set the LogAppendTime timestamp type".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ValidationError::Records {
            errors,
            invalid_timestamp,
        });
    }
    Ok(())
}

/// Sets the timestamp type flag and the max timestamp of a batch header, recomputing the CRC.
fn rewrite_max_timestamp(
    batch: &RecordBatch,
    log_append_time: bool,
    max_timestamp: i64,
) -> RecordBatch {
    let mut b = BytesMut::from(&batch.bytes()[..]);
    let mut attrs = i16::from_be_bytes([b[21], b[22]]) & !ATTR_TIMESTAMP_TYPE;
    if log_append_time {
        attrs |= ATTR_TIMESTAMP_TYPE;
    }
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    b[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::parse(b.freeze()).expect("a header rewrite of a valid batch is valid")
}

struct ScannedRecord {
    timestamp: i64,
    has_key: bool,
}

struct Scan {
    records: Vec<ScannedRecord>,
    max_timestamp: i64,
    offset_delta_of_max: i32,
}

/// Reads a zigzag varint of at most `max_bytes` bytes.
fn read_varlong(buf: &mut &[u8], max_bytes: usize) -> Option<i64> {
    let mut v: u64 = 0;
    for i in 0..max_bytes {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    None
}

fn read_varint(buf: &mut &[u8]) -> Option<i32> {
    read_varlong(buf, 5).and_then(|v| i32::try_from(v).ok())
}

/// Skips a length-prefixed field (-1: null when `nullable`); returns whether it was present.
fn skip_field(buf: &mut &[u8], nullable: bool) -> Option<bool> {
    let len = read_varint(buf)?;
    if len == -1 && nullable {
        return Some(false);
    }
    let len = usize::try_from(len).ok()?;
    if buf.len() < len {
        return None;
    }
    *buf = &buf[len..];
    Some(true)
}

fn read_record(
    body: &[u8],
    expected_delta: i32,
    base_timestamp: i64,
) -> Result<ScannedRecord, String> {
    let bad = || "malformed record".to_string();
    let mut buf = body;
    let (_attributes, rest) = buf.split_first().ok_or_else(bad)?;
    buf = rest;
    let ts_delta = read_varlong(&mut buf, 10).ok_or_else(bad)?;
    let offset_delta = read_varint(&mut buf).ok_or_else(bad)?;
    if offset_delta != expected_delta {
        return Err(format!(
            "record {expected_delta} has offset delta {offset_delta}: producers must send offset deltas 0..n-1 in order"
        ));
    }
    let has_key = skip_field(&mut buf, true).ok_or_else(bad)?;
    skip_field(&mut buf, true).ok_or_else(bad)?;
    let headers = read_varint(&mut buf).ok_or_else(bad)?;
    if headers < 0 {
        return Err(format!("invalid negative header count {headers}"));
    }
    for _ in 0..headers {
        skip_field(&mut buf, false).ok_or_else(bad)?;
        skip_field(&mut buf, true).ok_or_else(bad)?;
    }
    if !buf.is_empty() {
        return Err(format!(
            "invalid record size: {} bytes left over in the record",
            buf.len()
        ));
    }
    Ok(ScannedRecord {
        timestamp: base_timestamp.wrapping_add(ts_delta),
        has_key,
    })
}

fn scan_records(data: &[u8], count: i32, base_timestamp: i64) -> Result<Scan, ValidationError> {
    let invalid = |m: String| ValidationError::InvalidBatch(m);
    let mut buf = data;
    let mut records = Vec::with_capacity(count.min(4096) as usize);
    let mut max_timestamp = NO_TIMESTAMP;
    let mut offset_delta_of_max = -1;
    for i in 0..count {
        let len = read_varint(&mut buf)
            .ok_or_else(|| invalid(format!("record {i} of {count}: invalid record length")))?;
        let len = usize::try_from(len)
            .map_err(|_| invalid(format!("record {i} of {count}: negative record length")))?;
        if buf.len() < len {
            return Err(invalid(format!(
                "found {i} records but the batch declares {count}"
            )));
        }
        let (body, rest) = buf.split_at(len);
        buf = rest;
        let r = read_record(body, i, base_timestamp).map_err(invalid)?;
        if r.timestamp > max_timestamp {
            max_timestamp = r.timestamp;
            offset_delta_of_max = i;
        }
        records.push(r);
    }
    if !buf.is_empty() {
        return Err(invalid(format!(
            "{} bytes left after the {count} declared records",
            buf.len()
        )));
    }
    Ok(Scan {
        records,
        max_timestamp,
        offset_delta_of_max,
    })
}
