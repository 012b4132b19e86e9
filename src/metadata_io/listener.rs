//! The task that follows the committed metadata log on every node: feeds the loader, publishes
//! each new image, keeps the metadata metrics, and writes snapshots of the image when the
//! policy says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::metadata::image::MetadataImage;
use crate::metadata::loader::{LeaderChange, LoadError, MetadataLoader};
use crate::metadata::snapshot::{self, SnapshotPolicy};
use crate::metadata_io::publisher::{MetadataPublisher, MetadataUpdate};
use crate::observability::Metrics;
use crate::raft_io::committed::CommitEvent;
use crate::raft_io::driver::RaftHandle;
use crate::shutdown::ShutdownSignal;

/// What every consumer of metadata sees: the latest published image and the last leader
/// change committed before it.
#[derive(Debug, Clone, Default)]
pub struct MetadataState {
    pub image: Arc<MetadataImage>,
    pub leader: Option<LeaderChange>,
    /// An image was published (the loader caught up with the log once).
    pub ready: bool,
    /// Committed records of a metadata transaction follow the image and are not in it yet.
    pub in_transaction: bool,
}

impl MetadataState {
    /// The exclusive end offset of the published image.
    pub fn end_offset(&self) -> i64 {
        self.image.provenance.end_offset()
    }
}

/// Test-only fault injection: the path of a file whose existence pauses metadata application.
pub const PAUSE_FILE_ENV: &str = "KRAFTD_TEST_PAUSE_METADATA_FILE";

/// A publisher taking longer than this is logged.
const SLOW_PUBLISH: Duration = Duration::from_secs(1);

/// Queue between the raft driver and this task.
const COMMIT_QUEUE: usize = 64;

/// Handles of a running metadata listener.
pub struct MetadataListener {
    /// Give this to the raft driver (`commit_listener`).
    pub commits: mpsc::Sender<CommitEvent>,
    pub state: watch::Receiver<MetadataState>,
    receiver: mpsc::Receiver<CommitEvent>,
    sender: watch::Sender<MetadataState>,
}

impl Default for MetadataListener {
    fn default() -> Self {
        Self::new()
    }
}

impl MetadataListener {
    pub fn new() -> Self {
        let (commits, receiver) = mpsc::channel(COMMIT_QUEUE);
        let (sender, state) = watch::channel(MetadataState::default());
        MetadataListener {
            commits,
            state,
            receiver,
            sender,
        }
    }

    /// Starts following the log through `raft` (needed for the high watermark and to hand
    /// snapshots to the raft layer). Every published image goes to `publishers`, in order,
    /// before it appears in the returned state.
    pub fn spawn(
        self,
        config: &ServerConfig,
        raft: RaftHandle,
        metrics: Metrics,
        clock: Clock,
        publishers: Vec<Arc<dyn MetadataPublisher>>,
        shutdown: ShutdownSignal,
    ) -> watch::Receiver<MetadataState> {
        metrics.metadata_group.enable();
        let state = self.state.clone();
        let task = ListenerTask {
            loader: MetadataLoader::new(),
            policy: SnapshotPolicy::new(
                config.metadata.max_record_bytes_between_snapshots,
                config
                    .metadata
                    .max_snapshot_interval
                    .unwrap_or(Duration::ZERO),
                Duration::ZERO,
            ),
            retention_bytes: config.metadata.max_retention_bytes,
            bytes_since_clean: 0,
            raft,
            metrics,
            clock,
            sender: self.sender,
            publishers,
            published: Arc::new(MetadataImage::default()),
            last_caught_up: crate::clock::instant_now(),
            started: crate::clock::instant_now(),
            last_snapshot_at: None,
            latest_snapshot_end: 0,
            metadata_version: None,
        };
        tokio::spawn(task.run(self.receiver, shutdown));
        state
    }
}

struct ListenerTask {
    loader: MetadataLoader,
    policy: SnapshotPolicy,
    retention_bytes: Option<u64>,
    bytes_since_clean: u64,
    raft: RaftHandle,
    metrics: Metrics,
    clock: Clock,
    sender: watch::Sender<MetadataState>,
    publishers: Vec<Arc<dyn MetadataPublisher>>,
    /// The image the publishers saw last.
    published: Arc<MetadataImage>,
    last_caught_up: Instant,
    started: Instant,
    last_snapshot_at: Option<Instant>,
    latest_snapshot_end: i64,
    metadata_version: Option<i16>,
}

