//! The server process: checks storage, binds the listeners of the roles in `process.roles`,
//! serves until SIGTERM/SIGINT, then shuts down within `kraftd.shutdown.timeout.ms`.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::api::BrokerContext;
use crate::broker::control_plane::alter_partition_sender::AlterPartitionSender;
use crate::broker::control_plane::controller_channel::ControllerChannel;
use crate::broker::control_plane::lifecycle::{self, BrokerLifecycle};
use crate::broker::control_plane::metadata_cache::MetadataCache;
use crate::broker::control_plane::producer_id_manager::ProducerIdManager;
use crate::broker::data_plane::fetch_manager::FetchManager;
use crate::broker::data_plane::fetch_session_cache::{EVICTION_AGE, FetchSessionCache};
use crate::broker::data_plane::replica_manager::{ReplicaManager, ReplicaPublisher};
use crate::broker::group_coordinator::{GroupCoordinator, GroupCoordinatorPublisher};
use crate::broker::service::BrokerService;
use crate::controller::api::ControllerContext;
use crate::controller::context::{ControllerSettings, LeaderRebalance};
use crate::controller::quorum_controller::{ControllerHandle, QuorumController};
use crate::controller::service::ControllerService;
use crate::metadata_io::listener::{MetadataListener, MetadataState};
use crate::metadata_io::publisher::MetadataPublisher;

use crate::clock::Clock;
use crate::config::{LoadedConfig, ServerConfig};
use crate::network::{BoundListener, ConnectionQuotas, ConnectionSettings, Service};
use crate::observability::{Metrics, Readiness, http};
use crate::raft_io::driver::RaftHandle;
use crate::raft_io::endpoint::ControllerNode;
use crate::raft_io::metadata_log::{MetadataLog, MetadataLogError};
use crate::raft_io::node::{self as quorum, QuorumNode, QuorumStartError};
use crate::shutdown::Shutdown;
use crate::storage::{self, StorageError, VerifiedStorage};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Bind(std::io::Error),
    #[error("cannot bind the observability HTTP listener {addr} (kraftd.http.listener): {cause}")]
    HttpBind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("cannot open the metadata log: {0}")]
    MetadataLog(#[from] MetadataLogError),
    #[error(transparent)]
    Quorum(#[from] QuorumStartError),
}

/// Which role's service a listener carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Broker,
    Controller,
}

/// Addresses a started server is reachable at (useful to tests and `kraftd dev`).
#[derive(Debug, Clone)]
pub struct BoundAddresses {
    pub http: SocketAddr,
    pub listeners: Vec<(String, ListenerKind, SocketAddr)>,
}

/// A running server: its addresses and the means to stop it.
pub struct RunningServer {
    pub addresses: BoundAddresses,
    pub readiness: Readiness,
    pub metrics: Metrics,
    /// This node's member of the metadata quorum.
    pub raft: RaftHandle,
    /// The published metadata image.
    pub metadata: watch::Receiver<MetadataState>,
    /// The quorum controller (controllers only).
    pub controller: Option<ControllerHandle>,
    /// The broker's lifecycle with the controller (brokers only).
    lifecycle: Option<BrokerLifecycle>,
    quorum: Option<QuorumNode>,
    shutdown: Shutdown,
    tasks: JoinSet<()>,
    _storage: VerifiedStorage,
}

