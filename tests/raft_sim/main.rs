//! Deterministic simulation of the KRaft core (see docs/raft.md, "Simulator").
//!
//! - `SIM_ITERATIONS=<n>`: seeds per scenario (default 1000).
//! - `SIM_SEED=<u64>`: run only this seed (in every scenario test that runs).
//! - `SIM_SOAK_SECONDS=<n>`: simulated seconds of the `soak` test (default 120).
//! - Failing seeds are pinned in `tests/raft_sim/regressions.txt` (`<scenario> <seed>`); they
//!   always run first.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod scenarios;
mod sim;

use std::panic::{AssertUnwindSafe, catch_unwind};

use scenarios::{Outcome, Scenario};

fn iterations() -> u64 {
    std::env::var("SIM_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

fn pinned(name: &str) -> Vec<u64> {
    include_str!("regressions.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let scenario = parts.next()?;
            let seed = parts.next()?.parse().ok()?;
            (scenario == name).then_some(seed)
        })
        .collect()
}

fn seeds(name: &str) -> Vec<u64> {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let mut seeds = pinned(name);
    seeds.extend(0..iterations());
    seeds
}

fn run_one(scenario: Scenario, seed: u64) -> Result<Outcome, String> {
    match catch_unwind(AssertUnwindSafe(|| scenario(seed))) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(format!("panicked: {msg}"))
        }
    }
}

