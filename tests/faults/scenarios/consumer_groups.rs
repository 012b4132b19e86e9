//! A consumer group under broker faults: members join, leave and hang (no poll or heartbeat
//! past their session timeout, then resume as zombies) while the group's coordinator broker
//! is killed (`kill -9`, restarted), paused (SIGSTOP past the broker session timeout) and
//! split from every other node (the clients reach it and no other broker), in a seeded order.
//!
//! Checked after the heal (see `history::checker`): no acknowledged commit is lost (the
//! committed offsets right after the heal, with commits held back, are at or above every
//! commit a member saw acknowledged); the committed offset of a partition never goes back in
//! the observations made while no fault is in force; once the group has caught up, every
//! record below its committed offsets was read by some member.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::harness::{BROKERS, CONTROLLERS, Harness, PARTITIONS, TOPIC};
use crate::history::checker::{Anomaly, Report};
use crate::history::client_config;
use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "consumer-groups",
    "members join, leave, hang while the coordinator's broker is killed, paused, split off",
    run,
)
.expecting(&["KafkaTargetDown"]);

/// The group under test.
const GROUP: &str = "faults-group";

/// The members' session timeout (the broker's smallest allowed).
const SESSION_TIMEOUT_MS: u64 = 6000;

/// What every member of the group saw, shared by them.
#[derive(Default)]
struct GroupLog {
    /// (partition, offset) of every record a member read.
    reads: BTreeSet<(i32, i64)>,
    /// Partition → the highest offset a member saw a commit of acknowledged.
    acked: BTreeMap<i32, i64>,
    commits_ok: u64,
    commits_failed: u64,
}

/// Shared switches and records of the group workload.
#[derive(Default)]
struct Shared {
    log: Mutex<GroupLog>,
    /// Members commit only while this is set.
    commits_enabled: AtomicBool,
    /// The sampler observes committed offsets only while this is set.
    sampling: AtomicBool,
    /// Partition → the last committed offset observed; and the regressions seen.
    observed: Mutex<(BTreeMap<i32, i64>, Vec<String>)>,
    /// Acknowledged commits missing after a heal.
    lost: Mutex<Vec<String>>,
}

struct MemberContext {
    shared: Arc<Shared>,
    positions: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            commit(consumer, &self.shared, &self.positions, Some(&revoked));
            let mut positions = self.positions.lock().unwrap();
            for p in revoked {
                positions.remove(&p);
            }
        }
    }
}

/// Commits the positions of `only` (all when `None`) synchronously, recording the outcome.
fn commit(
    consumer: &BaseConsumer<MemberContext>,
    shared: &Shared,
    positions: &Mutex<BTreeMap<i32, i64>>,
    only: Option<&[i32]>,
) {
    if !shared.commits_enabled.load(Ordering::SeqCst) {
        return;
    }
    let chosen: Vec<(i32, i64)> = positions
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| only.is_none_or(|o| o.contains(p)))
        .map(|(p, o)| (*p, *o))
        .collect();
    if chosen.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &chosen {
        let _ = tpl.add_partition_offset(TOPIC, *p, Offset::Offset(*o));
    }
    let result = consumer.commit(&tpl, CommitMode::Sync);
    let mut log = shared.log.lock().unwrap();
    match result {
        Ok(()) => {
            log.commits_ok += 1;
            for (p, o) in chosen {
                let a = log.acked.entry(p).or_insert(o);
                *a = (*a).max(o);
            }
        }
        Err(_) => log.commits_failed += 1,
    }
}

