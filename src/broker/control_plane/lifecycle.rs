//! The broker's lifecycle with the active controller (Kafka's BrokerLifecycleManager):
//! register, heartbeat every `broker.heartbeat.interval.ms` reporting how far the metadata
//! cache has caught up, get unfenced, and on shutdown ask for a controlled shutdown so the
//! controller moves leaderships away before the process exits.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest, ControllerRegistrationRequest,
    controller_registration_request,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{oneshot, watch};

use crate::broker::control_plane::controller_channel::ControllerChannel;
use crate::broker::control_plane::metadata_cache::MetadataCache;
use crate::config::ServerConfig;
use crate::config::endpoint::{Listener as ConfigListener, SecurityProtocol};
use crate::metadata::features_image::SUPPORTED_FEATURES;
use crate::observability::readiness::Readiness;
use crate::shutdown::ShutdownSignal;

/// Where the broker is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Not registered yet.
    Starting,
    /// Registered; catching up with the metadata log (fenced).
    Recovery,
    /// Unfenced: may lead partitions and serve clients.
    Running,
    /// Asked for a controlled shutdown; waiting for leaderships to move.
    PendingControlledShutdown,
    /// The controller agreed; the broker may exit.
    ShuttingDown,
}

impl BrokerState {
    pub fn name(self) -> &'static str {
        match self {
            BrokerState::Starting => "starting",
            BrokerState::Recovery => "recovery",
            BrokerState::Running => "running",
            BrokerState::PendingControlledShutdown => "pending_controlled_shutdown",
            BrokerState::ShuttingDown => "shutting_down",
        }
    }
}

/// Kafka's security protocol id.
pub fn security_protocol_id(p: SecurityProtocol) -> i16 {
    match p {
        SecurityProtocol::Plaintext => 0,
        SecurityProtocol::Ssl => 1,
        SecurityProtocol::SaslPlaintext => 2,
        SecurityProtocol::SaslSsl => 3,
    }
}

fn protocol_of(config: &ServerConfig, l: &ConfigListener) -> i16 {
    security_protocol_id(
        config
            .security_protocols
            .get(&l.name)
            .copied()
            .unwrap_or(SecurityProtocol::Plaintext),
    )
}

/// The advertised host of a listener: an empty or wildcard bind host advertises loopback.
fn advertised_host(l: &ConfigListener) -> String {
    match l.address.host.as_str() {
        "" | "0.0.0.0" | "::" => "127.0.0.1".to_string(),
        h => h.to_string(),
    }
}

/// Handle of a running lifecycle manager.
pub struct BrokerLifecycle {
    pub state: watch::Receiver<BrokerState>,
    /// This broker's epoch once registered (the controller checks it on producer id requests).
    pub epoch: watch::Receiver<Option<i64>>,
    shutdown_request: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl BrokerLifecycle {
    /// Starts registering and heartbeating. `readiness` gets a "broker" reason until unfenced.
    pub fn spawn(
        config: &ServerConfig,
        cluster_id: &str,
        directory_ids: Vec<uuid::Uuid>,
        channel: Arc<ControllerChannel>,
        cache: MetadataCache,
        readiness: Readiness,
        shutdown: ShutdownSignal,
    ) -> BrokerLifecycle {
        let listeners = config
            .advertised_listeners
            .iter()
            .filter(|l| !config.controller_listener_names.contains(&l.name))
            .map(|l| {
                Listener::default()
                    .with_name(StrBytes::from_string(l.name.clone()))
                    .with_host(StrBytes::from_string(advertised_host(l)))
                    .with_port(l.address.port)
                    .with_security_protocol(protocol_of(config, l))
            })
            .collect();
        let registration = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(config.node_id.0))
            .with_cluster_id(StrBytes::from_string(cluster_id.to_string()))
            .with_incarnation_id(uuid::Uuid::new_v4())
            .with_listeners(listeners)
            .with_features(
                SUPPORTED_FEATURES
                    .into_iter()
                    .map(|(name, (min, max))| {
                        Feature::default()
                            .with_name(StrBytes::from_static_str(name))
                            .with_min_supported_version(min)
                            .with_max_supported_version(max)
                    })
                    .collect(),
            )
            .with_rack(config.rack.clone().map(StrBytes::from_string))
            .with_log_dirs(directory_ids);
        let (state_tx, state) = watch::channel(BrokerState::Starting);
        let (epoch_tx, epoch) = watch::channel(None);
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        readiness.not_ready("broker", "not registered with the controller yet");
        let task = LifecycleTask {
            node_id: config.node_id.0,
            registration,
            interval: config.broker_heartbeat_interval,
            channel,
            cache,
            readiness,
            state: state_tx,
            epoch: None,
            epoch_tx,
            want_shut_down: false,
        };
        tokio::spawn(task.run(shutdown_rx, shutdown));
        BrokerLifecycle {
            state,
            epoch,
            shutdown_request: Some(shutdown_tx),
        }
    }

