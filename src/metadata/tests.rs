//! Laws of the image: replaying an image's own records from empty gives the same image (for
//! every prefix of a random history), a delta shares what it did not touch, a snapshot file
//! round-trips through the loader, and the loader honours transactions and catch-up.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use uuid::Uuid;

use super::delta::MetadataDelta;
use super::image::{MetadataImage, Provenance};
use super::loader::MetadataLoader;
use super::records::*;
use super::snapshot;
use crate::raft::{Batch, BatchPayload, ControlRecord};
use crate::types::{Epoch, NodeId, Offset};

/// One step of a random but valid history, chosen against the current image.
#[derive(Debug, Clone)]
enum Op {
    Feature(u8, i16),
    RegisterBroker(u8, bool),
    FenceToggle(u8),
    ShutdownBroker(u8),
    Unregister(u8),
    CreateTopic(u8),
    ChangePartition(u8, u8, u8),
    RemoveTopic(u8),
    SetConfig(u8, u8, Option<u8>),
    ProducerIds(u8),
    Controller(u8),
    Acl(u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), 0i16..25).prop_map(|(a, b)| Op::Feature(a, b)),
        (any::<u8>(), any::<bool>()).prop_map(|(a, b)| Op::RegisterBroker(a, b)),
        any::<u8>().prop_map(Op::FenceToggle),
        any::<u8>().prop_map(Op::ShutdownBroker),
        any::<u8>().prop_map(Op::Unregister),
        any::<u8>().prop_map(Op::CreateTopic),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Op::ChangePartition(a, b, c)),
        any::<u8>().prop_map(Op::RemoveTopic),
        (any::<u8>(), any::<u8>(), proptest::option::of(any::<u8>()))
            .prop_map(|(a, b, c)| Op::SetConfig(a, b, c)),
        any::<u8>().prop_map(Op::ProducerIds),
        any::<u8>().prop_map(Op::Controller),
        (any::<u8>(), any::<bool>()).prop_map(|(a, b)| Op::Acl(a, b)),
    ]
}

fn latest(r: MetadataRecord) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(r)
}

fn pick<T: Clone>(items: &[T], n: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[n as usize % items.len()].clone())
}

