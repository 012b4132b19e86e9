//! The classic split brain: a partition leader loses the controllers and the other brokers
//! but its clients still reach it. It must not acknowledge acks=all writes it cannot
//! replicate, and the records it appended alone are truncated when it rejoins.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario {
    name: "split-brain",
    fault: "cut a leader from controllers and brokers, not from clients",
    expected_alerts: &["KRaftFencedBrokers", "KafkaUnderReplicatedPartitions"],
    allowed_alerts: &[],
    small_disk: None,
    run,
};

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        let peers: Vec<i32> = Fault::controllers()
            .iter()
            .copied()
            .chain(Fault::other_brokers(leader))
            .collect();
        for &n in &peers {
            f.h.net.cut(leader, n);
        }
        f.note(format!(
            "cut broker {leader} (leader of partition {p}) from {peers:?}: {}",
            f.h.net.describe_cuts()
        ));
        let d = f.fault_time();
        f.hold(d);
        f.note("heal".to_string());
        f.h.net.heal();
    }
}
