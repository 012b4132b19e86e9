use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::*;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn roundtrip(m: &ApiMessageAndVersion) {
    let bytes = encode(m).unwrap_or_else(|e| panic!("encode {m:?}: {e}"));
    let back = decode(&bytes).unwrap_or_else(|e| panic!("decode {m:?}: {e}"));
    assert_eq!(&back, m);
    // Encoding is canonical: a decoded record re-encodes to the same bytes.
    assert_eq!(encode(&back).unwrap(), bytes);
}

proptest! {
    #[test]
    fn every_type_and_version_round_trips(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for &(api_key, _) in MetadataRecord::ALL {
            for version in MetadataRecord::supported_versions(api_key).unwrap() {
                let mut record = MetadataRecord::arb(api_key, version, &mut rng);
                // Tags no schema version declares, so they stay unknown.
                for _ in 0..rng.random_range(0..3) {
                    let tag = rng.random_range(40..200);
                    let data: Vec<u8> = (0..rng.random_range(0..6)).map(|_| rng.random()).collect();
                    record.unknown_tagged_fields_mut().insert(tag, Bytes::from(data));
                }
                roundtrip(&ApiMessageAndVersion::new(record, version));
            }
        }
    }

    #[test]
    fn truncated_input_is_an_error(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for &(api_key, _) in MetadataRecord::ALL {
            let version = *MetadataRecord::supported_versions(api_key).unwrap().end();
            let record = MetadataRecord::arb(api_key, version, &mut rng);
            let bytes = encode(&ApiMessageAndVersion::new(record, version)).unwrap();
            let cut = rng.random_range(0..bytes.len());
            prop_assert!(decode(&bytes[..cut]).is_err(), "prefix {cut} of {bytes:?}");
        }
    }
}

#[test]
fn supported_versions_match_the_schemas() {
    let expect: &[(i16, &str, i16)] = &[
        (0, "RegisterBrokerRecord", 3),
        (1, "UnregisterBrokerRecord", 0),
        (2, "TopicRecord", 0),
        (3, "PartitionRecord", 2),
        (4, "ConfigRecord", 0),
        (5, "PartitionChangeRecord", 2),
        (7, "FenceBrokerRecord", 0),
        (8, "UnfenceBrokerRecord", 0),
        (9, "RemoveTopicRecord", 0),
        (10, "DelegationTokenRecord", 0),
        (11, "UserScramCredentialRecord", 0),
        (12, "FeatureLevelRecord", 0),
        (14, "ClientQuotaRecord", 0),
        (15, "ProducerIdsRecord", 0),
        (17, "BrokerRegistrationChangeRecord", 2),
        (18, "AccessControlEntryRecord", 0),
        (19, "RemoveAccessControlEntryRecord", 0),
        (20, "NoOpRecord", 0),
        (21, "ZkMigrationStateRecord", 0),
        (22, "RemoveUserScramCredentialRecord", 0),
        (23, "BeginTransactionRecord", 0),
        (24, "EndTransactionRecord", 0),
        (25, "AbortTransactionRecord", 0),
        (26, "RemoveDelegationTokenRecord", 0),
        (27, "RegisterControllerRecord", 0),
        (28, "ClearElrRecord", 0),
    ];
    assert_eq!(MetadataRecord::ALL.len(), expect.len());
    for &(key, name, latest) in expect {
        assert_eq!(MetadataRecord::name_of(key), Some(name));
        assert_eq!(MetadataRecord::supported_versions(key), Some(0..=latest));
    }
    for unused in [6, 13, 16, 29, -1] {
        assert_eq!(MetadataRecord::supported_versions(unused), None);
    }
    let r = MetadataRecord::from(TopicRecord::default());
    assert_eq!(
        (r.api_key(), r.name(), r.latest_version()),
        (2, "TopicRecord", 0)
    );
}

#[test]
fn kafka_defaults() {
    assert!(RegisterBrokerRecord::default().fenced);
    assert_eq!(PartitionRecord::default().leader_recovery_state, 0);
    assert_eq!(PartitionRecord::default().leader, -1);
    assert_eq!(PartitionRecord::default().partition_id, -1);
    assert_eq!(PartitionChangeRecord::default().leader, -2);
    assert_eq!(PartitionChangeRecord::default().leader_recovery_state, -1);
    assert_eq!(PartitionChangeRecord::default().isr, None);
    assert_eq!(ProducerIdsRecord::default().broker_epoch, -1);
    // Nullable strings default to "" unless the schema says "null".
    assert_eq!(RegisterBrokerRecord::default().rack.as_deref(), Some(""));
    assert_eq!(ConfigRecord::default().value.as_deref(), Some(""));
    assert_eq!(EntityData::default().entity_name.as_deref(), Some(""));
    assert_eq!(BeginTransactionRecord::default().name, None);
    assert_eq!(AbortTransactionRecord::default().reason, None);
}