/// The record for `op` against `image`, or none when the op does not apply.
fn record_for(image: &MetadataImage, op: &Op, serial: u64) -> Option<ApiMessageAndVersion> {
    let brokers: Vec<_> = image.cluster.brokers.values().cloned().collect();
    let topics: Vec<_> = image.topics.by_id.values().cloned().collect();
    Some(match op {
        Op::Feature(n, level) => latest(MetadataRecord::FeatureLevel(FeatureLevelRecord {
            name: ["metadata.version", "kraft.version", "group.version"][*n as usize % 3].into(),
            feature_level: *level,
            ..Default::default()
        })),
        Op::RegisterBroker(n, rack) => {
            latest(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id: (*n % 6) as i32,
                incarnation_id: Uuid::from_u128(serial as u128 + 1),
                broker_epoch: serial as i64,
                end_points: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092 + (*n % 6) as u16,
                    security_protocol: 0,
                    ..Default::default()
                }],
                rack: rack.then(|| format!("rack-{}", n % 2)),
                fenced: true,
                ..Default::default()
            }))
        }
        Op::FenceToggle(n) => {
            let b = pick(&brokers, *n)?;
            latest(MetadataRecord::BrokerRegistrationChange(
                BrokerRegistrationChangeRecord {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    fenced: if b.fenced { -1 } else { 1 },
                    ..Default::default()
                },
            ))
        }
        Op::ShutdownBroker(n) => {
            let b = pick(&brokers, *n)?;
            latest(MetadataRecord::BrokerRegistrationChange(
                BrokerRegistrationChangeRecord {
                    broker_id: b.id,
                    broker_epoch: b.epoch,
                    in_controlled_shutdown: 1,
                    ..Default::default()
                },
            ))
        }
        Op::Unregister(n) => {
            let b = pick(&brokers, *n)?;
            latest(MetadataRecord::UnregisterBroker(UnregisterBrokerRecord {
                broker_id: b.id,
                broker_epoch: b.epoch,
                ..Default::default()
            }))
        }
        Op::CreateTopic(n) => {
            let name = format!("topic-{}", n % 8);
            if image.topics.by_name.contains_key(&name) {
                return None;
            }
            latest(MetadataRecord::Topic(TopicRecord {
                name,
                topic_id: Uuid::from_u128(0xabc0_0000 + serial as u128),
                ..Default::default()
            }))
        }
        Op::ChangePartition(t, p, leader) => {
            let topic = pick(&topics, *t)?;
            let next = topic.partitions.len() as i32;
            let existing: Vec<i32> = topic.partitions.keys().copied().collect();
            match pick(&existing, *p).filter(|_| p % 3 != 0) {
                Some(pid) => latest(MetadataRecord::PartitionChange(PartitionChangeRecord {
                    partition_id: pid,
                    topic_id: topic.id,
                    isr: (leader % 2 == 0).then(|| vec![(*leader % 6) as i32]),
                    leader: if leader % 3 == 0 {
                        -2
                    } else {
                        (*leader % 6) as i32
                    },
                    leader_recovery_state: if leader % 5 == 0 { 1 } else { -1 },
                    ..Default::default()
                })),
                None => latest(MetadataRecord::Partition(PartitionRecord {
                    partition_id: next,
                    topic_id: topic.id,
                    replicas: vec![0, 1, 2],
                    isr: vec![0, 1],
                    leader: 0,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    ..Default::default()
                })),
            }
        }
        Op::RemoveTopic(n) => {
            let topic = pick(&topics, *n)?;
            latest(MetadataRecord::RemoveTopic(RemoveTopicRecord {
                topic_id: topic.id,
                ..Default::default()
            }))
        }
        Op::SetConfig(target, key, value) => {
            let (resource_type, resource_name) = match pick(&topics, *target) {
                Some(t) if target % 2 == 0 => (2, t.name.clone()),
                _ => (
                    4,
                    if target % 3 == 0 {
                        String::new()
                    } else {
                        "1".into()
                    },
                ),
            };
            latest(MetadataRecord::Config(ConfigRecord {
                resource_type,
                resource_name,
                name: ["retention.ms", "cleanup.policy", "segment.bytes"][*key as usize % 3].into(),
                value: value.map(|v| v.to_string()),
                ..Default::default()
            }))
        }
        Op::ProducerIds(n) => latest(MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: (*n % 6) as i32,
            broker_epoch: 7,
            next_producer_id: image.producer_ids.next_producer_id + 1000,
            ..Default::default()
        })),
        Op::Controller(n) => latest(MetadataRecord::RegisterController(
            RegisterControllerRecord {
                controller_id: 100 + (*n % 3) as i32,
                incarnation_id: Uuid::from_u128(serial as u128 + 7),
                end_points: vec![ControllerEndpoint {
                    name: "CONTROLLER".into(),
                    host: "127.0.0.1".into(),
                    port: 9093,
                    security_protocol: 0,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )),
        Op::Acl(n, remove) => {
            let id = Uuid::from_u128(0xac1_0000 + (*n % 4) as u128);
            if *remove {
                latest(MetadataRecord::RemoveAccessControlEntry(
                    RemoveAccessControlEntryRecord {
                        id,
                        ..Default::default()
                    },
                ))
            } else {
                latest(MetadataRecord::AccessControlEntry(
                    AccessControlEntryRecord {
                        id,
                        resource_type: 2,
                        resource_name: "orders".into(),
                        principal: "User:alice".into(),
                        host: "*".into(),
                        operation: 3,
                        permission_type: 3,
                        ..Default::default()
                    },
                ))
            }
        }
    })
}

/// Applies a history, one image per record; returns every image.
fn history(ops: &[Op]) -> Vec<MetadataImage> {
    let mut images = vec![MetadataImage::empty()];
    for (i, op) in ops.iter().enumerate() {
        let current = images.last().expect("non-empty").clone();
        let Some(record) = record_for(&current, op, i as u64) else {
            continue;
        };
        let mut delta = MetadataDelta::new(&current);
        delta
            .replay(&record)
            .unwrap_or_else(|e| panic!("generated record {record:?} must apply: {e}"));
        let provenance = Provenance {
            last_offset: current.provenance.last_offset + 1,
            last_epoch: 1,
            last_timestamp_ms: 0,
        };
        images.push(delta.apply(provenance).0);
    }
    images
}

