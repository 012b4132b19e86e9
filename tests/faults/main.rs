//! Proof under faults: scenarios that break a real cluster (three controllers, three brokers,
//! each in its own network namespace) while an idempotent acks=all producer writes and a
//! checker consumer reads, then heal it and check the history (`../history/checker.rs`), the
//! cluster's convergence and the alerts a real Prometheus raised. See `docs/reliability.md`.
//!
//! Run through `scripts/faults` (which builds this target and needs root):
//!
//! ```text
//! scripts/faults quick|long [--scenario NAME] [--seed N] [--planted-bug NAME]
//! scripts/faults --list-planted-bugs | --list-scenarios
//! ```
//!
//! Prints one row per run (scenario, seed, fault, operations, anomalies by kind, alerts fired)
//! and exits 0 only when every run is clean: no anomaly, the expected alerts fired, no
//! forbidden one did. Exit status 1 means a run was not clean, 2 a usage error.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;
// The checker's unit tests run in the replication target; this one uses the checker only.
#[allow(dead_code)]
#[path = "../history/mod.rs"]
mod history;

mod harness;
mod scenario;
mod scenarios;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use kraftd::broker::data_plane::planted_bug::PlantedBug;

use common::wait_for;
use harness::{Harness, PARTITIONS, Setup, TOPIC};
use history::checker::{Anomaly, Report, check};
use history::workload::Workload;
use scenario::{FORBIDDEN_ALERTS, Fault, Mode, Scenario};

/// How long a node may take to start.
pub const START: Duration = Duration::from_secs(60);
/// Records per second the workload produces (round-robin over the partitions).
const RATE: u32 = 300;
/// How long after the heal every partition must acknowledge writes again.
const WRITABLE: Duration = Duration::from_secs(60);

struct Args {
    mode: Mode,
    scenario: Option<String>,
    seed: Option<u64>,
    planted_bug: Option<PlantedBug>,
}

const USAGE: &str = "usage: faults quick|long [--scenario NAME] [--seed N] [--planted-bug NAME]\n       faults --list-planted-bugs | --list-scenarios";

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        mode: Mode::Quick,
        scenario: None,
        seed: None,
        planted_bug: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match a.as_str() {
            "quick" => args.mode = Mode::Quick,
            "long" => args.mode = Mode::Long,
            "--scenario" => {
                let name = value("--scenario");
                if !scenarios::ALL.iter().any(|s| s.name == name) {
                    usage(&format!("no scenario {name:?} (see --list-scenarios)"));
                }
                args.scenario = Some(name);
            }
            "--seed" => {
                let v = value("--seed");
                args.seed = Some(v.parse().unwrap_or_else(|_| usage("--seed takes a number")));
            }
            "--planted-bug" => {
                let name = value("--planted-bug");
                args.planted_bug = Some(PlantedBug::from_name(&name).unwrap_or_else(|| {
                    usage(&format!(
                        "no planted bug {name:?} (see --list-planted-bugs)"
                    ))
                }));
            }
            "--list-planted-bugs" => {
                for b in PlantedBug::ALL {
                    println!("{:<26} {}", b.name(), b.description());
                }
                std::process::exit(0);
            }
            "--list-scenarios" => {
                for s in scenarios::ALL {
                    println!("{:<20} {}", s.name, s.fault);
                }
                std::process::exit(0);
            }
            // What cargo's test runner passes to every test binary.
            "--nocapture" | "--quiet" | "-q" | "--test-threads=1" => {}
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    args
}

/// One run's result: a row of the table.
struct Row {
    scenario: &'static str,
    seed: u64,
    fault: &'static str,
    report: Report,
    alerts: BTreeSet<String>,
    missing: Vec<&'static str>,
    forbidden: Vec<String>,
    took: Duration,
}

impl Row {
    fn clean(&self) -> bool {
        self.report.is_clean() && self.missing.is_empty() && self.forbidden.is_empty()
    }
}