#[test]
fn golden_topic_record_v0() {
    let m = ApiMessageAndVersion::latest(
        TopicRecord {
            name: "orders".into(),
            topic_id: uuid(0x000102030405060708090a0b0c0d0e0f),
            ..Default::default()
        }
        .into(),
    );
    assert_eq!(m.version, 0);
    let expected = hex("01 02 00  07 6f7264657273  000102030405060708090a0b0c0d0e0f  00");
    assert_eq!(encode(&m).unwrap().as_ref(), expected.as_slice());
    assert_eq!(decode(&expected).unwrap(), m);
}

#[test]
fn golden_feature_level_record_v0_matches_bootstrap() {
    let m = ApiMessageAndVersion::new(
        FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 21,
            ..Default::default()
        }
        .into(),
        0,
    );
    let mut expected = hex("01 0c 00 11");
    expected.extend_from_slice(b"metadata.version");
    expected.extend(hex("0015 00"));
    let bytes = encode(&m).unwrap();
    assert_eq!(bytes.as_ref(), expected.as_slice());
    assert_eq!(
        bytes,
        crate::storage::bootstrap::encode_feature_level("metadata.version", 21)
    );
}

#[test]
fn golden_partition_change_record_with_isr_and_leader() {
    let m = ApiMessageAndVersion::new(
        PartitionChangeRecord {
            partition_id: 3,
            topic_id: uuid(0xff),
            isr: Some(vec![1, 2]),
            leader: 2,
            ..Default::default()
        }
        .into(),
        0,
    );
    let expected = hex("01 05 00  00000003  000000000000000000000000000000ff
         02  00 09 03 00000001 00000002  01 04 00000002");
    assert_eq!(encode(&m).unwrap().as_ref(), expected.as_slice());
    assert_eq!(decode(&expected).unwrap(), m);
    assert_eq!(
        m.to_string(),
        r#"PartitionChangeRecord(v0) {"partitionId":3,"topicId":"AAAAAAAAAAAAAAAAAAAA_w","isr":[1,2],"leader":2}"#
    );
}

#[test]
fn golden_register_broker_record_latest() {
    let dir = uuid(0x11111111_2222_3333_4444_555555555555);
    let m = ApiMessageAndVersion::latest(
        RegisterBrokerRecord {
            broker_id: 1,
            incarnation_id: uuid(0xaa),
            broker_epoch: 42,
            end_points: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9092,
                security_protocol: 0,
                ..Default::default()
            }],
            features: vec![BrokerFeature {
                name: "metadata.version".into(),
                min_supported_version: 1,
                max_supported_version: 21,
                ..Default::default()
            }],
            rack: None,
            log_dirs: vec![dir],
            ..Default::default()
        }
        .into(),
    );
    assert_eq!(m.version, 3);
    let mut e = hex("01 00 03  00000001  00  000000000000000000000000000000aa  000000000000002a");
    e.extend(hex("02  0a"));
    e.extend_from_slice(b"PLAINTEXT");
    e.extend(hex("0a"));
    e.extend_from_slice(b"localhost");
    e.extend(hex("2384 0000 00"));
    e.extend(hex("02  11"));
    e.extend_from_slice(b"metadata.version");
    e.extend(hex("0001 0015 00"));
    // rack null, fenced, not in controlled shutdown, tagged LogDirs (tag 0, 17 bytes)
    e.extend(hex(
        "00 01 00  01 00 11 02 11111111222233334444555555555555",
    ));
    assert_eq!(encode(&m).unwrap().as_ref(), e.as_slice());
    assert_eq!(decode(&e).unwrap(), m);
}

#[test]
fn topic_record_display() {
    let m = ApiMessageAndVersion::new(
        TopicRecord {
            name: "orders".into(),
            topic_id: uuid(0),
            ..Default::default()
        }
        .into(),
        0,
    );
    assert_eq!(
        m.to_string(),
        r#"TopicRecord(v0) {"name":"orders","topicId":"AAAAAAAAAAAAAAAAAAAAAA"}"#
    );
    let config = MetadataRecord::from(ConfigRecord {
        resource_type: 2,
        resource_name: "t\"1".into(),
        name: "cleanup.policy".into(),
        value: None,
        ..Default::default()
    });
    assert_eq!(
        config.to_string(),
        r#"ConfigRecord {"resourceType":2,"resourceName":"t\"1","name":"cleanup.policy","value":null}"#
    );
}