    /// Controlled shutdown: asks the controller to move leaderships off this broker and waits
    /// until it agrees or `timeout` passes.
    pub async fn controlled_shutdown(&mut self, timeout: Duration) -> bool {
        let Some(tx) = self.shutdown_request.take() else {
            return true;
        };
        let (done_tx, done_rx) = oneshot::channel();
        if tx.send(done_tx).is_err() {
            return false;
        }
        tokio::time::timeout(timeout, done_rx).await.is_ok()
    }
}

struct LifecycleTask {
    node_id: i32,
    registration: BrokerRegistrationRequest,
    interval: Duration,
    channel: Arc<ControllerChannel>,
    cache: MetadataCache,
    readiness: Readiness,
    state: watch::Sender<BrokerState>,
    epoch: Option<i64>,
    epoch_tx: watch::Sender<Option<i64>>,
    want_shut_down: bool,
}

/// How soon a failed registration or heartbeat is retried. A heartbeat that failed dropped
/// its connection (the channel reconnects on the next send), and the active controller fences
/// a broker whose heartbeat connection closed unless it heartbeats again within
/// `kraftd.broker.disconnect.fence.ms` (500 ms by default, ADR 0012): the retry on a fresh
/// connection must come well within that.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Highest BrokerRegistration / BrokerHeartbeat versions this broker sends.
const REGISTRATION_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 1;

