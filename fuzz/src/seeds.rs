//! Seed inputs: real encodings of requests, record batches, metadata records and snapshots,
//! in each target's input layout (documented in the target's file).

use bytes::{BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, EnvelopeRequest, FetchRequest, MetadataRequest, ProduceRequest,
    RequestHeader, RequestKind, create_topics_request, fetch_request, metadata_request,
    produce_request,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kraftd::metadata::records::{
    self, ApiMessageAndVersion, BrokerEndpoint, ConfigRecord, FeatureLevelRecord, MetadataRecord,
    PartitionChangeRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord, TopicRecord,
};
use kraftd::protocol::ApiTable;
use kraftd::raft::codec;
use kraftd::raft::{Batch, BatchPayload, ControlRecord};
use kraftd::types::{Epoch, NodeId, Offset};

use crate::Listener;

/// One size-prefixed request frame: header (version from the API) and body.
pub fn request_frame(key: ApiKey, version: i16, body: &RequestKind) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .ok()?;
    body.encode(&mut buf, version).ok()?;
    let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&buf);
    Some(frame)
}

/// A request of `key` with some content where that matters to the decoder (topics,
/// partitions, records), else the default one.
fn sample_request(key: ApiKey) -> Option<RequestKind> {
    let topic = || kafka_protocol::messages::TopicName(StrBytes::from_static_str("orders"));
    Some(match key {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![
                    produce_request::TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(Bytes::from(batch_v2(Compression::None)))),
                        ]),
                ]),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_max_wait_ms(500)
                .with_max_bytes(1 << 20)
                .with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(topic())
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default()
                                .with_partition(0)
                                .with_fetch_offset(3)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]),
        ),
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
            ])))
        }
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    create_topics_request::CreatableTopic::default()
                        .with_name(topic())
                        .with_num_partitions(3)
                        .with_replication_factor(1)
                        .with_configs(vec![
                            create_topics_request::CreatableTopicConfig::default()
                                .with_name(StrBytes::from_static_str("cleanup.policy"))
                                .with_value(Some(StrBytes::from_static_str("compact"))),
                        ]),
                ]),
        ),
        other => crate::default_request(other)?,
    })
}

/// Every advertised API at every advertised version, one frame each, for every listener.
pub fn requests() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for listener in Listener::ALL {
        let table: ApiTable = listener.apis();
        for api in table.apis() {
            for version in api.min..=api.max {
                let body = if api.key == ApiKey::Envelope {
                    envelope_request()
                } else {
                    sample_request(api.key)
                };
                let Some(frame) = body.and_then(|b| request_frame(api.key, version, &b)) else {
                    continue;
                };
                let mut input = vec![listener as u8];
                input.extend_from_slice(&frame);
                out.push(input);
            }
        }
    }
    out
}

/// An Envelope carrying a CreateTopics v7 request from `User:alice` at 127.0.0.1.
fn envelope_request() -> Option<RequestKind> {
    let inner = sample_request(ApiKey::CreateTopics)?;
    let frame = request_frame(ApiKey::CreateTopics, 7, &inner)?;
    Some(RequestKind::Envelope(
        EnvelopeRequest::default()
            .with_request_data(Bytes::copy_from_slice(&frame[4..]))
            .with_request_principal(Some(kraftd::protocol::envelope::serialize_principal(
                "User:alice",
            )))
            .with_client_host_address(Bytes::from_static(&[127, 0, 0, 1])),
    ))
}

/// A producer's RecordBatch v2 of three records (keys, values, a header), base offset 0.
pub fn batch_v2(compression: Compression) -> Vec<u8> {
    let records: Vec<Record> = (0..3)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("trace"),
                Some(Bytes::from_static(b"abc")),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: -1,
                timestamp: 1_700_000_000_000 + i,
                key: (i != 1).then(|| Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(format!("value {i} of the sample batch"))),
                headers: if i == 2 { headers } else { IndexMap::new() },
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("a sample batch encodes");
    buf.to_vec()
}

/// Record batch target inputs: each codec's batch in each mode (see `record_batch.rs`).
pub fn record_batches() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        let batch = batch_v2(codec);
        // Produce v9, acks=-1, CreateTime, not compacted: raw bytes, then CRC-repaired.
        for mode in [0u8, 1] {
            let mut input = vec![mode, 6, i as u8];
            input.extend_from_slice(&batch);
            out.push(input);
        }
    }
    // Mode 2: a header followed by uncompressed records, compressed by the target.
    let plain = batch_v2(Compression::None);
    for codec in 0..5u8 {
        let mut input = vec![2, 6, codec];
        input.extend_from_slice(&plain);
        out.push(input);
    }
    // The server's own encoder (the load generator's batches), two batches back to back.
    let mut two = kraftd::log::batch::encode_uncompressed(0, 0, [&b"a"[..], b"bc"], 5).to_vec();
    two.extend_from_slice(&kraftd::log::batch::encode_uncompressed(
        2,
        0,
        [&b"d"[..]],
        6,
    ));
    let mut input = vec![0, 6, 0];
    input.extend_from_slice(&two);
    out.push(input);
    out
}

