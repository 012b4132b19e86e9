//! A slow, lossy network: every node's outgoing link is slowed (netem delay where the kernel
//! has it, else a rate limit whose queue delays packets up to the same bound) and drops 3% of
//! its packets.

use crate::harness::{BROKERS, CONTROLLERS};
use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario {
    name: "slow-network",
    fault: "slow links (50 ms delay or 8 Mbit/s) and 3% loss on every node",
    expected_alerts: &[],
    allowed_alerts: &[],
    small_disk: None,
    run,
};

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let mut applied = String::new();
        for &n in CONTROLLERS.iter().chain(&BROKERS) {
            applied = f.h.net.degrade(n, 50, 8000, 3);
        }
        f.note(format!("every node: {applied}"));
        let d = f.fault_time();
        f.hold(d);
        f.note("heal".to_string());
        f.h.net.heal();
    }
}
