//! Size-prefixed frames: a big-endian `i32` length, then that many bytes.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The smallest request: api key (2) + api version (2) + correlation id (4).
pub const MIN_REQUEST_SIZE: i32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    #[error("frame size {size} is below the {min}-byte header minimum")]
    TooSmall { size: i32, min: i32 },
    #[error("frame size {size} exceeds socket.request.max.bytes={max}")]
    TooLarge { size: i32, max: u32 },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::NegativeSize(_) => "negative_size",
            FrameError::TooSmall { .. } => "too_small",
            FrameError::TooLarge { .. } => "too_large",
            FrameError::Truncated => "truncated",
            FrameError::Io(_) => "io",
        }
    }
}

/// The smallest response: a correlation id (4).
pub const MIN_RESPONSE_SIZE: i32 = 4;

/// Reads one request frame. `Ok(None)` on a clean end of stream between frames.
///
/// The size is checked before any buffer is allocated, so an impossible size costs nothing.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size: u32,
) -> Result<Option<Bytes>, FrameError> {
    read_frame_sized(reader, MIN_REQUEST_SIZE, max_size).await
}

/// Reads one frame of at least `min_size` and at most `max_size` bytes.
pub async fn read_frame_sized<R: AsyncRead + Unpin>(
    reader: &mut R,
    min_size: i32,
    max_size: u32,
) -> Result<Option<Bytes>, FrameError> {
    let mut size_buf = [0u8; 4];
    match reader.read(&mut size_buf[..1]).await? {
        0 => return Ok(None),
        _ => reader
            .read_exact(&mut size_buf[1..])
            .await
            .map_err(truncated)?,
    };
    let size = i32::from_be_bytes(size_buf);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    if size < min_size {
        return Err(FrameError::TooSmall {
            size,
            min: min_size,
        });
    }
    if size as u32 > max_size {
        return Err(FrameError::TooLarge {
            size,
            max: max_size,
        });
    }
    read_body(reader, size as usize).await.map(Some)
}

/// Up to this much of a frame is allocated before its bytes arrive (every usual request fits,
/// so it is read into one allocation without copies).
const FIRST_CHUNK: usize = 4 << 20;

/// Reads exactly `size` bytes. A larger frame gets the rest of its buffer only after its
/// first [`FIRST_CHUNK`] bytes have arrived: a size a peer claims without sending the bytes
/// costs at most that much.
async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(size.min(FIRST_CHUNK));
    while buf.len() < size {
        if buf.capacity() == buf.len() {
            buf.reserve(size - buf.len());
        }
        let want = (size - buf.len()).min(buf.capacity() - buf.len());
        let n = reader
            .read_buf(&mut (&mut buf).limit(want))
            .await
            .map_err(FrameError::Io)?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(buf.freeze())
}

fn truncated(e: std::io::Error) -> FrameError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FrameError::Truncated
    } else {
        FrameError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8], max: u32) -> Result<Option<Bytes>, FrameError> {
        let mut r = bytes;
        read_frame(&mut r, max).await
    }

    #[tokio::test]
    async fn frames_and_their_errors() {
        let mut ok = 8i32.to_be_bytes().to_vec();
        ok.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(read(&ok, 100).await.unwrap().unwrap().len(), 8);
        assert!(read(&[], 100).await.unwrap().is_none());
        assert!(matches!(
            read(&(-5i32).to_be_bytes(), 100).await,
            Err(FrameError::NegativeSize(-5))
        ));
        assert!(matches!(
            read(&3i32.to_be_bytes(), 100).await,
            Err(FrameError::TooSmall { size: 3, .. })
        ));
        assert!(matches!(
            read(&i32::MAX.to_be_bytes(), 100).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            read(&ok[..6], 100).await,
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read(&[0, 0], 100).await,
            Err(FrameError::Truncated)
        ));
    }

    #[tokio::test]
    async fn a_large_frame_arrives_whole_and_a_claimed_size_costs_only_what_arrives() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut framed = (body.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        let got = read(&framed, 1 << 20).await.unwrap().unwrap();
        assert_eq!(&got[..], &body[..]);
        // 100 MB claimed, 10 bytes sent: truncated, without a 100 MB buffer.
        let mut claimed = 100_000_000i32.to_be_bytes().to_vec();
        claimed.extend_from_slice(&[1; 10]);
        assert!(matches!(
            read(&claimed, 200_000_000).await,
            Err(FrameError::Truncated)
        ));
    }
}
