//! A minimal Kafka protocol client: one TCP connection, typed requests, per-request timeouts.
//! Used for inter-node RPCs and by the admin CLI; every message is a `kafka-protocol` type.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::protocol::frame::{FrameError, MIN_RESPONSE_SIZE, read_frame_sized};

/// Largest response this client accepts (fetch responses stay far below it).
const MAX_RESPONSE_BYTES: u32 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: String, cause: std::io::Error },
    #[error("{api:?} to {addr} timed out after {timeout:?}")]
    Timeout {
        api: ApiKey,
        addr: String,
        timeout: Duration,
    },
    #[error("I/O error talking to {addr}: {cause}")]
    Io { addr: String, cause: std::io::Error },
    #[error("bad response frame from {addr}: {cause}")]
    Frame { addr: String, cause: FrameError },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
    #[error("cannot encode or decode {api:?}: {reason}")]
    Codec { api: ApiKey, reason: String },
    #[error("response correlation id {got} does not match request {expected}")]
    CorrelationMismatch { expected: i32, got: i32 },
}

/// One connection to a Kafka-protocol endpoint. Requests are sent one at a time.
pub struct KafkaConnection {
    addr: String,
    stream: BufReader<TcpStream>,
    client_id: StrBytes,
    next_correlation_id: i32,
}

impl KafkaConnection {
    /// Connects to `addr` (`host:port`) within `timeout`.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let connect = TcpStream::connect(addr);
        let stream = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(cause)) => {
                return Err(ClientError::Connect {
                    addr: addr.to_string(),
                    cause,
                });
            }
            Err(_) => {
                return Err(ClientError::Connect {
                    addr: addr.to_string(),
                    cause: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
                });
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(KafkaConnection {
            addr: addr.to_string(),
            stream: BufReader::new(stream),
            client_id: StrBytes::from_string(client_id.to_string()),
            next_correlation_id: 1,
        })
    }

    /// Connects to the first endpoint of a `host:port,...` bootstrap list that answers.
    pub async fn connect_any(bootstrap: &str, client_id: &str, timeout: Duration) -> Option<Self> {
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            if let Ok(c) = KafkaConnection::connect(addr, client_id, timeout).await {
                return Some(c);
            }
        }
        None
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` at `version` and waits up to `timeout` for its response.
    pub async fn send<R>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError>
    where
        R: Request + Encodable,
    {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Codec {
            api: ApiKey::ApiVersions,
            reason: format!("unknown api key {}", R::KEY),
        })?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let codec = |e: anyhow::Error| ClientError::Codec {
            api,
            reason: e.to_string(),
        };
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut body, api.request_header_version(version))
            .map_err(codec)?;
        request.encode(&mut body, version).map_err(codec)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);

        let addr = self.addr.clone();
        let exchange = async {
            self.stream
                .get_mut()
                .write_all(&frame)
                .await
                .map_err(|cause| ClientError::Io {
                    addr: addr.clone(),
                    cause,
                })?;
            let response =
                read_frame_sized(&mut self.stream, MIN_RESPONSE_SIZE, MAX_RESPONSE_BYTES)
                    .await
                    .map_err(|cause| ClientError::Frame {
                        addr: addr.clone(),
                        cause,
                    })?;
            response.ok_or(ClientError::Closed { addr: addr.clone() })
        };
        let mut response: Bytes =
            tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| ClientError::Timeout {
                    api,
                    addr: self.addr.clone(),
                    timeout,
                })??;
        let header = ResponseHeader::decode(&mut response, api.response_header_version(version))
            .map_err(codec)?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::CorrelationMismatch {
                expected: correlation_id,
                got: header.correlation_id,
            });
        }
        R::Response::decode(&mut response, version).map_err(codec)
    }
}
