//! Live checks of the operator kit against running nodes and a real Prometheus on loopback:
//! three controllers and three brokers as separate processes, `promtool check metrics` on
//! every node, records produced and consumed with kcat so that the traffic and topic panels
//! have something to show, every dashboard query evaluates, the must-have panels return data,
//! the per-topic counters match what was produced, a healthy cluster fires nothing but
//! Watchdog, and then, on the same cluster in sequence: `kill -9` of
//! a standby controller fires KafkaTargetDown and KRaftQuorumAtRisk until it is back, `kill -9`
//! of a broker fires KRaftFencedBrokers until it is back, and SIGSTOP of a broker fires
//! KRaftMetadataApplyLag from the quorum leader's view (the broker itself cannot be scraped)
//! until SIGCONT. A second cluster (one controller, three brokers, a topic with replication
//! factor 3 written with acks=all) checks replication: the replication panels have data, a
//! stopped follower fires KafkaUnderReplicatedPartitions until it is back in the ISR, and a
//! killed partition leader hands over to an in-sync follower with nothing firing beyond what a
//! stopped broker explains. Alert `for:` durations come from the test-only rendering in
//! `tests/common` (minutes become seconds); the shipped rules are untouched. Every process is
//! killed on drop, also when an assertion fails.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const START: Duration = Duration::from_secs(30);
const ALERT: Duration = Duration::from_secs(60);
/// `broker.session.timeout.ms` of the brokers here: a dead broker is fenced after 3 s.
const SESSION_TIMEOUT_MS: u64 = 3000;
/// KRaftMetadataApplyLag's threshold (30 s, not rendered) plus its rendered `for:` and slack.
const APPLY_LAG_ALERT: Duration = Duration::from_secs(90);

/// The live checks run one at a time: each starts its own cluster and Prometheus, and the
/// quorum and pause timings of the first are sensitive to a second cluster competing for CPU.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Sends SIGCONT to a stopped process when dropped, so that a failing assertion never leaves
/// a stopped process behind (it is then killed by its own drop).
struct ContinueOnDrop(i32);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// Three controllers (node ids 1-3) and three brokers (4-6) sharing one cluster id, started
/// and with every broker ready (registered and unfenced).
fn cluster() -> Cluster {
    Cluster::builder()
        .controllers(3)
        .brokers(3)
        .session_timeout_ms(SESSION_TIMEOUT_MS)
        .start(START)
}

fn api_versions(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut body = vec![0, 18, 0, 0, 0, 0, 0, 1, 0, 4];
    body.extend_from_slice(b"test");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut rest = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut rest).unwrap();
}

/// Topics the live check writes to, with their replica assignment: every partition on broker
/// 6, the one broker the later steps never kill or pause, so that those steps take no
/// partition offline.
const TOPICS: &[(&str, &str)] = &[("kit-orders", "6,6"), ("kit-clicks", "6")];
/// Records produced to each topic.
const RECORDS: usize = 200;

/// Creates [`TOPICS`] on `broker`, produces [`RECORDS`] records to each with acks=1 and reads
/// them all back, so that bytes in, bytes out, messages in and log size have data.
fn produce_and_consume(broker: SocketAddr) {
    let b = broker.to_string();
    for (topic, assignment) in TOPICS {
        let (status, out, err) = run_kraftd(&[
            "topics",
            "--bootstrap-server",
            &b,
            "--create",
            "--topic",
            topic,
            "--replica-assignment",
            assignment,
        ]);
        assert!(status.success(), "create {topic}: {out}{err}");
        let input: String = (0..RECORDS)
            .map(|i| format!("{topic} record {i} {}\n", "x".repeat(i % 50)))
            .collect();
        let (ok, _, err) = kcat(
            &[
                "-b",
                &b,
                "-P",
                "-t",
                topic,
                "-X",
                "acks=1",
                "-X",
                "linger.ms=5",
                "-X",
                "batch.num.messages=50",
                "-X",
                "message.timeout.ms=20000",
            ],
            &input,
            START,
        );
        assert!(ok, "produce to {topic}: {err}");
        let read = wait_for(START, "every produced record readable", || {
            let (ok, out, _) = kcat(
                &["-b", &b, "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                "",
                START,
            );
            let n = out.lines().count();
            (ok && n >= RECORDS).then_some(n)
        });
        assert_eq!(read, RECORDS, "{topic}: records read back");
    }
}

/// Every dashboard query with Grafana's variables replaced for a live evaluation.
fn dashboard_queries() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap().to_string();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "15s")
                    .replace("$instance", ".*")
                    .replace("$cluster", ".*")
                    .replace("$role", ".*")
                    .replace("$topic", ".*");
                out.push((uid.clone(), p["title"].as_str().unwrap().to_string(), expr));
            }
        }
    }
    out
}