/// Checks storage, binds every listener and starts serving. Returns once bound.
pub async fn start(config: &ServerConfig) -> Result<RunningServer, AppError> {
    // Stays long: the composition root, where the start order of the node's parts (each
    // started by a named step below) is read in one place.
    let verified = storage::verify_for_startup(config)?;
    let metrics = Metrics::new();
    metrics.set_node_info(config.node_id.0, config.roles.label(), &verified.cluster_id);
    let readiness = Readiness::new();
    readiness.not_ready("listeners", "binding listeners");

    let shutdown = Shutdown::new();
    let mut tasks = JoinSet::new();

    let http_listener =
        http::bind(config.http_listener)
            .await
            .map_err(|cause| AppError::HttpBind {
                addr: config.http_listener,
                cause,
            })?;
    let http_addr = http_listener.local_addr().map_err(AppError::Bind)?;

    // Every node keeps a copy of the metadata log: controllers as voters, brokers as observers.
    // A voter must find the log and vote it had (a broker may simply fetch it again).
    if config.roles.controller {
        crate::raft_io::metadata_log::check_voter_state(&config.metadata_log_dir)?;
    }
    let clock = Clock::new();
    let metadata_log = open_metadata_log(config, &metrics, clock)?;
    let raft_dir = metadata_log.dir().to_path_buf();
    let listener = MetadataListener::new();
    let node = quorum::start(
        quorum::QuorumContext {
            config,
            cluster_id: &verified.cluster_id,
            raft_dir: &raft_dir,
            metrics: &metrics,
            clock,
            shutdown: shutdown.signal(),
            commit_listener: Some(listener.commits.clone()),
        },
        metadata_log,
    )?;
    let raft = node.handle.clone();
    readiness.not_ready("quorum", "no quorum leader known yet");
    readiness.not_ready("metadata", "the metadata image has not caught up yet");
    // A planted bug (fault-scenario test hook) is logged loudly at start.
    crate::broker::data_plane::planted_bug::planted();
    // Publishers in order: a broker's replicas exist before its cache answers for them.
    let replicas = Arc::new(ReplicaManager::new(config, clock, metrics.clone()));
    let cache = MetadataCache::new();
    let mut publishers: Vec<Arc<dyn MetadataPublisher>> = Vec::new();
    let groups = Arc::new(GroupCoordinator::new(
        config.node_id.0,
        &config.groups,
        clock,
        replicas.clone(),
        metrics.groups.clone(),
    ));
    if config.roles.broker {
        publishers.push(Arc::new(ReplicaPublisher(replicas.clone())));
        // The coordinator starts a shard once the replica manager leads its partition.
        publishers.push(Arc::new(GroupCoordinatorPublisher(groups.clone())));
    }
    publishers.push(Arc::new(cache.clone()));
    let metadata = listener.spawn(
        config,
        raft.clone(),
        metrics.clone(),
        clock,
        publishers,
        shutdown.signal(),
    );
    let channels = ControllerChannels::new(config, &raft);
    let controller = if config.roles.controller {
        let handle = start_controller(config, &verified, &raft, &metadata, &metrics, &shutdown)?;
        tasks.spawn(lifecycle::register_controller(
            config.clone(),
            channels.open("controller-registration"),
            cache.clone(),
            shutdown.signal(),
        ));
        Some(handle)
    } else {
        None
    };
    let lifecycle = config.roles.broker.then(|| {
        start_lifecycle(
            config, &verified, &metrics, &channels, &cache, &readiness, &shutdown,
        )
    });
    let forward = channels.open("forwarding");
    let producer_ids = Arc::new(ProducerIdManager::new(
        config.node_id.0,
        lifecycle
            .as_ref()
            .map_or_else(|| watch::channel(None).1, |l| l.epoch.clone()),
        channels.open("producer-ids"),
    ));
    let static_values = Arc::new(config.static_values.clone());
    if config.roles.broker {
        tasks.spawn(replicas.clone().run(shutdown.signal()));
        let lag = crate::broker::group_coordinator::lag::LagCollector {
            coordinator: groups.clone(),
            replicas: replicas.clone(),
            cache: cache.clone(),
            metrics: metrics.groups.clone(),
            clock,
            node_id: config.node_id.0,
            interval: config.groups.lag_interval,
            per_partition: config.groups.lag_per_partition_metrics,
        };
        tasks.spawn(lag.run(shutdown.signal()));
        if let Some(proposals) = replicas.take_isr_proposals() {
            let sender = AlterPartitionSender {
                node_id: config.node_id.0,
                channel: channels.open("alter-partition"),
                cache: cache.clone(),
                metrics: metrics.replication.clone(),
                clock,
            };
            tasks.spawn(sender.run(proposals, shutdown.signal()));
        }
    }

    let mut bound: Vec<(BoundListener, ListenerKind)> = Vec::new();
    if let Some(c) = &controller {
        let service: Arc<dyn Service> = Arc::new(ControllerService::new(ControllerContext::new(
            node.endpoint.clone(),
            c.clone(),
        )));
        bind_all(
            config,
            config.controller_listeners(),
            service,
            ListenerKind::Controller,
            &mut bound,
        )
        .await?;
    }
    if config.roles.broker {
        let service: Arc<dyn Service> = Arc::new(BrokerService::new(
            BrokerContext {
                cache: cache.clone(),
                cluster_id: verified.cluster_id.clone(),
                node_id: config.node_id.0,
                static_values: static_values.clone(),
                replicas: replicas.clone(),
                clock,
                metrics: metrics.broker.clone(),
                replication: metrics.replication.clone(),
                forward: forward.clone(),
                producer_ids: producer_ids.clone(),
                raft: raft.clone(),
                groups: groups.clone(),
                offsets_topic: config.groups,
                fetch_sessions: Arc::new(FetchManager::new(
                    FetchSessionCache::new(
                        config.fetch_session_cache_slots as usize,
                        EVICTION_AGE,
                        rand::random(),
                    ),
                    metrics.broker.fetch_sessions.clone(),
                )),
                auto_create: config
                    .auto_create_topics_enable
                    .then_some((config.num_partitions, config.default_replication_factor)),
            },
            &crate::controller::service::forwarded_ranges(),
        ));
        bind_all(
            config,
            config.broker_listeners(),
            service,
            ListenerKind::Broker,
            &mut bound,
        )
        .await?;
    }
    let listeners = serve_listeners(config, bound, &metrics, &shutdown, &mut tasks)?;
    tasks.spawn(http::serve(
        http_listener,
        metrics.clone(),
        readiness.clone(),
        shutdown.signal(),
    ));
    readiness.ready("listeners");
    spawn_watchers(
        config, &raft, &metadata, &metrics, &readiness, &shutdown, &mut tasks,
    );

    Ok(RunningServer {
        addresses: BoundAddresses {
            http: http_addr,
            listeners,
        },
        readiness,
        metrics,
        raft,
        metadata,
        controller,
        lifecycle,
        quorum: Some(node),
        shutdown,
        tasks,
        _storage: verified,
    })
}