fn main() {
    let args = parse_args();
    let seeds: Vec<u64> = match (args.seed, args.mode) {
        (Some(s), _) => vec![s],
        (None, Mode::Quick) => vec![1],
        (None, Mode::Long) => (1..=3).collect(),
    };
    let chosen: Vec<&Scenario> = scenarios::ALL
        .iter()
        .copied()
        .filter(|s| args.scenario.as_deref().is_none_or(|n| n == s.name))
        .collect();
    let mut rows = Vec::new();
    for s in &chosen {
        for &seed in &seeds {
            eprintln!(
                "== {} seed {seed} ({:?}{})",
                s.name,
                args.mode,
                args.planted_bug
                    .map(|b| format!(", planted bug {}", b.name()))
                    .unwrap_or_default()
            );
            let row = run(s, seed, args.mode, args.planted_bug);
            eprintln!("{}", row.report);
            rows.push(row);
        }
    }
    print_table(&rows);
    let clean = rows.iter().all(Row::clean);
    std::process::exit(if clean { 0 } else { 1 });
}

fn run(s: &'static Scenario, seed: u64, mode: Mode, planted_bug: Option<PlantedBug>) -> Row {
    let started = Instant::now();
    let setup = Setup {
        planted_bug: planted_bug.map(|b| b.name().to_string()),
        small_disk: s.small_disk,
    };
    let mut h = Harness::start(&setup);
    h.create_topic(TOPIC, PARTITIONS);
    let workload = Workload::start(&h.bootstrap(), TOPIC, PARTITIONS, RATE);
    wait_for(Duration::from_secs(60), "the workload's first acks", || {
        (workload.progress().1 >= 100).then_some(())
    });
    h.record_alerts();
    let mut extra = Report::default();
    let after_heal = {
        let mut f = Fault::new(&mut h, &workload, seed, mode);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (s.run)(&mut f)));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            extra.add(Anomaly::NotConverged, || {
                format!("the scenario failed mid-fault: {why}")
            });
        }
        f.take_after_heal()
    };
    heal_everything(&mut h);
    h.converge(&[TOPIC], &mut extra);
    let healed = Instant::now();
    let deadline = healed + WRITABLE;
    while workload.all_acked_after(healed).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if workload.all_acked_after(healed).is_none() {
        extra.add(Anomaly::NotConverged, || {
            format!("not every partition acknowledged a write within {WRITABLE:?} of the heal")
        });
    }
    for check_after in after_heal {
        check_after(&h, &mut extra);
    }
    let alerts = h.observations(&mut extra);
    let history = workload.finish();
    let mut report = check(&history);
    for (kind, (count, examples)) in extra.anomalies {
        let entry = report.anomalies.entry(kind).or_default();
        entry.0 += count;
        entry.1.extend(examples);
    }
    let missing = s
        .expected_alerts
        .iter()
        .copied()
        .filter(|a| !alerts.contains(*a))
        .collect();
    let forbidden = alerts
        .iter()
        .filter(|a| FORBIDDEN_ALERTS.contains(&a.as_str()))
        .filter(|a| !s.allowed_alerts.contains(&a.as_str()))
        .cloned()
        .collect();
    let row = Row {
        scenario: s.name,
        seed,
        fault: s.fault,
        report,
        alerts,
        missing,
        forbidden,
        took: started.elapsed(),
    };
    if !row.clean() {
        let dest = std::env::var_os("KRAFTD_FAULTS_LOGS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("kraftd-faults"))
            .join(format!("{}-{seed}", s.name));
        h.save_logs(&dest);
        eprintln!("node logs of this run: {}", dest.display());
    }
    row
}

/// Undoes whatever a scenario may have left: links, netem, paused or stopped processes.
fn heal_everything(h: &mut Harness) {
    h.net.heal();
    for node in h.cluster.nodes_mut() {
        if node.is_started() {
            node.signal(libc::SIGCONT);
        } else {
            node.start(START);
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | seed | fault | sent / acked / read | anomalies | alerts fired | missing alerts | forbidden alerts | result | took |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let c = &r.report.counts;
        let anomalies = if r.report.is_clean() {
            "0".to_string()
        } else {
            Anomaly::ALL
                .iter()
                .filter(|k| r.report.count(**k) > 0)
                .map(|k| format!("{}: {}", k.name(), r.report.count(*k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.join(", ")
            }
        };
        println!(
            "| {} | {} | {} | {} / {} / {} | {} | {} | {} | {} | {} | {:.0?} |",
            r.scenario,
            r.seed,
            r.fault,
            c.sent,
            c.acked,
            c.reads,
            anomalies,
            list(r.alerts.iter().cloned().collect()),
            list(r.missing.iter().map(|s| s.to_string()).collect()),
            list(r.forbidden.clone()),
            if r.clean() { "clean" } else { "NOT CLEAN" },
            r.took
        );
    }
}