fn uuid(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

/// A small cluster as metadata records: a metadata version, a broker, a topic with two
/// partitions, a topic config, a leader change and a producer id block.
fn cluster_records() -> Vec<ApiMessageAndVersion> {
    let topic = uuid(7);
    let partition = |id| PartitionRecord {
        partition_id: id,
        topic_id: topic,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: vec![uuid(3), uuid(4)],
        ..PartitionRecord::default()
    };
    let all = vec![
        MetadataRecord::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 21,
            ..Default::default()
        }),
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 1,
            incarnation_id: uuid(1),
            broker_epoch: 5,
            end_points: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
                security_protocol: 0,
                ..Default::default()
            }],
            rack: None,
            fenced: false,
            log_dirs: vec![uuid(3)],
            ..Default::default()
        }),
        MetadataRecord::Topic(TopicRecord {
            name: "orders".into(),
            topic_id: topic,
            ..Default::default()
        }),
        MetadataRecord::Partition(partition(0)),
        MetadataRecord::Partition(partition(1)),
        MetadataRecord::Config(ConfigRecord {
            resource_type: 2,
            resource_name: "orders".into(),
            name: "cleanup.policy".into(),
            value: Some("compact".into()),
            ..Default::default()
        }),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            partition_id: 1,
            topic_id: topic,
            leader: 2,
            isr: Some(vec![2]),
            ..Default::default()
        }),
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 5,
            next_producer_id: 1000,
            ..Default::default()
        }),
    ];
    all.into_iter().map(ApiMessageAndVersion::latest).collect()
}

/// Metadata record values: the sample cluster's records, and every record type at every
/// version with default fields.
pub fn metadata_records() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = cluster_records()
        .iter()
        .map(|m| {
            records::encode(m)
                .expect("a sample record encodes")
                .to_vec()
        })
        .collect();
    for (key, _) in MetadataRecord::ALL {
        let versions = MetadataRecord::supported_versions(*key).expect("a known key");
        for version in versions {
            // The frame (version 1, api key, record version) with an empty body: the
            // fuzzer grows the body from there; the decoder's errors say what is missing.
            let mut v = Vec::new();
            v.put_u8(1);
            v.put_u8(*key as u8);
            v.put_u8(version as u8);
            v.put_u8(0);
            out.push(v);
        }
    }
    out
}

/// Snapshot files in the metadata log's batch format: header, the sample cluster, footer.
pub fn snapshots() -> Vec<Vec<u8>> {
    let values: Vec<Bytes> = cluster_records()
        .iter()
        .map(|m| records::encode(m).expect("a sample record encodes"))
        .collect();
    let n = values.len() as i64;
    let batches = vec![
        Batch {
            base_offset: Offset(0),
            epoch: Epoch(3),
            payload: BatchPayload::Control(vec![ControlRecord::SnapshotHeader {
                last_contained_log_timestamp: 1_700_000_000_000,
            }]),
        },
        Batch {
            base_offset: Offset(1),
            epoch: Epoch(3),
            payload: BatchPayload::Data(values[..4].to_vec()),
        },
        Batch {
            base_offset: Offset(5),
            epoch: Epoch(3),
            payload: BatchPayload::Data(values[4..].to_vec()),
        },
        Batch {
            base_offset: Offset(1 + n),
            epoch: Epoch(3),
            payload: BatchPayload::Control(vec![
                ControlRecord::LeaderChange {
                    leader_id: NodeId(1),
                    voters: vec![NodeId(1), NodeId(2), NodeId(3)],
                    granting_voters: vec![NodeId(1), NodeId(2)],
                },
                ControlRecord::SnapshotFooter,
            ]),
        },
    ];
    let file = codec::encode_batches(&batches, 1_700_000_000_000)
        .expect("sample batches encode")
        .to_vec();
    // As read (flag 0) and with the CRCs repaired after mutation (flag 1).
    [0u8, 1]
        .into_iter()
        .map(|flag| {
            let mut input = vec![flag];
            input.extend_from_slice(&file);
            input
        })
        .collect()
}

/// server.properties files: the shipped examples and a combined-mode node.
pub fn server_properties() -> Vec<Vec<u8>> {
    let mut out = vec![
        b"# combined mode\nprocess.roles=broker,controller\nnode.id=1\n\
controller.quorum.voters=1@localhost:9093\n\
listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
controller.listener.names=CONTROLLER\nlog.dirs=/tmp/kraftd\n\
num.partitions=3\nlog.retention.ms=604800000\nlog.segment.bytes=1073741824\n\
key\\=with\\:escapes = a value \\\n    continued \\u0041\n! comment\n"
            .to_vec(),
    ];
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut stack = vec![deploy];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "properties")
                && let Ok(text) = std::fs::read(&path)
            {
                out.push(text);
            }
        }
    }
    out
}
