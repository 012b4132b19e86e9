//! `kill -9` of a partition leader, restarted after the fault time.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new("kill", "kill -9 a partition leader, restart it", run)
    .expecting(&["KafkaTargetDown", "KafkaUnderReplicatedPartitions"]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        f.note(format!("kill -9 broker {leader} (leader of partition {p})"));
        f.h.cluster.node_mut(leader).kill();
        let d = f.fault_time();
        f.hold(d);
        f.note(format!("restart broker {leader}"));
        f.h.cluster.node_mut(leader).start(crate::START);
    }
}
