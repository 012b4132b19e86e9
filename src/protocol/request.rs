//! Request headers: which API and version a frame carries, checked against a listener's
//! [`ApiTable`](super::ApiTable) before the body is decoded.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::api_versions::ApiTable;

/// The decoded header and the undecoded body of a request.
#[derive(Debug)]
pub struct RequestHead {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
    /// The whole request as received (header and body, without the size): what a broker
    /// forwards inside an Envelope.
    pub raw: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} is not served on this listener")]
    UnsupportedApi { api: ApiKey },
    #[error("{api:?} v{version} is not supported (served: v{min}–v{max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

impl RequestError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::UnknownApiKey(_) => "unknown_api",
            RequestError::UnsupportedApi { .. } => "unsupported_api",
            RequestError::UnsupportedVersion { .. } => "unsupported_version",
            RequestError::Malformed { .. } => "malformed",
        }
    }
}

/// What to do with a frame whose API is known but version too new for ApiVersions (KIP-511).
#[derive(Debug)]
pub enum Parsed {
    Request(RequestHead),
    /// An ApiVersions request of a version we do not know: answer UNSUPPORTED_VERSION in the
    /// v0 layout, echoing the correlation id.
    ApiVersionsTooNew {
        correlation_id: i32,
    },
}

/// Parses the header of a frame (at least 8 bytes, checked by the framing layer).
pub fn parse(mut frame: Bytes, apis: &ApiTable) -> Result<Parsed, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::Malformed {
            api: ApiKey::ApiVersions,
            version: 0,
            reason: format!("{} bytes are too few for a request header", frame.len()),
        });
    }
    let raw = frame.clone();
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| RequestError::UnknownApiKey(raw_key))?;
    let range = apis
        .get(api_key)
        .ok_or(RequestError::UnsupportedApi { api: api_key })?;
    if version < range.min || version > range.max {
        if api_key == ApiKey::ApiVersions && version > range.max {
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            return Ok(Parsed::ApiVersionsTooNew { correlation_id });
        }
        return Err(RequestError::UnsupportedVersion {
            api: api_key,
            version,
            min: range.min,
            max: range.max,
        });
    }
    let header_version = api_key.request_header_version(version);
    let header = decode_guarded(&mut frame, |b| RequestHeader::decode(b, header_version)).map_err(
        |reason| RequestError::Malformed {
            api: api_key,
            version,
            reason: format!("header: {reason}"),
        },
    )?;
    Ok(Parsed::Request(RequestHead {
        api_key,
        api_version: version,
        header,
        body: frame,
        raw,
    }))
}

/// Decodes a body, turning both errors and panics of the codec on hostile input into an error.
pub fn decode_body<T: Decodable>(head: &RequestHead) -> Result<T, RequestError> {
    let mut body = head.body.clone();
    let version = head.api_version;
    let decoded = decode_guarded(&mut body, |b| T::decode(b, version)).map_err(|reason| {
        RequestError::Malformed {
            api: head.api_key,
            version,
            reason,
        }
    })?;
    if body.has_remaining() {
        // Kafka ignores bytes after a request body, and some clients send them (librdkafka
        // 2.x adds fields to Metadata v12 that the schema does not have).
        tracing::debug!(
            api = ?head.api_key,
            version,
            trailing = body.remaining(),
            "ignoring trailing bytes after a request body"
        );
    }
    Ok(decoded)
}

fn decode_guarded<T>(
    buf: &mut Bytes,
    decode: impl FnOnce(&mut Bytes) -> anyhow::Result<T>, // the codec's error type
) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(buf))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the decoder rejected the bytes".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api_versions::broker_apis;

    fn frame(key: i16, version: i16, rest: &[u8]) -> Bytes {
        let mut v = key.to_be_bytes().to_vec();
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(rest);
        Bytes::from(v)
    }

    #[test]
    fn unknown_and_unsupported_requests_are_errors() {
        let apis = broker_apis();
        assert!(matches!(
            parse(frame(999, 0, &[]), &apis),
            Err(RequestError::UnknownApiKey(999))
        ));
        assert!(matches!(
            parse(frame(0, 9, &[0, 0]), &apis),
            Err(RequestError::UnsupportedApi { .. })
        ));
        assert!(matches!(
            parse(frame(18, -1, &[]), &apis),
            Err(RequestError::UnsupportedVersion { .. })
        ));
        assert!(matches!(
            parse(frame(18, 99, &[]), &apis),
            Ok(Parsed::ApiVersionsTooNew { correlation_id: 7 })
        ));
    }

    #[test]
    fn truncated_header_is_malformed_not_a_panic() {
        // v1 header needs a client id length after the correlation id.
        let err = parse(frame(18, 1, &[0x7f]), &broker_apis()).unwrap_err();
        assert!(matches!(err, RequestError::Malformed { .. }), "{err}");
    }
}