/// Opens this node's copy of the metadata log (recovering it after a crash) and reports
/// what recovery found.
fn open_metadata_log(
    config: &ServerConfig,
    metrics: &Metrics,
    clock: Clock,
) -> Result<MetadataLog, AppError> {
    let (metadata_log, report) = MetadataLog::open(
        &config.metadata_log_dir,
        config.metadata.log_segment_bytes,
        clock,
    )?;
    metrics
        .log
        .recovered_truncated_bytes
        .inc_by(report.truncated_bytes);
    let metadata_log = metadata_log.with_metrics(metrics.log.clone());
    tracing::info!(
        dir = %metadata_log.dir().display(),
        segments = metadata_log.segment_count(),
        truncated_bytes = report.truncated_bytes,
        "metadata log opened"
    );
    Ok(metadata_log)
}

/// Opens channels to the active controller, one per purpose (each its own client id).
struct ControllerChannels<'a> {
    config: &'a ServerConfig,
    raft: RaftHandle,
    controllers: Vec<ControllerNode>,
}

impl<'a> ControllerChannels<'a> {
    fn new(config: &'a ServerConfig, raft: &RaftHandle) -> Self {
        ControllerChannels {
            config,
            raft: raft.clone(),
            controllers: crate::raft_io::node::controller_nodes(config),
        }
    }

    fn open(&self, purpose: &str) -> Arc<ControllerChannel> {
        Arc::new(ControllerChannel::new(
            self.raft.clone(),
            self.controllers.clone(),
            format!("kraftd-{}-{}", purpose, self.config.node_id.0),
            self.config
                .quorum
                .request_timeout
                .max(Duration::from_secs(5)),
        ))
    }
}

/// Starts the quorum controller of a controller node.
fn start_controller(
    config: &ServerConfig,
    verified: &VerifiedStorage,
    raft: &RaftHandle,
    metadata: &watch::Receiver<MetadataState>,
    metrics: &Metrics,
    shutdown: &Shutdown,
) -> Result<ControllerHandle, AppError> {
    let bootstrap_metadata_version =
        storage::bootstrap::read_metadata_version(&config.metadata_log_dir)?
            .unwrap_or(storage::bootstrap::BOOTSTRAP_METADATA_VERSION);
    let settings = ControllerSettings {
        node_id: config.node_id.0,
        cluster_id: verified.cluster_id.clone(),
        bootstrap_metadata_version,
        num_partitions: config.num_partitions,
        default_replication_factor: config.default_replication_factor,
        min_insync_replicas: config.min_insync_replicas,
        session_timeout: config.broker_session_timeout,
        disconnect_fence_grace: config.broker_disconnect_fence,
        max_idle_interval: config.metadata.max_idle_interval,
        leader_rebalance: config.auto_leader_rebalance.then_some(LeaderRebalance {
            check_interval: config.leader_imbalance_check_interval,
            imbalance_percentage: config.leader_imbalance_percentage,
        }),
    };
    Ok(QuorumController::spawn(
        settings,
        raft.clone(),
        metadata.clone(),
        metrics.clone(),
        shutdown.signal(),
    ))
}

