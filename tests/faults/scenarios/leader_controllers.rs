//! A partition leader loses the controllers only: its followers and its clients still reach
//! it. The controllers fence it (no heartbeats) and elect a new leader among the followers,
//! which then fetch from the new leader; the old one cannot learn any of it, cannot shrink
//! its ISR (AlterPartition goes to the controllers), and so must not acknowledge acks=all
//! writes: its high watermark stays where the ISR left it.

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "leader-controllers",
    "cut a leader from the controllers only (followers and clients reach it)",
    run,
)
.expecting(&["KRaftFencedBrokers", "KafkaUnderReplicatedPartitions"]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        for &c in Fault::controllers() {
            f.h.net.cut(leader, c);
        }
        let cuts = f.h.net.describe_cuts();
        f.hold_then_heal_network(format!(
            "cut broker {leader} (leader of partition {p}) from the controllers: {cuts}"
        ));
    }
}
