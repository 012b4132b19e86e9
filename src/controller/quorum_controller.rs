//! The quorum controller: one task owns the controller state. On the active controller each
//! write request is turned into records by a pure function of the pending image, the records
//! are appended through raft and replayed at once into the pending image (so the next request
//! sees them), and the answer goes out when they commit. On losing leadership the pending
//! state is dropped and rebuilt from the last committed image.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::controller::broker_heartbeat::BrokerHeartbeatManager;
use crate::controller::cluster_control::LostBroker;
use crate::controller::context::{Context, ControllerResult, ControllerSettings};
use crate::controller::periodic::Periodic;
use crate::controller::replication_control::ElectionCause;
use crate::controller::request::{ControllerRequest, ControllerResponse};
use crate::controller::{
    activation, cluster_control, config_control, feature_control, producer_id_control,
    replication_control,
};
use crate::metadata::delta::MetadataDelta;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::{self, ApiMessageAndVersion};
use crate::metadata_io::listener::MetadataState;
use crate::observability::Metrics;
use crate::raft_io::driver::{AppendError, RaftHandle};
use crate::shutdown::ShutdownSignal;
use crate::types::{Epoch, NodeId, Offset};

/// Why the controller cannot serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
    /// Not the active controller (or leadership was lost before the records committed).
    #[error("this node is not the active controller")]
    NotController,
    #[error("the controller has stopped")]
    Stopped,
}

struct Call {
    request: ControllerRequest,
    reply: oneshot::Sender<Result<ControllerResponse, ControllerError>>,
    enqueued: Instant,
}

/// A cloneable handle for the listener endpoints.
#[derive(Clone)]
pub struct ControllerHandle {
    calls: mpsc::Sender<Call>,
    active: watch::Receiver<Option<i32>>,
}

impl ControllerHandle {
    /// Sends a request to the controller task and waits for its answer.
    pub async fn call(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        let (reply, rx) = oneshot::channel();
        self.calls
            .send(Call {
                request,
                reply,
                enqueued: crate::clock::instant_now(),
            })
            .await
            .map_err(|_| ControllerError::Stopped)?;
        rx.await.map_err(|_| ControllerError::Stopped)?
    }

    /// Tells the controller that the connection carrying the heartbeats of broker `broker_id`
    /// at `broker_epoch` closed. Does not wait: called when a connection ends, and queued
    /// behind the requests already sent, so a heartbeat that follows on a new connection is
    /// seen after it. Dropped when the queue is full (the session timeout still applies).
    pub fn heartbeat_connection_closed(&self, broker_id: i32, broker_epoch: i64) {
        let (reply, _) = oneshot::channel();
        let call = Call {
            request: ControllerRequest::HeartbeatConnectionClosed {
                broker_id,
                broker_epoch,
            },
            reply,
            enqueued: crate::clock::instant_now(),
        };
        if self.calls.try_send(call).is_err() {
            tracing::debug!(
                broker = broker_id,
                "controller queue full; a closed heartbeat connection is left to the session timeout"
            );
        }
    }

    /// The epoch this node is active controller in, if it is.
    pub fn active_epoch(&self) -> Option<i32> {
        *self.active.borrow()
    }
}

/// An answer waiting for its records to commit.
struct Deferred {
    /// The last offset the answer depends on.
    last_offset: i64,
    appended_at: Instant,
    reply: Option<oneshot::Sender<Result<ControllerResponse, ControllerError>>>,
    response: Option<ControllerResponse>,
}

struct Active {
    epoch: i32,
    /// Committed image plus every record appended in this epoch.
    pending: MetadataImage,
    /// Offset the next appended record gets.
    next_offset: i64,
    deferred: VecDeque<Deferred>,
    last_write: Instant,
    /// Where confirmations of queued appends arrive (expected base offset, outcome).
    appends: AppendResults,
    /// The automatic preferred-leader rebalance, if enabled.
    rebalance: Option<Periodic>,
}

type AppendOutcome = Result<Result<(Offset, Offset), AppendError>, oneshot::error::RecvError>;
type AppendResults = mpsc::Sender<(i32, i64, AppendOutcome)>;

impl Active {
    /// Answers a request that wrote nothing. A read of possibly uncommitted state waits for
    /// what it may have seen.
    fn answer_read(
        &mut self,
        response: ControllerResponse,
        reply: Option<oneshot::Sender<Result<ControllerResponse, ControllerError>>>,
    ) {
        match self.deferred.back() {
            None => {
                if let Some(r) = reply {
                    let _ = r.send(Ok(response));
                }
            }
            Some(last) => {
                let last_offset = last.last_offset;
                self.deferred.push_back(Deferred {
                    last_offset,
                    appended_at: crate::clock::instant_now(),
                    reply,
                    response: Some(response),
                });
            }
        }
    }
}

