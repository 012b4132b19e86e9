//! A partition leader loses every link, its clients' included.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "isolate-leader",
    "isolate a partition leader from everything",
    run,
)
.expecting(&[
    "KafkaTargetDown",
    "KRaftFencedBrokers",
    "KafkaUnderReplicatedPartitions",
]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        f.h.net.isolate(leader);
        f.hold_then_heal_network(format!("isolate broker {leader} (leader of partition {p})"));
    }
}
