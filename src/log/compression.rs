//! Bounded decompression of record batch payloads.
//!
//! A producer controls both the compressed bytes and what they expand to: a few kilobytes of
//! gzip or zstd can claim gigabytes. Every codec here stops as soon as the output would pass
//! `limit` bytes and reports it, so a decompression bomb costs at most `limit` bytes of memory.

use std::io::Read;

use bytes::Bytes;
use kafka_protocol::records::Compression;

#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("{codec:?} records expand past the {limit}-byte limit")]
    TooLarge { codec: Compression, limit: usize },
    #[error("cannot decompress {codec:?} records: {reason}")]
    Corrupt { codec: Compression, reason: String },
}

/// xerial snappy-java's stream header (magic, then version and compatible version).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER: usize = 16;

/// Decompresses `payload` written with `codec`, failing once the output exceeds `limit` bytes.
pub fn decompress(
    payload: Bytes,
    codec: Compression,
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let corrupt = |reason: String| DecompressError::Corrupt { codec, reason };
    let out = match codec {
        Compression::None => return Ok(payload),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(&payload[..]), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(&payload[..])
                .map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, limit)
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(&payload[..]).map_err(|e| corrupt(e.to_string()))?;
            read_bounded(decoder, limit)
        }
        Compression::Snappy => return snappy(&payload, limit),
    };
    match out {
        Ok(Some(v)) => Ok(Bytes::from(v)),
        Ok(None) => Err(DecompressError::TooLarge { codec, limit }),
        Err(e) => Err(corrupt(e.to_string())),
    }
}

/// Reads `reader` to the end; `None` when it yields more than `limit` bytes.
fn read_bounded(reader: impl Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok((out.len() <= limit).then_some(out))
}

/// Kafka's snappy: the xerial block stream (what the Java client writes), or a raw snappy
/// block (what some other clients write). Each block's length is checked before allocating.
fn snappy(payload: &[u8], limit: usize) -> Result<Bytes, DecompressError> {
    let codec = Compression::Snappy;
    let corrupt = |reason: String| DecompressError::Corrupt { codec, reason };
    let mut decoder = snap::raw::Decoder::new();
    let mut block = |input: &[u8], out: &mut Vec<u8>| -> Result<(), DecompressError> {
        let len = snap::raw::decompress_len(input).map_err(|e| corrupt(e.to_string()))?;
        if out.len() + len > limit {
            return Err(DecompressError::TooLarge { codec, limit });
        }
        let start = out.len();
        out.resize(start + len, 0);
        decoder
            .decompress(input, &mut out[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(())
    };
    let mut out = Vec::new();
    if payload.len() < XERIAL_HEADER || payload[..8] != XERIAL_MAGIC {
        block(payload, &mut out)?;
        return Ok(Bytes::from(out));
    }
    let mut rest = &payload[XERIAL_HEADER..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt("truncated xerial block length".into()));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= rest.len() - 4)
            .ok_or_else(|| corrupt(format!("xerial block length {len} past the payload")))?;
        block(&rest[4..4 + len], &mut out)?;
        rest = &rest[4 + len..];
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    fn compressed(codec: Compression, data: &[u8]) -> Bytes {
        let mut out = BytesMut::new();
        let mut input = BytesMut::from(data);
        match codec {
            Compression::Gzip => Gzip::compress(&mut out, |b| {
                b.extend_from_slice(&input.split());
                Ok(())
            }),
            Compression::Snappy => Snappy::compress(&mut out, |b| {
                b.extend_from_slice(&input.split());
                Ok(())
            }),
            Compression::Lz4 => Lz4::compress(&mut out, |b| {
                b.extend_from_slice(&input.split());
                Ok(())
            }),
            Compression::Zstd => Zstd::compress(&mut out, |b| {
                b.extend_from_slice(&input.split());
                Ok(())
            }),
            Compression::None => unreachable!("tests compress"),
        }
        .expect("compress");
        out.freeze()
    }

    const CODECS: [Compression; 4] = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn round_trips_within_the_limit() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in CODECS {
            let c = compressed(codec, &data);
            let out = decompress(c, codec, data.len()).expect("within the limit");
            assert_eq!(&out[..], &data[..], "{codec:?}");
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compresses to a few kilobytes in every codec.
        let zeros = vec![0u8; 64 << 20];
        for codec in CODECS {
            let c = compressed(codec, &zeros);
            assert!(c.len() < 4 << 20, "{codec:?} {}", c.len());
            let err = decompress(c, codec, 1 << 20).unwrap_err();
            assert!(
                matches!(err, DecompressError::TooLarge { .. }),
                "{codec:?}: {err}"
            );
        }
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for codec in CODECS {
            let err = decompress(
                Bytes::from_static(b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\x7f\xff\xff\xff"),
                codec,
                1 << 20,
            );
            assert!(err.is_err(), "{codec:?}");
            let err = decompress(Bytes::from_static(&[0xff; 40]), codec, 1 << 20);
            assert!(err.is_err(), "{codec:?}");
        }
    }
}
