//! A slow, lossy network: every node's outgoing link is slowed (netem delay where the kernel
//! has it, else a rate limit whose queue delays packets up to the same bound) and drops 3% of
//! its packets.

use crate::harness::{BROKERS, CONTROLLERS};
use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "slow-network",
    "slow links (50 ms delay or 8 Mbit/s) and 3% loss on every node",
    run,
);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let mut applied = String::new();
        for &n in CONTROLLERS.iter().chain(&BROKERS) {
            applied = f.h.net.degrade(n, 50, 8000, 3);
        }
        f.hold_then_heal_network(format!("every node: {applied}"));
    }
}
