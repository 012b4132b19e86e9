//! Table tests of leader elections by cause and of the automatic preferred-leader rebalance.

use std::collections::BTreeMap;

use super::*;
use crate::controller::replication_control::{
    ElectionCause, leader_elections, rebalance_preferred_leaders,
};

/// (replicas, isr, leader) of a partition.
type Partition = (&'static [i32], &'static [i32], i32);

/// Adds topic `name` whose partitions are (replicas, isr, leader), in partition order; its id.
fn topic(h: &mut Harness, name: &str, partitions: &[Partition]) -> Uuid {
    let id = Uuid::from_u128(0x7000 + h.image.topics.by_id.len() as u128);
    let mut records = vec![ApiMessageAndVersion::latest(MetadataRecord::Topic(
        TopicRecord {
            name: name.into(),
            topic_id: id,
            ..Default::default()
        },
    ))];
    for (p, (replicas, isr, leader)) in partitions.iter().enumerate() {
        records.push(ApiMessageAndVersion::latest(MetadataRecord::Partition(
            PartitionRecord {
                partition_id: p as i32,
                topic_id: id,
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                leader: *leader,
                ..Default::default()
            },
        )));
    }
    h.image = apply(&h.image, &records);
    id
}

fn leader_to(topic: Uuid, partition: i32, leader: i32) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(PartitionChangeRecord {
        partition_id: partition,
        topic_id: topic,
        leader,
        ..Default::default()
    }))
}

fn registration_change(broker: i32, fenced: i8, shutting_down: i8) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::BrokerRegistrationChange(
        BrokerRegistrationChangeRecord {
            broker_id: broker,
            fenced,
            in_controlled_shutdown: shutting_down,
            ..Default::default()
        },
    ))
}

#[test]
fn leader_elections_are_counted_by_cause() {
    use ElectionCause::*;
    let mut h = Harness::new();
    active(&mut h, &[1, 2, 3]);
    let t = topic(
        &mut h,
        "t",
        &[(&[1, 2, 3], &[1, 2, 3], 1), (&[2, 3, 1], &[2, 3, 1], 2)],
    );
    let unclean =
        ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(PartitionChangeRecord {
            partition_id: 0,
            topic_id: t,
            leader: 3,
            isr: Some(vec![3]),
            leader_recovery_state: 1,
            ..Default::default()
        }));
    let isr_only =
        ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(PartitionChangeRecord {
            partition_id: 0,
            topic_id: t,
            isr: Some(vec![1, 2]),
            ..Default::default()
        }));
    let new_partition = ApiMessageAndVersion::latest(MetadataRecord::Partition(PartitionRecord {
        partition_id: 2,
        topic_id: t,
        replicas: vec![3, 1],
        isr: vec![3, 1],
        leader: 3,
        ..Default::default()
    }));
    type Case = (
        &'static str,
        Vec<ApiMessageAndVersion>,
        Vec<(ElectionCause, u64)>,
    );
    let cases: Vec<Case> = vec![
        (
            "a fenced leader's partition moves",
            vec![leader_to(t, 0, 2), registration_change(1, 1, 0)],
            vec![(BrokerFenced, 1)],
        ),
        (
            "a partition left without a leader is no election",
            vec![leader_to(t, 0, -1), registration_change(1, 1, 0)],
            vec![],
        ),
        (
            "a leader epoch bump of the same leader is no election",
            vec![leader_to(t, 0, 1)],
            vec![],
        ),
        ("an ISR change is no election", vec![isr_only], vec![]),
        (
            "controlled shutdown",
            vec![registration_change(1, 0, 1), leader_to(t, 0, 2)],
            vec![(ControlledShutdown, 1)],
        ),
        (
            "an unfenced broker takes leaderless partitions",
            vec![registration_change(3, -1, 0), leader_to(t, 0, 3)],
            vec![(Leaderless, 1)],
        ),
        (
            "partition changes alone are preferred elections",
            vec![leader_to(t, 0, 2), leader_to(t, 1, 3)],
            vec![(Preferred, 2)],
        ),
        (
            "fencing leaves the partition leaderless, then an unclean leader is elected",
            vec![
                leader_to(t, 0, -1),
                unclean,
                leader_to(t, 1, 3),
                registration_change(1, 1, 0),
            ],
            vec![(BrokerFenced, 1), (Unclean, 1)],
        ),
        ("a new partition", vec![new_partition], vec![(NewTopic, 1)]),
        (
            "a new incarnation replaces the old one",
            vec![
                leader_to(t, 0, 2),
                ApiMessageAndVersion::latest(MetadataRecord::RegisterBroker(
                    RegisterBrokerRecord {
                        broker_id: 1,
                        ..Default::default()
                    },
                )),
            ],
            vec![(BrokerFenced, 1)],
        ),
        (
            "an unregistered broker",
            vec![
                leader_to(t, 1, 3),
                ApiMessageAndVersion::latest(MetadataRecord::UnregisterBroker(
                    UnregisterBrokerRecord {
                        broker_id: 2,
                        ..Default::default()
                    },
                )),
            ],
            vec![(BrokerFenced, 1)],
        ),
    ];
    for (name, records, want) in cases {
        let want: BTreeMap<ElectionCause, u64> = want.into_iter().collect();
        assert_eq!(leader_elections(&h.image, &records), want, "{name}");
    }
}

