//! The automatic preferred-leader rebalance: a preferred leader that restarted gets its
//! leaderships back once it is in the ISR again.

use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, alter_partition_request};

use super::*;

/// The broker epoch a broker logged at its latest registration.
fn logged_broker_epoch(broker: &Node) -> i64 {
    let log = broker.log_text();
    let at = log
        .rfind("registered with the controller epoch=")
        .expect("the broker logged its registration");
    let digits: String = log[at..]
        .trim_start_matches("registered with the controller epoch=")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("an epoch")
}

/// What the leader of `partition` sends once `replica` has caught up (follower replication
/// does that; the test plays the leader): AlterPartition adding `replica` to the ISR. The
/// partition epoch is not in Metadata responses, so it is found by asking from 0 upwards
/// (INVALID_UPDATE_VERSION answers a stale one).
fn add_to_isr(c: &Cluster, topic: &str, partition: i32, replica: i32) {
    let m = block_on(metadata(&c.brokers[0].addr())).expect("metadata");
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .expect("the topic");
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .expect("the partition");
    let leader = p.leader_id.0;
    let mut isr: Vec<BrokerId> = p.isr_nodes.clone();
    isr.push(BrokerId(replica));
    let leader_broker_epoch = logged_broker_epoch(c.node(leader));
    let controller = c.controllers[0].controller_addr().to_string();
    let code = block_on(async {
        let mut conn = KafkaConnection::connect(&controller, "test-leader", Duration::from_secs(2))
            .await
            .unwrap();
        for partition_epoch in 0..1000 {
            let req = AlterPartitionRequest::default()
                .with_broker_id(BrokerId(leader))
                .with_broker_epoch(leader_broker_epoch)
                .with_topics(vec![
                    alter_partition_request::TopicData::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(vec![
                            alter_partition_request::PartitionData::default()
                                .with_partition_index(partition)
                                .with_leader_epoch(p.leader_epoch)
                                .with_new_isr(isr.clone())
                                .with_partition_epoch(partition_epoch),
                        ]),
                ]);
            let resp = conn.send(&req, 2, Duration::from_secs(5)).await.unwrap();
            let code = resp
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .map_or(resp.error_code, |p| p.error_code);
            if code != kafka_protocol::ResponseError::InvalidUpdateVersion.code() {
                return code;
            }
        }
        panic!("no partition epoch accepted");
    });
    assert_eq!(
        code, 0,
        "AlterPartition of {topic}-{partition} adding {replica}"
    );
}

#[test]
fn a_restarted_preferred_leader_gets_its_leaderships_back() {
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .extra("leader.imbalance.check.interval.seconds=1\n")
        .start(START);
    let b0 = c.brokers[0].addr();
    create_topic(&b0, "balance", 3, 3);
    let all: Vec<&Node> = c.brokers.iter().collect();
    let before = agreed_layout(&all, "balance", START, |l| {
        l.len() == 3 && l.values().all(|(_, r, isr)| isr == r)
    });
    for (p, (leader, replicas, _)) in &before {
        assert_eq!(
            *leader, replicas[0],
            "partition {p}: a new partition's leader is preferred"
        );
    }
    let idx = c
        .brokers
        .iter()
        .position(|b| before.values().any(|(l, _, _)| *l == b.id))
        .unwrap();
    let preferred = c.brokers[idx].id;
    let its: Vec<i32> = before
        .iter()
        .filter(|(_, (l, _, _))| *l == preferred)
        .map(|(p, _)| *p)
        .collect();

    // SIGTERM: a controlled shutdown moves its leaderships away and takes it out of the ISRs.
    c.brokers[idx].terminate(Duration::from_secs(30));
    c.brokers[idx].start(START);
    wait_for(START, "the restarted broker ready", || {
        c.brokers[idx].ready().then_some(())
    });
    let all: Vec<&Node> = c.brokers.iter().collect();
    let away = agreed_layout(&all, "balance", START, |l| {
        l.values().all(|(leader, _, _)| *leader != preferred)
    });
    for p in &its {
        assert!(
            !away[p].2.contains(&preferred),
            "partition {p}: out of the ISR"
        );
    }
    // Not in the ISR: the rebalance leaves the partitions where they are.
    let elections = |c: &Cluster| {
        c.controllers[0]
            .metric(
                "kafka_controller_partition_leader_elections_total",
                &[("cause", "preferred")],
            )
            .unwrap_or(0.0)
    };
    assert_eq!(elections(&c), 0.0);

    // Its followers caught up (played here by the leaders' AlterPartition): within a check
    // interval the controller moves the leaderships back.
    for (p, (_, replicas, isr)) in &away {
        if replicas.contains(&preferred) && !isr.contains(&preferred) {
            add_to_isr(&c, "balance", *p, preferred);
        }
    }
    let restored_at = Instant::now();
    let back = agreed_layout(&all, "balance", START, |l| {
        its.iter().all(|p| l[p].0 == preferred)
    });
    println!(
        "broker {preferred} back in the ISR of {its:?}: leaderships returned after {:?} \
         (leader.imbalance.check.interval.seconds=1)",
        restored_at.elapsed()
    );
    for (p, (leader, replicas, _)) in &back {
        assert_eq!(
            *leader, replicas[0],
            "partition {p} led by its preferred replica"
        );
    }
    wait_for(START, "the preferred elections counted", || {
        (elections(&c) >= its.len() as f64).then_some(())
    });
}
