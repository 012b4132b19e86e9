//! A one-way cut: a partition leader's packets to one follower are dropped while the
//! follower's still arrive (its fetches reach the leader, the answers never come back).

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "one-way",
    "drop a leader's packets to one follower (one way)",
    run,
)
.expecting(&["KafkaUnderReplicatedPartitions"]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        let follower = f.rng.pick(&Fault::other_brokers(leader));
        f.h.net.cut_one_way(leader, follower);
        f.hold_then_heal_network(format!(
            "drop packets from broker {leader} (leader of partition {p}) to broker {follower}"
        ));
    }
}