impl ListenerTask {
    async fn run(mut self, mut rx: mpsc::Receiver<CommitEvent>, mut shutdown: ShutdownSignal) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Fault injection for tests: while this file exists the node stops applying committed
        // metadata (raft keeps fetching), so metadata lag builds up as on a stuck node.
        let pause_file = std::env::var_os(PAUSE_FILE_ENV).map(std::path::PathBuf::from);
        loop {
            let paused = pause_file.as_ref().is_some_and(|p| p.exists());
            tokio::select! {
                ev = rx.recv(), if !paused => match ev {
                    Some(ev) => self.handle(ev).await,
                    None => return,
                },
                _ = tick.tick() => {
                    self.update_gauges();
                    self.maybe_snapshot().await;
                }
                _ = shutdown.wait() => return,
            }
        }
    }

    async fn handle(&mut self, ev: CommitEvent) {
        if let Some(hwm) = *self.raft.committed().borrow() {
            self.loader.set_catch_up_target(hwm.0);
        }
        let mut errors = Vec::new();
        let update = match ev {
            CommitEvent::Snapshot { id, data } => {
                tracing::info!(
                    offset = id.offset.0,
                    epoch = id.epoch.0,
                    bytes = data.len(),
                    "loading the metadata image from a snapshot"
                );
                let update = self.loader.load_snapshot(id, data, &mut errors);
                self.metrics.metadata.snapshots_loaded.inc();
                self.note_snapshot(id.offset.0);
                update
            }
            CommitEvent::Batches(batches) => {
                let bytes: u64 = batches.iter().map(|b| b.size_bytes() as u64).sum();
                self.policy.committed(bytes);
                self.bytes_since_clean += bytes;
                let records: u64 = batches
                    .iter()
                    .filter(|b| !b.is_control())
                    .map(|b| b.record_count() as u64)
                    .sum();
                self.metrics
                    .controller
                    .metadata_committed_records
                    .inc_by(records);
                self.loader
                    .apply_batches(&batches, self.clock.wall_ms(), &mut errors)
            }
        };
        self.report_load_errors(&errors);
        if let Some(u) = update {
            if u.from_snapshot.is_none() && self.loader.position().last_offset >= 0 {
                tracing::debug!(
                    offset = u.image.provenance.last_offset,
                    records = u.records,
                    "metadata image published"
                );
            }
            self.note_metadata_version(u.image.features.metadata_version());
            let leader = self.loader.leader();
            let update = MetadataUpdate {
                image: u.image.clone(),
                previous: std::mem::replace(&mut self.published, u.image.clone()),
                changes: u.changes,
                from_snapshot: u.from_snapshot,
                leader,
            };
            self.publish(&update).await;
            self.sender.send_replace(MetadataState {
                image: u.image,
                leader,
                ready: true,
                in_transaction: false,
            });
        } else if self.loader.is_caught_up() {
            // Nothing published (a transaction is open), but its state must be visible: a new
            // active controller aborts a transaction its predecessor left open.
            let in_transaction = self.loader.in_transaction();
            let leader = self.loader.leader();
            self.sender.send_if_modified(|s| {
                let changed = s.in_transaction != in_transaction || s.leader != leader;
                s.in_transaction = in_transaction;
                s.leader = leader;
                changed
            });
        }
        self.update_gauges();
        self.maybe_snapshot().await;
    }

    /// Logs and counts the problems a load skipped.
    fn report_load_errors(&self, errors: &[LoadError]) {
        for e in errors {
            tracing::error!(error = %e, "metadata log problem; the record is skipped");
            match e {
                LoadError::Replay { .. } => self.metrics.metadata.apply_errors.inc(),
                LoadError::Decode { .. } | LoadError::Snapshot { .. } => {
                    self.metrics.metadata.load_errors.inc()
                }
            }
            self.metrics.controller.metadata_errors.inc();
        }
    }

    /// Exports the metadata version of the published image (`kafka_metadata_version_info`).
    fn note_metadata_version(&mut self, mv: Option<i16>) {
        if mv != self.metadata_version {
            if let Some(old) = self.metadata_version {
                let _ = self
                    .metrics
                    .metadata
                    .version_info
                    .remove_label_values(&[&old.to_string()]);
            }
            if let Some(new) = mv {
                self.metrics
                    .metadata
                    .version_info
                    .with_label_values(&[&new.to_string()])
                    .set(1);
            }
            self.metadata_version = mv;
        }
    }

    /// Hands `update` to every publisher in order, timing each.
    async fn publish(&self, update: &MetadataUpdate) {
        for p in &self.publishers {
            let started = crate::clock::instant_now();
            p.publish(update).await;
            let took = started.elapsed();
            self.metrics
                .metadata
                .publish_duration
                .with_label_values(&[p.name()])
                .observe(took.as_secs_f64());
            if took > SLOW_PUBLISH {
                tracing::warn!(
                    publisher = p.name(),
                    took_ms = took.as_millis() as u64,
                    offset = update.image.provenance.last_offset,
                    "a metadata publisher was slow; later updates waited for it"
                );
            }
        }
    }

    fn note_snapshot(&mut self, end_offset: i64) {
        self.policy
            .snapshot_taken(end_offset, self.started.elapsed());
        self.latest_snapshot_end = self.latest_snapshot_end.max(end_offset);
        self.last_snapshot_at = Some(crate::clock::instant_now());
    }

    fn update_gauges(&mut self) {
        let state = self.sender.borrow().clone();
        let applied_end = if state.ready { state.end_offset() } else { 0 };
        let hwm = self.raft.committed().borrow().map(|o| o.0);
        let lag = hwm.map_or(0, |h| (h - applied_end).max(0));
        if lag == 0 && state.ready {
            self.last_caught_up = crate::clock::instant_now();
        }
        let m = &self.metrics;
        m.metadata
            .last_applied_offset
            .set(if state.ready { applied_end - 1 } else { -1 });
        m.metadata
            .last_applied_record_lag_seconds
            .set(self.last_caught_up.elapsed().as_secs_f64());
        if let Some(at) = self.last_snapshot_at {
            m.metadata
                .snapshot_age_seconds
                .set(at.elapsed().as_secs_f64());
        }
        let latest = self
            .raft
            .status()
            .borrow()
            .raft
            .latest_snapshot
            .map_or(0, |s| s.offset.0);
        let snapshot_lag = hwm.map_or(0, |h| (h - latest).max(0));
        m.controller.metadata_lag.set(lag);
        m.broker_metadata.metadata_lag.set(lag);
        m.controller.metadata_snapshot_offset_lag.set(snapshot_lag);
        m.broker_metadata
            .metadata_snapshot_offset_lag
            .set(snapshot_lag);
    }

    /// Writes a snapshot of the published image when due, then lets the raft layer clean the
    /// log below it once the retained log exceeds `metadata.max.retention.bytes`.
    async fn maybe_snapshot(&mut self) {
        let image = self.sender.borrow().image.clone();
        let end = image.provenance.end_offset();
        if !self.sender.borrow().ready
            || !self.loader.snapshot_safe()
            || !self.policy.due(end, self.started.elapsed())
        {
            return;
        }
        let (id, data) = match snapshot::encode(&image, self.clock.wall_ms()) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a metadata snapshot");
                return;
            }
        };
        let bytes = data.len();
        if !self.raft.create_snapshot(id, data).await {
            return;
        }
        tracing::info!(
            offset = id.offset.0,
            epoch = id.epoch.0,
            bytes,
            "metadata snapshot written"
        );
        self.metrics.metadata.snapshots_generated.inc();
        self.metrics.metadata.snapshot_bytes.set(bytes as i64);
        self.note_snapshot(id.offset.0);
        let over_retention = self
            .retention_bytes
            .is_none_or(|limit| self.bytes_since_clean >= limit);
        if over_retention && self.raft.clean_log().await {
            self.bytes_since_clean = 0;
        }
        self.update_gauges();
    }
}