impl LifecycleTask {
    async fn run(
        mut self,
        mut shutdown_rx: oneshot::Receiver<oneshot::Sender<()>>,
        mut shutdown: ShutdownSignal,
    ) {
        let mut done: Option<oneshot::Sender<()>> = None;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                req = &mut shutdown_rx, if done.is_none() && !self.want_shut_down => {
                    if let Ok(reply) = req {
                        tracing::info!("requesting a controlled shutdown from the controller");
                        self.want_shut_down = true;
                        self.state.send_replace(BrokerState::PendingControlledShutdown);
                        done = Some(reply);
                    }
                }
                _ = shutdown.wait() => return,
            }
            let fast = self.step().await;
            if *self.state.borrow() == BrokerState::ShuttingDown {
                if let Some(reply) = done.take() {
                    let _ = reply.send(());
                }
                return;
            }
            // Retry quickly while registering or shutting down, and after a failed heartbeat;
            // otherwise at the interval.
            let wait = if fast || self.want_shut_down {
                self.interval.min(RETRY_BACKOFF)
            } else {
                self.interval
            };
            next = tokio::time::Instant::now() + wait;
        }
    }

    /// One registration attempt or heartbeat. Returns `true` to retry soon.
    async fn step(&mut self) -> bool {
        let Some(epoch) = self.epoch else {
            return self.register().await;
        };
        let offset = self.cache.last_offset();
        let caught_up_locally = self.cache.is_ready();
        let req = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(self.node_id))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(offset)
            .with_want_fence(!caught_up_locally)
            .with_want_shut_down(self.want_shut_down);
        match self.channel.send(&req, HEARTBEAT_VERSION).await {
            Ok(resp) => match ResponseError::try_from_code(resp.error_code) {
                None => {
                    let state = *self.state.borrow();
                    let next = if resp.should_shut_down {
                        BrokerState::ShuttingDown
                    } else if self.want_shut_down {
                        BrokerState::PendingControlledShutdown
                    } else if !resp.is_fenced {
                        BrokerState::Running
                    } else {
                        BrokerState::Recovery
                    };
                    if next != state {
                        tracing::info!(
                            from = state.name(),
                            to = next.name(),
                            "broker state changed"
                        );
                        self.state.send_replace(next);
                    }
                    match next {
                        BrokerState::Running => self.readiness.ready("broker"),
                        BrokerState::Recovery => self
                            .readiness
                            .not_ready("broker", "fenced: catching up with the metadata log"),
                        _ => self.readiness.not_ready("broker", "shutting down"),
                    }
                    false
                }
                Some(ResponseError::StaleBrokerEpoch)
                | Some(ResponseError::BrokerIdNotRegistered) => {
                    tracing::warn!(
                        epoch,
                        "the controller does not know this registration; registering again"
                    );
                    self.epoch = None;
                    true
                }
                Some(e) => {
                    tracing::debug!(error = %e, "heartbeat refused");
                    true
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                true
            }
        }
    }

    async fn register(&mut self) -> bool {
        if self.want_shut_down {
            // Never registered: nothing to hand over.
            self.state.send_replace(BrokerState::ShuttingDown);
            return false;
        }
        match self
            .channel
            .send(&self.registration, REGISTRATION_VERSION)
            .await
        {
            Ok(resp) => match ResponseError::try_from_code(resp.error_code) {
                None => {
                    tracing::info!(epoch = resp.broker_epoch, "registered with the controller");
                    self.epoch = Some(resp.broker_epoch);
                    self.epoch_tx.send_replace(Some(resp.broker_epoch));
                    self.registration.previous_broker_epoch = resp.broker_epoch;
                    self.state.send_replace(BrokerState::Recovery);
                    self.readiness
                        .not_ready("broker", "fenced: catching up with the metadata log");
                    true
                }
                Some(ResponseError::NotController) => {
                    tracing::debug!("the quorum leader is not an active controller yet; retrying");
                    true
                }
                Some(e) => {
                    tracing::warn!(error = %e, "broker registration refused");
                    self.readiness
                        .not_ready("broker", format!("registration refused: {e}"));
                    true
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "broker registration failed; retrying");
                true
            }
        }
    }
}

/// Registers this controller with the active controller (KIP-919) whenever the image does
/// not hold its current registration, so brokers and tools learn controller endpoints.
pub async fn register_controller(
    config: ServerConfig,
    channel: Arc<ControllerChannel>,
    cache: MetadataCache,
    mut shutdown: ShutdownSignal,
) {
    let incarnation = uuid::Uuid::new_v4();
    let listeners: Vec<_> = config
        .controller_listeners()
        .into_iter()
        .map(|l| {
            controller_registration_request::Listener::default()
                .with_name(StrBytes::from_string(l.name.clone()))
                .with_host(StrBytes::from_string(advertised_host(l)))
                .with_port(l.address.port)
                .with_security_protocol(protocol_of(&config, l))
        })
        .collect();
    let request = ControllerRegistrationRequest::default()
        .with_controller_id(config.node_id.0)
        .with_incarnation_id(incarnation)
        .with_listeners(listeners)
        .with_features(
            SUPPORTED_FEATURES
                .into_iter()
                .map(|(name, (min, max))| {
                    controller_registration_request::Feature::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_min_supported_version(min)
                        .with_max_supported_version(max)
                })
                .collect(),
        );
    let mut state = cache.subscribe();
    loop {
        let registered = state
            .borrow()
            .image
            .cluster
            .controllers
            .get(&config.node_id.0)
            .is_some_and(|c| c.incarnation_id == incarnation);
        if registered {
            tokio::select! {
                _ = state.changed() => continue,
                _ = shutdown.wait() => return,
            }
        }
        if state.borrow().ready {
            match channel.send(&request, 0).await {
                Ok(r) if r.error_code == 0 => {
                    tracing::info!("controller registration written");
                }
                Ok(r) => tracing::debug!(code = r.error_code, "controller registration refused"),
                Err(e) => tracing::debug!(error = %e, "controller registration failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.wait() => return,
        }
    }
}
