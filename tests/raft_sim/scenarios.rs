//! Scenarios: those of Kafka's RaftEventSimulationTest, regressions for known KRaft bugs, and
//! a chaos mode. Each takes a seed and returns an outcome or a failure description.

use std::time::Duration;

use kraftd::raft::invariants::InvariantSet;
use kraftd::raft::{MemLog, RaftConfig, RaftCore, RaftLog, StartupError, StateKind};
use kraftd::types::{MonoTime, NodeId, Offset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::{NetConfig, Note, Sim, SimConfig};

/// What a successful run reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub trace: u64,
    pub virtual_ms: u64,
    pub events: u64,
    /// Virtual time from the fault to a new leader committing its epoch, when measured.
    pub failover_ms: Option<u64>,
    /// The highest committed offset observed.
    pub committed_offset: i64,
    /// Hard crashes injected in the middle of a step (before a persistence output).
    pub crashes_mid_step: u64,
}

pub type Scenario = fn(u64) -> Result<Outcome, String>;

const SECOND: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run(sim: &mut Sim, d: Duration) -> Result<(), String> {
    sim.run_for(d)
        .map_err(|(t, v)| format!("t={}ms: {v} | {}", t.0, sim.describe()))
}

fn outcome(sim: &Sim, failover_ms: Option<u64>) -> Outcome {
    Outcome {
        trace: sim.trace_hash(),
        virtual_ms: sim.now.0,
        events: sim.events,
        failover_ms,
        committed_offset: sim.history.high_watermark().0,
        crashes_mid_step: sim.crashed_mid_step,
    }
}

fn shape(seed: u64) -> SimConfig {
    let voters = if seed.is_multiple_of(2) { 3 } else { 5 };
    let mut cfg = SimConfig::new(voters);
    cfg.observers = (seed / 2 % 3) as usize;
    cfg
}

/// Virtual time from `since` to the first LeaderEpochCommitted by a node other than `old`.
fn failover_since(sim: &Sim, since: MonoTime, old: NodeId) -> Option<u64> {
    sim.notes.iter().find_map(|n| match n {
        Note::LeaderEpochCommitted { node, at, .. } if *at >= since && *node != old => {
            Some(at.0 - since.0)
        }
        _ => None,
    })
}

fn progress_since(sim: &Sim, before: Offset) -> Result<(), String> {
    if sim.history.high_watermark() <= before {
        return Err(format!(
            "no committed progress past {before} | {}",
            sim.describe()
        ));
    }
    Ok(())
}

pub fn elect_initial_leader(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    let first = sim.wait_for_leader(None, 5 * SECOND)?;
    let before = sim.history.high_watermark();
    run(&mut sim, 5 * SECOND)?;
    progress_since(&sim, before)?;
    // Stable leadership: no spurious election on a healthy network under steady appends.
    if sim.committed_leader() != Some(first) {
        return Err(format!(
            "leadership moved from {first:?} | {}",
            sim.describe()
        ));
    }
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

pub fn new_leader_after_graceful_shutdown(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(200..1500);
    run(&mut sim, ms(pause))?;
    let t0 = sim.now;
    sim.input(old, kraftd::raft::Input::Shutdown);
    let deadline = sim.now.plus(3 * SECOND);
    while !sim.node(old).shutdown_ready {
        if sim.now >= deadline {
            return Err(format!(
                "shutdown of leader {old} never completed | {}",
                sim.describe()
            ));
        }
        run(&mut sim, ms(5))?;
    }
    sim.kill(old);
    let before = sim.history.high_watermark();
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let handover = failover_since(&sim, t0, old);
    run(&mut sim, SECOND)?;
    progress_since(&sim, before)?;
    sim.start(old);
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, handover))
}

pub fn new_leader_after_leader_killed(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(200..1500);
    run(&mut sim, ms(pause))?;
    let t0 = sim.now;
    sim.kill(old);
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, old);
    let before = sim.history.high_watermark();
    run(&mut sim, SECOND)?;
    progress_since(&sim, before)?;
    sim.start(old);
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, failover))
}

pub fn recover_after_all_nodes_killed(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(200..2000);
    run(&mut sim, ms(pause))?;
    let committed = sim.history.high_watermark();
    for id in sim.node_ids() {
        sim.kill(id);
    }
    run(&mut sim, ms(300))?;
    let mut order = sim.node_ids();
    for i in (1..order.len()).rev() {
        let j = sim.rng().random_range(0..=i);
        order.swap(i, j);
    }
    for id in order {
        sim.start(id);
        let gap = sim.rng().random_range(0..50);
        run(&mut sim, ms(gap))?;
    }
    sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, SECOND)?;
    progress_since(&sim, committed)?;
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