/// Replays `records` onto `pending` and encodes them for the log.
fn replay_and_encode(
    pending: &MetadataImage,
    records: &[ApiMessageAndVersion],
    metrics: &Metrics,
) -> (MetadataDelta, Vec<Bytes>) {
    // Replay first: a record the image cannot apply must never reach the log. The
    // controller wrote that record itself, so this is a bug in it, not bad input: stop
    // (nothing was written; a restarted node follows the committed log).
    let mut delta = MetadataDelta::new(pending);
    for r in records {
        if let Err(e) = delta.replay(r) {
            metrics.controller.metadata_errors.inc();
            controller_bug(&format!(
                "it produced a {} record it cannot apply: {e}",
                r.record.name()
            ));
        }
    }
    let encoded: Result<Vec<Bytes>, _> = records.iter().map(records::encode).collect();
    let encoded = match encoded {
        Ok(e) => e,
        Err(e) => {
            metrics.controller.metadata_errors.inc();
            controller_bug(&format!("it produced a record it cannot encode: {e}"));
        }
    };
    (delta, encoded)
}

/// Counts the leader elections `records` make on top of `image`, by cause; warns about
/// unclean ones, which are also counted on their own (Kafka's UncleanLeaderElectionsPerSec).
fn count_elections(image: &MetadataImage, records: &[ApiMessageAndVersion], metrics: &Metrics) {
    for (cause, n) in replication_control::leader_elections(image, records) {
        metrics
            .controller
            .partition_leader_elections
            .with_label_values(&[cause.label()])
            .inc_by(n);
        if cause == ElectionCause::Unclean {
            tracing::warn!(partitions = n, "unclean leader election: data may be lost");
            metrics.controller.unclean_leader_elections.inc_by(n);
        }
    }
}

/// Stops the process: the controller's own records are wrong, and answering NOT_CONTROLLER
/// would hide it (the next active controller may write the same). Exit code 70 (EX_SOFTWARE).
fn controller_bug(what: &str) -> ! {
    tracing::error!("controller bug: {what}; nothing was written; exiting");
    eprintln!("kraftd: fatal: controller bug: {what}; nothing was written");
    std::process::exit(70);
}

/// Queue of requests to the controller task.
const CALL_QUEUE: usize = 1024;

pub struct QuorumController {
    settings: ControllerSettings,
    raft: RaftHandle,
    metadata: watch::Receiver<MetadataState>,
    metrics: Metrics,
    heartbeats: BrokerHeartbeatManager,
    active: Option<Active>,
    active_tx: watch::Sender<Option<i32>>,
    started: Instant,
    last_leader: Option<(i32, i32)>,
    /// When the previous timer tick ran (milliseconds of this controller's clock).
    last_tick_ms: Option<u64>,
}

