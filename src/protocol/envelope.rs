//! The parts of an Envelope (KIP-590) that identify the forwarded client: its principal,
//! serialized as Kafka's default principal builder does (a version, then
//! DefaultPrincipalData), and its IP address in network order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, DefaultPrincipalData};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::request::RequestError;

/// The principal of a connection that has not authenticated.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// The client's principal, serialized as Kafka's default principal builder does (a version,
/// then DefaultPrincipalData); `User:ANONYMOUS` when absent.
pub fn principal(bytes: Option<&Bytes>) -> Result<String, RequestError> {
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return Ok(ANONYMOUS.to_string());
    };
    let malformed = |reason: String| RequestError::Malformed {
        api: ApiKey::Envelope,
        version: 0,
        reason,
    };
    if bytes.len() < 2 {
        return Err(malformed("a principal shorter than its version".into()));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut body = bytes.slice(2..);
    let data = DefaultPrincipalData::decode(&mut body, version)
        .map_err(|e| malformed(format!("principal: {e}")))?;
    Ok(format!("{}:{}", data._type, data.name))
}

/// Serializes `principal` (`Type:Name`) as the Envelope's `request_principal`.
pub fn serialize_principal(principal: &str) -> Bytes {
    let (kind, name) = principal.split_once(':').unwrap_or(("User", principal));
    let data = DefaultPrincipalData::default()
        .with_type(kind.to_string().into())
        .with_name(name.to_string().into());
    let mut out = BytesMut::new();
    out.put_i16(0);
    data.encode(&mut out, 0)
        .expect("a principal always encodes");
    out.freeze()
}

/// The Envelope's `client_host_address`: the client's IP in network order.
pub fn serialize_address(ip: IpAddr) -> Bytes {
    match ip {
        IpAddr::V4(v4) => Bytes::copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => Bytes::copy_from_slice(&v6.octets()),
    }
}

pub fn address(bytes: &Bytes) -> Result<IpAddr, RequestError> {
    match bytes.len() {
        4 => Ok(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(&bytes[..]).expect("4 bytes"),
        ))),
        16 => Ok(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&bytes[..]).expect("16 bytes"),
        ))),
        n => Err(RequestError::Malformed {
            api: ApiKey::Envelope,
            version: 0,
            reason: format!("a client address of {n} bytes"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_and_address_round_trip() {
        let bytes = serialize_principal("User:alice");
        assert_eq!(principal(Some(&bytes)).unwrap(), "User:alice");
        assert_eq!(principal(None).unwrap(), "User:ANONYMOUS");
        for ip in ["127.0.0.1", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address(&serialize_address(ip)).unwrap(), ip);
        }
        assert!(address(&Bytes::from_static(&[1, 2, 3])).is_err());
        assert!(principal(Some(&Bytes::from_static(&[0]))).is_err());
    }
}
