//! The one way the tests build `kraftd` nodes: [`Cluster::builder`] lays out combined,
//! controller-only and broker-only nodes on loopback under a temporary directory, writes their
//! configurations, formats their storage with one cluster id and starts them. Every process
//! is killed when the cluster is dropped (brokers first), also when an assertion fails.
//!
//! ```ignore
//! let c = Cluster::builder().controllers(3).brokers(3).session_timeout_ms(3000).start(START);
//! let single = Cluster::builder().combined(1).extra("auto.create.topics.enable=false\n").start(START);
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use super::netns::Network;
use super::process::{
    Kraftd, NodePorts, http_get, metric_values, run_kraftd, wait_for, wait_for_or, write_config,
};

/// What a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `process.roles=controller`: a voter of the metadata quorum.
    Controller,
    /// `process.roles=broker`: serves clients, observes the quorum.
    Broker,
    /// `process.roles=broker,controller`: both in one process.
    Combined,
}

impl Role {
    pub fn is_broker(self) -> bool {
        matches!(self, Role::Broker | Role::Combined)
    }

    pub fn is_controller(self) -> bool {
        matches!(self, Role::Controller | Role::Combined)
    }
}

/// The configuration of node `id` in `role` on loopback `ports`, with its data under `dir`
/// (`logs` and `metadata` for a combined node, `data` otherwise) and the quorum `voters`.
pub fn node_config(role: Role, id: i32, voters: &str, ports: NodePorts, dir: &Path) -> String {
    let (h, b, c) = (ports.host, ports.broker, ports.controller);
    let data = format!("log.dirs={}", dir.join("data").display());
    let (roles, listeners, dirs) = match role {
        Role::Controller => ("controller", format!("CONTROLLER://{h}:{c}"), data),
        Role::Broker => ("broker", format!("PLAINTEXT://{h}:{b}"), data),
        Role::Combined => (
            "broker,controller",
            format!(
                "PLAINTEXT://{h}:{b},CONTROLLER://{h}:{c}\n\
                 advertised.listeners=PLAINTEXT://{h}:{b}"
            ),
            format!(
                "log.dirs={}\nmetadata.log.dir={}",
                dir.join("logs").display(),
                dir.join("metadata").display()
            ),
        ),
    };
    format!(
        "process.roles={roles}\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners={listeners}\n\
         controller.listener.names=CONTROLLER\n\
         {dirs}\n\
         kraftd.http.listener={h}:{http}\n\
         kraftd.shutdown.timeout.ms=5000\n",
        http = ports.http,
    )
}

/// A combined single-node configuration on loopback with its data under `dir`, for checks that
/// write configurations by hand (a node that reuses another's directories, a renumbered node).
pub fn combined_config(dir: &Path, node_id: i32, ports: NodePorts) -> String {
    let voters = format!("{node_id}@{}:{}", ports.host, ports.controller);
    node_config(Role::Combined, node_id, &voters, ports, dir)
}

/// A new cluster id from `kraftd storage random-uuid`.
pub fn random_cluster_id() -> String {
    let (status, out, err) = run_kraftd(&["storage", "random-uuid"]);
    assert!(status.success(), "random-uuid: {out}{err}");
    out.trim().to_string()
}

/// `kraftd storage format -t cluster_id -c config`; returns (status, stdout, stderr).
pub fn format_storage(config: &Path, cluster_id: &str) -> (ExitStatus, String, String) {
    let config = config.to_str().expect("utf-8 path");
    run_kraftd(&["storage", "format", "-t", cluster_id, "-c", config])
}

/// How to lay out a [`Cluster`]; see [`Cluster::builder`].
#[derive(Debug, Clone, Default)]
pub struct ClusterBuilder {
    combined: i32,
    controllers: i32,
    brokers: i32,
    extra: String,
    node_extra: BTreeMap<i32, String>,
    env: Vec<(String, String)>,
    broker_env: Vec<(String, String)>,
    session_timeout_ms: Option<u64>,
    cluster_id: Option<String>,
    unformatted: bool,
    /// Node id → (address, namespace file) for nodes placed in network namespaces.
    places: BTreeMap<i32, (Ipv4Addr, PathBuf)>,
}

impl ClusterBuilder {
    /// `n` combined nodes (`process.roles=broker,controller`), ids 1..=n.
    pub fn combined(mut self, n: i32) -> Self {
        self.combined = n;
        self
    }

