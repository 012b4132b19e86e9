//! Nodes on loopback: a combined single-node configuration, and a cluster of three
//! controllers and three brokers as separate processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process::{Kraftd, NodePorts, free_port, http_get, run_kraftd, write_config};

/// A combined single-node configuration on loopback with its data under `dir`.
pub fn combined_config(dir: &Path, node_id: i32, ports: NodePorts) -> String {
    format!(
        "process.roles=broker,controller\n\
         node.id={node_id}\n\
         controller.quorum.voters={node_id}@127.0.0.1:{c}\n\
         listeners=PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{b}\n\
         controller.listener.names=CONTROLLER\n\
         log.dirs={logs}\n\
         metadata.log.dir={meta}\n\
         kraftd.http.listener=127.0.0.1:{h}\n\
         kraftd.shutdown.timeout.ms=5000\n",
        b = ports.broker,
        c = ports.controller,
        h = ports.http,
        logs = dir.join("logs").display(),
        meta = dir.join("metadata").display(),
    )
}

/// One process of a [`ProcessCluster`]: its id, listener port (broker or controller), HTTP
/// port and configuration. The process is killed when the node is dropped.
pub struct ClusterNode {
    pub id: i32,
    pub port: u16,
    pub http: u16,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub process: Option<Kraftd>,
}

impl ClusterNode {
    /// `127.0.0.1:port` of the node's listener.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(http_get(self.http_addr(), "/readyz"), Ok((200, _)))
    }

    pub fn log_text(&self) -> String {
        self.process
            .as_ref()
            .map(Kraftd::log_text)
            .unwrap_or_default()
    }
}

/// Three controllers (ids 1–3) and three brokers (ids 4–6) as separate `kraftd` processes on
/// loopback, formatted with one cluster id under a temporary directory. Dropping it kills
/// every process (brokers first) and removes the directory.
pub struct ProcessCluster {
    pub brokers: Vec<ClusterNode>,
    pub controllers: Vec<ClusterNode>,
    pub root: tempfile::TempDir,
}

impl ProcessCluster {
    /// Formats and starts the six nodes with `extra` appended to every configuration, and
    /// waits until every broker is ready (registered and unfenced).
    pub fn start(extra: &str, timeout: Duration) -> ProcessCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let controller_ports: Vec<(u16, u16)> =
            (0..3).map(|_| (free_port(), free_port())).collect();
        let voters = controller_ports
            .iter()
            .enumerate()
            .map(|(i, (port, _))| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let (_, cluster_id, _) = run_kraftd(&["storage", "random-uuid"]);
        let cluster_id = cluster_id.trim().to_string();
        let make = |id: i32, controller: bool, port: u16, http: u16| {
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("node dir");
            let (roles, listener) = if controller {
                ("controller", "CONTROLLER")
            } else {
                ("broker", "PLAINTEXT")
            };
            let text = format!(
                "process.roles={roles}\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners={listener}://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\n\
                 log.dirs={data}\n\
                 kraftd.http.listener=127.0.0.1:{http}\n\
                 kraftd.shutdown.timeout.ms=5000\n\
                 broker.session.timeout.ms=3000\n\
                 broker.heartbeat.interval.ms=500\n\
                 {extra}",
                data = dir.join("data").display(),
            );
            let config = write_config(&dir, &text);
            let (status, out, err) = run_kraftd(&[
                "storage",
                "format",
                "-t",
                &cluster_id,
                "-c",
                config.to_str().expect("utf-8 path"),
            ]);
            assert!(status.success(), "format node {id}: {out}{err}");
            ClusterNode {
                id,
                port,
                http,
                config,
                dir,
                process: None,
            }
        };
        let controllers: Vec<ClusterNode> = controller_ports
            .iter()
            .enumerate()
            .map(|(i, (port, http))| make(i as i32 + 1, true, *port, *http))
            .collect();
        let brokers: Vec<ClusterNode> = (0..3)
            .map(|i| make(i + 4, false, free_port(), free_port()))
            .collect();
        let mut cluster = ProcessCluster {
            brokers,
            controllers,
            root,
        };
        for node in cluster
            .controllers
            .iter_mut()
            .chain(cluster.brokers.iter_mut())
        {
            let log = node.dir.join("kraftd.log");
            let mut process =
                Kraftd::spawn(&["server", "-c", node.config.to_str().unwrap()], log, &[]);
            process.wait_healthy(node.http_addr(), timeout);
            node.process = Some(process);
        }
        let deadline = Instant::now() + timeout;
        while !cluster.brokers.iter().all(ClusterNode::ready) {
            assert!(
                Instant::now() < deadline,
                "brokers not ready after {timeout:?}:\n{}",
                cluster
                    .brokers
                    .iter()
                    .map(|b| format!("--- broker {}\n{}", b.id, b.log_text()))
                    .collect::<String>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster
    }

    /// The brokers' listener addresses, comma-separated (a `bootstrap.servers` value).
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(ClusterNode::addr)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        // Brokers first, so none of them spends its last moments retrying a dead quorum.
        for node in self.brokers.iter_mut().chain(self.controllers.iter_mut()) {
            drop(node.process.take());
        }
    }
}
