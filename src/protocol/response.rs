//! Encoded responses: the size-prefixed frame written back, with the error code it reports to
//! the request metrics.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

use super::request::{RequestError, RequestHead};

/// A response ready to write: the whole frame (size, header, message) and its error code, if
/// the message has one (for metrics). An empty frame means no response (Produce acks=0).
#[derive(Debug)]
pub struct EncodedResponse {
    pub frame: Bytes,
    pub error_code: i16,
}

impl EncodedResponse {
    /// No response at all: the client does not expect one.
    pub fn none() -> EncodedResponse {
        EncodedResponse {
            frame: Bytes::new(),
            error_code: 0,
        }
    }
}

/// Encodes a response header (of the version the API prescribes) followed by the body.
pub fn encode<M: Encodable + HeaderVersion>(
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
    let header_version = api.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + message.compute_size(version)?))
        .map_err(failed)?;
    let mut frame = BytesMut::with_capacity(size + 4);
    frame.put_i32(size as i32);
    header.encode(&mut frame, header_version).map_err(failed)?;
    message.encode(&mut frame, version).map_err(failed)?;
    Ok(EncodedResponse {
        frame: frame.freeze(),
        error_code,
    })
}

/// Encodes `message` as the answer to `request` (its correlation id, API and version).
pub fn respond<M: Encodable + HeaderVersion>(
    request: &RequestHead,
    message: &M,
    error_code: i16,
) -> Result<EncodedResponse, RequestError> {
    encode(
        request.header.correlation_id,
        request.api_key,
        request.api_version,
        message,
        error_code,
    )
}

/// The first non-zero error code, else 0 (for metrics).
pub fn first_error(mut codes: impl Iterator<Item = i16>) -> i16 {
    codes.find(|c| *c != 0).unwrap_or(0)
}

/// The error code a response reports for metrics: its top-level one, else the first
/// partition's (KRaft responses carry the single `__cluster_metadata-0` partition).
pub trait ErrorCodeOf {
    fn error_code_of(&self) -> i16;
}

macro_rules! error_code_of {
    ($($ty:ty => $topics:ident),* $(,)?) => {$(
        impl ErrorCodeOf for $ty {
            fn error_code_of(&self) -> i16 {
                let partition = self.$topics.first().and_then(|t| t.partitions.first());
                match (self.error_code, partition) {
                    (0, Some(p)) => p.error_code,
                    (top, _) => top,
                }
            }
        }
    )*};
}

error_code_of! {
    kafka_protocol::messages::VoteResponse => topics,
    kafka_protocol::messages::BeginQuorumEpochResponse => topics,
    kafka_protocol::messages::EndQuorumEpochResponse => topics,
    kafka_protocol::messages::FetchResponse => responses,
    kafka_protocol::messages::FetchSnapshotResponse => topics,
    kafka_protocol::messages::DescribeQuorumResponse => topics,
}

impl ErrorCodeOf for kafka_protocol::messages::DescribeClusterResponse {
    fn error_code_of(&self) -> i16 {
        self.error_code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn the_frame_size_counts_header_and_body() {
        let r = encode(
            9,
            ApiKey::ApiVersions,
            3,
            &ApiVersionsResponse::default(),
            0,
        )
        .unwrap();
        let size = i32::from_be_bytes(r.frame[..4].try_into().unwrap());
        assert_eq!(size as usize, r.frame.len() - 4);
        assert_eq!(i32::from_be_bytes(r.frame[4..8].try_into().unwrap()), 9);
    }
}