    /// `n` controller-only nodes, numbered after the combined ones.
    pub fn controllers(mut self, n: i32) -> Self {
        self.controllers = n;
        self
    }

    /// `n` broker-only nodes, numbered after the controllers.
    pub fn brokers(mut self, n: i32) -> Self {
        self.brokers = n;
        self
    }

    /// Appends `text` to every node's configuration (a later key wins over the defaults).
    pub fn extra(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self
    }

    /// Appends `text` to the configuration of node `id` only, after [`Self::extra`].
    pub fn node_extra(mut self, id: i32, text: &str) -> Self {
        self.node_extra.entry(id).or_default().push_str(text);
        self
    }

    /// Sets an environment variable for every node's process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets an environment variable for the processes of nodes with the broker role.
    pub fn broker_env(mut self, key: &str, value: &str) -> Self {
        self.broker_env.push((key.to_string(), value.to_string()));
        self
    }

    /// `broker.session.timeout.ms=ms` with heartbeats every 500 ms, so that the controllers
    /// fence a dead broker within `ms`.
    pub fn session_timeout_ms(mut self, ms: u64) -> Self {
        self.session_timeout_ms = Some(ms);
        self
    }

    /// Formats with this cluster id instead of a random one.
    pub fn cluster_id(mut self, id: &str) -> Self {
        self.cluster_id = Some(id.to_string());
        self
    }

    /// Runs every node in its namespace of `network` (which must have one for each node id,
    /// and must outlive the cluster), on its own address with Kafka's usual ports.
    pub fn in_namespaces(mut self, network: &Network) -> Self {
        let ids = 1..=self.combined + self.controllers + self.brokers;
        self.places = ids
            .map(|id| (id, (network.ip(id), network.netns_path(id))))
            .collect();
        self
    }

    /// Leaves the storage unformatted (to check what a node does without it).
    pub fn unformatted(mut self) -> Self {
        self.unformatted = true;
        self
    }

    /// Allocates ports, writes every configuration and formats the storage; starts nothing.
    pub fn build(self) -> Cluster {
        let root = tempfile::tempdir().expect("temp dir");
        let cluster_id = self.cluster_id.clone().unwrap_or_else(random_cluster_id);
        let (k, c, b) = (self.combined, self.controllers, self.brokers);
        let layout: Vec<(Role, i32)> = (1..=k)
            .map(|id| (Role::Combined, id))
            .chain((k + 1..=k + c).map(|id| (Role::Controller, id)))
            .chain((k + c + 1..=k + c + b).map(|id| (Role::Broker, id)))
            .collect();
        let ports: Vec<NodePorts> = layout
            .iter()
            .map(|(_, id)| match self.places.get(id) {
                Some((ip, _)) => NodePorts::on_host(*ip),
                None => NodePorts::allocate(),
            })
            .collect();
        let voters = layout
            .iter()
            .zip(&ports)
            .filter(|((role, _), _)| role.is_controller())
            .map(|((_, id), p)| format!("{id}@{}:{}", p.host, p.controller))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            combined: Vec::new(),
            controllers: Vec::new(),
            brokers: Vec::new(),
            cluster_id,
            voters,
            settings: self,
            root,
        };
        for ((role, id), ports) in layout.into_iter().zip(ports) {
            let node = cluster.make_node(role, id, ports);
            cluster.nodes_of(role).push(node);
        }
        cluster
    }

    /// [`Self::build`], then starts every node (controllers first) and waits until each is
    /// healthy and every broker is ready (registered and unfenced).
    pub fn start(self, timeout: Duration) -> Cluster {
        let mut cluster = self.build();
        for node in cluster.nodes_mut() {
            node.start(timeout);
        }
        cluster.wait_brokers_ready(timeout);
        cluster
    }
}

/// `kraftd` nodes on loopback sharing one cluster id, under a temporary directory. Dropping it
/// kills every process (brokers first) and removes the directory.
pub struct Cluster {
    /// Combined nodes (`process.roles=broker,controller`), ids from 1.
    pub combined: Vec<Node>,
    /// Controller-only nodes, numbered after the combined ones.
    pub controllers: Vec<Node>,
    /// Broker-only nodes, numbered after the controllers (and any added later).
    pub brokers: Vec<Node>,
    cluster_id: String,
    voters: String,
    settings: ClusterBuilder,
    root: tempfile::TempDir,
}

