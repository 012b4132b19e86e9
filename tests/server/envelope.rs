//! Envelope (KIP-590) is for brokers forwarding to the controller: a client listener refuses
//! it, the controller listener serves the wrapped request as the wrapped client.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, EnvelopeRequest, EnvelopeResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use super::{connect, start_node};

/// `header` + `body` as a size-prefixed frame.
fn frame<M: Encodable + HeaderVersion>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("envelope-test")))
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut out = BytesMut::new();
    out.put_i32(buf.len() as i32);
    out.extend_from_slice(&buf);
    out.to_vec()
}

fn read_frame(s: &mut TcpStream) -> Option<bytes::Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body.into())
}

#[test]
fn envelope_is_refused_on_client_listeners_and_served_on_controller_listeners() {
    // Started means ready: registered and unfenced, so CreateTopics can place a replica.
    let cluster = start_node();
    let ports = cluster.node(1).ports;
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("wrapped")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
    let inner = frame(ApiKey::CreateTopics, 7, 4242, &create);
    let envelope = EnvelopeRequest::default()
        .with_request_data(bytes::Bytes::copy_from_slice(&inner[4..]))
        .with_request_principal(Some(kraftd::protocol::envelope::serialize_principal(
            "User:alice",
        )))
        .with_client_host_address(bytes::Bytes::from_static(&[127, 0, 0, 1]));
    let wrapped = frame(ApiKey::Envelope, 0, 7, &envelope);

    // A client listener does not serve Envelope: the connection is closed.
    let mut client = connect(ports.broker_addr());
    client.write_all(&wrapped).unwrap();
    assert!(
        read_frame(&mut client).is_none(),
        "a client listener answered an Envelope"
    );

    // The controller listener (this node is the active controller) serves the inner request
    // and returns its response, addressed to the inner correlation id.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let created = loop {
        let mut c = connect(ports.controller_addr());
        c.write_all(&wrapped).unwrap();
        let mut answer = read_frame(&mut c).expect("an Envelope response");
        let header =
            ResponseHeader::decode(&mut answer, ApiKey::Envelope.response_header_version(0))
                .unwrap();
        assert_eq!(header.correlation_id, 7);
        let response = EnvelopeResponse::decode(&mut answer, 0).unwrap();
        if response.error_code == 0 {
            let mut data = response.response_data.expect("inner response bytes");
            let inner_header =
                ResponseHeader::decode(&mut data, ApiKey::CreateTopics.response_header_version(7))
                    .unwrap();
            assert_eq!(inner_header.correlation_id, 4242);
            break CreateTopicsResponse::decode(&mut data, 7).unwrap();
        }
        // NOT_CONTROLLER until the node has become the active controller.
        assert_eq!(response.error_code, 41, "{response:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "never the active controller"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(created.topics.len(), 1);
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
}
