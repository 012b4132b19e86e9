//! What a scenario is, and what it may do to the cluster while the workload runs. A scenario
//! is one function over a [`Fault`] context: it picks its victims from the cluster's current
//! state (leaders, the active controller) with the seeded random source, injects its faults,
//! holds them, and heals what it broke. The runner (`main.rs`) does everything around it:
//! the cluster, the workload, the final heal (in case a scenario panicked mid-fault), the
//! convergence checks, the history check and the report.

use std::time::{Duration, Instant};

use crate::harness::{BROKERS, CONTROLLERS, Harness, PARTITIONS, TOPIC};
use crate::history::checker::Report;
use crate::history::workload::Workload;

/// `quick` runs in the test command (short faults, one seed); `long` is the documented soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quick,
    Long,
}

/// One scenario: its fault, the alerts it must raise, and the ones it may raise beyond the
/// alerts every scenario may raise.
pub struct Scenario {
    pub name: &'static str,
    /// The fault, in a few words (the report's `fault` column).
    pub fault: &'static str,
    /// Alerts that must fire during the fault (read from Prometheus).
    pub expected_alerts: &'static [&'static str],
    /// Alerts that would be wrong in general but are right for this fault.
    pub allowed_alerts: &'static [&'static str],
    /// This broker's log directory sits on a small filesystem of this many MiB.
    pub small_disk: Option<(i32, u32)>,
    pub run: fn(&mut Fault<'_>),
}

impl Scenario {
    /// A scenario that expects no alert and has no small disk; see the builders below.
    pub const fn new(name: &'static str, fault: &'static str, run: fn(&mut Fault<'_>)) -> Self {
        Scenario {
            name,
            fault,
            expected_alerts: &[],
            allowed_alerts: &[],
            small_disk: None,
            run,
        }
    }

    /// Alerts that must fire during the fault.
    pub const fn expecting(mut self, alerts: &'static [&'static str]) -> Self {
        self.expected_alerts = alerts;
        self
    }

    /// Forbidden alerts that are right for this fault.
    pub const fn allowing(mut self, alerts: &'static [&'static str]) -> Self {
        self.allowed_alerts = alerts;
        self
    }

    /// Broker `broker`'s log directory on a filesystem of `mib` MiB.
    pub const fn with_small_disk(mut self, broker: i32, mib: u32) -> Self {
        self.small_disk = Some((broker, mib));
        self
    }
}

/// Alerts no scenario may raise: each means the cluster did something unsafe or lost track.
pub const FORBIDDEN_ALERTS: &[&str] = &[
    "KRaftMultipleActiveControllers",
    "KafkaUncleanLeaderElection",
    "KafkaReplicaFetcherFailedPartitions",
    "KRaftMetadataErrors",
    "KafkaOfflinePartitions",
];

/// A small deterministic random source (splitmix64), seeded per run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Uniform in `[lo, hi]` milliseconds.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(self.below(span + 1))
    }
}

/// What a scenario works with.
pub struct Fault<'a> {
    pub h: &'a mut Harness,
    pub workload: &'a Workload,
    pub rng: Rng,
    pub mode: Mode,
    /// What the scenario did, in order (printed with the report).
    pub log: Vec<String>,
    started: Instant,
    after_heal: Vec<AfterHeal>,
}

/// A check a scenario leaves for after the heal and convergence (e.g. that acknowledged
/// metadata changes are on every broker); it adds what it finds to the report.
pub type AfterHeal = Box<dyn FnOnce(&Harness, &mut Report)>;

impl<'a> Fault<'a> {
    pub fn new(h: &'a mut Harness, workload: &'a Workload, seed: u64, mode: Mode) -> Self {
        Fault {
            h,
            workload,
            rng: Rng::new(seed),
            mode,
            log: Vec::new(),
            started: Instant::now(),
            after_heal: Vec::new(),
        }
    }

    /// Leaves `check` for the runner to call once the cluster has converged.
    pub fn after_heal(&mut self, check: AfterHeal) {
        self.after_heal.push(check);
    }

    /// The checks left for after the heal.
    pub fn take_after_heal(&mut self) -> Vec<AfterHeal> {
        std::mem::take(&mut self.after_heal)
    }

    /// Notes a step of the scenario.
    pub fn note(&mut self, what: String) {
        let at = self.started.elapsed();
        eprintln!("  [{at:>8.2?}] {what}");
        self.log.push(format!("{at:.1?} {what}"));
    }

    /// How long one fault stays in force: longer than the broker session timeout (3 s) and
    /// `replica.lag.time.max.ms` (3 s), so that fencing and ISR changes happen, and long
    /// enough for the alerts' (rendered) `for` durations.
    pub fn fault_time(&mut self) -> Duration {
        match self.mode {
            Mode::Quick => self
                .rng
                .duration(Duration::from_secs(12), Duration::from_secs(14)),
            Mode::Long => self
                .rng
                .duration(Duration::from_secs(15), Duration::from_secs(40)),
        }
    }

    /// How many times a scenario repeats its fault.
    pub fn rounds(&self) -> usize {
        match self.mode {
            Mode::Quick => 1,
            Mode::Long => 3,
        }
    }

    /// Keeps the fault in force for `d`, starting a new checker consumer session half-way
    /// (a session that lives across the fault and one that starts inside it).
    pub fn hold(&mut self, d: Duration) {
        let half = Instant::now() + d / 2;
        let end = Instant::now() + d;
        let mut rotated = false;
        while Instant::now() < end {
            if !rotated && Instant::now() >= half {
                self.workload.rotate_consumer();
                rotated = true;
            }
            // The fault's duration is the point here, not a condition.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Notes `what` was done, keeps the fault for [`Self::fault_time`], then heals the network.
    pub fn hold_then_heal_network(&mut self, what: String) {
        self.note(what);
        let d = self.fault_time();
        self.hold(d);
        self.note("heal".to_string());
        self.h.net.heal();
    }

    /// The leader of a seeded partition of the record topic.
    pub fn some_leader(&mut self) -> (i32, i32) {
        let p = self.rng.below(PARTITIONS as u64) as i32;
        let leader = self.h.leader_of(TOPIC, p);
        (p, leader)
    }

    /// The brokers other than `b`.
    pub fn other_brokers(b: i32) -> Vec<i32> {
        BROKERS.iter().copied().filter(|&x| x != b).collect()
    }

    pub fn controllers() -> &'static [i32] {
        &CONTROLLERS
    }
}