impl Cluster {
    /// A cluster of nothing yet: add nodes with `combined`, `controllers` and `brokers`.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn nodes_of(&mut self, role: Role) -> &mut Vec<Node> {
        match role {
            Role::Combined => &mut self.combined,
            Role::Controller => &mut self.controllers,
            Role::Broker => &mut self.brokers,
        }
    }

    /// Lays out node `id` under the root: its configuration, formatted storage and settings.
    fn make_node(&self, role: Role, id: i32, ports: NodePorts) -> Node {
        let s = &self.settings;
        let dir = self.root.path().join(format!("node-{id}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let mut text = node_config(role, id, &self.voters, ports, &dir);
        if let Some(ms) = s.session_timeout_ms {
            text.push_str(&format!(
                "broker.session.timeout.ms={ms}\nbroker.heartbeat.interval.ms=500\n"
            ));
        }
        // Groups: __consumer_offsets as replicated as the cluster allows, and no initial
        // rebalance delay (tests that need them set their own).
        let extra = format!(
            "{}{}",
            s.extra,
            s.node_extra.get(&id).map_or("", String::as_str)
        );
        if !extra.contains("offsets.topic.replication.factor") {
            let brokers = (s.brokers + s.combined).clamp(1, 3);
            text.push_str(&format!("offsets.topic.replication.factor={brokers}\n"));
        }
        if !extra.contains("group.initial.rebalance.delay.ms") {
            text.push_str("group.initial.rebalance.delay.ms=0\n");
        }
        text.push_str(&extra);
        let mut env = s.env.clone();
        if role.is_broker() {
            env.extend(s.broker_env.iter().cloned());
        }
        let node = Node {
            id,
            role,
            ports,
            config: write_config(&dir, &text),
            dir,
            env,
            netns: s.places.get(&id).map(|(_, ns)| ns.clone()),
            process: None,
            starts: 0,
        };
        if !s.unformatted {
            node.format(&self.cluster_id);
        }
        node
    }

    /// Adds broker-only node `id` to the cluster, configured and formatted like the others,
    /// and not started.
    pub fn add_broker(&mut self, id: i32) -> &mut Node {
        let node = self.make_node(Role::Broker, id, NodePorts::allocate());
        self.brokers.push(node);
        self.brokers.last_mut().expect("just added")
    }

    /// Every node: combined, controllers, brokers.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.combined
            .iter()
            .chain(&self.controllers)
            .chain(&self.brokers)
    }

    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        self.combined
            .iter_mut()
            .chain(&mut self.controllers)
            .chain(&mut self.brokers)
    }

    /// Node `id`.
    pub fn node(&self, id: i32) -> &Node {
        self.nodes()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The cluster id every node was formatted with.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The `controller.quorum.voters` value.
    pub fn voters(&self) -> &str {
        &self.voters
    }

    /// The temporary directory holding every node's directory (`node-<id>`).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The broker listeners of every node with the broker role, comma-separated (a
    /// `bootstrap.servers` value).
    pub fn bootstrap(&self) -> String {
        self.nodes()
            .filter(|n| n.role.is_broker())
            .map(|n| n.broker_addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every node with the broker role answers `/readyz` (registered and
    /// unfenced); the panic shows their logs.
    pub fn wait_brokers_ready(&self, timeout: Duration) {
        let brokers = || self.nodes().filter(|n| n.role.is_broker());
        wait_for_or(
            timeout,
            || {
                let logs: String = brokers()
                    .map(|b| format!("--- broker {}\n{}", b.id, b.logs()))
                    .collect();
                format!("waiting for every broker ready (registered and unfenced):\n{logs}")
            },
            || brokers().all(Node::ready).then_some(()),
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Brokers first, so none of them spends its last moments retrying a dead quorum.
        for node in self
            .brokers
            .iter_mut()
            .chain(&mut self.combined)
            .chain(&mut self.controllers)
        {
            drop(node.process.take());
        }
    }
}

/// One node of a [`Cluster`]: its configuration and directory, and its process while started.
/// Each start logs to `kraftd-<n>.log` in its directory.
pub struct Node {
    pub id: i32,
    pub role: Role,
    pub ports: NodePorts,
    pub config: PathBuf,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    /// The network namespace the node runs in, if not the test's own.
    netns: Option<PathBuf>,
    process: Option<Kraftd>,
    starts: u32,
}

impl Node {
    /// The node's Kafka listener: PLAINTEXT with the broker role, else CONTROLLER.
    pub fn kafka_addr(&self) -> SocketAddr {
        if self.role.is_broker() {
            self.broker_addr()
        } else {
            self.controller_addr()
        }
    }

    /// [`Self::kafka_addr`] as `host:port`.
    pub fn addr(&self) -> String {
        self.kafka_addr().to_string()
    }

    pub fn broker_addr(&self) -> SocketAddr {
        self.ports.broker_addr()
    }

    pub fn controller_addr(&self) -> SocketAddr {
        self.ports.controller_addr()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.ports.http_addr()
    }

    /// Formats the node's storage with `cluster_id`; panics if that fails.
    pub fn format(&self, cluster_id: &str) {
        let (status, out, err) = format_storage(&self.config, cluster_id);
        assert!(status.success(), "format node {}: {out}{err}", self.id);
    }

    /// Starts `kraftd server` without waiting for anything.
    pub fn spawn(&mut self) {
        assert!(self.process.is_none(), "node {} already started", self.id);
        self.starts += 1;
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = self.config.to_str().expect("utf-8 path");
        let log = self.dir.join(format!("kraftd-{}.log", self.starts));
        let args = ["server", "-c", config];
        self.process = Some(Kraftd::spawn_in(self.netns.as_deref(), &args, log, &env));
    }

    /// Starts the node and waits until `/healthz` answers 200.
    pub fn start(&mut self, timeout: Duration) {
        self.spawn();
        let http = self.http_addr();
        self.process
            .as_mut()
            .expect("just spawned")
            .wait_healthy(http, timeout);
    }

    fn process(&self) -> &Kraftd {
        self.process
            .as_ref()
            .unwrap_or_else(|| panic!("node {} is not started", self.id))
    }

    pub fn pid(&self) -> i32 {
        self.process().pid()
    }

    /// Sends `sig` (e.g. `libc::SIGSTOP`) to the running process.
    pub fn signal(&self, sig: i32) {
        self.process().signal(sig);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut p = self.process.take().expect("started");
        p.wait_exit(timeout)
    }

    /// Sends `sig` and waits up to `timeout` for the process to exit.
    pub fn stop(&mut self, sig: i32, timeout: Duration) -> ExitStatus {
        self.signal(sig);
        self.wait_exit(timeout)
    }

    /// SIGTERM, and the process exits with status 0 within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) {
        let status = self.stop(libc::SIGTERM, timeout);
        assert!(
            status.success(),
            "node {} exit {status:?}:\n{}",
            self.id,
            self.log_text()
        );
    }

    /// `kill -9`, and the process is gone within 10 s.
    pub fn kill(&mut self) {
        self.stop(libc::SIGKILL, Duration::from_secs(10));
    }

    /// [`Self::terminate`], then [`Self::start`].
    pub fn restart(&mut self, timeout: Duration) {
        self.terminate(timeout);
        self.start(timeout);
    }

    /// Whether the test started the node and has not stopped it since.
    pub fn is_started(&self) -> bool {
        self.process.is_some()
    }

    /// Whether the process is still running (it may have exited by itself).
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Kraftd::is_running)
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(http_get(self.http_addr(), "/readyz"), Ok((200, _)))
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&self, timeout: Duration) {
        let what = format!("node {} ready", self.id);
        wait_for(timeout, &what, || self.ready().then_some(()));
    }

    /// The `/metrics` exposition, if the node answers.
    pub fn metrics(&self) -> Option<String> {
        http_get(self.http_addr(), "/metrics").ok().map(|r| r.1)
    }

    /// The value of the first series named `name` whose labels include `labels`.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        metric_values(&self.metrics()?, name, labels)
            .first()
            .copied()
    }

    /// The sum over the series named `name` whose labels include `labels` (0 when there are
    /// none), if the node answers.
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        Some(metric_values(&self.metrics()?, name, labels).iter().sum())
    }

    /// The log of the latest start.
    pub fn log_text(&self) -> String {
        let log = self.dir.join(format!("kraftd-{}.log", self.starts));
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// The logs of every start, oldest first.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("kraftd-{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