#[test]
fn unknown_tagged_fields_are_preserved() {
    // TopicRecord v0 with tags 3 and 7 that the schema does not declare.
    let mut raw = hex("01 02 00 02 61");
    raw.extend([0u8; 16]);
    raw.extend(hex("02  03 02 abcd  07 00"));
    let m = decode(&raw).unwrap();
    let MetadataRecord::Topic(t) = &m.record else {
        panic!("{m:?}")
    };
    assert_eq!(t.name, "a");
    assert_eq!(t.unknown_tagged_fields.len(), 2);
    assert_eq!(
        t.unknown_tagged_fields[&3],
        Bytes::from_static(&[0xab, 0xcd])
    );
    assert_eq!(t.unknown_tagged_fields[&7], Bytes::new());
    assert_eq!(encode(&m).unwrap().as_ref(), raw.as_slice());

    // Unknown fields of nested structs too.
    let mut endpoint = BrokerEndpoint::default();
    endpoint
        .unknown_tagged_fields
        .insert(9, Bytes::from_static(b"x"));
    let r = RegisterBrokerRecord {
        end_points: vec![endpoint],
        ..Default::default()
    };
    roundtrip(&ApiMessageAndVersion::new(r.into(), 1));

    // Unknown tags merge with known ones in ascending order.
    let mut p = PartitionChangeRecord {
        leader: 4,
        isr: Some(vec![]),
        ..Default::default()
    };
    p.unknown_tagged_fields
        .insert(100, Bytes::from_static(b"z"));
    let bytes = encode(&ApiMessageAndVersion::new(p.clone().into(), 0)).unwrap();
    assert_eq!(
        &bytes[bytes.len() - 13..],
        hex("03 00 01 01 01 04 00000004 64 01 7a").as_slice()
    );
    roundtrip(&ApiMessageAndVersion::new(p.into(), 0));
}

#[test]
fn a_declared_tag_at_a_version_without_its_field_is_an_error() {
    // PartitionChangeRecord v0 carrying tag 8 (Directories, v1+): Kafka rejects it too.
    let mut raw = hex("01 05 00 00000000");
    raw.extend([0u8; 16]);
    raw.extend(hex("01 08 01 01"));
    let err = decode(&raw).unwrap_err();
    assert_eq!(
        err,
        RecordError::TagNotValid {
            record: "PartitionChangeRecord",
            tag: 8,
            version: 0
        }
    );
    assert_eq!(
        err.to_string(),
        "tag 8 is not valid for version 0 of PartitionChangeRecord"
    );
    // At v1 the same tag is the Directories field (an empty array).
    raw[2] = 1;
    let MetadataRecord::PartitionChange(p) = decode(&raw).unwrap().record else {
        unreachable!()
    };
    assert_eq!(p.directories, Some(vec![]));
    assert!(p.unknown_tagged_fields.is_empty());
}

#[test]
fn a_declared_tag_cannot_be_an_unknown_tagged_field() {
    let mut p = PartitionChangeRecord::default();
    p.unknown_tagged_fields.insert(8, Bytes::from_static(&[1]));
    let err = encode(&ApiMessageAndVersion::new(p.into(), 0)).unwrap_err();
    assert!(err.to_string().contains("declares tag 8"), "{err}");
}

#[test]
fn fields_absent_from_the_version_must_hold_their_default() {
    let cases: Vec<(MetadataRecord, i16, &str)> = vec![
        (
            RegisterBrokerRecord {
                in_controlled_shutdown: true,
                ..Default::default()
            }
            .into(),
            0,
            "in_controlled_shutdown",
        ),
        (
            RegisterBrokerRecord {
                is_migrating_zk_broker: true,
                ..Default::default()
            }
            .into(),
            1,
            "is_migrating_zk_broker",
        ),
        (
            RegisterBrokerRecord {
                log_dirs: vec![uuid(1)],
                ..Default::default()
            }
            .into(),
            2,
            "log_dirs",
        ),
        (
            PartitionRecord {
                directories: vec![uuid(1)],
                ..Default::default()
            }
            .into(),
            0,
            "directories",
        ),
        (
            PartitionRecord {
                eligible_leader_replicas: Some(vec![]),
                ..Default::default()
            }
            .into(),
            1,
            "eligible_leader_replicas",
        ),
        (
            PartitionChangeRecord {
                directories: Some(vec![]),
                ..Default::default()
            }
            .into(),
            0,
            "directories",
        ),
        (
            BrokerRegistrationChangeRecord {
                in_controlled_shutdown: 1,
                ..Default::default()
            }
            .into(),
            0,
            "in_controlled_shutdown",
        ),
    ];
    for (record, version, field) in cases {
        let name = record.name();
        let err = encode(&ApiMessageAndVersion::new(record.clone(), version)).unwrap_err();
        assert_eq!(
            err,
            RecordError::NotRepresentable {
                record: name,
                field,
                version
            }
        );
        assert!(err.to_string().contains(field), "{err}");
        // The latest version can hold it.
        roundtrip(&ApiMessageAndVersion::latest(record));
    }
    // Defaults are representable everywhere.
    roundtrip(&ApiMessageAndVersion::new(
        RegisterBrokerRecord::default().into(),
        0,
    ));
}