/// Starts a broker's lifecycle with the controller (registration, heartbeats).
fn start_lifecycle(
    config: &ServerConfig,
    verified: &VerifiedStorage,
    metrics: &Metrics,
    channels: &ControllerChannels<'_>,
    cache: &MetadataCache,
    readiness: &Readiness,
    shutdown: &Shutdown,
) -> BrokerLifecycle {
    metrics.broker_group.enable();
    let directory_ids = verified
        .directories
        .iter()
        .filter_map(|(_, m)| m.directory_id.as_deref())
        .filter_map(crate::storage::cluster_id::uuid_from_string)
        .collect();
    BrokerLifecycle::spawn(
        config,
        &verified.cluster_id,
        directory_ids,
        channels.open("lifecycle"),
        cache.clone(),
        readiness.clone(),
        shutdown.signal(),
    )
}

/// The tasks that watch the log dirs' space and keep the quorum and metadata readiness.
fn spawn_watchers(
    config: &ServerConfig,
    raft: &RaftHandle,
    metadata: &watch::Receiver<MetadataState>,
    metrics: &Metrics,
    readiness: &Readiness,
    shutdown: &Shutdown,
    tasks: &mut JoinSet<()>,
) {
    tasks.spawn(watch_log_dirs(
        config.all_dirs(),
        metrics.clone(),
        shutdown.signal(),
    ));
    tasks.spawn(track_quorum_readiness(
        raft.clone(),
        readiness.clone(),
        shutdown.signal(),
    ));
    tasks.spawn(track_metadata_readiness(
        metadata.clone(),
        readiness.clone(),
        shutdown.signal(),
    ));
}

/// Binds each of `listeners` to `service`, in order.
async fn bind_all(
    config: &ServerConfig,
    listeners: Vec<&crate::config::Listener>,
    service: Arc<dyn Service>,
    kind: ListenerKind,
    bound: &mut Vec<(BoundListener, ListenerKind)>,
) -> Result<(), AppError> {
    for l in listeners {
        let protocol = config
            .security_protocols
            .get(&l.name)
            .copied()
            .unwrap_or(crate::config::SecurityProtocol::Plaintext);
        let b = BoundListener::bind(l, protocol, service.clone())
            .await
            .map_err(AppError::Bind)?;
        bound.push((b, kind));
    }
    Ok(())
}

/// Serves every bound listener; returns their names, kinds and addresses.
fn serve_listeners(
    config: &ServerConfig,
    bound: Vec<(BoundListener, ListenerKind)>,
    metrics: &Metrics,
    shutdown: &Shutdown,
    tasks: &mut JoinSet<()>,
) -> Result<Vec<(String, ListenerKind, SocketAddr)>, AppError> {
    // Broker listeners share the connection limits; controller listeners are never limited
    // (the quorum must always reach its voters).
    let broker_quotas = Arc::new(ConnectionQuotas::new(config.connections));
    let controller_quotas = Arc::new(ConnectionQuotas::unlimited());
    let settings = ConnectionSettings {
        max_request_bytes: config.socket_request_max_bytes,
        max_idle: config.connections.max_idle,
    };
    let mut listeners = Vec::new();
    for (b, kind) in bound {
        let addr = b.local_addr().map_err(AppError::Bind)?;
        listeners.push((b.name.clone(), kind, addr));
        let quotas = match kind {
            ListenerKind::Broker => broker_quotas.clone(),
            ListenerKind::Controller => controller_quotas.clone(),
        };
        tasks.spawn(b.serve(quotas, settings, metrics.clone(), shutdown.signal()));
    }
    Ok(listeners)
}