impl QuorumController {
    /// Starts the controller task; returns the handle the controller listener uses.
    pub fn spawn(
        settings: ControllerSettings,
        raft: RaftHandle,
        metadata: watch::Receiver<MetadataState>,
        metrics: Metrics,
        shutdown: ShutdownSignal,
    ) -> ControllerHandle {
        metrics.controller_group.enable();
        metrics.controller.active_controllers.set(0);
        let (calls, rx) = mpsc::channel(CALL_QUEUE);
        let (active_tx, active) = watch::channel(None);
        let c = QuorumController {
            settings,
            raft,
            metadata,
            metrics,
            heartbeats: BrokerHeartbeatManager::new(),
            last_tick_ms: None,
            active: None,
            active_tx,
            started: crate::clock::instant_now(),
            last_leader: None,
        };
        tokio::spawn(c.run(rx, shutdown));
        ControllerHandle { calls, active }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut calls: mpsc::Receiver<Call>, mut shutdown: ShutdownSignal) {
        let mut status = self.raft.status();
        // Bounded like the call queue: each append in flight holds one slot until confirmed.
        let (appends_tx, mut appends_rx) = mpsc::channel(CALL_QUEUE);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                call = calls.recv() => match call {
                    Some(call) => self.handle_call(call).await,
                    None => break,
                },
                changed = self.metadata.changed() => {
                    if changed.is_err() { break; }
                    self.on_commit(&appends_tx).await;
                }
                changed = status.changed() => {
                    if changed.is_err() { break; }
                    self.check_leadership(&appends_tx).await;
                }
                Some((epoch, expected, outcome)) = appends_rx.recv() => {
                    if self.active.as_ref().is_some_and(|a| a.epoch == epoch) {
                        self.check_append(expected, outcome).await;
                    }
                }
                _ = tick.tick() => {
                    self.metrics
                        .controller
                        .event_queue_depth
                        .set(calls.len() as i64);
                    self.on_tick().await
                }
                _ = shutdown.wait() => break,
            }
        }
        self.renounce("controller stopping");
    }

    /// Serves one request: errors at once when inactive; otherwise computes, appends, defers.
    async fn handle_call(&mut self, call: Call) {
        let waited = call.enqueued.elapsed();
        self.metrics
            .controller
            .event_queue_wait
            .observe(waited.as_secs_f64());
        let started = crate::clock::instant_now();
        let Some(active) = &self.active else {
            let _ = call.reply.send(Err(ControllerError::NotController));
            return;
        };
        let now_ms = self.now_ms();
        let ctx = Context {
            image: &active.pending,
            next_offset: active.next_offset,
            settings: &self.settings,
            now_ms,
        };
        let result = dispatch(&ctx, &mut self.heartbeats, call.request);
        self.metrics
            .controller
            .event_processing
            .observe(started.elapsed().as_secs_f64());
        self.write(result, Some(call.reply)).await;
    }

    /// Appends `result.records` (if any) and defers the answer until they commit.
    async fn write(
        &mut self,
        result: ControllerResult<ControllerResponse>,
        reply: Option<oneshot::Sender<Result<ControllerResponse, ControllerError>>>,
    ) {
        let Some(active) = &mut self.active else {
            if let Some(r) = reply {
                let _ = r.send(Err(ControllerError::NotController));
            }
            return;
        };
        if result.records.is_empty() {
            active.answer_read(result.response, reply);
            return;
        }
        let (delta, encoded) = replay_and_encode(&active.pending, &result.records, &self.metrics);
        let count = encoded.len() as i64;
        count_elections(&active.pending, &result.records, &self.metrics);
        let expected = active.next_offset;
        match self.raft.append_queued(Epoch(active.epoch), encoded).await {
            Ok(rx) => {
                let results = active.appends.clone();
                let epoch = active.epoch;
                tokio::spawn(async move {
                    let _ = results.send((epoch, expected, rx.await)).await;
                });
            }
            Err(_) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ControllerError::NotController));
                }
                self.renounce("the raft driver refused the append");
                return;
            }
        }
        let mut provenance = active.pending.provenance;
        provenance.last_offset = expected + count - 1;
        provenance.last_epoch = active.epoch;
        let (next, _) = delta.apply(provenance);
        active.pending = next;
        active.next_offset = expected + count;
        active.last_write = crate::clock::instant_now();
        active.deferred.push_back(Deferred {
            last_offset: expected + count - 1,
            appended_at: crate::clock::instant_now(),
            reply,
            response: Some(result.response),
        });
    }

    /// Raft confirmed (or refused) an append: the offsets must be the ones we replayed at.
    async fn check_append(&mut self, expected: i64, outcome: AppendOutcome) {
        match outcome {
            Ok(Ok((base, _))) if base.0 == expected => {}
            Ok(Ok((base, _))) => {
                tracing::error!(
                    expected,
                    got = base.0,
                    "metadata records landed at an unexpected offset; resigning"
                );
                if let Some(a) = &self.active {
                    self.raft.resign(Epoch(a.epoch)).await;
                }
                self.renounce("append offset mismatch");
            }
            _ => self.renounce("an append was refused"),
        }
    }

    /// New committed image: complete answers and follow the committed state.
    async fn on_commit(&mut self, appends: &AppendResults) {
        let state = self.metadata.borrow_and_update().clone();
        self.update_image_metrics(&state.image);
        if let Some(l) = state.leader
            && self.last_leader != Some((l.epoch, l.leader_id))
        {
            self.last_leader = Some((l.epoch, l.leader_id));
            self.metrics.controller.new_active_controllers.inc();
        }
        let committed_end = state.end_offset();
        if let Some(active) = &mut self.active {
            while let Some(d) = active.deferred.front() {
                if d.last_offset >= committed_end {
                    break;
                }
                let mut d = active.deferred.pop_front().expect("front exists");
                self.metrics
                    .controller
                    .metadata_commit_latency
                    .observe(d.appended_at.elapsed().as_secs_f64());
                if let (Some(reply), Some(response)) = (d.reply.take(), d.response.take()) {
                    let _ = reply.send(Ok(response));
                }
            }
        }
        self.check_leadership(appends).await;
    }

    /// Activates when this node's LeaderChange of the current epoch is committed and applied;
    /// renounces when raft moved on.
    async fn check_leadership(&mut self, appends: &AppendResults) {
        let raft = self.raft.status().borrow().raft.clone();
        let me = NodeId(self.settings.node_id);
        let leading = raft.leader_id == Some(me);
        if let Some(a) = &self.active
            && (!leading || raft.epoch.0 != a.epoch)
        {
            self.renounce("quorum leadership moved");
        }
        if self.active.is_some() || !leading {
            return;
        }
        let state = self.metadata.borrow().clone();
        let Some(lc) = state.leader else { return };
        // The image ends at this epoch's LeaderChange (or at an open transaction of the
        // previous controller that precedes it).
        if lc.epoch != raft.epoch.0 || lc.leader_id != me.0 {
            return;
        }
        if !state.in_transaction && state.end_offset() != lc.offset + 1 {
            return;
        }
        tracing::info!(
            epoch = lc.epoch,
            next_offset = lc.offset + 1,
            "becoming the active controller"
        );
        self.active = Some(Active {
            epoch: lc.epoch,
            pending: (*state.image).clone(),
            next_offset: lc.offset + 1,
            deferred: VecDeque::new(),
            last_write: crate::clock::instant_now(),
            appends: appends.clone(),
            rebalance: self
                .settings
                .leader_rebalance
                .map(|r| Periodic::new(r.check_interval, self.now_ms())),
        });
        self.active_tx.send_replace(Some(lc.epoch));
        self.metrics.controller.active_controllers.set(1);
        // Every registered broker gets a fresh session: the previous controller's view of
        // liveness is gone.
        let now = self.now_ms();
        self.heartbeats.reset(&state.image, now);
        let image = state.image.clone();
        if state.in_transaction {
            tracing::warn!("the previous controller left a metadata transaction open; aborting it");
            self.write(
                ControllerResult::new(
                    vec![activation::abort_open_transaction()],
                    ControllerResponse::None,
                ),
                None,
            )
            .await;
        }
        if let Some(result) = activation::records(&image, &self.settings) {
            self.write(
                ControllerResult::new(result, ControllerResponse::None),
                None,
            )
            .await;
        }
    }

    fn renounce(&mut self, why: &str) {
        let Some(active) = self.active.take() else {
            return;
        };
        tracing::info!(
            epoch = active.epoch,
            reason = why,
            pending = active.deferred.len(),
            "no longer the active controller"
        );
        for mut d in active.deferred {
            if let Some(reply) = d.reply.take() {
                let _ = reply.send(Err(ControllerError::NotController));
            }
        }
        self.active_tx.send_replace(None);
        self.metrics.controller.active_controllers.set(0);
    }

    /// Timers of the active controller: fence a broker whose session expired or whose
    /// heartbeat connection closed without a heartbeat since, rebalance preferred leaders
    /// every `leader.imbalance.check.interval.seconds`, write a NoOpRecord when idle.
    async fn on_tick(&mut self) {
        let now = self.now_ms();
        let previous = self.last_tick_ms.replace(now);
        let Some(active) = &self.active else { return };
        // Ticks come every 100 ms. A gap of half a session means this process did not run
        // (paused, stopped, starved): the brokers' silence is its own, not theirs, so they get
        // fresh sessions instead of being fenced all at once on resume. A controller that lost
        // its leadership meanwhile learns it before these sessions can expire.
        let stall = (self.settings.session_timeout.as_millis() as u64 / 2).max(1_000);
        if let Some(gap) = previous.map(|p| now.saturating_sub(p))
            && gap >= stall
        {
            tracing::warn!(
                gap_ms = gap,
                "the controller did not run for a while; giving every broker a fresh session"
            );
            self.heartbeats.refresh(now);
            return;
        }
        let ctx = Context {
            image: &active.pending,
            next_offset: active.next_offset,
            settings: &self.settings,
            now_ms: now,
        };
        if let Some((why, result)) = cluster_control::fence_lost_broker(&ctx, &mut self.heartbeats)
        {
            let counter = match why {
                LostBroker::SessionTimeout => &self.metrics.controller.broker_heartbeat_timeouts,
                LostBroker::Disconnected => &self.metrics.controller.broker_disconnect_fences,
            };
            counter.inc();
            self.write(result.map(|_| ControllerResponse::None), None)
                .await;
            return;
        }
        if let Some(rebalance) = self.settings.leader_rebalance
            && let Some(active) = &mut self.active
            && active.rebalance.as_mut().is_some_and(|p| p.due(now))
        {
            let ctx = Context {
                image: &active.pending,
                next_offset: active.next_offset,
                settings: &self.settings,
                now_ms: now,
            };
            let records = replication_control::rebalance_preferred_leaders(
                &ctx,
                rebalance.imbalance_percentage,
            );
            if !records.is_empty() {
                self.write(
                    ControllerResult::new(records, ControllerResponse::None),
                    None,
                )
                .await;
                return;
            }
        }
        let Some(active) = &self.active else { return };
        if let Some(idle) = self.settings.max_idle_interval
            && active.last_write.elapsed() >= idle
        {
            self.write(
                ControllerResult::new(vec![activation::noop()], ControllerResponse::None),
                None,
            )
            .await;
        }
    }

    fn update_image_metrics(&self, image: &Arc<MetadataImage>) {
        let m = &self.metrics.controller;
        let (mut active, mut fenced, mut shutting) = (0, 0, 0);
        for b in image.cluster.brokers.values() {
            if b.fenced {
                fenced += 1;
            } else if b.in_controlled_shutdown {
                shutting += 1;
            } else {
                active += 1;
            }
        }
        m.brokers.with_label_values(&["active"]).set(active);
        m.brokers.with_label_values(&["fenced"]).set(fenced);
        m.brokers
            .with_label_values(&["controlled_shutdown"])
            .set(shutting);
        m.topics.set(image.topics.by_id.len() as i64);
        let (mut partitions, mut offline, mut imbalance) = (0, 0, 0);
        for (_, _, p) in image.topics.partitions() {
            partitions += 1;
            if !p.has_leader() {
                offline += 1;
            }
            if p.preferred_leader() != Some(p.leader) {
                imbalance += 1;
            }
        }
        m.partitions.set(partitions);
        m.offline_partitions.set(offline);
        m.preferred_replica_imbalance.set(imbalance);
    }
}