pub fn new_leader_after_leader_partitioned_away(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(200..1500);
    run(&mut sim, ms(pause))?;
    let t0 = sim.now;
    sim.isolate(&[old]);
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, old);
    // KAFKA-15489: the isolated leader resigns within the check-quorum timeout.
    check_resigned_by(&mut sim, old, t0)?;
    let before = sim.history.high_watermark();
    run(&mut sim, SECOND)?;
    progress_since(&sim, before)?;
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, failover))
}

fn check_resigned_by(sim: &mut Sim, old: NodeId, t0: MonoTime) -> Result<(), String> {
    let cq = sim.raft_config(old).check_quorum_timeout();
    let limit = t0.plus(cq).plus(ms(50));
    if sim.now < limit {
        sim.run_until(limit)
            .map_err(|(t, v)| format!("t={}ms: {v} | {}", t.0, sim.describe()))?;
    }
    let state = sim.node(old).core.as_ref().map(|c| c.state());
    if state == Some(StateKind::Leader) {
        return Err(format!(
            "KAFKA-15489: partitioned leader {old} still leader {}ms after the partition | {}",
            sim.now.0 - t0.0,
            sim.describe()
        ));
    }
    Ok(())
}

pub fn progress_if_majority_reachable(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(5);
    cfg.observers = (seed % 3) as usize;
    let mut sim = Sim::new(cfg, seed);
    sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, ms(500))?;
    // A random minority of two voters on one side.
    let a = sim.random_voter();
    let mut b = sim.random_voter();
    while b == a {
        b = sim.random_voter();
    }
    sim.isolate(&[a, b]);
    run(&mut sim, SECOND)?;
    let before = sim.history.high_watermark();
    run(&mut sim, 3 * SECOND)?;
    progress_since(&sim, before)?;
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

pub fn prevote_keeps_rejoining_node_from_disrupting(seed: u64) -> Result<Outcome, String> {
    let mut cfg = shape(seed);
    cfg.observers = 0;
    let mut sim = Sim::new(cfg, seed);
    let (leader, epoch) = sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, ms(500))?;
    let follower = loop {
        let v = sim.random_voter();
        if v != leader {
            break v;
        }
    };
    sim.isolate(&[follower]);
    run(&mut sim, 5 * SECOND)?;
    sim.heal();
    run(&mut sim, 3 * SECOND)?;
    let now_leader = sim.committed_leader();
    if now_leader != Some((leader, epoch)) {
        return Err(format!(
            "leader changed from {leader}@{epoch} to {now_leader:?} after node {follower} rejoined | {}",
            sim.describe()
        ));
    }
    let f_epoch = sim.node(follower).core.as_ref().unwrap().epoch();
    if f_epoch != epoch {
        return Err(format!(
            "isolated node bumped its epoch to {f_epoch} (leader epoch {epoch})"
        ));
    }
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

/// KIP-996 topology (Kafka's leadershipWillNotChangeDuringNetworkPartitionIfMajorityStillReachable):
/// one follower loses only its link to the leader while still reaching every other voter. Its
/// pre-votes are refused by the followers that still fetch, so the leader and epoch never change.
pub fn leadership_stable_when_one_follower_loses_the_leader(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(5);
    cfg.observers = (seed % 2) as usize;
    let mut sim = Sim::new(cfg, seed);
    let (leader, epoch) = sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, ms(300))?;
    let follower = loop {
        let v = sim.random_voter();
        if v != leader {
            break v;
        }
    };
    sim.block(leader, follower);
    sim.block(follower, leader);
    run(&mut sim, 5 * SECOND)?;
    if sim.committed_leader() != Some((leader, epoch)) {
        return Err(format!(
            "leadership changed from {leader}@{epoch} while a majority could reach it | {}",
            sim.describe()
        ));
    }
    let epochs: Vec<_> = sim
        .node_ids()
        .into_iter()
        .filter_map(|id| sim.node(id).core.as_ref().map(|c| c.epoch()))
        .collect();
    if epochs.iter().any(|e| *e != epoch) {
        return Err(format!("an epoch moved: {epochs:?} | {}", sim.describe()));
    }
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

pub fn progress_after_back_to_back_leader_failures(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(5);
    cfg.observers = (seed % 2) as usize;
    let mut sim = Sim::new(cfg, seed);
    let (first, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, ms(300))?;
    let t0 = sim.now;
    sim.kill(first);
    let (second, _) = sim.wait_for_leader(Some(first), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, first);
    sim.kill(second);
    let (third, _) = sim.wait_for_leader(Some(second), 5 * SECOND)?;
    if third == first {
        return Err("a killed node became leader".into());
    }
    let before = sim.history.high_watermark();
    run(&mut sim, SECOND)?;
    progress_since(&sim, before)?;
    sim.start(first);
    sim.start(second);
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, failover))
}

