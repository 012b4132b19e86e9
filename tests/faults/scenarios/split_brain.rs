//! The classic split brain: a partition leader loses the controllers and the other brokers
//! but its clients still reach it. It must not acknowledge acks=all writes it cannot
//! replicate, and the records it appended alone are truncated when it rejoins.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "split-brain",
    "cut a leader from controllers and brokers, not from clients",
    run,
)
.expecting(&["KRaftFencedBrokers", "KafkaUnderReplicatedPartitions"]);

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
        let cuts = f.h.net.describe_cuts();
        f.hold_then_heal_network(format!(
            "cut broker {leader} (leader of partition {p}) from {peers:?}: {cuts}"
        ));
    }
}