/// Panels that must show data on a healthy cluster with some traffic.
const MUST_HAVE: &[(&str, &str)] = &[
    ("kraftd-cluster-overview", "Nodes up"),
    ("kraftd-cluster-overview", "Nodes"),
    ("kraftd-cluster-overview", "Brokers active / fenced"),
    ("kraftd-cluster-overview", "Offline partitions"),
    ("kraftd-cluster-overview", "Topics / partitions"),
    ("kraftd-cluster-overview", "Under-min-ISR partitions"),
    ("kraftd-cluster-overview", "At-min-ISR partitions"),
    ("kraftd-cluster-overview", "Under-replicated partitions"),
    ("kraftd-cluster-overview", "Offline log directories"),
    ("kraftd-cluster-overview", "Requests by API"),
    ("kraftd-cluster-overview", "Request latency p99 by API"),
    ("kraftd-cluster-overview", "Bytes in / out"),
    ("kraftd-cluster-overview", "Messages in"),
    ("kraftd-cluster-overview", "Produce latency p50 / p99"),
    ("kraftd-cluster-overview", "Fetch latency p50 / p99"),
    ("kraftd-cluster-overview", "Connections by listener"),
    ("kraftd-cluster-overview", "CPU"),
    ("kraftd-cluster-overview", "Resident memory"),
    ("kraftd-cluster-overview", "Purgatory size"),
    ("kraftd-cluster-overview", "Log directory free space"),
    ("kraftd-cluster-overview", "File descriptors used"),
    ("kraftd-broker", "File descriptors used"),
    ("kraftd-broker", "Partitions and leaders"),
    ("kraftd-broker", "ISR health of led partitions"),
    ("kraftd-broker", "Offline log directories"),
    ("kraftd-broker", "Log directory free space"),
    ("kraftd-broker", "Log directory free and total bytes"),
    ("kraftd-broker", "Log size by topic"),
    ("kraftd-broker", "Log segments by topic"),
    ("kraftd-broker", "Bytes in / out"),
    ("kraftd-broker", "Messages in"),
    ("kraftd-broker", "Purgatory size"),
    ("kraftd-broker", "Request latency p50 / p99"),
    ("kraftd-broker", "Produce latency p50 / p99"),
    ("kraftd-broker", "Fetch latency p50 / p99"),
    ("kraftd-broker", "Connections by listener"),
    ("kraftd-topics", "Bytes in by topic"),
    ("kraftd-topics", "Bytes out by topic"),
    ("kraftd-topics", "Messages in by topic"),
    ("kraftd-topics", "Top topics by bytes in"),
    ("kraftd-topics", "Top topics by bytes out"),
    ("kraftd-topics", "Log size by topic"),
    ("kraftd-topics", "Largest topics"),
    ("kraftd-topics", "Log segments by topic"),
    ("kraftd-topics", "Topics / partitions"),
    ("kraftd-topics", "Offline partitions"),
    (
        "kraftd-topics",
        "Under-replicated and under-min-ISR partitions",
    ),
    ("kraftd-topics", "Partitions and leaders by broker"),
    ("kraftd-topics", "Under-replicated partitions by broker"),
    ("kraftd-quorum", "Active controller"),
    ("kraftd-quorum", "Epoch"),
    ("kraftd-quorum", "Voters up / total"),
    ("kraftd-quorum", "Voters caught up / total"),
    ("kraftd-quorum", "Raft state by node"),
    ("kraftd-quorum", "High watermark vs log end offset"),
    ("kraftd-quorum", "Per-voter lag (offsets)"),
    ("kraftd-quorum", "Per-voter lag (time)"),
    ("kraftd-quorum", "Per-observer lag"),
    ("kraftd-quorum", "Active controllers"),
    ("kraftd-quorum", "Brokers by state"),
    ("kraftd-quorum", "Heartbeat timeouts"),
    (
        "kraftd-quorum",
        "Controller event queue wait and processing p99",
    ),
    ("kraftd-quorum", "Broker metadata lag (offsets)"),
    ("kraftd-quorum", "Controller metadata lag (offsets)"),
    ("kraftd-quorum", "Metadata lag (seconds)"),
    ("kraftd-quorum", "Snapshot offset lag"),
    ("kraftd-quorum", "Committed metadata records"),
    ("kraftd-quorum", "Metadata commit latency p99"),
    ("kraftd-quorum", "Metadata errors"),
];

