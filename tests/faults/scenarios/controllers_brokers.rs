//! Every controller loses every broker (brokers still reach each other and the clients): the
//! controllers fence all brokers and have no leader to elect, while the brokers keep the last
//! metadata they had. Nothing acknowledged may be lost when the two sides meet again.

use crate::harness::BROKERS;
use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "controllers-brokers",
    "cut every controller from every broker",
    run,
)
.expecting(&["KRaftFencedBrokers"])
// With every broker fenced the controllers have no leader to give any partition.
.allowing(&["KafkaOfflinePartitions"]);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        for &c in Fault::controllers() {
            for &b in &BROKERS {
                f.h.net.cut(c, b);
            }
        }
        f.hold_then_heal_network("cut controllers 1-3 from brokers 4-6".to_string());
    }
}