impl RunningServer {
    /// Stops accepting, asks every task to finish and waits up to `timeout`.
    /// Returns `false` when tasks were still running at the deadline (they are aborted).
    pub async fn stop(mut self, timeout: Duration) -> bool {
        self.readiness.not_ready("shutdown", "shutting down");
        let started = crate::clock::instant_now();
        // A broker asks for a controlled shutdown first: its leaderships move while the
        // quorum and the listeners still run.
        if let Some(l) = &mut self.lifecycle {
            let moved = l.controlled_shutdown(timeout / 3).await;
            tracing::info!(
                completed = moved,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "controlled shutdown"
            );
        }
        // The quorum member goes first: a leader hands over through EndQuorumEpoch while the
        // listeners still run.
        if let Some(node) = self.quorum.take() {
            node.stop(timeout / 2).await;
        }
        let timeout = timeout.saturating_sub(started.elapsed());
        self.shutdown.trigger();
        let drained = tokio::time::timeout(timeout, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !drained {
            self.tasks.abort_all();
        }
        drained
    }
}

/// Reports free and total bytes of each log directory's file system every 10 seconds.
async fn watch_log_dirs(
    dirs: Vec<std::path::PathBuf>,
    metrics: Metrics,
    mut shutdown: crate::shutdown::ShutdownSignal,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        for d in &dirs {
            if let Some((free, total)) = crate::storage::disk_space(d) {
                let label = [d.display().to_string()];
                metrics
                    .log
                    .dir_free_bytes
                    .with_label_values(&[label[0].as_str()])
                    .set(free as i64);
                metrics
                    .log
                    .dir_total_bytes
                    .with_label_values(&[label[0].as_str()])
                    .set(total as i64);
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
    }
}

/// Clears the `metadata` readiness condition once the first image is published.
async fn track_metadata_readiness(
    mut state: watch::Receiver<MetadataState>,
    readiness: Readiness,
    mut shutdown: crate::shutdown::ShutdownSignal,
) {
    tokio::select! {
        _ = state.wait_for(|s| s.ready) => readiness.ready("metadata"),
        _ = shutdown.wait() => {}
    }
}

/// Keeps the `quorum` readiness condition in line with whether this node knows a leader.
async fn track_quorum_readiness(
    raft: RaftHandle,
    readiness: Readiness,
    mut shutdown: crate::shutdown::ShutdownSignal,
) {
    let mut status = raft.status();
    loop {
        let known = status.borrow_and_update().raft.leader_id.is_some();
        if known {
            readiness.ready("quorum");
        } else {
            readiness.not_ready("quorum", "no quorum leader known yet");
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = status.changed() => if changed.is_err() { return },
        }
    }
}

impl RunningServer {
    /// Waits until this node knows a quorum leader (joined the quorum), up to `timeout`.
    pub async fn wait_for_quorum(&self, timeout: Duration) -> bool {
        let mut status = self.raft.status();
        tokio::time::timeout(timeout, status.wait_for(|s| s.raft.leader_id.is_some()))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Tells systemd about a state change when run under `Type=notify` (no-op otherwise).
fn notify(state: sd_notify::NotifyState<'_>) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(&[state])
    {
        tracing::warn!(error = %e, "systemd notification failed");
    }
}

/// Runs a server until SIGTERM or SIGINT, then shuts it down gracefully. `on_started` runs
/// once every listener is bound (e.g. to print where the server can be reached).
pub async fn run(
    loaded: LoadedConfig,
    on_started: impl FnOnce(&BoundAddresses),
) -> Result<(), AppError> {
    let config = &loaded.config;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    // Handlers first: a SIGTERM right after READY=1 must start a graceful shutdown.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(AppError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AppError::Signals)?;
    let server = start(config).await?;
    for (name, kind, addr) in &server.addresses.listeners {
        tracing::info!(listener = %name, ?kind, %addr, "listening");
    }
    tracing::info!(
        node_id = config.node_id.0,
        roles = config.roles.label(),
        http = %server.addresses.http,
        "kraftd started"
    );
    on_started(&server.addresses);
    // READY=1 once the listeners are bound and this node has joined the quorum (knows its
    // leader); a signal while waiting still shuts down cleanly.
    let joined = tokio::select! {
        joined = server.wait_for_quorum(Duration::from_secs(24 * 3600)) => joined,
        _ = term.recv() => false,
        _ = int.recv() => false,
    };
    if joined {
        tracing::info!(leader = ?server.raft.status().borrow().raft.leader_id.map(|l| l.0), "joined the metadata quorum");
        notify(sd_notify::NotifyState::Ready);
    } else {
        return shutdown(server, config).await;
    }
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(
        signal = which,
        timeout_ms = config.shutdown_timeout.as_millis() as u64,
        "shutting down"
    );
    shutdown(server, config).await
}

async fn shutdown(server: RunningServer, config: &ServerConfig) -> Result<(), AppError> {
    notify(sd_notify::NotifyState::Stopping);
    if server.stop(config.shutdown_timeout).await {
        tracing::info!("shutdown complete");
    } else {
        tracing::warn!("shutdown timed out; remaining tasks were aborted");
    }
    Ok(())
}