/// Routes a request to its pure function.
fn dispatch(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    request: ControllerRequest,
) -> ControllerResult<ControllerResponse> {
    use ControllerRequest as Q;
    use ControllerResponse as A;
    match request {
        Q::BrokerRegistration(r) => {
            cluster_control::register_broker(ctx, heartbeats, &r).map(A::BrokerRegistration)
        }
        Q::BrokerHeartbeat(r) => {
            cluster_control::broker_heartbeat(ctx, heartbeats, &r).map(A::BrokerHeartbeat)
        }
        Q::UnregisterBroker(r) => {
            cluster_control::unregister_broker(ctx, heartbeats, &r).map(A::UnregisterBroker)
        }
        Q::ControllerRegistration(r) => {
            cluster_control::register_controller(ctx, &r).map(A::ControllerRegistration)
        }
        Q::CreateTopics(r, version) => {
            replication_control::create_topics(ctx, &r, version).map(A::CreateTopics)
        }
        Q::DeleteTopics(r, version) => {
            replication_control::delete_topics(ctx, &r, version).map(A::DeleteTopics)
        }
        Q::CreatePartitions(r) => {
            replication_control::create_partitions(ctx, &r).map(A::CreatePartitions)
        }
        Q::AlterPartition(r, version) => {
            replication_control::alter_partition(ctx, &r, version).map(A::AlterPartition)
        }
        Q::ElectLeaders(r, version) => {
            replication_control::elect_leaders(ctx, &r, version).map(A::ElectLeaders)
        }
        Q::IncrementalAlterConfigs(r) => {
            config_control::incremental_alter_configs(ctx, &r).map(A::IncrementalAlterConfigs)
        }
        Q::AlterConfigs(r) => config_control::alter_configs(ctx, &r).map(A::AlterConfigs),
        Q::AllocateProducerIds(r) => {
            producer_id_control::allocate(ctx, &r).map(A::AllocateProducerIds)
        }
        Q::UpdateFeatures(r, version) => {
            feature_control::update_features(ctx, &r, version).map(A::UpdateFeatures)
        }
        Q::HeartbeatConnectionClosed {
            broker_id,
            broker_epoch,
        } => cluster_control::heartbeat_connection_closed(ctx, heartbeats, broker_id, broker_epoch)
            .map(|()| A::None),
    }
}
