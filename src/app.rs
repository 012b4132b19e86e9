//! The server process: checks storage, binds the listeners of the roles in `process.roles`,
//! serves until SIGTERM/SIGINT, then shuts down within `kraftd.shutdown.timeout.ms`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::{LoadedConfig, ServerConfig};
use crate::network::{BoundListener, Dispatcher, ListenerKind};
use crate::observability::{Metrics, Readiness, http};
use crate::protocol::api_versions;
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
    shutdown: Shutdown,
    tasks: JoinSet<()>,
    _storage: VerifiedStorage,
}

/// Checks storage, binds every listener and starts serving. Returns once bound.
pub async fn start(config: &ServerConfig) -> Result<RunningServer, AppError> {
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

    let mut bound = Vec::new();
    if config.roles.controller {
        for l in config.controller_listeners() {
            let d = Dispatcher::new(ListenerKind::Controller, api_versions::controller_apis());
            bound.push(BoundListener::bind(l, d).await.map_err(AppError::Bind)?);
        }
    }
    if config.roles.broker {
        for l in config.broker_listeners() {
            let d = Dispatcher::new(ListenerKind::Broker, api_versions::broker_apis());
            bound.push(BoundListener::bind(l, d).await.map_err(AppError::Bind)?);
        }
    }
    let mut listeners = Vec::new();
    for b in bound {
        let addr = b.local_addr().map_err(AppError::Bind)?;
        listeners.push((b.name.clone(), b.dispatcher.kind(), addr));
        tasks.spawn(b.serve(
            config.socket_request_max_bytes,
            metrics.clone(),
            shutdown.signal(),
        ));
    }
    tasks.spawn(http::serve(
        http_listener,
        metrics.clone(),
        readiness.clone(),
        shutdown.signal(),
    ));
    readiness.ready("listeners");

    Ok(RunningServer {
        addresses: BoundAddresses {
            http: http_addr,
            listeners,
        },
        readiness,
        metrics,
        shutdown,
        tasks,
        _storage: verified,
    })
}

impl RunningServer {
    /// Stops accepting, asks every task to finish and waits up to `timeout`.
    /// Returns `false` when tasks were still running at the deadline (they are aborted).
    pub async fn stop(mut self, timeout: Duration) -> bool {
        self.readiness.not_ready("shutdown", "shutting down");
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
    notify(sd_notify::NotifyState::Ready);
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(
        signal = which,
        timeout_ms = config.shutdown_timeout.as_millis() as u64,
        "shutting down"
    );
    notify(sd_notify::NotifyState::Stopping);
    if server.stop(config.shutdown_timeout).await {
        tracing::info!("shutdown complete");
    } else {
        tracing::warn!("shutdown timed out; remaining tasks were aborted");
    }
    Ok(())
}
