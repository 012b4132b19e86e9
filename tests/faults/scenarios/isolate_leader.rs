//! A partition leader loses every link, its clients' included.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario {
    name: "isolate-leader",
    fault: "isolate a partition leader from everything",
    expected_alerts: &[
        "KafkaTargetDown",
        "KRaftFencedBrokers",
        "KafkaUnderReplicatedPartitions",
    ],
    allowed_alerts: &[],
    small_disk: None,
    run,
};

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        f.h.net.isolate(leader);
        f.note(format!("isolate broker {leader} (leader of partition {p})"));
        let d = f.fault_time();
        f.hold(d);
        f.note("heal".to_string());
        f.h.net.heal();
    }
}