/// One member on its own thread.
struct Member {
    name: String,
    stop: Arc<AtomicBool>,
    hang_until: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(bootstrap: &str, name: &str, shared: &Arc<Shared>) -> Member {
        let positions = Arc::new(Mutex::new(BTreeMap::new()));
        let consumer: BaseConsumer<MemberContext> = client_config(bootstrap)
            .set("group.id", GROUP)
            .set("client.id", name)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "range")
            .create_with_context(MemberContext {
                shared: shared.clone(),
                positions: positions.clone(),
            })
            .expect("group member");
        consumer.subscribe(&[TOPIC]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let hang_until = Arc::new(Mutex::new(None));
        let thread = {
            let (stop, hang_until, shared) = (stop.clone(), hang_until.clone(), shared.clone());
            std::thread::spawn(move || {
                member_loop(consumer, &stop, &hang_until, &shared, &positions)
            })
        };
        Member {
            name: name.to_string(),
            stop,
            hang_until,
            thread: Some(thread),
        }
    }

    /// Stops polling (and so heartbeating) for `d`.
    fn hang(&self, d: Duration) {
        *self.hang_until.lock().unwrap() = Some(Instant::now() + d);
    }

    /// Starts leaving the group (the member commits, then closes its consumer, which may
    /// wait for an unreachable coordinator: the caller does not).
    fn start_leaving(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Leaves the group and waits until the member has closed.
    fn leave(mut self) {
        self.start_leaving();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn member_loop(
    consumer: BaseConsumer<MemberContext>,
    stop: &AtomicBool,
    hang_until: &Mutex<Option<Instant>>,
    shared: &Shared,
    positions: &Mutex<BTreeMap<i32, i64>>,
) {
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let hung = {
            let mut h = hang_until.lock().unwrap();
            match *h {
                Some(t) if Instant::now() < t => true,
                Some(_) => {
                    *h = None;
                    false
                }
                None => false,
            }
        };
        if hung {
            // Hanging is the point: no poll, no heartbeat.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            shared
                .log
                .lock()
                .unwrap()
                .reads
                .insert((m.partition(), m.offset()));
            positions
                .lock()
                .unwrap()
                .insert(m.partition(), m.offset() + 1);
        }
        if last_commit.elapsed() >= Duration::from_millis(300) {
            commit(&consumer, shared, positions, None);
            last_commit = Instant::now();
        }
    }
    commit(&consumer, shared, positions, None);
    drop(consumer);
}

/// Observes the group's committed offsets while `sampling` is set.
fn sampler(bootstrap: String, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let consumer: BaseConsumer = client_config(&bootstrap)
        .set("group.id", GROUP)
        .set("client.id", "faults-group-sampler")
        .create()
        .expect("sampler");
    while !stop.load(Ordering::SeqCst) {
        // Sampling pace, not a condition.
        std::thread::sleep(Duration::from_millis(300));
        if !shared.sampling.load(Ordering::SeqCst) {
            continue;
        }
        let Ok(tpl) = consumer.committed_offsets(all_partitions(), Duration::from_secs(3)) else {
            continue;
        };
        if !shared.sampling.load(Ordering::SeqCst) {
            continue;
        }
        let mut observed = shared.observed.lock().unwrap();
        for e in tpl.elements() {
            if let Offset::Offset(o) = e.offset() {
                let p = e.partition();
                if let Some(prev) = observed.0.get(&p).copied()
                    && o < prev
                {
                    observed
                        .1
                        .push(format!("partition {p}: committed offset {prev}, then {o}"));
                }
                observed.0.insert(p, o);
            }
        }
    }
}

fn all_partitions() -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    tpl
}

/// The broker coordinating the group (the one exporting its member count).
fn coordinator(h: &Harness) -> Option<i32> {
    BROKERS.iter().copied().find(|b| {
        h.cluster
            .node(*b)
            .metric("kafka_group_members", &[("consumergroup", GROUP)])
            .is_some()
    })
}

fn run(f: &mut Fault<'_>) {
    let bootstrap = f.h.bootstrap();
    let shared = Arc::new(Shared::default());
    shared.commits_enabled.store(true, Ordering::SeqCst);
    shared.sampling.store(true, Ordering::SeqCst);
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler_thread = {
        let (b, s, stop) = (bootstrap.clone(), shared.clone(), stop_sampler.clone());
        std::thread::spawn(move || sampler(b, s, stop))
    };
    let mut members = vec![
        Member::start(&bootstrap, "m1", &shared),
        Member::start(&bootstrap, "m2", &shared),
    ];
    let started = Instant::now();
    while coordinator(f.h).is_none() || shared.log.lock().unwrap().commits_ok == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the group never started committing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    f.note(format!("group {GROUP}: members m1, m2 committing"));
    members.push(Member::start(&bootstrap, "m3", &shared));
    f.note("m3 joins".to_string());
    wait_for_commits(f, &shared);
    let mut faults = ["kill", "pause", "split"];
    for i in (1..faults.len()).rev() {
        let j = f.rng.below(i as u64 + 1) as usize;
        faults.swap(i, j);
    }
    let mut joined = 3;
    let mut leaving: Vec<Member> = Vec::new();
    for round in 0..f.rounds() {
        for (i, fault) in faults.iter().enumerate() {
            let Some(c) = coordinator(f.h) else {
                f.note("no coordinator found; skipping a fault".to_string());
                continue;
            };
            shared.sampling.store(false, Ordering::SeqCst);
            let d = f.fault_time() / 2;
            match *fault {
                "kill" => {
                    f.note(format!("kill -9 coordinator broker {c}"));
                    f.h.cluster.node_mut(c).kill();
                }
                "pause" => {
                    f.note(format!("SIGSTOP coordinator broker {c}"));
                    f.h.cluster.node(c).signal(libc::SIGSTOP);
                }
                _ => {
                    for other in CONTROLLERS.iter().chain(&BROKERS).filter(|n| **n != c) {
                        f.h.net.cut(c, *other);
                    }
                    // The clients are on the coordinator's side: they reach it and no other
                    // broker, so their commits go to it alone.
                    for other in BROKERS.iter().filter(|n| **n != c) {
                        f.h.net.cut_from_host(*other);
                    }
                    f.note(format!(
                        "split coordinator broker {c} from every other node; clients reach only it"
                    ));
                }
            }
            // A member event inside the kill and the pause. The split is left to the members
            // already there: a rebalance would hold their commits back for the whole fault,
            // and the point is commits sent to a coordinator cut off from its followers.
            let event = if *fault == "split" {
                None
            } else {
                Some((round + i) % 3)
            };
            match event {
                None => {}
                Some(0) if !members.is_empty() => {
                    let k = f.rng.below(members.len() as u64) as usize;
                    f.note(format!("{} hangs for 8 s", members[k].name));
                    members[k].hang(Duration::from_secs(8));
                }
                Some(1) if members.len() > 1 => {
                    let k = f.rng.below(members.len() as u64) as usize;
                    let m = members.remove(k);
                    f.note(format!("{} leaves", m.name));
                    m.start_leaving();
                    leaving.push(m);
                }
                _ => {
                    joined += 1;
                    let name = format!("m{joined}");
                    f.note(format!("{name} joins"));
                    members.push(Member::start(&bootstrap, &name, &shared));
                }
            }
            f.hold(d);
            // Commits wait until the committed offsets after the heal are read.
            shared.commits_enabled.store(false, Ordering::SeqCst);
            match *fault {
                "kill" => f.h.cluster.node_mut(c).start(crate::START),
                "pause" => f.h.cluster.node(c).signal(libc::SIGCONT),
                _ => f.h.net.heal(),
            }
            f.note(format!("healed broker {c}"));
            check_acked_commits(f, &shared);
            shared.commits_enabled.store(true, Ordering::SeqCst);
            shared.sampling.store(true, Ordering::SeqCst);
            wait_for_commits(f, &shared);
        }
    }
    let bootstrap2 = bootstrap.clone();
    f.after_heal(Box::new(move |_, report| {
        drain_and_check(&bootstrap2, &shared, members, report);
        for m in leaving {
            m.leave();
        }
        stop_sampler.store(true, Ordering::SeqCst);
        let _ = sampler_thread.join();
        let (_, regressions) = &*shared.observed.lock().unwrap();
        for r in regressions {
            report.add(Anomaly::CommitWentBack, || r.clone());
        }
    }));
}

/// Lets the group work between faults: until members see new commits acknowledged (or 30 s).
fn wait_for_commits(f: &mut Fault<'_>, shared: &Shared) {
    let before = shared.log.lock().unwrap().commits_ok;
    let started = Instant::now();
    while shared.log.lock().unwrap().commits_ok < before + 5 {
        if started.elapsed() > Duration::from_secs(30) {
            f.note("no commit acknowledged within 30 s of the heal".to_string());
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f.note(format!(
        "group committing again after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}

/// Right after a heal, with commits held back: the committed offsets (read from whichever
/// broker now coordinates the group) must be at or above every acknowledged commit.
fn check_acked_commits(f: &mut Fault<'_>, shared: &Shared) {
    let acked = shared.log.lock().unwrap().acked.clone();
    let consumer: BaseConsumer = client_config(&f.h.bootstrap())
        .set("group.id", GROUP)
        .set("client.id", "faults-group-check")
        .create()
        .expect("checker");
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        match consumer.committed_offsets(all_partitions(), Duration::from_secs(5)) {
            Ok(tpl) => break Some(tpl),
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => {
                f.note(format!("committed offsets unreadable after the heal: {e}"));
                break None;
            }
        }
    };
    let Some(committed) = committed else {
        return;
    };
    let mut lost = Vec::new();
    for e in committed.elements() {
        let now = match e.offset() {
            Offset::Offset(o) => o,
            _ => -1,
        };
        if let Some(a) = acked.get(&e.partition())
            && now < *a
        {
            lost.push((e.partition(), *a, now));
        }
    }
    f.note(format!(
        "after the heal: committed {:?}, highest acknowledged {acked:?}",
        committed
            .elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect::<Vec<_>>()
    ));
    let mut log = shared.lost.lock().unwrap();
    for (p, a, now) in lost {
        log.push(format!(
            "partition {p}: commit of {a} acknowledged, committed offset {now} after the heal"
        ));
    }
}

/// The group catches up with the log (as of now) and every record below its committed
/// offsets must have been read by a member.
fn drain_and_check(bootstrap: &str, shared: &Shared, members: Vec<Member>, report: &mut Report) {
    // Lost commits found at the heals.
    for l in shared.lost.lock().unwrap().iter() {
        report.add(Anomaly::LostCommit, || l.clone());
    }
    let probe: BaseConsumer = client_config(bootstrap)
        .set("group.id", GROUP)
        .set("client.id", "faults-group-drain")
        .create()
        .expect("probe");
    let mut target = BTreeMap::new();
    for p in 0..PARTITIONS {
        if let Ok((low, high)) = probe.fetch_watermarks(TOPIC, p, Duration::from_secs(10)) {
            target.insert(p, (low, high));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    loop {
        if let Ok(tpl) = probe.committed_offsets(all_partitions(), Duration::from_secs(5)) {
            committed = tpl
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect();
        }
        let caught_up = target
            .iter()
            .all(|(p, (_, high))| committed.get(p).is_some_and(|c| c >= high));
        if caught_up {
            break;
        }
        if Instant::now() >= deadline {
            report.add(Anomaly::NotConverged, || {
                format!("group {GROUP} did not catch up within 60 s: committed {committed:?}, log ends {target:?}")
            });
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for m in members {
        m.leave();
    }
    let log = shared.log.lock().unwrap();
    for (p, (low, _)) in &target {
        let end = committed.get(p).copied().unwrap_or(*low);
        for o in *low..end {
            if !log.reads.contains(&(*p, o)) {
                report.add(Anomaly::GroupSkippedRecord, || {
                    format!("partition {p} offset {o}: below the committed offset {end}, read by no member")
                });
            }
        }
    }
    eprintln!(
        "  group {GROUP}: {} records read, {} commits acknowledged, {} failed; committed {committed:?}",
        log.reads.len(),
        log.commits_ok,
        log.commits_failed
    );
}
