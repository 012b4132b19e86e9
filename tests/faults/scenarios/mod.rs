//! Every scenario, one small module each; a new one is a file here and a line in [`ALL`].

mod consumer_groups;
mod controllers_brokers;
mod corrupt_tail;
mod disk_full;
mod flapping;
mod isolate_leader;
mod kill;
mod leader_controllers;
mod one_way;
mod pause;
pub mod quorum_churn;
mod slow_network;
mod split_brain;

use crate::scenario::Scenario;

/// Every scenario, in the order the runner takes them.
pub const ALL: &[&Scenario] = &[
    &kill::SCENARIO,
    &pause::SCENARIO,
    &split_brain::SCENARIO,
    &leader_controllers::SCENARIO,
    &isolate_leader::SCENARIO,
    &controllers_brokers::SCENARIO,
    &one_way::SCENARIO,
    &flapping::SCENARIO,
    &slow_network::SCENARIO,
    &disk_full::SCENARIO,
    &corrupt_tail::SCENARIO,
    &quorum_churn::SCENARIO,
    &consumer_groups::SCENARIO,
];
