//! Broker faults under the [`Workload`]: each test starts one cluster (1 controller, 3
//! brokers, RF=3, `min.insync.replicas=2`), runs the workload on a 3-partition topic and
//! repeats one fault [`trials`] times, each run bounded by deadlines and healed (every broker
//! ready, every ISR full, `kafka_server_under_replicated_partitions` summed over the brokers
//! 0) before the next. Then the final read, and the checker must find no anomaly.

use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::checker::{Report, check};
use crate::common::*;
use crate::workload::Workload;
use crate::{START, client_config, create_topic};

const PARTITIONS: i32 = 3;
/// Records per second the workload produces (round-robin over the partitions).
const RATE: u32 = 300;
/// A partition without a leader acknowledging again within this fails the test.
const FAILOVER_BOUND: Duration = Duration::from_secs(30);
/// A restarted broker back and every ISR full again within this.
const HEAL_BOUND: Duration = Duration::from_secs(60);

/// Runs of each fault: `KRAFTD_REPLICATION_TRIALS`, 20 unless set.
pub fn trials() -> usize {
    std::env::var("KRAFTD_REPLICATION_TRIALS")
        .ok()
        .map(|v| v.parse().expect("KRAFTD_REPLICATION_TRIALS is a number"))
        .unwrap_or(20)
}

/// `broker.session.timeout.ms` for the fault clusters: `KRAFTD_REPLICATION_SESSION_TIMEOUT_MS`,
/// 3000 (with 500 ms heartbeats) unless set; `default` keeps the shipped defaults.
fn session_timeout() -> Option<u64> {
    match std::env::var("KRAFTD_REPLICATION_SESSION_TIMEOUT_MS") {
        Err(_) => Some(3000),
        Ok(v) if v == "default" => None,
        Ok(v) => Some(v.parse().expect("a number of milliseconds or `default`")),
    }
}

fn fault_cluster() -> Cluster {
    let mut b = Cluster::builder().controllers(1).brokers(3).extra(
        "default.replication.factor=3\nmin.insync.replicas=2\nreplica.lag.time.max.ms=3000\n",
    );
    if let Some(ms) = session_timeout() {
        b = b.session_timeout_ms(ms);
    }
    b.start(START)
}

/// The cluster, its topic and the workload on it.
struct Setup {
    c: Cluster,
    admin: AdminClient<DefaultClientContext>,
    topic: String,
    w: Workload,
    started: Instant,
}

impl Setup {
    fn new(topic: &str) -> Setup {
        let c = fault_cluster();
        let bootstrap = c.bootstrap();
        create_topic(&bootstrap, topic, PARTITIONS);
        let admin = client_config(&bootstrap).create().expect("admin client");
        let w = Workload::start(&bootstrap, topic, PARTITIONS, RATE);
        let s = Setup {
            c,
            admin,
            topic: topic.to_string(),
            w,
            started: Instant::now(),
        };
        let t = Instant::now();
        s.wait_or_logs(FAILOVER_BOUND, "the first acknowledgements", || {
            s.w.all_acked_after(t)
        });
        s
    }

