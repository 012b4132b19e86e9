//! Routing of decoded requests to handlers, per listener kind.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

use crate::protocol::api_versions::{self, ApiTable};
use crate::protocol::request::{self, RequestError, RequestHead};

/// Which kind of listener a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Broker,
    Controller,
}

/// A response ready to write: the frame body (header + message) and its error code, if the
/// message has a top-level one (for metrics).
#[derive(Debug)]
pub struct EncodedResponse {
    pub frame: Bytes,
    pub error_code: i16,
}

/// Dispatches requests for one listener.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    kind: ListenerKind,
    apis: ApiTable,
}

impl Dispatcher {
    pub fn new(kind: ListenerKind, apis: ApiTable) -> Dispatcher {
        Dispatcher { kind, apis }
    }

    pub fn kind(&self) -> ListenerKind {
        self.kind
    }

    pub fn apis(&self) -> &ApiTable {
        &self.apis
    }

    /// Handles one request whose header has been parsed and checked against the table.
    pub async fn handle(&self, head: &RequestHead) -> Result<EncodedResponse, RequestError> {
        match head.api_key {
            ApiKey::ApiVersions => {
                // Decoding checks the body is well-formed even though no field changes the answer.
                let _request: ApiVersionsRequest = request::decode_body(head)?;
                let response = api_versions::response(&self.apis);
                encode(
                    head.header.correlation_id,
                    ApiKey::ApiVersions,
                    head.api_version,
                    &response,
                    0,
                )
            }
            other => Err(RequestError::UnsupportedApi { api: other }),
        }
    }

    /// The KIP-511 answer for an ApiVersions request newer than we know.
    pub fn api_versions_too_new(
        &self,
        correlation_id: i32,
    ) -> Result<EncodedResponse, RequestError> {
        let response = api_versions::unsupported_version_response(&self.apis);
        encode(
            correlation_id,
            ApiKey::ApiVersions,
            0,
            &response,
            crate::protocol::error_code::UNSUPPORTED_VERSION,
        )
    }
}

/// Encodes a response header (of the version the API prescribes) followed by the body.
fn encode<M: Encodable + HeaderVersion>(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    message: &M,
    error_code: i16,
) -> Result<EncodedResponse, RequestError> {
    let failed = |e: anyhow::Error| RequestError::Malformed {
        api,
        version,
        reason: format!("cannot encode the response: {e}"),
    };
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .map_err(failed)?;
    message.encode(&mut buf, version).map_err(failed)?;
    let mut frame = BytesMut::with_capacity(buf.len() + 4);
    frame.put_i32(buf.len() as i32);
    frame.extend_from_slice(&buf);
    Ok(EncodedResponse {
        frame: frame.freeze(),
        error_code,
    })
}
