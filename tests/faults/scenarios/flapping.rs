//! Flapping links: a partition leader's links to the active controller and to one follower
//! go down and up every 0.5-1.5 s, so heartbeats, fetches and ISR changes keep failing half
//! way.

use std::time::{Duration, Instant};

use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "flapping",
    "flap a leader's links to the active controller and a follower",
    run,
);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        let controller = f.h.active_controller();
        let follower = f.rng.pick(&Fault::other_brokers(leader));
        f.note(format!(
            "flap broker {leader} (leader of partition {p}) with controller {controller} and broker {follower}"
        ));
        let end = Instant::now() + f.fault_time();
        let mut flaps = 0;
        while Instant::now() < end {
            f.h.net.cut(leader, controller);
            f.h.net.cut(leader, follower);
            let down = f
                .rng
                .duration(Duration::from_millis(500), Duration::from_millis(1500));
            f.hold(down);
            f.h.net.heal();
            let up = f
                .rng
                .duration(Duration::from_millis(500), Duration::from_millis(1500));
            f.hold(up);
            flaps += 1;
        }
        f.note(format!("{flaps} flaps, healed"));
    }
}
