//! A pipelined Kafka connection: requests are written as soon as the caller has them, and a
//! reader task hands every response frame, stamped with its arrival time, to one channel that
//! all connections of a run share. Kafka answers a connection's requests in order, so the
//! caller matches responses to its own queue of in-flight requests.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::PerfError;
use crate::network::client::ClientError;
use crate::protocol::frame::{MIN_RESPONSE_SIZE, read_frame_sized};

const MAX_RESPONSE_BYTES: u32 = 256 * 1024 * 1024;

/// One response frame (or the reason the connection ended) from connection `conn`.
pub struct Inbound {
    pub conn: usize,
    pub frame: Result<Bytes, PerfError>,
    pub at: Instant,
}

pub struct Pipeline {
    addr: String,
    writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
    client_id: StrBytes,
    next_correlation_id: i32,
    scratch: BytesMut,
}

impl Pipeline {
    /// Connects to `addr`; its responses arrive on `tx` tagged with `conn`.
    pub async fn connect(
        addr: &str,
        conn: usize,
        tx: mpsc::UnboundedSender<Inbound>,
    ) -> Result<Pipeline, PerfError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|cause| ClientError::Connect {
                addr: addr.to_string(),
                cause,
            })?;
        let _ = stream.set_nodelay(true);
        let (read, writer) = stream.into_split();
        let reader_addr = addr.to_string();
        let reader = tokio::spawn(async move {
            let mut read = BufReader::with_capacity(1 << 20, read);
            loop {
                let frame = read_frame_sized(&mut read, MIN_RESPONSE_SIZE, MAX_RESPONSE_BYTES)
                    .await
                    .map_err(|cause| {
                        PerfError::Client(ClientError::Frame {
                            addr: reader_addr.clone(),
                            cause,
                        })
                    })
                    .and_then(|f| {
                        f.ok_or_else(|| {
                            PerfError::Client(ClientError::Closed {
                                addr: reader_addr.clone(),
                            })
                        })
                    });
                let done = frame.is_err();
                let at = Instant::now();
                if tx.send(Inbound { conn, frame, at }).is_err() || done {
                    return;
                }
            }
        });
        Ok(Pipeline {
            addr: addr.to_string(),
            writer,
            reader,
            client_id: StrBytes::from_static_str("kraftd-perf"),
            next_correlation_id: 1,
            scratch: BytesMut::new(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Writes `request` at `version`; returns its correlation id.
    pub async fn send<R: Request + Encodable>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<i32, PerfError> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| self.protocol("unknown api key"))?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let codec = |e: anyhow::Error| {
            PerfError::Client(ClientError::Codec {
                api,
                reason: e.to_string(),
            })
        };
        let b = &mut self.scratch;
        b.clear();
        b.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(b, api.request_header_version(version))
            .map_err(codec)?;
        request.encode(b, version).map_err(codec)?;
        let size = (b.len() - 4) as i32;
        b[..4].copy_from_slice(&size.to_be_bytes());
        self.writer
            .write_all(b)
            .await
            .map_err(|cause| ClientError::Io {
                addr: self.addr.clone(),
                cause,
            })?;
        Ok(correlation_id)
    }

    /// Decodes a response frame of this connection to the request `correlation_id`.
    pub fn decode<R: Decodable>(
        &self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        mut frame: Bytes,
    ) -> Result<R, PerfError> {
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .map_err(|e| self.protocol(&e.to_string()))?;
        if header.correlation_id != correlation_id {
            return Err(PerfError::Client(ClientError::CorrelationMismatch {
                expected: correlation_id,
                got: header.correlation_id,
            }));
        }
        R::decode(&mut frame, version).map_err(|e| self.protocol(&e.to_string()))
    }

    fn protocol(&self, reason: &str) -> PerfError {
        PerfError::Protocol {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
