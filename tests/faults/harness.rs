//! The cluster a scenario runs on: three controllers (ids 1-3) and three brokers (ids 4-6),
//! each in its own network namespace, a real Prometheus in the test's namespace scraping all
//! six with the shipped alert rules (durations in seconds), and the observers every scenario
//! shares: the alerts that fire, the quorum leaders per epoch, and the checks of the heal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::common::*;
use crate::history::checker::{Anomaly, Report};
use crate::history::client_config;

pub const CONTROLLERS: [i32; 3] = [1, 2, 3];
pub const BROKERS: [i32; 3] = [4, 5, 6];
/// The replicated topic of the record scenarios: RF=3, `min.insync.replicas=2`.
pub const TOPIC: &str = "faults";
pub const PARTITIONS: i32 = 3;

const START: Duration = Duration::from_secs(60);
/// How long the cluster may take to come back whole after the heal.
const CONVERGE: Duration = Duration::from_secs(90);

/// How a scenario wants its cluster.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `KRAFTD_TEST_PLANTED_BUG` for every broker.
    pub planted_bug: Option<String>,
    /// This broker's log directory lives on a small filesystem of this many MiB.
    pub small_disk: Option<(i32, u32)>,
}

/// A running cluster in namespaces; see the module documentation. Fields drop in order: the
/// observers stop, the processes die, then the namespaces and mounts go.
pub struct Harness {
    alerts: AlertRecorder,
    quorum: QuorumMonitor,
    pub cluster: Cluster,
    /// Scrapes the nodes; the alert recorder reads it.
    _prometheus: Prometheus,
    pub net: Network,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub fn start(setup: &Setup) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let ids: Vec<i32> = CONTROLLERS.iter().chain(&BROKERS).copied().collect();
        let mut net = Network::create(&ids);
        let mut builder = Cluster::builder()
            .controllers(3)
            .brokers(3)
            .session_timeout_ms(3000)
            .in_namespaces(&net)
            .extra(
                "default.replication.factor=3\n\
                 min.insync.replicas=2\n\
                 replica.lag.time.max.ms=3000\n\
                 offsets.topic.replication.factor=3\n",
            );
        if let Some(bug) = &setup.planted_bug {
            builder = builder.broker_env("KRAFTD_TEST_PLANTED_BUG", bug);
        }
        if let Some((broker, mib)) = setup.small_disk {
            net.small_filesystem(dir.path(), &dir.path().join("mnt"), mib);
            let data = net.filesystem(0).join("data");
            let metadata = dir.path().join("metadata");
            builder = builder.node_extra(
                broker,
                &format!(
                    "log.dirs={}\nmetadata.log.dir={}\n",
                    data.display(),
                    metadata.display()
                ),
            );
        }
        let cluster = builder.start(START);
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(&rules_dir).expect("rules dir");
        let rules: Vec<PathBuf> = ["kraftd-data", "kraftd-meta", "kraftd-quorum"]
            .iter()
            .map(|f| {
                let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("alerts")
                    .join(format!("{f}.rules.yml"));
                render_rules_for_tests(&src, &rules_dir)
            })
            .collect();
        let targets: Vec<_> = cluster.nodes().map(Node::http_addr).collect();
        let prom_dir = dir.path().join("prometheus");
        std::fs::create_dir_all(&prom_dir).expect("prometheus dir");
        let prometheus = Prometheus::start(&prom_dir, &targets, &rules);
        let alerts = AlertRecorder::start(prometheus.addr);
        let quorum = QuorumMonitor::start(
            CONTROLLERS
                .iter()
                .map(|&id| (id, cluster.node(id).http_addr()))
                .collect(),
        );
        Harness {
            alerts,
            quorum,
            cluster,
            _prometheus: prometheus,
            net,
            _dir: dir,
        }
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap()
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        client_config(&self.bootstrap())
            .create()
            .expect("admin client")
    }

    /// Creates `name` (RF=3) and waits until every partition has a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin = self.admin();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(3));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let results = rt
            .block_on(admin.create_topics([&topic], &opts))
            .expect("CreateTopics");
        assert_eq!(results, vec![Ok(name.to_string())]);
        wait_for_leaders(&admin, name, partitions, START);
    }

    /// Partition → (leader, ISR) of `topic` as a broker's Metadata answer gives them.
    pub fn partitions(&self, topic: &str) -> Option<BTreeMap<i32, (i32, Vec<i32>)>> {
        let c: BaseConsumer = client_config(&self.bootstrap()).create().ok()?;
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(3)).ok()?;
        let t = md.topics().iter().find(|t| t.name() == topic)?;
        t.error().is_none().then(|| {
            t.partitions()
                .iter()
                .map(|p| (p.id(), (p.leader(), p.isr().to_vec())))
                .collect()
        })
    }

    /// The leader of `topic`'s partition `p`, once one is known.
    pub fn leader_of(&self, topic: &str, p: i32) -> i32 {
        wait_for(Duration::from_secs(30), "a partition leader", || {
            self.partitions(topic)?
                .get(&p)
                .map(|(l, _)| *l)
                .filter(|l| *l >= 0)
        })
    }

    /// The controllers that say they are active (an unreachable one says nothing).
    fn active_controllers(&self) -> Vec<i32> {
        CONTROLLERS
            .iter()
            .copied()
            .filter(|&id| {
                self.cluster
                    .node(id)
                    .metric("kafka_controller_active_controllers", &[])
                    == Some(1.0)
            })
            .collect()
    }

    /// The active controller, once exactly one reachable controller says it is.
    pub fn active_controller(&self) -> i32 {
        wait_for(Duration::from_secs(30), "one active controller", || {
            let active = self.active_controllers();
            (active.len() == 1).then(|| active[0])
        })
    }

    /// Starts recording which alerts fire (the fault phase).
    pub fn record_alerts(&self) {
        self.alerts.recording.store(true, Ordering::SeqCst);
    }

    /// Waits until the cluster is whole again: every node running and answering, one active
    /// controller, every broker ready (registered, unfenced), no partition of `topics` without
    /// its full ISR, nothing under-replicated. Adds a `not converged` anomaly otherwise.
    pub fn converge(&mut self, topics: &[&str], report: &mut Report) {
        for node in self.cluster.nodes_mut() {
            if !node.is_running() {
                report.add(Anomaly::NotConverged, || {
                    format!("node {} exited during the scenario", node.id)
                });
            }
        }
        let deadline = Instant::now() + CONVERGE;
        while let Err(last) = self.whole(topics) {
            if Instant::now() >= deadline {
                report.add(Anomaly::NotConverged, || {
                    format!("not whole {CONVERGE:?} after the heal: {last}")
                });
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.alerts.recording.store(false, Ordering::SeqCst);
    }

    fn whole(&self, topics: &[&str]) -> Result<(), String> {
        let active = self.active_controllers();
        if active.len() != 1 {
            return Err(format!("active controllers {active:?}"));
        }
        for &b in &BROKERS {
            let node = self.cluster.node(b);
            if !node.ready() {
                return Err(format!("broker {b} not ready"));
            }
            let urp = node.metric_sum("kafka_server_under_replicated_partitions", &[]);
            if urp != Some(0.0) {
                return Err(format!("broker {b} under-replicated {urp:?}"));
            }
        }
        for topic in topics {
            let parts = self
                .partitions(topic)
                .ok_or_else(|| format!("no metadata for {topic}"))?;
            for (p, (leader, isr)) in parts {
                if leader < 0 || isr.len() < 3 {
                    return Err(format!("{topic}-{p}: leader {leader}, ISR {isr:?}"));
                }
            }
        }
        Ok(())
    }

    /// Copies every node's logs to `dest/node-<id>-<start>.log` (kept after the cluster is
    /// gone, for a run that was not clean).
    pub fn save_logs(&self, dest: &std::path::Path) {
        std::fs::create_dir_all(dest).expect("log directory");
        for node in self.cluster.nodes() {
            for entry in std::fs::read_dir(&node.dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(n) = name.strip_prefix("kraftd-") {
                    let _ = std::fs::copy(entry.path(), dest.join(format!("node-{}-{n}", node.id)));
                }
            }
        }
    }

    /// The alerts that fired while recording, and adds a `two quorum leaders` anomaly for
    /// every epoch with more than one leader seen.
    pub fn observations(&self, report: &mut Report) -> BTreeSet<String> {
        for (epoch, leaders) in self.quorum.leaders.lock().unwrap().iter() {
            if leaders.len() > 1 {
                report.add(Anomaly::TwoQuorumLeaders, || {
                    format!("epoch {epoch}: nodes {leaders:?} each led the quorum")
                });
            }
        }
        self.alerts.fired.lock().unwrap().clone()
    }
}

/// Polls Prometheus's alerts every 500 ms while recording; keeps the names that fired.
struct AlertRecorder {
    recording: Arc<AtomicBool>,
    fired: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AlertRecorder {
    fn start(prometheus: std::net::SocketAddr) -> AlertRecorder {
        let recording = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (recording, fired, stop) = (recording.clone(), fired.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if recording.load(Ordering::SeqCst) {
                        for name in firing(prometheus) {
                            fired.lock().unwrap().insert(name);
                        }
                    }
                    // Polling period.
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        };
        AlertRecorder {
            recording,
            fired,
            stop,
            thread: Some(thread),
        }
    }
}

/// Names of the alerts firing at the Prometheus at `addr`.
fn firing(addr: std::net::SocketAddr) -> Vec<String> {
    let Ok((200, body)) = http_get(addr, "/api/v1/alerts") else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        // Always firing: it proves the alerting pipeline works, not that something broke.
        .filter(|name| name != "Watchdog")
        .collect()
}

impl Drop for AlertRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls every controller's `/metrics` every 50 ms and keeps, per quorum epoch, the nodes that
/// said they were its leader.
struct QuorumMonitor {
    leaders: Arc<Mutex<BTreeMap<i64, BTreeSet<i32>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl QuorumMonitor {
    fn start(controllers: Vec<(i32, std::net::SocketAddr)>) -> QuorumMonitor {
        let leaders = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (leaders, stop) = (leaders.clone(), stop.clone());
            std::thread::spawn(move || {
                // A node's (leading, epoch) of the previous poll: a leader counts once two
                // polls in a row agree, so that one exposition caught between the updates of
                // the two gauges is not taken for a leader of the next epoch.
                let mut previous: BTreeMap<i32, (bool, i64)> = BTreeMap::new();
                while !stop.load(Ordering::SeqCst) {
                    for (id, addr) in &controllers {
                        let Ok((200, body)) = http_get(*addr, "/metrics") else {
                            previous.remove(id);
                            continue;
                        };
                        let leading =
                            metric_values(&body, "kafka_raft_state", &[("state", "leader")]);
                        let Some(&epoch) = metric_values(&body, "kafka_raft_epoch", &[]).first()
                        else {
                            continue;
                        };
                        let now = (leading.first() == Some(&1.0), epoch as i64);
                        if now.0 && previous.get(id) == Some(&now) {
                            leaders
                                .lock()
                                .unwrap()
                                .entry(now.1)
                                .or_insert_with(BTreeSet::new)
                                .insert(*id);
                        }
                        previous.insert(*id, now);
                    }
                    // Polling period.
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        QuorumMonitor {
            leaders,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for QuorumMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