#[test]
fn election_cause_labels_are_the_metric_labels() {
    let labels: Vec<&str> = ElectionCause::ALL.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        crate::observability::metrics::LEADER_ELECTION_CAUSES
    );
}

/// The elections `step` makes, counted as the controller task counts them: its records on
/// top of the image before it.
fn counted(h: &mut Harness, step: impl FnOnce(&mut Harness)) -> BTreeMap<ElectionCause, u64> {
    let before = h.image.clone();
    step(h);
    leader_elections(&before, &h.last_records)
}

fn causes(v: &[(ElectionCause, u64)]) -> BTreeMap<ElectionCause, u64> {
    v.iter().copied().collect()
}

#[test]
fn elections_of_a_broker_lifecycle_have_their_causes() {
    use ElectionCause::*;
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    use kafka_protocol::messages::{CreatePartitionsRequest, TopicName};
    let mut h = Harness::new();
    let epochs = active(&mut h, &[1, 2, 3]);
    topic(&mut h, "x", &[(&[3, 1, 2], &[3, 1, 2], 3)]);
    let assignment = |ids: &[i32]| {
        CreatePartitionsAssignment::default()
            .with_broker_ids(ids.iter().map(|b| BrokerId(*b)).collect())
    };
    let r = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("x")))
            .with_count(3)
            .with_assignments(Some(vec![assignment(&[1, 2, 3]), assignment(&[2, 3, 1])])),
    ]);
    let new_partitions = counted(&mut h, |h| {
        h.run(|ctx, _| crate::controller::replication_control::create_partitions(ctx, &r));
    });
    assert_eq!(new_partitions, causes(&[(NewTopic, 2)]));
    let heartbeat = |h: &mut Harness, id: i32, fence: bool, shut_down: bool| {
        let end = h.image.provenance.end_offset();
        h.heartbeat(id, epochs[id as usize - 1], end, fence, shut_down);
    };
    // Broker 1 asks to be fenced: partition 1 moves to 2.
    let fenced = counted(&mut h, |h| heartbeat(h, 1, true, false));
    assert_eq!(fenced, causes(&[(BrokerFenced, 1)]));
    // Broker 2 (leading partitions 1 and 2) shuts down: both move to 3.
    let shutdown = counted(&mut h, |h| heartbeat(h, 2, false, true));
    assert_eq!(shutdown, causes(&[(ControlledShutdown, 2)]));
    // Broker 3 is fenced too: the last ISR member everywhere, the partitions lose their
    // leader.
    let last = counted(&mut h, |h| heartbeat(h, 3, true, false));
    assert_eq!(last, causes(&[]));
    // Broker 3 unfenced: it takes the leaderless partitions again.
    let back = counted(&mut h, |h| heartbeat(h, 3, false, false));
    assert_eq!(back, causes(&[(Leaderless, 3)]));
}