#[test]
fn unsupported_versions_are_rejected() {
    let err = encode(&ApiMessageAndVersion::new(TopicRecord::default().into(), 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TopicRecord does not support version 1 (supported versions 0-0)"
    );
    assert!(matches!(
        encode(&ApiMessageAndVersion::new(NoOpRecord::default().into(), -1)),
        Err(RecordError::UnsupportedVersion { version: -1, .. })
    ));
    assert!(matches!(
        decode(&hex("01 00 04")),
        Err(RecordError::UnsupportedVersion {
            record: "RegisterBrokerRecord",
            version: 4,
            lowest: 0,
            highest: 3
        })
    ));
    assert!(matches!(
        decode(&hex("01 00 ffff03")),
        Err(RecordError::UnsupportedVersion { version: 65535, .. })
    ));
}

#[test]
fn envelope_errors() {
    assert_eq!(
        decode(&hex("00 02 00")),
        Err(RecordError::UnsupportedFrameVersion(0))
    );
    assert_eq!(
        decode(&hex("02 02 00")),
        Err(RecordError::UnsupportedFrameVersion(2))
    );
    assert!(
        decode(&hex("00"))
            .unwrap_err()
            .to_string()
            .contains("frame version 0")
    );
    assert_eq!(
        decode(&hex("01 06 00 00")),
        Err(RecordError::UnknownApiKey(6))
    );
    assert_eq!(
        decode(&hex("01 1d 00 00")),
        Err(RecordError::UnknownApiKey(29))
    );
    assert!(matches!(decode(&[]), Err(RecordError::Truncated { .. })));
    assert!(matches!(
        decode(&hex("01 14")),
        Err(RecordError::Truncated { .. })
    ));
    assert!(matches!(
        decode(&hex("ff ff ff ff ff ff")),
        Err(RecordError::Invalid(_))
    ));
}

#[test]
fn garbage_after_the_message_is_an_error() {
    let mut raw = encode(&ApiMessageAndVersion::latest(NoOpRecord::default().into()))
        .unwrap()
        .to_vec();
    assert_eq!(raw, hex("01 14 00 00"));
    raw.extend([1, 2, 3]);
    let err = decode(&raw).unwrap_err();
    assert_eq!(err, RecordError::Garbage(3));
    assert_eq!(
        err.to_string(),
        "found 3 byte(s) of garbage after the metadata record"
    );
}

#[test]
fn malformed_bodies_are_errors() {
    // Null for the non-nullable TopicRecord.Name.
    let mut raw = hex("01 02 00 00");
    raw.extend([0u8; 16]);
    raw.push(0);
    assert!(matches!(decode(&raw), Err(RecordError::Invalid(m)) if m.contains("null")));
    // Invalid UTF-8.
    let mut raw = hex("01 02 00 02 ff");
    raw.extend([0u8; 16]);
    raw.push(0);
    assert!(matches!(decode(&raw), Err(RecordError::Invalid(m)) if m.contains("UTF-8")));
    // An array length far beyond the input.
    let mut b = BytesMut::new();
    b.put_slice(&hex("01 03 00 00000000"));
    b.put_slice(&[0u8; 16]);
    b.put_slice(&hex("ffffff7f"));
    assert!(matches!(decode(&b), Err(RecordError::Truncated { .. })));
    // A known tagged field whose payload is longer than its value.
    let mut raw = hex("01 05 00 00000000");
    raw.extend([0u8; 16]);
    raw.extend(hex("01 01 05 00000001 00"));
    assert!(matches!(decode(&raw), Err(RecordError::Invalid(m)) if m.contains("tagged field 1")));
}

#[test]
fn strings_longer_than_kafka_allows_are_errors() {
    let long = "x".repeat(0x8000);
    let m = ApiMessageAndVersion::latest(
        ConfigRecord {
            value: Some(long.clone()),
            ..Default::default()
        }
        .into(),
    );
    assert!(matches!(encode(&m), Err(RecordError::Invalid(e)) if e.contains("too long")));
    let ok = ApiMessageAndVersion::latest(
        ConfigRecord {
            value: Some(long[1..].to_string()),
            ..Default::default()
        }
        .into(),
    );
    roundtrip(&ok);
    // A hand-built TopicRecord whose name is 0x8000 bytes long.
    let mut raw = hex("01 02 00 81 80 02");
    raw.extend(long.as_bytes());
    raw.extend([0u8; 17]);
    assert!(matches!(decode(&raw), Err(RecordError::Invalid(e)) if e.contains("invalid length")));
}
