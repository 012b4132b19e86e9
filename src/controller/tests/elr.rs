//! Eligible leader replicas through the controller's request functions, with the
//! `eligible.leader.replicas.version` feature finalized (ADR 0013).

use std::collections::BTreeMap;

use super::*;
use crate::controller::replication_control::{ElectionCause, leader_elections};
use crate::metadata::features_image::ELIGIBLE_LEADER_REPLICAS_VERSION;

/// Brokers 1–3 active, ELR enabled, topic "t" with one partition on [1, 2, 3] and
/// `min.insync.replicas=2` (plus `unclean.leader.election.enable` when `unclean`).
fn cluster(unclean: bool) -> (Harness, Vec<i64>) {
    let mut h = Harness::new();
    let epochs = active(&mut h, &[1, 2, 3]);
    // Enabled as an operator does (`kafka-features upgrade`): every broker supports it.
    let enable =
        kafka_protocol::messages::UpdateFeaturesRequest::default().with_feature_updates(vec![
            kafka_protocol::messages::update_features_request::FeatureUpdateKey::default()
                .with_feature(StrBytes::from_static_str(ELIGIBLE_LEADER_REPLICAS_VERSION))
                .with_max_version_level(1)
                .with_upgrade_type(1),
        ]);
    let resp = h.run(|ctx, _| crate::controller::feature_control::update_features(ctx, &enable, 1));
    assert_eq!(resp.results[0].error_code, 0);
    let mut records = Vec::new();
    let topic_id = Uuid::from_u128(0xe1);
    records.push(ApiMessageAndVersion::latest(MetadataRecord::Topic(
        TopicRecord {
            name: "t".into(),
            topic_id,
            ..Default::default()
        },
    )));
    let mut configs = vec![("min.insync.replicas", "2")];
    if unclean {
        configs.push(("unclean.leader.election.enable", "true"));
    }
    for (name, value) in configs {
        records.push(ApiMessageAndVersion::latest(MetadataRecord::Config(
            ConfigRecord {
                resource_type: 2,
                resource_name: "t".into(),
                name: name.into(),
                value: Some(value.into()),
                ..Default::default()
            },
        )));
    }
    h.image = apply(&h.image, &records);
    h.image = apply(
        &h.image,
        &[ApiMessageAndVersion::latest(MetadataRecord::Partition(
            PartitionRecord {
                partition_id: 0,
                topic_id,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                leader: 1,
                ..Default::default()
            },
        ))],
    );
    (h, epochs)
}

/// (isr, elr, leader, last_known_elr) of the partition.
fn partition(h: &Harness) -> (Vec<i32>, Vec<i32>, i32, Vec<i32>) {
    let p = &h.image.topics.get_by_name("t").unwrap().partitions[&0];
    (
        p.isr.clone(),
        p.elr.clone(),
        p.leader,
        p.last_known_elr.clone(),
    )
}

/// A heartbeat of `id` at `epoch` asking to be fenced or not; the elections it made.
fn heartbeat(h: &mut Harness, id: i32, epoch: i64, fence: bool) -> BTreeMap<ElectionCause, u64> {
    let before = h.image.clone();
    let end = h.image.provenance.end_offset();
    h.heartbeat(id, epoch, end, fence, false);
    leader_elections(&before, &h.last_records)
}

fn causes(v: &[(ElectionCause, u64)]) -> BTreeMap<ElectionCause, u64> {
    v.iter().copied().collect()
}

#[test]
fn brokers_fenced_one_by_one_leave_an_elr_that_elects_cleanly_and_unclean_restarts_leave_it() {
    let (mut h, epochs) = cluster(false);
    heartbeat(&mut h, 3, epochs[2], true);
    assert_eq!(partition(&h), (vec![1, 2], vec![], 1, vec![]), "at min ISR");
    heartbeat(&mut h, 2, epochs[1], true);
    assert_eq!(
        partition(&h),
        (vec![1], vec![2], 1, vec![]),
        "below min ISR"
    );
    let last = heartbeat(&mut h, 1, epochs[0], true);
    assert_eq!(
        partition(&h),
        (vec![], vec![2, 1], -1, vec![1]),
        "the last member died"
    );
    assert_eq!(last, causes(&[]));

    // The processes restart once their sessions expired.
    h.now_ms += 10_000;
    // Broker 3 comes back: it was never in the ELR, and unclean election is off by default.
    let e3 = h.register(3, 30).1;
    assert_eq!(heartbeat(&mut h, 3, e3, false), causes(&[]));
    assert_eq!(partition(&h).2, -1, "no unclean leader");

    // Broker 2 restarts without a clean shutdown (no previous epoch): it leaves the ELR.
    let e2 = h.register(2, 20).1;
    assert_eq!(partition(&h), (vec![], vec![1], -1, vec![1]));
    assert_eq!(heartbeat(&mut h, 2, e2, false), causes(&[]));
    assert_eq!(partition(&h).2, -1, "not eligible any more");

    // Broker 1 restarts cleanly (its registration carries the previous epoch): it stays in
    // the ELR and, once unfenced, leads cleanly.
    let clean = registration(1, 10).with_previous_broker_epoch(epochs[0]);
    let e1 = h
        .run(|ctx, hb| cluster_control::register_broker(ctx, hb, &clean))
        .broker_epoch;
    assert_eq!(partition(&h), (vec![], vec![1], -1, vec![1]));
    assert_eq!(
        heartbeat(&mut h, 1, e1, false),
        causes(&[(ElectionCause::Leaderless, 1)])
    );
    let p = &h.image.topics.get_by_name("t").unwrap().partitions[&0];
    assert_eq!(
        (p.isr.clone(), p.elr.clone(), p.leader),
        (vec![1], vec![], 1)
    );
    assert_eq!(
        p.leader_recovery_state,
        crate::metadata::partition_registration::LeaderRecoveryState::Recovered
    );
    assert!(p.last_known_elr.is_empty());
}

#[test]
fn an_unclean_election_where_the_topic_allows_it_is_counted_and_clears_the_elr() {
    let (mut h, epochs) = cluster(true);
    heartbeat(&mut h, 2, epochs[1], true);
    heartbeat(&mut h, 1, epochs[0], true);
    // ISR [1, 3] was at min ISR, then [3] is below it: 1 entered the ELR.
    assert_eq!(partition(&h), (vec![3], vec![1], 3, vec![]));
    // Broker 1 restarts uncleanly once its session expired: it leaves the ELR. Then the
    // leader dies: ISR empty, ELR holds 3; broker 2 is the only live replica.
    h.now_ms += 10_000;
    heartbeat(&mut h, 3, epochs[2], false);
    h.register(1, 10);
    assert_eq!(partition(&h), (vec![3], vec![], 3, vec![]));
    let e2 = h.register(2, 20).1;
    heartbeat(&mut h, 2, e2, false);
    let elections = heartbeat(&mut h, 3, epochs[2], true);
    assert_eq!(elections, causes(&[(ElectionCause::Unclean, 1)]));
    let p = &h.image.topics.get_by_name("t").unwrap().partitions[&0];
    assert_eq!(
        (p.isr.clone(), p.elr.clone(), p.leader),
        (vec![2], vec![], 2)
    );
    assert_eq!(
        p.leader_recovery_state,
        crate::metadata::partition_registration::LeaderRecoveryState::Recovering
    );
}
