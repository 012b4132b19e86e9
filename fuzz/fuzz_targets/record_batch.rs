//! Record batches as a producer sends them: the broker's Produce validation (framing, header,
//! CRC, decompression of every codec within its bound, every record), and the log's batch
//! splitting and parsing.
//!
//! Input: a mode byte, a context byte, a codec byte, then the records.
//! - mode 0: the records as sent;
//! - mode 1: the length field and CRC-32C of the (single) batch repaired first;
//! - mode 2: the records' bytes after the 61-byte header are compressed with the codec byte's
//!   codec and the header's compression bits, length and CRC set to match, so mutations of
//!   the uncompressed records reach the record checks inside compressed batches.
//!
//! The context byte picks the Produce version (3-12), acks, timestamp type and compaction.
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use kafka_protocol::records::Compression;
use kraftd::broker::data_plane::produce_validation::{TimestampType, ValidationContext, validate};
use kraftd::log::RecordBatch;
use kraftd::log::compression::decompress;
use kraftd_fuzz::BATCH_HEADER;
use libfuzzer_sys::fuzz_target;

const NOW_MS: i64 = 1_700_000_000_000;
/// The most a batch may decompress to here (the server uses `socket.request.max.bytes`).
const MAX_UNCOMPRESSED: usize = 1 << 20;

fn codec(b: u8) -> Compression {
    match b % 5 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        _ => Compression::Zstd,
    }
}

fn compress(codec: Compression, data: &[u8]) -> Option<Bytes> {
    let mut out = BytesMut::new();
    let mut input = BytesMut::from(data);
    let put = |b: &mut BytesMut| {
        b.extend_from_slice(&input.split());
        Ok(())
    };
    match codec {
        Compression::None => return Some(Bytes::copy_from_slice(data)),
        Compression::Gzip => Gzip::compress(&mut out, put),
        Compression::Snappy => Snappy::compress(&mut out, put),
        Compression::Lz4 => Lz4::compress(&mut out, put),
        Compression::Zstd => Zstd::compress(&mut out, put),
    }
    .ok()?;
    Some(out.freeze())
}

fn context(b: u8) -> ValidationContext {
    let mut ctx = ValidationContext::with_defaults(3 + i16::from(b % 10), -1, NOW_MS);
    ctx.acks = [-1, 0, 1, 2][usize::from(b >> 4) % 4];
    if b & 0x40 != 0 {
        ctx.timestamp_type = TimestampType::LogAppendTime;
    }
    ctx.compacted = b & 0x80 != 0;
    ctx.max_uncompressed_bytes = MAX_UNCOMPRESSED;
    ctx
}

fuzz_target!(
    init: kraftd_fuzz::write_seeds_if_asked(kraftd_fuzz::seeds::record_batches),
    |data: &[u8]| {
    let [mode, ctx, codec_byte, rest @ ..] = data else {
        return;
    };
    let ctx = context(*ctx);
    let records = match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut b = rest.to_vec();
            kraftd_fuzz::repair_single_batch(&mut b);
            b
        }
        _ => {
            if rest.len() < BATCH_HEADER {
                return;
            }
            let codec = codec(*codec_byte);
            let Some(payload) = compress(codec, &rest[BATCH_HEADER..]) else {
                return;
            };
            let mut b = rest[..BATCH_HEADER].to_vec();
            let attributes = (i16::from_be_bytes([b[21], b[22]]) & !0x07) | codec as i16;
            b[21..23].copy_from_slice(&attributes.to_be_bytes());
            b.extend_from_slice(&payload);
            kraftd_fuzz::repair_single_batch(&mut b);
            b
        }
    };
    let records = Bytes::from(records);
    if let Ok(validated) = validate(records.clone(), &ctx) {
        for v in &validated.batches {
            let stored = v.batch.with_assigned(42, 3, None);
            RecordBatch::parse(stored.into_bytes()).expect("an assigned batch stays valid");
        }
    }
    if let Ok(batches) = RecordBatch::split_all(records.clone()) {
        for b in batches {
            let _ = (b.last_offset(), b.is_control(), b.max_timestamp());
        }
    }
    if records.len() > BATCH_HEADER {
        let payload = records.slice(BATCH_HEADER..);
        let _ = decompress(payload, codec(*codec_byte), MAX_UNCOMPRESSED);
    }
});
