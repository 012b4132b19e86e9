//! Starting this process's member of the metadata quorum: a voter on a controller, an observer
//! on a broker-only node. Builds the core from the configuration and the persisted
//! `quorum-state`, spawns the driver and the metrics task, and returns the endpoint the
//! controller listener serves.

use std::path::Path;
use std::time::Duration;

use rand::SeedableRng;

use super::driver::{self, DriverSettings, PeerAddresses, RaftHandle};
use super::endpoint::{ControllerNode, RaftEndpoint};
use super::quorum_state_store::{QuorumStateError, QuorumStateStore};
use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::observability::Metrics;
use crate::raft::{ConfigError, RaftConfig, RaftCore, RaftLog, StartupError};
use crate::shutdown::ShutdownSignal;
use crate::types::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum QuorumStartError {
    #[error(transparent)]
    QuorumState(#[from] QuorumStateError),
    #[error("invalid quorum configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the raft core: {0}")]
    Startup(#[from] StartupError),
}

/// The running quorum member.
pub struct QuorumNode {
    pub handle: RaftHandle,
    pub endpoint: RaftEndpoint,
    thread: std::thread::JoinHandle<()>,
}

impl QuorumNode {
    /// Stops the driver gracefully (a leader hands over first) within `timeout`.
    pub async fn stop(self, timeout: Duration) {
        self.handle.shutdown(timeout).await;
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// The raft settings of `config`: voters, bootstrap servers (synthetic ids -2, -3, … as in
/// Kafka) and timeouts. Returns the config and the address of every id it may contact.
pub fn raft_config(config: &ServerConfig, cluster_id: &str) -> (RaftConfig, PeerAddresses) {
    let voters: Vec<NodeId> = config.voters.iter().map(|v| v.id).collect();
    let mut cfg = RaftConfig::new(config.node_id, cluster_id, voters);
    let q = &config.quorum;
    cfg.election_timeout = q.election_timeout;
    cfg.fetch_timeout = q.fetch_timeout;
    cfg.election_backoff_max = q.election_backoff_max;
    cfg.request_timeout = q.request_timeout;
    cfg.retry_backoff = q.retry_backoff;
    // The leader's long-poll must stay well inside the request and fetch timeouts.
    cfg.fetch_max_wait = cfg
        .fetch_max_wait
        .min(q.request_timeout / 2)
        .min(q.fetch_timeout / 3);
    let mut peers: PeerAddresses = config
        .voters
        .iter()
        .map(|v| (v.id, v.address.to_string()))
        .collect();
    if !config.bootstrap_servers.is_empty() {
        cfg.bootstrap_servers = Vec::new();
        for (i, hp) in config.bootstrap_servers.iter().enumerate() {
            let id = NodeId(-2 - i as i32);
            cfg.bootstrap_servers.push(id);
            peers.insert(id, hp.to_string());
        }
    }
    (cfg, peers)
}

/// The controller endpoints clients can be pointed at (from `controller.quorum.voters`).
pub fn controller_nodes(config: &ServerConfig) -> Vec<ControllerNode> {
    let listener = config
        .controller_listener_names
        .first()
        .cloned()
        .unwrap_or_else(|| "CONTROLLER".to_string());
    config
        .voters
        .iter()
        .map(|v| ControllerNode {
            id: v.id,
            listener: listener.clone(),
            host: v.address.host.clone(),
            port: v.address.port,
        })
        .collect()
}

/// What starting a quorum member needs besides its log.
pub struct QuorumContext<'a> {
    pub config: &'a ServerConfig,
    pub cluster_id: &'a str,
    /// Where `quorum-state` lives.
    pub raft_dir: &'a Path,
    pub metrics: &'a Metrics,
    pub clock: Clock,
    pub shutdown: ShutdownSignal,
    /// Receives the committed log (the metadata loader).
    pub commit_listener: Option<tokio::sync::mpsc::Sender<super::committed::CommitEvent>>,
}

/// Starts the quorum member over `log`.
pub fn start<L>(ctx: QuorumContext<'_>, log: L) -> Result<QuorumNode, QuorumStartError>
where
    L: RaftLog + Send + 'static,
{
    let QuorumContext {
        config,
        cluster_id,
        raft_dir,
        metrics,
        clock,
        shutdown,
        commit_listener,
    } = ctx;
    let (cfg, peers) = raft_config(config, cluster_id);
    cfg.validate()?;
    let store = QuorumStateStore::new(raft_dir, cfg.voters.clone());
    let persisted = store.read()?;
    // The IO shell may use OS randomness; the seed is logged so a run can be replayed in the
    // simulator.
    let seed: u64 = rand::random();
    tracing::info!(
        node_id = config.node_id.0,
        voter = cfg.is_voter(config.node_id),
        seed,
        state = ?persisted,
        "starting the metadata quorum member"
    );
    let core = RaftCore::new(
        cfg,
        log,
        persisted,
        rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        clock.now(),
    )?;
    let settings = DriverSettings {
        peers,
        request_timeout: config.quorum.request_timeout,
        client_id: format!("kraftd-raft-{}", config.node_id.0),
        append_linger: config.quorum.append_linger,
        commit_listener,
    };
    let (handle, thread) = driver::spawn(
        core,
        store,
        settings,
        clock,
        tokio::runtime::Handle::current(),
    );
    tokio::spawn(super::metrics::run(
        handle.clone(),
        metrics.clone(),
        clock,
        shutdown,
    ));
    let endpoint = RaftEndpoint {
        handle: handle.clone(),
        cluster_id: cluster_id.to_string(),
        controllers: controller_nodes(config),
    };
    Ok(QuorumNode {
        handle,
        endpoint,
        thread,
    })
}