    /// Partition → (leader, ISR) from the metadata of some broker.
    fn partitions(&self) -> Option<Vec<(i32, Vec<i32>)>> {
        let md = self
            .admin
            .inner()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(5))
            .ok()?;
        let t = md.topics().iter().find(|t| t.name() == self.topic)?;
        let mut ps: Vec<_> = t
            .partitions()
            .iter()
            .map(|p| (p.id(), (p.leader(), p.isr().to_vec())))
            .collect();
        ps.sort_unstable();
        (ps.len() == PARTITIONS as usize).then(|| ps.into_iter().map(|(_, v)| v).collect())
    }

    /// Every broker ready, every partition led with a full ISR, and no leader reporting an
    /// under-replicated partition.
    fn healed(&self) -> bool {
        let ready = self.c.brokers.iter().all(Node::ready);
        let urp: Option<f64> = self
            .c
            .brokers
            .iter()
            .map(|b| b.metric_sum("kafka_server_under_replicated_partitions", &[]))
            .sum();
        let full = self
            .partitions()
            .is_some_and(|ps| ps.iter().all(|(l, isr)| *l >= 0 && isr.len() == 3));
        ready && urp == Some(0.0) && full
    }

    fn leader_of(&self, partition: i32) -> i32 {
        self.partitions().expect("metadata")[partition as usize].0
    }

    /// Like `wait_for`, with every node's logs in the panic.
    fn wait_or_logs<T>(&self, timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
        wait_for_or(
            timeout,
            || {
                let logs: String = self
                    .c
                    .nodes()
                    .map(|n| format!("--- node {}\n{}", n.id, tail(&n.logs(), 60)))
                    .collect();
                format!(
                    "waiting for {what} (metadata {:?}):\n{logs}",
                    self.partitions()
                )
            },
            f,
        )
    }

    fn wait_healed(&self) -> Duration {
        let t = Instant::now();
        self.wait_or_logs(HEAL_BOUND, "the cluster healed", || {
            self.healed().then_some(())
        });
        t.elapsed()
    }

    /// Stops the workload, reads everything back and checks the history.
    fn finish(self, what: &str) -> Report {
        let (sent, acked, read) = self.w.progress();
        eprintln!(
            "{what}: {:?} of faults; {sent} sent, {acked} acknowledged, {read} read live",
            self.started.elapsed()
        );
        let h = self.w.finish();
        let r = check(&h);
        eprintln!("{what}: checker report\n{r}");
        assert!(r.is_clean(), "{what}: anomalies\n{r}");
        let c = &r.counts;
        assert!(c.acked > 0 && c.final_reads >= c.acked, "{what}: {c:?}");
        r
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// p50, p99 and max of `samples` (nearest rank).
pub fn percentiles(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let at = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.50), at(0.99), s[s.len() - 1])
}

fn summary(what: &str, samples: &[Duration]) {
    if samples.is_empty() {
        return;
    }
    let (p50, p99, max) = percentiles(samples);
    eprintln!(
        "{what}: n={} p50={p50:?} p99={p99:?} max={max:?}",
        samples.len()
    );
}

/// `kill -9` of the leader of a partition (each partition in turn), then restart. Also the
/// partition-leader failover measurement: kill → a surviving broker's Metadata names a new
/// leader (the server's part), and kill → first acknowledgement of a record sent to that
/// partition after the kill (end to end, through librdkafka).
#[test]
fn no_acknowledged_record_is_lost_when_partition_leaders_are_killed() {
    let mut s = Setup::new("faults-leader");
    let (mut metadata, mut failover, mut all, mut heal) = (vec![], vec![], vec![], vec![]);
    for i in 0..trials() {
        let p = i as i32 % PARTITIONS;
        let leader = s.leader_of(p);
        s.w.rotate_consumer();
        let t = Instant::now();
        s.c.node_mut(leader).kill();
        // The server's part: kill → a surviving broker's Metadata names another leader.
        let moved = s.wait_or_logs(FAILOVER_BOUND, "a new leader in the metadata", || {
            s.partitions().and_then(|ps| {
                (ps[p as usize].0 != leader && ps[p as usize].0 >= 0).then(Instant::now)
            })
        });
        let first = s.wait_or_logs(FAILOVER_BOUND, "the partition's failover", || {
            s.w.first_ack_after(p, t)
        });
        let every = s.wait_or_logs(FAILOVER_BOUND, "every partition acknowledging", || {
            s.w.all_acked_after(t)
        });
        s.c.node_mut(leader).start(START);
        let healed = s.wait_healed();
        eprintln!(
            "leader kill {i} (at {:?}): partition {p} leader {leader}: new leader in metadata \
             {:?}, first ack {:?}, every partition {:?}, healed {healed:?} after the restart",
            s.w.since_start(t),
            moved - t,
            first - t,
            every - t
        );
        metadata.push(moved - t);
        failover.push(first - t);
        all.push(every - t);
        heal.push(healed);
    }
    s.finish("leader kills");
    summary(
        &format!(
            "partition leader failover (kill -9 → first ack, session timeout {:?} ms)",
            session_timeout()
        ),
        &failover,
    );
    summary("kill -9 of a leader → new leader in Metadata", &metadata);
    summary("kill -9 of a leader → every partition acknowledging", &all);
    summary("restart → healed", &heal);
}