pub fn recover_from_single_node_committed_data_loss(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(3);
    cfg.invariants = InvariantSet {
        monotonic_epoch: false,
        majority_reached_high_watermark: false,
    };
    let mut sim = Sim::new(cfg, seed);
    sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, SECOND)?;
    // Static voters only tolerate a disk loss once every other voter holds all committed
    // data (docs/raft.md); wipe a node from a converged cluster, as Kafka's test does.
    sim.converge(10 * SECOND)?;
    let victim = sim.random_voter();
    sim.kill_and_wipe(victim);
    run(&mut sim, ms(200))?;
    sim.start(victim);
    run(&mut sim, 2 * SECOND)?;
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

/// Random faults (lossy network, kills, restarts, symmetric and asymmetric partitions) for a
/// safety phase, then a liveness phase.
pub fn chaos(seed: u64) -> Result<Outcome, String> {
    chaos_for(seed, Duration::from_secs(10), |_| {})
}

pub fn chaos_for(
    seed: u64,
    length: Duration,
    tweak: fn(&mut RaftConfig),
) -> Result<Outcome, String> {
    let mut cfg = shape(seed);
    cfg.net = NetConfig::lossy();
    cfg.snapshot_every = 30;
    cfg.crash_mid_step = 0.003;
    cfg.tweak = tweak;
    let mut sim = Sim::new(cfg, seed);
    let end = sim.now.plus(length);
    while sim.now < end {
        let seg = sim.rng().random_range(100..800);
        run(&mut sim, ms(seg))?;
        let ids = sim.node_ids();
        let pick = ids[sim.rng().random_range(0..ids.len())];
        match sim.rng().random_range(0..10) {
            0 | 1 => {
                if sim.is_running(pick) {
                    let running = ids.iter().filter(|i| sim.is_running(**i)).count();
                    if running > 1 {
                        sim.kill(pick);
                    }
                } else {
                    sim.start(pick);
                }
            }
            2 => sim.isolate(&[pick]),
            3 => {
                let other = ids[sim.rng().random_range(0..ids.len())];
                if other != pick {
                    sim.block(pick, other);
                }
            }
            4 | 5 => sim.heal(),
            6 => {
                if let Some((l, _)) = sim.committed_leader() {
                    sim.input(l, kraftd::raft::Input::Shutdown);
                }
            }
            _ => {}
        }
        sim.prune_history();
        sim.complete_shutdowns(2 * SECOND);
    }
    for id in sim.node_ids() {
        if !sim.is_running(id) {
            sim.start(id);
        }
    }
    sim.converge(20 * SECOND)?;
    Ok(outcome(&sim, None))
}

// ----- regressions for known KRaft bugs -----

/// KAFKA-15489: a leader that can send but not receive (or receive but not send) must resign
/// within 1.5 × fetch timeout, so two leaders never serve at once for long.
pub fn kafka_15489_asymmetric_partition_leader_resigns(seed: u64) -> Result<Outcome, String> {
    let mut cfg = shape(seed);
    cfg.observers = 0;
    let mut sim = Sim::new(cfg, seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, ms(300))?;
    let t0 = sim.now;
    let inbound_cut = seed.is_multiple_of(2);
    for v in sim.node_ids() {
        if v != old {
            if inbound_cut {
                sim.block(v, old);
            } else {
                sim.block(old, v);
            }
        }
    }
    check_resigned_by(&mut sim, old, t0)?;
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, old);
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, failover))
}

