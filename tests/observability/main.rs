//! Live checks of the operator kit against running nodes and a real Prometheus on loopback:
//! `promtool check metrics` on every node, every dashboard query evaluates, the must-have
//! panels return data, a healthy cluster fires nothing but Watchdog, and a killed node fires
//! KafkaTargetDown until it is back. Alert `for:` durations come from the test-only rendering
//! in `tests/common` (minutes become seconds); the shipped rules are untouched.

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(30);
const ALERT: Duration = Duration::from_secs(60);

struct Node {
    process: Option<Kraftd>,
    ports: NodePorts,
    config: PathBuf,
    dir: PathBuf,
    starts: u32,
}

impl Node {
    fn start(&mut self) {
        self.starts += 1;
        let log = self.dir.join(format!("kraftd-{}.log", self.starts));
        let mut p = Kraftd::spawn(&["server", "-c", self.config.to_str().unwrap()], log, &[]);
        p.wait_healthy(self.ports.http_addr(), START);
        self.process = Some(p);
    }
}

/// Three combined nodes sharing one cluster id and voter set.
fn cluster(root: &Path) -> Vec<Node> {
    let ports: Vec<NodePorts> = (0..3).map(|_| NodePorts::allocate()).collect();
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p.controller))
        .collect();
    let (_, id, _) = run_kraftd(&["storage", "random-uuid"]);
    let mut nodes = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let dir = root.join(format!("node{}", i + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let text = combined_config(&dir, i as i32 + 1, *p).replace(
            &format!(
                "controller.quorum.voters={}@127.0.0.1:{}",
                i + 1,
                p.controller
            ),
            &format!("controller.quorum.voters={}", voters.join(",")),
        );
        let config = write_config(&dir, &text);
        let (status, out, err) = run_kraftd(&[
            "storage",
            "format",
            "-t",
            id.trim(),
            "-c",
            config.to_str().unwrap(),
        ]);
        assert!(status.success(), "{out}{err}");
        let mut node = Node {
            process: None,
            ports: *p,
            config,
            dir,
            starts: 0,
        };
        node.start();
        nodes.push(node);
    }
    nodes
}

fn api_versions(addr: std::net::SocketAddr) {
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
                    .replace("$role", ".*");
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
    ("kraftd-cluster-overview", "Requests by API"),
    ("kraftd-cluster-overview", "Request latency p99 by API"),
    ("kraftd-cluster-overview", "Connections by listener"),
    ("kraftd-cluster-overview", "CPU"),
    ("kraftd-cluster-overview", "Resident memory"),
    ("kraftd-broker", "File descriptors used"),
    ("kraftd-broker", "Log directory free space"),
    ("kraftd-broker", "Log size and segments"),
    ("kraftd-quorum", "Active controller"),
    ("kraftd-quorum", "Epoch"),
    ("kraftd-quorum", "Voters up / total"),
    ("kraftd-quorum", "Voters caught up / total"),
    ("kraftd-quorum", "Raft state by node"),
    ("kraftd-quorum", "High watermark vs log end offset"),
    ("kraftd-quorum", "Per-voter lag (offsets)"),
    ("kraftd-quorum", "Per-voter lag (time)"),
    ("kraftd-broker", "Request latency p50 / p99"),
];

#[test]
fn live_cluster_metrics_dashboards_and_alerts() {
    let root = tempfile::tempdir().unwrap();
    let mut nodes = cluster(root.path());

    for n in &nodes {
        let (status, body) = http_get(n.ports.http_addr(), "/metrics").unwrap();
        assert_eq!(status, 200);
        promtool_check_metrics(&body)
            .unwrap_or_else(|e| panic!("promtool check metrics on {}: {e}", n.ports.http_addr()));
    }

    let rules_dir = root.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let alerts = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts");
    let mut rule_files = Vec::new();
    for e in std::fs::read_dir(&alerts).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".rules.yml") {
            rule_files.push(render_rules_for_tests(&p, &rules_dir));
        }
    }
    let prom_dir = root.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let targets: Vec<_> = nodes.iter().map(|n| n.ports.http_addr()).collect();
    let prom = Prometheus::start(&prom_dir, &targets, &rule_files);

    wait_for(START, "all targets up", || {
        let r = prom.query("count(up{job=\"kraftd\"} == 1)").ok()?;
        (r.first()?["value"][1] == "3").then_some(())
    });
    // Traffic so that request panels have data; then let rates see two scrapes.
    for _ in 0..3 {
        for n in &nodes {
            api_versions(n.ports.broker_addr());
            api_versions(n.ports.controller_addr());
        }
        std::thread::sleep(Duration::from_millis(1100));
    }

    let queries = dashboard_queries();
    assert!(queries.len() >= 10);
    let mut problems = Vec::new();
    for (uid, title, expr) in &queries {
        match prom.query(expr) {
            Err(e) => problems.push(format!("{uid} / {title}: {e}\n  {expr}")),
            Ok(result) => {
                if MUST_HAVE.contains(&(uid.as_str(), title.as_str())) && result.is_empty() {
                    problems.push(format!("{uid} / {title}: no data\n  {expr}"));
                }
            }
        }
    }
    for (uid, title) in MUST_HAVE {
        if !queries.iter().any(|(u, t, _)| u == uid && t == title) {
            problems.push(format!("must-have panel {uid} / {title} does not exist"));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard queries:\n{}",
        problems.join("\n")
    );

    // A healthy cluster fires nothing but Watchdog (checked over several evaluations).
    wait_for(ALERT, "Watchdog to fire", || {
        prom.firing_alerts()
            .contains(&"Watchdog".to_string())
            .then_some(())
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

    // kill -9 of a voter fires KafkaTargetDown and KRaftQuorumAtRisk (not KRaftQuorumLost);
    // a restart resolves both.
    let victim = &mut nodes[2];
    victim.process.as_ref().unwrap().signal(libc::SIGKILL);
    victim
        .process
        .as_mut()
        .unwrap()
        .wait_exit(Duration::from_secs(10));
    let firing = wait_for(
        ALERT,
        "KafkaTargetDown and KRaftQuorumAtRisk to fire",
        || {
            let firing = prom.firing_alerts();
            (firing.contains(&"KafkaTargetDown".to_string())
                && firing.contains(&"KRaftQuorumAtRisk".to_string()))
            .then_some(firing)
        },
    );
    assert!(
        !firing.contains(&"KRaftQuorumLost".to_string()),
        "{firing:?}"
    );
    assert!(
        !prom
            .firing_alerts()
            .contains(&"KRaftQuorumLost".to_string())
    );
    victim.start();
    wait_for(ALERT, "KafkaTargetDown to resolve", || {
        (prom.firing_alerts() == vec!["Watchdog".to_string()]).then_some(())
    });
}