/// Brokers 1–3 active; returns the harness.
fn three_brokers() -> Harness {
    let mut h = Harness::new();
    active(&mut h, &[1, 2, 3]);
    h
}

/// The partitions (topic "t") whose leader the rebalance moves, and to whom.
fn rebalanced(h: &Harness, percentage: u32) -> Vec<(i32, i32)> {
    let t = h.image.topics.get_by_name("t").unwrap().id;
    h.with_ctx(|ctx| rebalance_preferred_leaders(ctx, percentage))
        .iter()
        .map(|r| match &r.record {
            MetadataRecord::PartitionChange(c) if c.topic_id == t => (c.partition_id, c.leader),
            other => panic!("unexpected record {other:?}"),
        })
        .collect()
}

#[test]
fn the_rebalance_moves_leadership_back_only_past_the_imbalance_percentage() {
    // Broker 1 is the preferred leader of 10 partitions and leads 9: 10% imbalance. Broker 2
    // is preferred for 1 partition it does not lead: 100%.
    let mut parts: Vec<Partition> = vec![(&[1, 2], &[1, 2], 1); 9];
    parts.push((&[1, 2], &[1, 2], 2));
    parts.push((&[2, 3], &[2, 3], 3));
    let mut h = three_brokers();
    topic(&mut h, "t", &parts);
    let cases = [
        (
            10,
            vec![(10, 2)],
            "10% is not above 10%: only broker 2's partition",
        ),
        (9, vec![(9, 1), (10, 2)], "above 9%: both"),
        (0, vec![(9, 1), (10, 2)], "0: any imbalance"),
        (100, vec![], "100: never"),
    ];
    for (percentage, want, name) in cases {
        assert_eq!(rebalanced(&h, percentage), want, "{name}");
    }
}

#[test]
fn the_rebalance_elects_only_a_preferred_replica_that_may_lead_and_is_in_the_isr() {
    /// (name, partition 0 as (replicas, isr, leader), broker 1's (fenced,
    /// in_controlled_shutdown) change, the moves wanted)
    type Case = (&'static str, Partition, Option<(i8, i8)>, Vec<(i32, i32)>);
    let cases: Vec<Case> = vec![
        (
            "in the ISR and active",
            (&[1, 2], &[1, 2], 2),
            None,
            vec![(0, 1)],
        ),
        ("not in the ISR", (&[1, 2], &[2], 2), None, vec![]),
        ("fenced", (&[1, 2], &[1, 2], 2), Some((1, 0)), vec![]),
        (
            "in controlled shutdown",
            (&[1, 2], &[1, 2], 2),
            Some((0, 1)),
            vec![],
        ),
        ("already the leader", (&[1, 2], &[1, 2], 1), None, vec![]),
        (
            "leaderless, preferred in the ISR",
            (&[1, 2], &[1, 2], -1),
            None,
            vec![(0, 1)],
        ),
    ];
    for (name, partition, broker_1_change, want) in cases {
        let mut h = three_brokers();
        topic(&mut h, "t", &[partition]);
        if let Some((fenced, shutting_down)) = broker_1_change {
            let epoch = h.image.cluster.brokers[&1].epoch;
            let mut r = registration_change(1, fenced, shutting_down);
            if let MetadataRecord::BrokerRegistrationChange(c) = &mut r.record {
                c.broker_epoch = epoch;
            }
            h.image = apply(&h.image, &[r]);
        }
        assert_eq!(rebalanced(&h, 10), want, "{name}");
        // The records replay: the preferred replica leads afterwards.
        let records = h.with_ctx(|ctx| rebalance_preferred_leaders(ctx, 10));
        let after = apply(&h.image, &records);
        if !want.is_empty() {
            assert_eq!(
                after.topics.get_by_name("t").unwrap().partitions[&0].leader,
                1,
                "{name}"
            );
            assert_eq!(
                leader_elections(&h.image, &records),
                [(ElectionCause::Preferred, 1)].into_iter().collect(),
                "{name}"
            );
        }
    }
}