fn rebuild(image: &MetadataImage) -> MetadataImage {
    let mut delta = MetadataDelta::new(&MetadataImage::empty());
    for r in image.records() {
        // Through the wire encoding, as a snapshot would store it.
        let bytes = encode(&r).expect("image records encode");
        let decoded = decode(&bytes).expect("and decode");
        delta
            .replay(&decoded)
            .unwrap_or_else(|e| panic!("image record {decoded:?} must replay: {e}"));
    }
    delta.apply(image.provenance).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_image_rebuilt_from_its_own_records_is_the_same_image(ops in proptest::collection::vec(op(), 0..60)) {
        for (i, image) in history(&ops).iter().enumerate() {
            let rebuilt = rebuild(image);
            prop_assert!(rebuilt.same_content(image), "prefix {i}: {image:#?}\nrebuilt: {rebuilt:#?}");
        }
    }

    #[test]
    fn a_snapshot_file_loads_back_to_the_same_image(ops in proptest::collection::vec(op(), 1..40)) {
        let images = history(&ops);
        let image = images.last().expect("non-empty");
        prop_assume!(image.provenance.last_offset >= 0);
        let (id, data) = snapshot::encode(image, 1_000).expect("encodes");
        prop_assert_eq!(id.offset.0, image.provenance.end_offset());
        let mut loader = MetadataLoader::new();
        loader.set_catch_up_target(id.offset.0);
        let mut errors = Vec::new();
        let update = loader.load_snapshot(id, data, &mut errors).expect("published");
        prop_assert!(errors.is_empty(), "{:?}", errors);
        prop_assert!(update.image.same_content(image));
        prop_assert_eq!(update.image.provenance.last_offset, image.provenance.last_offset);
    }
}

#[test]
fn a_delta_shares_every_part_and_topic_it_did_not_touch() {
    let ops = [
        Op::CreateTopic(1),
        Op::CreateTopic(2),
        Op::ChangePartition(0, 0, 1),
        Op::ChangePartition(1, 0, 1),
    ];
    let images = history(&ops);
    let base = images.last().unwrap();
    let (a, b) = {
        let mut it = base.topics.by_id.values();
        (it.next().unwrap().clone(), it.next().unwrap().clone())
    };
    let mut delta = MetadataDelta::new(base);
    delta
        .replay(&latest(MetadataRecord::PartitionChange(
            PartitionChangeRecord {
                partition_id: 0,
                topic_id: a.id,
                leader: 2,
                ..Default::default()
            },
        )))
        .unwrap();
    let (next, changes) = delta.apply(base.provenance);
    assert!(Arc::ptr_eq(&next.cluster, &base.cluster));
    assert!(Arc::ptr_eq(&next.configs, &base.configs));
    assert!(Arc::ptr_eq(&next.features, &base.features));
    assert!(
        Arc::ptr_eq(next.topics.get(&b.id).unwrap(), &b),
        "untouched topic shared"
    );
    assert!(!Arc::ptr_eq(next.topics.get(&a.id).unwrap(), &a));
    assert_eq!(
        changes.topics.iter().copied().collect::<Vec<_>>(),
        vec![a.id]
    );
    let p = &next.topics.get(&a.id).unwrap().partitions[&0];
    let before = &a.partitions[&0];
    assert_eq!(
        (p.leader, p.leader_epoch, p.partition_epoch),
        (2, before.leader_epoch + 1, before.partition_epoch + 1)
    );
}

#[test]
fn replay_refuses_records_that_contradict_the_image() {
    let image = MetadataImage::empty();
    let mut delta = MetadataDelta::new(&image);
    let unknown_topic = latest(MetadataRecord::Partition(PartitionRecord {
        partition_id: 0,
        topic_id: Uuid::from_u128(9),
        ..Default::default()
    }));
    assert!(delta.replay(&unknown_topic).is_err());
    let stale = latest(MetadataRecord::BrokerRegistrationChange(
        BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 3,
            fenced: -1,
            ..Default::default()
        },
    ));
    assert!(delta.replay(&stale).is_err());
    assert_eq!(delta.changes().records, 0, "failed records change nothing");
}

fn data_batch(base: i64, records: &[ApiMessageAndVersion]) -> Batch {
    Batch {
        base_offset: Offset(base),
        epoch: Epoch(1),
        payload: BatchPayload::Data(records.iter().map(|r| encode(r).unwrap()).collect()),
    }
}