/// Runs a scenario over its seeds; fails listing every failing seed.
fn check(name: &str, scenario: Scenario) -> Vec<Outcome> {
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for seed in seeds(name) {
        match run_one(scenario, seed) {
            Ok(o) => outcomes.push(o),
            Err(e) => failures.push(format!("{name} seed {seed}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seed(s) (replay with SIM_SEED=<seed>, pin in tests/raft_sim/regressions.txt):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(!outcomes.is_empty());
    outcomes
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[test]
fn elect_initial_leader() {
    check("elect_initial_leader", scenarios::elect_initial_leader);
}

#[test]
fn new_leader_after_graceful_shutdown() {
    let outcomes = check(
        "new_leader_after_graceful_shutdown",
        scenarios::new_leader_after_graceful_shutdown,
    );
    assert!(outcomes.iter().any(|o| o.failover_ms.is_some()));
}

#[test]
fn new_leader_after_leader_killed() {
    check(
        "new_leader_after_leader_killed",
        scenarios::new_leader_after_leader_killed,
    );
}

#[test]
fn recover_after_all_nodes_killed() {
    check(
        "recover_after_all_nodes_killed",
        scenarios::recover_after_all_nodes_killed,
    );
}

#[test]
fn new_leader_after_leader_partitioned_away() {
    check(
        "new_leader_after_leader_partitioned_away",
        scenarios::new_leader_after_leader_partitioned_away,
    );
}

#[test]
fn progress_if_majority_reachable() {
    check(
        "progress_if_majority_reachable",
        scenarios::progress_if_majority_reachable,
    );
}

#[test]
fn prevote_keeps_rejoining_node_from_disrupting() {
    check(
        "prevote_keeps_rejoining_node_from_disrupting",
        scenarios::prevote_keeps_rejoining_node_from_disrupting,
    );
}

#[test]
fn leadership_stable_when_one_follower_loses_the_leader() {
    check(
        "leadership_stable_when_one_follower_loses_the_leader",
        scenarios::leadership_stable_when_one_follower_loses_the_leader,
    );
}

#[test]
fn progress_after_back_to_back_leader_failures() {
    check(
        "progress_after_back_to_back_leader_failures",
        scenarios::progress_after_back_to_back_leader_failures,
    );
}

#[test]
fn recover_from_single_node_committed_data_loss() {
    check(
        "recover_from_single_node_committed_data_loss",
        scenarios::recover_from_single_node_committed_data_loss,
    );
}

#[test]
fn chaos() {
    let outcomes = check("chaos", scenarios::chaos);
    // The fault injection really happens: hard crashes in the middle of a step.
    if outcomes.len() >= 50 {
        assert!(outcomes.iter().map(|o| o.crashes_mid_step).sum::<u64>() > 0);
    }
}

#[test]
fn kafka_15489_asymmetric_partition_leader_resigns() {
    check(
        "kafka_15489_asymmetric_partition_leader_resigns",
        scenarios::kafka_15489_asymmetric_partition_leader_resigns,
    );
}

#[test]
fn kafka_17333_restarted_leader_resigned() {
    check(
        "kafka_17333_restarted_leader_resigned",
        scenarios::kafka_17333_restarted_leader_resigned,
    );
}

#[test]
fn kafka_14240_refuse_log_start_without_snapshot() {
    check(
        "kafka_14240_refuse_log_start_without_snapshot",
        scenarios::kafka_14240_refuse_log_start_without_snapshot,
    );
}

#[test]
fn kafka_13968_snapshots_only_of_committed_state() {
    check(
        "kafka_13968_snapshots_only_of_committed_state",
        scenarios::kafka_13968_snapshots_only_of_committed_state,
    );
}

/// Same seed, same trace hash — for every scenario.
#[test]
fn same_seed_same_trace() {
    let all: [(&str, Scenario); 6] = [
        ("elect", scenarios::elect_initial_leader),
        ("killed", scenarios::new_leader_after_leader_killed),
        ("graceful", scenarios::new_leader_after_graceful_shutdown),
        (
            "data_loss",
            scenarios::recover_from_single_node_committed_data_loss,
        ),
        ("chaos", scenarios::chaos),
        ("all_killed", scenarios::recover_after_all_nodes_killed),
    ];
    for (name, s) in all {
        for seed in [3u64, 11, 42] {
            let a = s(seed).unwrap_or_else(|e| panic!("{name} {seed}: {e}"));
            let b = s(seed).unwrap_or_else(|e| panic!("{name} {seed}: {e}"));
            assert_eq!(a, b, "{name} seed {seed} is not deterministic");
        }
        let x = s(5).unwrap();
        let y = s(6).unwrap();
        assert_ne!(
            x.trace, y.trace,
            "{name}: different seeds gave the same trace"
        );
    }
}

/// The planted double-vote bug must be caught by the invariants (proves the checks can fail).
#[test]
fn planted_double_vote_is_caught() {
    // A fixed seed range: the run is deterministic, about 5 % of these seeds produce two
    // candidates in one epoch that the buggy voter both grants.
    let n = 300;
    let mut single_leader = 0;
    let mut other = 0;
    for seed in 0..n {
        if let Err(e) = run_one(scenarios::planted_double_vote, seed) {
            if e.contains("SingleLeader") {
                single_leader += 1;
            } else {
                other += 1;
            }
        }
    }
    assert!(
        single_leader > 0,
        "the planted double vote was never caught as SingleLeader in {n} seeds ({other} other failures)"
    );
    // Without the bug the same schedule is clean.
    for seed in 0..20 {
        let clean = scenarios::chaos_for(seed, std::time::Duration::from_secs(5), |_| {});
        assert!(clean.is_ok(), "seed {seed}: {clean:?}");
    }
}

/// Virtual failover time with default timeouts: kill → new leader committed, and graceful
/// handover (Shutdown → new leader committed). Figures recorded in docs/raft.md.
#[test]
fn election_timing_with_default_timeouts() {
    let n = iterations().max(100);
    for (name, scenario, p99_budget) in [
        ("kill", scenarios::failover_timing as Scenario, 500),
        (
            "kill (5 voters)",
            scenarios::failover_timing_5 as Scenario,
            500,
        ),
        ("graceful", scenarios::handover_timing as Scenario, 150),
    ] {
        let mut times: Vec<u64> = (0..n)
            .map(|seed| {
                run_one(scenario, seed)
                    .unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"))
                    .failover_ms
                    .unwrap_or_else(|| panic!("{name} seed {seed}: no failover measured"))
            })
            .collect();
        times.sort_unstable();
        let (p50, p99, max) = (
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
        );
        println!("{name} failover over {n} seeds (virtual ms): p50={p50} p99={p99} max={max}");
        assert!(
            p99 <= p99_budget,
            "{name}: p99 {p99} ms over the {p99_budget} ms budget"
        );
    }
}

/// Soak: long chaos runs. `SIM_SOAK_SECONDS` simulated seconds per seed (default 120);
/// `SIM_SOAK_SEEDS` seeds starting at `SIM_SEED` (default: one seed, 1).
#[test]
fn soak() {
    let secs: u64 = std::env::var("SIM_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let first = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u64);
    let count = std::env::var("SIM_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u64);
    for seed in first..first + count {
        let o = scenarios::chaos_for(seed, std::time::Duration::from_secs(secs), |_| {})
            .unwrap_or_else(|e| panic!("soak seed {seed}: {e}"));
        println!(
            "soak seed {seed}: {} simulated s, {} events, committed offset {}, {} mid-step crashes",
            o.virtual_ms / 1000,
            o.events,
            o.committed_offset,
            o.crashes_mid_step
        );
        assert!(o.virtual_ms >= secs * 1000);
        // Progress throughout: at least one committed record per simulated second on average.
        assert!(
            o.committed_offset >= secs as i64,
            "too little progress: {o:?}"
        );
    }
}