/// Labels of the firing instances of `alert`, from Prometheus's `ALERTS` series.
fn firing_labels(prom: &Prometheus, alert: &str) -> Vec<serde_json::Value> {
    prom.query(&format!(
        "ALERTS{{alertname=\"{alert}\", alertstate=\"firing\"}}"
    ))
    .unwrap_or_default()
    .into_iter()
    .map(|r| r["metric"].clone())
    .collect()
}

fn has(firing: &[String], alert: &str) -> bool {
    firing.iter().any(|a| a == alert)
}

/// Prometheus scraping every node of `c` with the test-only rendering of the shipped rules
/// (`for:` in seconds), its files under the cluster's directory.
fn prometheus_with_rendered_rules(c: &Cluster) -> Prometheus {
    let rules_dir = c.root().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let alerts = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts");
    let mut rule_files = Vec::new();
    for e in std::fs::read_dir(&alerts).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".rules.yml") {
            rule_files.push(render_rules_for_tests(&p, &rules_dir));
        }
    }
    let prom_dir = c.root().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let targets: Vec<_> = c.nodes().map(Node::http_addr).collect();
    Prometheus::start(&prom_dir, &targets, &rule_files)
}

#[test]
fn live_cluster_metrics_dashboards_and_alerts() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    let mut c = cluster();
    eprintln!(
        "cluster of 3 controllers + 3 brokers ready after {:?}",
        started.elapsed()
    );

    for n in c.nodes() {
        let (status, body) = http_get(n.http_addr(), "/metrics").unwrap();
        assert_eq!(status, 200);
        promtool_check_metrics(&body)
            .unwrap_or_else(|e| panic!("promtool check metrics on node {}: {e}", n.id));
    }

    let prom = prometheus_with_rendered_rules(&c);

    wait_for(START, "all targets up", || {
        let r = prom.query("count(up{job=\"kraftd\"} == 1)").ok()?;
        (r.first()?["value"][1] == "6").then_some(())
    });
    // Records in two topics on broker 6 (produced with acks=1 and read back), so that the
    // traffic, topic and latency panels have data.
    produce_and_consume(c.node(6).broker_addr());
    eprintln!(
        "{} records in each of {} topics produced and read back after {:?}",
        RECORDS,
        TOPICS.len(),
        started.elapsed()
    );
    // Traffic so that request panels have data; then let rates see two scrapes.
    for _ in 0..3 {
        for n in c.nodes() {
            api_versions(n.kafka_addr());
        }
        std::thread::sleep(Duration::from_millis(1100));
    }

    let queries = dashboard_queries();
    assert!(queries.len() >= 10);
    let mut missing = Vec::new();
    for (uid, title) in MUST_HAVE {
        if !queries.iter().any(|(u, t, _)| u == uid && t == title) {
            missing.push(format!("must-have panel {uid} / {title} does not exist"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // Every query must evaluate; the must-have panels must return data. A series that has
    // only just appeared (a topic's counters after the first produce) needs two scrapes
    // before rate() has a value, so empty results are retried until the deadline.
    let deadline = Instant::now() + START;
    loop {
        let mut errors = Vec::new();
        let mut empty = Vec::new();
        for (uid, title, expr) in &queries {
            match prom.query(expr) {
                Err(e) => errors.push(format!("{uid} / {title}: {e}\n  {expr}")),
                Ok(result) => {
                    if MUST_HAVE.contains(&(uid.as_str(), title.as_str())) && result.is_empty() {
                        empty.push(format!("{uid} / {title}: no data\n  {expr}"));
                    }
                }
            }
        }
        assert!(
            errors.is_empty(),
            "dashboard queries failing:\n{}",
            errors.join("\n")
        );
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "must-have panels without data after {START:?}:\n{}",
            empty.join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The topic panels count what was produced: every record once, on broker 6 only.
    for (topic, _) in TOPICS {
        let q = format!("sum(kafka_server_topic_messages_in_total{{topic=\"{topic}\"}})");
        wait_for(
            START,
            "messages-in counters to reach the records produced",
            || {
                let r = prom.query(&q).ok()?;
                (r.first()?["value"][1] == RECORDS.to_string().as_str()).then_some(())
            },
        );
        let q = format!("count(kafka_server_topic_bytes_in_total{{topic=\"{topic}\"}} > 0)");
        let r = prom.query(&q).unwrap();
        assert_eq!(
            r[0]["value"][1], "1",
            "{topic}: brokers with bytes in: {r:?}"
        );
    }
    // The controller panels see exactly one active controller and three active brokers.
    let active = prom
        .query("sum(kafka_controller_active_controllers)")
        .unwrap();
    assert_eq!(active[0]["value"][1], "1", "{active:?}");
    let brokers = prom
        .query("max(kafka_controller_brokers{state=\"active\"} and on (instance) (kafka_controller_active_controllers == 1))")
        .unwrap();
    assert_eq!(brokers[0]["value"][1], "3", "{brokers:?}");

    // A healthy cluster fires nothing but Watchdog (checked over several evaluations).
    wait_for(ALERT, "Watchdog to fire", || {
        has(&prom.firing_alerts(), "Watchdog").then_some(())
    });
    for _ in 0..5 {
        assert_eq!(
            prom.firing_alerts(),
            vec!["Watchdog".to_string()],
            "{}",
            prom.log_text()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // Every rule evaluates without error against the real series (a many-to-many join or a
    // duplicate label set only shows up here, not in promtool's unit tests).
    let (_, body) = http_get(prom.addr, "/api/v1/rules").unwrap();
    let rules: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut unhealthy = Vec::new();
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            if r["health"] != "ok" {
                unhealthy.push(format!("{}: {} {}", r["name"], r["health"], r["lastError"]));
            }
        }
    }
    assert!(unhealthy.is_empty(), "rules failing: {unhealthy:?}");
    eprintln!("healthy checks done after {:?}", started.elapsed());

    // kill -9 of a standby controller (a voter) fires KafkaTargetDown and KRaftQuorumAtRisk
    // (not KRaftQuorumLost, not KRaftNoActiveController); a restart resolves both.
    let standby = c
        .controllers
        .iter()
        .position(|n| n.metric("kafka_controller_active_controllers", &[]) == Some(0.0))
        .expect("a standby controller");
    c.controllers[standby].kill();
    let firing = wait_for(
        ALERT,
        "KafkaTargetDown and KRaftQuorumAtRisk to fire",
        || {
            let firing = prom.firing_alerts();
            (has(&firing, "KafkaTargetDown") && has(&firing, "KRaftQuorumAtRisk")).then_some(firing)
        },
    );
    for quiet in ["KRaftQuorumLost", "KRaftNoActiveController"] {
        assert!(!has(&firing, quiet), "{firing:?}");
    }
    c.controllers[standby].start(START);
    wait_for(ALERT * 3, "the controller alerts to resolve", || {
        (prom.firing_alerts() == vec!["Watchdog".to_string()]).then_some(())
    });
    eprintln!("controller kill checks done after {:?}", started.elapsed());

    // kill -9 of a broker: the active controller fences it after the session timeout and
    // KRaftFencedBrokers fires after its (rendered) `for:`; the session timeout is counted.
    // Restarting the broker resolves KRaftFencedBrokers and KafkaTargetDown.
    c.node_mut(4).kill();
    let firing = wait_for(ALERT, "KRaftFencedBrokers to fire", || {
        let firing = prom.firing_alerts();
        has(&firing, "KRaftFencedBrokers").then_some(firing)
    });
    for quiet in [
        "KRaftQuorumLost",
        "KRaftQuorumAtRisk",
        "KRaftNoActiveController",
    ] {
        assert!(!has(&firing, quiet), "{firing:?}");
    }
    wait_for(ALERT, "KRaftBrokerHeartbeatTimeouts to fire", || {
        has(&prom.firing_alerts(), "KRaftBrokerHeartbeatTimeouts").then_some(())
    });
    c.node_mut(4).start(START);
    wait_for(START, "the restarted broker to be ready", || {
        c.node(4).ready().then_some(())
    });
    wait_for(
        ALERT,
        "KRaftFencedBrokers and KafkaTargetDown to resolve",
        || {
            let firing = prom.firing_alerts();
            (!has(&firing, "KRaftFencedBrokers") && !has(&firing, "KafkaTargetDown")).then_some(())
        },
    );
    eprintln!("broker kill checks done after {:?}", started.elapsed());

    // SIGSTOP of a broker: its own /metrics cannot be scraped, so KRaftMetadataApplyLag fires
    // from the quorum leader's view of that observer (once it is 30 s behind, plus `for:`).
    // SIGCONT lets it catch up and the alert resolves.
    // Only the quorum leader sees a stopped observer: if the machine is so loaded that the
    // leadership moves during the pause, the new leader never heard of it (KRaftFencedBrokers
    // covers that case in production), so the pause is repeated under the new leader.
    let paused = c.node(5);
    let pid = paused.pid();
    let node_id = paused.id.to_string();
    let quorum_epoch = || {
        c.controllers
            .iter()
            .filter_map(|n| n.metric("kafka_raft_epoch", &[]))
            .fold(0.0, f64::max)
    };
    let mut attempts = 0;
    let (labels, guard) = loop {
        attempts += 1;
        let epoch = quorum_epoch();
        paused.signal(libc::SIGSTOP);
        let guard = ContinueOnDrop(pid);
        let outcome = wait_for(APPLY_LAG_ALERT, "KRaftMetadataApplyLag to fire", || {
            let labels = firing_labels(&prom, "KRaftMetadataApplyLag");
            if !labels.is_empty() {
                Some(Some(labels))
            } else if quorum_epoch() > epoch {
                Some(None)
            } else {
                None
            }
        });
        match outcome {
            Some(labels) => break (labels, guard),
            None if attempts < 3 => {
                eprintln!("the quorum leader changed during the pause; pausing again");
                drop(guard); // SIGCONT
                wait_for(START, "the paused broker to catch up again", || {
                    (paused.metric("kafka_broker_metadata_lag", &[]) == Some(0.0)).then_some(())
                });
            }
            None => panic!("the quorum leader changed during each of {attempts} pauses"),
        }
    };
    assert!(
        labels.iter().all(|l| l["node_id"] == node_id.as_str()),
        "KRaftMetadataApplyLag for the wrong nodes: {labels:?}"
    );
    drop(guard); // SIGCONT
    wait_for(APPLY_LAG_ALERT, "KRaftMetadataApplyLag to resolve", || {
        (!has(&prom.firing_alerts(), "KRaftMetadataApplyLag")).then_some(())
    });
    eprintln!("broker pause checks done after {:?}", started.elapsed());
}

/// Alerts a stopped broker explains: its target is down, it is fenced (after the session
/// timeout, counted as a heartbeat timeout) and the partitions it holds replicas of are
/// under-replicated. Anything else firing during the replication steps is a false alarm.
const BROKER_DOWN_ALERTS: &[&str] = &[
    "Watchdog",
    "KafkaTargetDown",
    "KRaftFencedBrokers",
    "KRaftBrokerHeartbeatTimeouts",
    "KafkaUnderReplicatedPartitions",
    // Window-based: a returning broker's first ISR expand is refused (INELIGIBLE_REPLICA: the
    // leader proposes it before the controller has unfenced it) and accepted a second later.
    // The rule wants failures in every 5-minute window for 10 minutes; the rendering shortens
    // the `for:` but not the window, so one such refusal fires it here. The test checks
    // instead that refusals stop (see `failed_isr_updates_stop`).
    "KafkaFailedIsrUpdates",
];

/// Waits until no broker has had a failed ISR update for 10 s: refusals around a restart are
/// a burst, never the persistent failure KafkaFailedIsrUpdates is about. Returns the total.
fn failed_isr_updates_stop(prom: &Prometheus) -> f64 {
    wait_for(ALERT, "failed ISR updates to stop", || {
        let recent = prom
            .query("sum(changes(kafka_server_failed_isr_updates_total[10s]))")
            .ok()?;
        if recent.first()?["value"][1] != "0" {
            return None;
        }
        let total = prom
            .query("sum(kafka_server_failed_isr_updates_total)")
            .ok()?;
        total.first()?["value"][1].as_str()?.parse().ok()
    })
}

/// Panics if an alert outside [`BROKER_DOWN_ALERTS`] fires, or KRaftMetadataApplyLag fires
/// for another node than the stopped broker `down` (a broker away for more than its 30 s
/// threshold is behind the metadata log as the quorum leader sees it); returns the firing
/// alerts.
fn only_broker_down_alerts(prom: &Prometheus, down: i32) -> Vec<String> {
    let firing = prom.firing_alerts();
    let unexpected: Vec<&String> = firing
        .iter()
        .filter(|a| !BROKER_DOWN_ALERTS.contains(&a.as_str()))
        .filter(|a| {
            *a != "KRaftMetadataApplyLag"
                || firing_labels(prom, a)
                    .iter()
                    .any(|l| l["node_id"] != down.to_string().as_str())
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected alerts: {firing:?}; KRaftMetadataApplyLag for {:?} (broker {down} is down)",
        firing_labels(prom, "KRaftMetadataApplyLag")
    );
    firing
}

/// Leader and ISR of partition 0 of `topic`, from `kraftd topics --describe` on `broker`.
fn leader_and_isr(broker: &str, topic: &str) -> Option<(i32, Vec<i32>)> {
    let (status, out, _) = run_kraftd(&[
        "topics",
        "--bootstrap-server",
        broker,
        "--describe",
        "--topic",
        topic,
    ]);
    let line = out.lines().find(|l| l.contains("\tPartition: 0\t"))?;
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_string)
    };
    let leader = field("Leader: ")?.parse().ok()?;
    let isr = field("Isr: ")?
        .split(',')
        .filter_map(|b| b.parse().ok())
        .collect();
    status.success().then_some((leader, isr))
}

/// Replication on a live cluster with Prometheus and the shipped rules (`for:` rendered in
/// seconds): one controller and three brokers, a topic with replication factor 3 and
/// `min.insync.replicas=2` written with acks=all. The replication panels show data; a
/// stopped follower fires KafkaUnderReplicatedPartitions and its restart resolves it; a
/// killed partition leader loses its leadership to an in-sync follower, acks=all writes go
/// on, and nothing fires beyond what a stopped broker explains (never
/// KafkaUnderMinIsrPartitions, KafkaOfflinePartitions or KafkaUncleanLeaderElection).
#[test]
fn live_replication_dashboards_and_alerts() {
    let _one = one_cluster_at_a_time();
    let started = Instant::now();
    // replica.lag.time.max.ms stays at its 30 s default, above the 3 s session timeout: a
    // stopped broker leaves the ISRs by fencing, as in production, not by a lag shrink.
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(SESSION_TIMEOUT_MS)
        .extra("default.replication.factor=3\nmin.insync.replicas=2\n")
        .start(START);
    let prom = prometheus_with_rendered_rules(&c);
    wait_for(START, "all targets up", || {
        let r = prom.query("count(up{job=\"kraftd\"} == 1)").ok()?;
        (r.first()?["value"][1] == "4").then_some(())
    });

    let topic = "kit-replicated";
    let bootstrap = c.bootstrap();
    let any = c.brokers[0].addr();
    let (status, out, err) = run_kraftd(&[
        "topics",
        "--bootstrap-server",
        &any,
        "--create",
        "--topic",
        topic,
        "--partitions",
        "1",
    ]);
    assert!(status.success(), "create {topic}: {out}{err}");
    let produce = |from: usize| {
        let input: String = (from..from + RECORDS)
            .map(|i| format!("{topic} record {i}\n"))
            .collect();
        let (ok, _, err) = kcat(
            &[
                "-b",
                &bootstrap,
                "-P",
                "-t",
                topic,
                "-X",
                "acks=all",
                "-X",
                "message.timeout.ms=20000",
            ],
            &input,
            START,
        );
        assert!(ok, "acks=all produce to {topic}: {err}");
    };
    produce(0);
    let (leader, isr) = wait_for(START, "partition 0 with its full ISR", || {
        leader_and_isr(&any, topic).filter(|(l, isr)| *l >= 0 && isr.len() == 3)
    });

    // The replication panels have data: followers fetch, the leader waited for them.
    let panels = [
        ("kraftd-cluster-overview", "Partition states over time"),
        (
            "kraftd-cluster-overview",
            "Follower lag by source broker (offsets)",
        ),
        (
            "kraftd-cluster-overview",
            "Follower lag by source broker (seconds)",
        ),
        (
            "kraftd-cluster-overview",
            "acks=all replication wait p50 / p99",
        ),
        (
            "kraftd-cluster-overview",
            "Replica fetcher requests and failures",
        ),
        ("kraftd-cluster-overview", "Replicated bytes"),
        ("kraftd-cluster-overview", "Preferred replica imbalance"),
        ("kraftd-broker", "Follower lag (offsets and seconds)"),
        ("kraftd-broker", "Replica fetchers and failed partitions"),
        ("kraftd-broker", "Replica fetch rate and failures"),
        ("kraftd-broker", "Replicated bytes by follower"),
        ("kraftd-broker", "acks=all replication wait p99"),
        ("kraftd-broker", "High-watermark checkpoint age"),
    ];
    let queries = dashboard_queries();
    let deadline = Instant::now() + START;
    loop {
        let mut empty = Vec::new();
        for (uid, title) in panels {
            let exprs: Vec<_> = queries
                .iter()
                .filter(|(u, t, _)| u == uid && t == title)
                .collect();
            assert!(!exprs.is_empty(), "no panel {uid} / {title}");
            let data = exprs
                .iter()
                .any(|(_, _, e)| prom.query(e).is_ok_and(|r| !r.is_empty()));
            if !data {
                empty.push(format!("{uid} / {title}"));
            }
        }
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replication panels without data: {empty:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for(ALERT, "only Watchdog firing", || {
        (prom.firing_alerts() == vec!["Watchdog".to_string()]).then_some(())
    });
    eprintln!("replicated cluster healthy after {:?}", started.elapsed());

    // A follower stops: fenced after the session timeout, its partition is under-replicated
    // and the alert fires after its (rendered) `for:`; its restart resolves it.
    let follower = *isr.iter().find(|b| **b != leader).unwrap();
    c.node_mut(follower).kill();
    let stopped = Instant::now();
    wait_for(ALERT, "KafkaUnderReplicatedPartitions to fire", || {
        has(
            &only_broker_down_alerts(&prom, follower),
            "KafkaUnderReplicatedPartitions",
        )
        .then_some(())
    });
    eprintln!(
        "KafkaUnderReplicatedPartitions fired {:?} after the follower was killed",
        stopped.elapsed()
    );
    c.node_mut(follower).start(START);
    wait_for(
        ALERT * 2,
        "the follower back in the ISR and its alerts resolved",
        || {
            let firing = only_broker_down_alerts(&prom, follower);
            let back = leader_and_isr(&any, topic).is_some_and(|(_, isr)| isr.len() == 3);
            (back
                && ![
                    "KafkaUnderReplicatedPartitions",
                    "KRaftFencedBrokers",
                    "KafkaTargetDown",
                    // Behind the metadata log while it was away: resolved once it caught up,
                    // before the next fault (which allows it only for the broker then down).
                    "KRaftMetadataApplyLag",
                ]
                .iter()
                .any(|a| has(&firing, a)))
            .then_some(())
        },
    );
    failed_isr_updates_stop(&prom);
    eprintln!("follower stop checks done after {:?}", started.elapsed());

    // The leader is killed: an in-sync follower takes over, acks=all writes go on, and only
    // what a stopped broker explains fires.
    c.node_mut(leader).kill();
    let survivor = c.brokers.iter().find(|b| b.id != leader).unwrap().addr();
    let (new_leader, new_isr) = wait_for(ALERT, "a new leader for partition 0", || {
        only_broker_down_alerts(&prom, leader);
        leader_and_isr(&survivor, topic).filter(|(l, _)| *l >= 0 && *l != leader)
    });
    assert!(isr.contains(&new_leader), "{new_leader} was not in {isr:?}");
    assert!(!new_isr.contains(&leader), "{new_isr:?}");
    produce(RECORDS);
    wait_for(
        ALERT,
        "KafkaUnderReplicatedPartitions for the old leader",
        || {
            has(
                &only_broker_down_alerts(&prom, leader),
                "KafkaUnderReplicatedPartitions",
            )
            .then_some(())
        },
    );
    // A few more evaluations with the leader gone: still nothing unexpected.
    for _ in 0..5 {
        only_broker_down_alerts(&prom, leader);
        std::thread::sleep(Duration::from_secs(1));
    }
    c.node_mut(leader).start(START);
    wait_for(ALERT * 2, "the old leader back in the ISR", || {
        let firing = only_broker_down_alerts(&prom, leader);
        let back = leader_and_isr(&survivor, topic).is_some_and(|(_, isr)| isr.len() == 3);
        (back && !has(&firing, "KafkaUnderReplicatedPartitions")).then_some(())
    });
    let failed = failed_isr_updates_stop(&prom);
    eprintln!(
        "leader kill checks done after {:?} ({failed} failed ISR updates in all, none in the last 10 s)",
        started.elapsed()
    );
}