/// `kill -9` of a follower of a partition (a broker leading nothing when there is one), then
/// restart.
#[test]
fn no_acknowledged_record_is_lost_when_followers_are_killed() {
    let mut s = Setup::new("faults-follower");
    let (mut stall, mut heal) = (vec![], vec![]);
    for i in 0..trials() {
        let p = i as i32 % PARTITIONS;
        let leaders: Vec<i32> = s
            .partitions()
            .expect("metadata")
            .iter()
            .map(|(l, _)| *l)
            .collect();
        let followers: Vec<i32> =
            s.c.brokers
                .iter()
                .map(|b| b.id)
                .filter(|b| *b != leaders[p as usize])
                .collect();
        let victim = followers
            .iter()
            .copied()
            .find(|b| !leaders.contains(b))
            .unwrap_or(followers[i % followers.len()]);
        s.w.rotate_consumer();
        let t = Instant::now();
        s.c.node_mut(victim).kill();
        let every = s.wait_or_logs(FAILOVER_BOUND, "every partition acknowledging", || {
            s.w.all_acked_after(t)
        });
        s.c.node_mut(victim).start(START);
        let healed = s.wait_healed();
        eprintln!(
            "follower kill {i}: broker {victim} (follower of {p}, leads {}): every partition \
             acknowledging {:?}, healed {healed:?} after the restart",
            leaders.iter().filter(|l| **l == victim).count(),
            every - t
        );
        stall.push(every - t);
        heal.push(healed);
    }
    s.finish("follower kills");
    summary(
        "kill -9 of a follower → every partition acknowledging",
        &stall,
    );
    summary("restart → healed", &heal);
}

/// A rolling restart: SIGTERM one broker at a time (each run is one broker), restart it and
/// wait until nothing is under-replicated before the next.
#[test]
fn no_acknowledged_record_is_lost_in_rolling_restarts() {
    let mut s = Setup::new("faults-rolling");
    let (mut down, mut stall, mut heal) = (vec![], vec![], vec![]);
    for i in 0..trials() {
        let broker = s.c.brokers[i % s.c.brokers.len()].id;
        s.w.rotate_consumer();
        let t = Instant::now();
        s.c.node_mut(broker).terminate(START);
        let stopped = t.elapsed();
        let every = s.wait_or_logs(FAILOVER_BOUND, "every partition acknowledging", || {
            s.w.all_acked_after(t)
        });
        s.c.node_mut(broker).start(START);
        let healed = s.wait_healed();
        eprintln!(
            "rolling restart {i}: broker {broker}: exited {stopped:?}, every partition \
             acknowledging {:?}, healed {healed:?} after the restart",
            every - t
        );
        down.push(stopped);
        stall.push(every - t);
        heal.push(healed);
    }
    s.finish("rolling restarts");
    summary("SIGTERM → exit", &down);
    summary("SIGTERM → every partition acknowledging", &stall);
    summary("restart → healed", &heal);
}

#[test]
fn percentiles_are_nearest_rank() {
    let ms = |v: &[u64]| {
        v.iter()
            .map(|m| Duration::from_millis(*m))
            .collect::<Vec<_>>()
    };
    let (p50, p99, max) = percentiles(&ms(&[5, 1, 4, 2, 3]));
    assert_eq!((p50, p99, max), (ms(&[3])[0], ms(&[5])[0], ms(&[5])[0]));
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(
        percentiles(&ms(&hundred)),
        (ms(&[50])[0], ms(&[99])[0], ms(&[100])[0])
    );
}