/// KAFKA-17333: a leader that restarts comes back Resigned in its epoch and never acts as
/// leader of it again (the simulator asserts that LeaderEpochCommitted and Appended only happen
/// in epochs the current incarnation was elected in).
pub fn kafka_17333_restarted_leader_resigned(seed: u64) -> Result<Outcome, String> {
    let mut sim = Sim::new(shape(seed), seed);
    let (old, epoch) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(100..1000);
    run(&mut sim, ms(pause))?;
    sim.kill(old);
    let down = sim.rng().random_range(0..100);
    run(&mut sim, ms(down))?;
    sim.start(old);
    let core = sim.node(old).core.as_ref().unwrap();
    if core.epoch() == epoch && core.state() != StateKind::Resigned {
        return Err(format!(
            "restarted leader {old} came back {:?} in epoch {epoch}",
            core.state()
        ));
    }
    let (new, new_epoch) = sim.wait_for_leader(None, 5 * SECOND)?;
    if new_epoch <= epoch {
        return Err(format!(
            "leader {new} in epoch {new_epoch} not above {epoch}"
        ));
    }
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

/// KAFKA-14240: a log whose start offset is above zero without a snapshot at it is refused at
/// startup; a cleaned log with its snapshot starts fine.
pub fn kafka_14240_refuse_log_start_without_snapshot(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(3);
    cfg.snapshot_every = 20;
    let mut sim = Sim::new(cfg, seed);
    sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, 2 * SECOND)?;
    let victim = sim.random_voter();
    let log = sim.node(victim).core.as_ref().unwrap().log().clone();
    if log.start_offset() == Offset(0) {
        return Err(format!(
            "no cleaning happened on node {victim}: {}",
            sim.describe()
        ));
    }
    let mut corrupt = log.clone();
    corrupt.crash();
    let start = corrupt.start_offset();
    corrupt.corrupt_start_offset_for_test(Offset(start.0 + 1));
    let cfg = sim.raft_config(victim);
    let rng = ChaCha8Rng::seed_from_u64(seed);
    match RaftCore::new(cfg.clone(), corrupt, None, rng.clone(), sim.now) {
        Err(StartupError::NoSnapshotAtLogStart { .. }) => {}
        other => {
            return Err(format!(
                "corrupt log accepted: {:?}",
                other.map(|c| c.state())
            ));
        }
    }
    let empty_start = {
        let mut l = MemLog::new();
        l.corrupt_start_offset_for_test(Offset(7));
        l
    };
    if RaftCore::new(cfg.clone(), empty_start, None, rng.clone(), sim.now).is_ok() {
        return Err("log starting at 7 without snapshot accepted".into());
    }
    sim.kill(victim);
    sim.start(victim);
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

/// KAFKA-13968: snapshots are only taken of committed, batch-aligned state; attempts above the
/// high watermark or inside a batch are refused, and the cluster stays consistent.
pub fn kafka_13968_snapshots_only_of_committed_state(seed: u64) -> Result<Outcome, String> {
    let mut cfg = shape(seed);
    cfg.snapshot_every = 15;
    let mut sim = Sim::new(cfg, seed);
    sim.bad_snapshot_attempts = true;
    sim.wait_for_leader(None, 5 * SECOND)?;
    run(&mut sim, 3 * SECOND)?;
    if sim.snapshots_rejected == 0 || sim.snapshots_created == 0 {
        return Err(format!(
            "rejected {}, created {}",
            sim.snapshots_rejected, sim.snapshots_created
        ));
    }
    sim.converge(10 * SECOND)?;
    Ok(outcome(&sim, None))
}

/// Kill → new leader committed, with default timeouts, reliable network (1–5 ms delays).
pub fn failover_timing(seed: u64) -> Result<Outcome, String> {
    failover_timing_with(seed, 3)
}

/// The same with five voters.
pub fn failover_timing_5(seed: u64) -> Result<Outcome, String> {
    failover_timing_with(seed, 5)
}

fn failover_timing_with(seed: u64, voters: usize) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(voters);
    cfg.snapshot_every = 0;
    let mut sim = Sim::new(cfg, seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(500..2500);
    run(&mut sim, ms(pause))?;
    let t0 = sim.now;
    sim.kill(old);
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, old);
    Ok(outcome(&sim, failover))
}

/// Graceful handover time with default timeouts: Shutdown of the leader → new leader committed.
pub fn handover_timing(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(3);
    cfg.snapshot_every = 0;
    let mut sim = Sim::new(cfg, seed);
    let (old, _) = sim.wait_for_leader(None, 5 * SECOND)?;
    let pause = sim.rng().random_range(500..2500);
    run(&mut sim, ms(pause))?;
    let t0 = sim.now;
    sim.input(old, kraftd::raft::Input::Shutdown);
    sim.wait_for_leader(Some(old), 5 * SECOND)?;
    let failover = failover_since(&sim, t0, old);
    Ok(outcome(&sim, failover))
}

/// With the planted double-vote bug, chaos runs that must (on some seeds) break SingleLeader.
pub fn planted_double_vote(seed: u64) -> Result<Outcome, String> {
    let mut cfg = SimConfig::new(3);
    cfg.net = NetConfig::lossy();
    cfg.tweak = |c| c.test_only_grant_second_vote = true;
    let mut sim = Sim::new(cfg, seed);
    let end = sim.now.plus(10 * SECOND);
    while sim.now < end {
        let seg = sim.rng().random_range(100..600);
        run(&mut sim, ms(seg))?;
        if let Some((l, _)) = sim.committed_leader() {
            sim.kill(l);
            let down = sim.rng().random_range(0..400);
            run(&mut sim, ms(down))?;
            sim.start(l);
        }
    }
    Ok(outcome(&sim, None))
}
