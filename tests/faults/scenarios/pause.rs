//! SIGSTOP of a partition leader for longer than the broker session timeout and
//! `replica.lag.time.max.ms`, then SIGCONT: the paused leader wakes up believing it still
//! leads (a zombie) until it learns the new epoch.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "pause",
    "SIGSTOP a partition leader past its session, SIGCONT",
    run,
)
.expecting(&["KafkaTargetDown", "KafkaUnderReplicatedPartitions"]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        f.h.cluster.node(leader).signal(libc::SIGSTOP);
        f.note(format!("SIGSTOP broker {leader} (leader of partition {p})"));
        let d = f.fault_time();
        f.hold(d);
        f.note(format!("SIGCONT broker {leader}"));
        f.h.cluster.node(leader).signal(libc::SIGCONT);
    }
}