fn topic(name: &str, id: u128) -> ApiMessageAndVersion {
    latest(MetadataRecord::Topic(TopicRecord {
        name: name.into(),
        topic_id: Uuid::from_u128(id),
        ..Default::default()
    }))
}

#[test]
fn the_loader_publishes_nothing_before_catching_up_and_hides_open_transactions() {
    let mut loader = MetadataLoader::new();
    let mut errors = Vec::new();
    loader.set_catch_up_target(4);
    let leader = Batch {
        base_offset: Offset(0),
        epoch: Epoch(1),
        payload: BatchPayload::Control(vec![ControlRecord::LeaderChange {
            leader_id: NodeId(1),
            voters: vec![NodeId(1)],
            granting_voters: vec![NodeId(1)],
        }]),
    };
    assert!(loader.apply_batches(&[leader], 0, &mut errors).is_none());
    assert_eq!(
        loader.leader().map(|l| (l.epoch, l.leader_id, l.offset)),
        Some((1, 1, 0))
    );
    let begin = latest(MetadataRecord::BeginTransaction(
        BeginTransactionRecord::default(),
    ));
    let end = latest(MetadataRecord::EndTransaction(
        EndTransactionRecord::default(),
    ));
    let abort = latest(MetadataRecord::AbortTransaction(
        AbortTransactionRecord::default(),
    ));
    assert!(
        loader
            .apply_batches(
                &[data_batch(1, &[begin.clone(), topic("a", 1)])],
                0,
                &mut errors
            )
            .is_none(),
        "below the catch-up target"
    );
    assert!(
        loader
            .apply_batches(&[data_batch(3, &[topic("b", 2)])], 0, &mut errors)
            .is_none(),
        "caught up, but inside a transaction"
    );
    let u = loader
        .apply_batches(&[data_batch(4, &[end])], 0, &mut errors)
        .expect("published at the transaction's end");
    assert_eq!(u.image.topics.by_name.len(), 2);
    assert_eq!(u.image.provenance.last_offset, 4);
    // An aborted transaction leaves no trace.
    let batch = data_batch(5, &[begin, topic("c", 3), abort]);
    let u = loader
        .apply_batches(&[batch], 0, &mut errors)
        .expect("published");
    assert!(u.image.topics.get_by_name("c").is_none());
    assert_eq!(u.image.provenance.last_offset, 7);
    assert!(errors.is_empty(), "{errors:?}");
    // A record that cannot apply is counted and skipped; snapshots stop until the next load.
    let bad = data_batch(8, &[topic("a", 99)]);
    let u = loader
        .apply_batches(&[bad], 0, &mut errors)
        .expect("published");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        u.image.topics.get_by_name("a").unwrap().id,
        Uuid::from_u128(1)
    );
    assert!(!loader.snapshot_safe());
    let garbage = Batch {
        base_offset: Offset(9),
        epoch: Epoch(1),
        payload: BatchPayload::Data(vec![Bytes::from_static(b"\x01\x63\x00")]),
    };
    loader.apply_batches(&[garbage], 0, &mut errors);
    assert_eq!(loader.errors_total(), 2);
}

#[test]
fn a_snapshot_batch_at_the_largest_offsets_is_an_error_not_a_panic() {
    // Found by fuzzing: a data batch whose base offset (outside the CRC) is near i64::MAX
    // made the loader's offset arithmetic overflow.
    let record = encode(&ApiMessageAndVersion::latest(MetadataRecord::NoOp(
        NoOpRecord::default(),
    )))
    .unwrap();
    let batch = Batch {
        base_offset: Offset(0),
        epoch: Epoch(1),
        payload: BatchPayload::Data(vec![record.clone(), record]),
    };
    let mut data = crate::raft::codec::encode_batches(&[batch], 0)
        .unwrap()
        .to_vec();
    data[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
    let mut loader = MetadataLoader::new();
    loader.set_catch_up_target(0);
    let mut errors = Vec::new();
    let id = crate::raft::OffsetAndEpoch::new(Offset(10), Epoch(1));
    assert!(
        loader
            .load_snapshot(id, Bytes::from(data), &mut errors)
            .is_none()
    );
    assert!(
        matches!(&errors[..], [super::loader::LoadError::Snapshot { .. }]),
        "{errors:?}"
    );
}
