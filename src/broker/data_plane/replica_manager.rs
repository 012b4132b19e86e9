//! The partitions this broker hosts, kept in line with the metadata image: a partition whose
//! replicas include this broker gets a local log (created or recovered) and follows the
//! image's leadership — as leader it serves producers, consumers and followers; as follower
//! one of the replica fetchers pulls it from its leader; a partition of a deleted topic, or
//! one this broker no longer hosts, loses its log. Topic configs (topic, dynamic broker,
//! static, default) become the log's settings. Its timer shrinks ISRs, checkpoints high
//! watermarks, flushes and applies retention.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::broker::data_plane::high_watermark_checkpoint;
use crate::broker::data_plane::log_dir_failure::LogDirFailureHandler;
use crate::broker::data_plane::log_manager::LogManager;
use crate::broker::data_plane::partition::{Partition, PartitionSettings};
use crate::broker::data_plane::partition_state::{IsrChange, Transition};
use crate::broker::data_plane::replica_fetcher::{FetcherContext, ReplicaFetcher, fetcher_index};
use crate::clock::Clock;
use crate::config::{ReplicationSettings, ServerConfig};
use crate::log::LogConfig;
use crate::metadata::config_resolution::topic_synonyms;
use crate::metadata::image::MetadataImage;
use crate::metadata::topic_config;
use crate::metadata_io::publisher::{MetadataPublisher, MetadataUpdate, Publishing};
use crate::observability::Metrics;
use crate::shutdown::ShutdownSignal;

/// How often retention is applied (Kafka's `log.retention.check.interval.ms` default).
const RETENTION_CHECK: Duration = Duration::from_secs(300);

/// An ISR change a partition leader wants committed by the controller.
pub struct IsrProposal {
    pub partition: Arc<Partition>,
    pub change: IsrChange,
}

pub struct ReplicaManager {
    node_id: i32,
    replication: ReplicationSettings,
    /// The listener followers fetch from (`inter.broker.listener.name`).
    inter_broker_listener: String,
    fetcher_context: FetcherContext,
    /// This broker's epoch as the image registers it (the replica epoch of its fetches).
    broker_epoch: watch::Sender<Option<i64>>,
    fetchers: Mutex<HashMap<(i32, u32), Arc<ReplicaFetcher>>>,
    runtime: tokio::runtime::Handle,
    isr_proposals: mpsc::UnboundedSender<IsrProposal>,
    isr_receiver: Mutex<Option<mpsc::UnboundedReceiver<IsrProposal>>>,
    /// High watermarks read from the log directories' checkpoints at start.
    checkpointed: HashMap<(String, i32), i64>,
    static_values: BTreeMap<String, String>,
    flush_before_ack: bool,
    /// `socket.request.max.bytes`: the most a produced batch may decompress to.
    max_uncompressed_bytes: usize,
    log_manager: Arc<LogManager>,
    log_dir_failures: LogDirFailureHandler,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    clock: Clock,
    metrics: Metrics,
    /// Topics whose per-topic series were last reported, so a deleted topic's series go away.
    reported_topics: Mutex<BTreeSet<String>>,
}

impl ReplicaManager {
    /// Needs a tokio runtime (fetchers are spawned on it).
    pub fn new(config: &ServerConfig, clock: Clock, metrics: Metrics) -> ReplicaManager {
        let (broker_epoch, epoch_rx) = watch::channel(None);
        let (isr_proposals, isr_receiver) = mpsc::unbounded_channel();
        let mut checkpointed = HashMap::new();
        for dir in &config.log_dirs {
            checkpointed.extend(high_watermark_checkpoint::read(dir));
        }
        let log_manager = Arc::new(LogManager::new(&config.log_dirs));
        let log_dir_failures =
            LogDirFailureHandler::new(log_manager.clone(), metrics.log.offline_dirs.clone());
        ReplicaManager {
            node_id: config.node_id.0,
            replication: config.replication,
            inter_broker_listener: config
                .inter_broker_listener_name
                .clone()
                .unwrap_or_else(|| "PLAINTEXT".to_string()),
            fetcher_context: FetcherContext {
                node_id: config.node_id.0,
                broker_epoch: epoch_rx,
                settings: config.replication,
                metrics: metrics.replication.clone(),
                clock,
                log_dir_failures: log_dir_failures.clone(),
            },
            broker_epoch,
            fetchers: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
            isr_proposals,
            isr_receiver: Mutex::new(Some(isr_receiver)),
            checkpointed,
            static_values: config.static_values.clone(),
            flush_before_ack: config.log.flush_before_ack,
            max_uncompressed_bytes: config.socket_request_max_bytes as usize,
            log_manager,
            log_dir_failures,
            partitions: RwLock::new(HashMap::new()),
            clock,
            metrics,
            reported_topics: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Where partition-log I/O errors are reported (ADR 0004).
    pub fn log_dir_failures(&self) -> &LogDirFailureHandler {
        &self.log_dir_failures
    }

    pub fn log_dirs(&self) -> Vec<crate::broker::data_plane::log_manager::LogDirState> {
        self.log_manager.dirs()
    }

    /// The effective settings of `topic`'s logs.
    pub fn settings_for(&self, image: &MetadataImage, topic: &str) -> PartitionSettings {
        let value = |key: &str| -> String {
            let k = topic_config::topic_config(key).expect("known topic config");
            topic_synonyms(&image.configs, &self.static_values, self.node_id, topic, k)
                .first()
                .map(|s| s.value.clone())
                .unwrap_or_else(|| k.default.to_string())
        };
        let num = |key: &str| value(key).trim().parse::<i64>().unwrap_or(-1);
        let ms = |key: &str| {
            let v = num(key);
            (0..i64::MAX)
                .contains(&v)
                .then(|| Duration::from_millis(v as u64))
        };
        PartitionSettings {
            log: LogConfig {
                segment_bytes: num("segment.bytes").max(14) as u64,
                roll: ms("segment.ms").unwrap_or(Duration::from_secs(7 * 24 * 3600)),
                index_interval_bytes: num("index.interval.bytes").max(0) as u64,
                index_max_bytes: num("segment.index.bytes").max(4) as u64,
                max_batch_bytes: num("max.message.bytes").max(0) as usize,
                retention: ms("retention.ms"),
                retention_bytes: {
                    let v = num("retention.bytes");
                    (v >= 0).then_some(v as u64)
                },
            },
            log_append_time: value("message.timestamp.type") == "LogAppendTime",
            min_insync_replicas: num("min.insync.replicas").max(1) as i32,
            flush_before_ack: self.flush_before_ack,
            flush_messages: num("flush.messages").max(1) as u64,
            flush_interval: ms("flush.ms"),
            compacted: value("cleanup.policy")
                .split(',')
                .any(|p| p.trim() == "compact"),
            timestamp_before_max_ms: num("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: num("message.timestamp.after.max.ms"),
            max_uncompressed_bytes: self.max_uncompressed_bytes,
            eligible_leader_replicas: image.features.eligible_leader_replicas_enabled(),
        }
    }

    /// Brings the hosted partitions in line with `image`; `previous` (when given) lets
    /// untouched topics be skipped.
    pub fn apply(&self, image: &MetadataImage, previous: Option<&MetadataImage>) {
        let now = self.clock.wall_ms();
        let mut wanted: HashMap<(String, i32), ()> = HashMap::new();
        for topic in image.topics.by_id.values() {
            let unchanged = previous
                .and_then(|p| p.topics.get(&topic.id))
                .is_some_and(|old| Arc::ptr_eq(old, topic))
                && previous.is_some_and(|p| {
                    Arc::ptr_eq(&p.configs, &image.configs)
                        && Arc::ptr_eq(&p.features, &image.features)
                });
            let settings = (!unchanged).then(|| self.settings_for(image, &topic.name));
            for (index, reg) in &topic.partitions {
                if !reg.replicas.contains(&self.node_id) {
                    continue;
                }
                let key = (topic.name.clone(), *index);
                wanted.insert(key.clone(), ());
                let existing = self.get(&topic.name, *index);
                match (existing, &settings) {
                    (Some(p), _) if p.topic_id != topic.id => {
                        // Same name, new topic: drop the old partition first.
                        self.remove(&key, true);
                        self.create(image, &topic.name, *index, topic.id, reg, now);
                    }
                    (Some(p), Some(s)) => {
                        let transition = p.update(reg, s.clone(), now);
                        self.follow(image, &p, transition);
                    }
                    (Some(_), None) => {}
                    (None, _) => self.create(image, &topic.name, *index, topic.id, reg, now),
                }
            }
        }
        let stale: Vec<(String, i32)> = self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in stale {
            tracing::info!(topic = %key.0, partition = key.1, "partition no longer hosted here; deleting its log");
            self.remove(&key, true);
        }
        // Logs on disk for partitions the image does not give this broker (deleted while it
        // was down).
        for (topic, p) in self.log_manager.existing() {
            let hosted = image
                .topics
                .get_by_name(&topic)
                .and_then(|t| t.partitions.get(&p))
                .is_some_and(|r| r.replicas.contains(&self.node_id));
            if !hosted {
                tracing::info!(%topic, partition = p, "deleting a local log the metadata no longer assigns here");
                self.log_manager.delete(&topic, p);
            }
        }
        self.update_fetcher_addresses(image);
        self.broker_epoch.send_if_modified(|e| {
            let now = image.cluster.brokers.get(&self.node_id).map(|b| b.epoch);
            std::mem::replace(e, now) != now
        });
        self.report_sizes();
    }

    /// Starts or stops fetching `p` after its role changed.
    fn follow(&self, image: &MetadataImage, p: &Arc<Partition>, transition: Transition) {
        match transition {
            Transition::BecameLeader { .. } => self.stop_fetching(&p.topic, p.index),
            Transition::BecameFollower {
                leader,
                leader_epoch,
            } => {
                self.stop_fetching(&p.topic, p.index);
                if leader >= 0 {
                    self.start_fetching(image, p.clone(), leader, leader_epoch);
                }
            }
            Transition::Unchanged => {}
        }
    }

    fn start_fetching(
        &self,
        image: &MetadataImage,
        p: Arc<Partition>,
        leader: i32,
        leader_epoch: i32,
    ) {
        let key = (
            leader,
            fetcher_index(&p.topic, p.index, self.replication.num_fetchers),
        );
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        let fetcher = fetchers.entry(key).or_insert_with(|| {
            let f = ReplicaFetcher::new(key.0, key.1);
            f.set_address(self.leader_address(image, leader));
            tracing::info!(source = leader, index = key.1, "starting a replica fetcher");
            self.runtime
                .spawn(f.clone().run(self.fetcher_context.clone()));
            f
        });
        fetcher.add(p, leader_epoch);
        self.metrics.replication.fetchers.set(fetchers.len() as i64);
    }

    /// Removes a partition from whichever fetcher carries it; fetchers left empty stop.
    fn stop_fetching(&self, topic: &str, partition: i32) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        fetchers.retain(|_, f| {
            f.remove(topic, partition, &self.metrics.replication);
            let keep = !f.is_empty();
            if !keep {
                f.stop();
            }
            keep
        });
        self.metrics.replication.fetchers.set(fetchers.len() as i64);
    }

    /// The inter-broker endpoint (`host:port`) of broker `leader` in `image`.
    pub fn leader_address(&self, image: &MetadataImage, leader: i32) -> Option<String> {
        let b = image.cluster.brokers.get(&leader)?;
        let e = b.listener(&self.inter_broker_listener)?;
        Some(format!("{}:{}", e.host, e.port))
    }

    fn update_fetcher_addresses(&self, image: &MetadataImage) {
        for f in self
            .fetchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            f.set_address(self.leader_address(image, f.source));
        }
    }

    /// Takes the stream of ISR changes leaders propose (once; for the AlterPartition sender).
    pub fn take_isr_proposals(&self) -> Option<mpsc::UnboundedReceiver<IsrProposal>> {
        self.isr_receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Hands an ISR change of `partition` to the AlterPartition sender.
    pub fn propose_isr(&self, partition: Arc<Partition>, change: IsrChange) {
        tracing::info!(topic = %partition.topic, partition = partition.index, isr = ?change.new_isr, kind = ?change.kind, "proposing an ISR change");
        if self
            .isr_proposals
            .send(IsrProposal {
                partition: partition.clone(),
                change,
            })
            .is_err()
        {
            partition.isr_answered(-1, None, self.clock.wall_ms());
        }
    }

    /// Proposes the ISR shrinks that are due.
    fn shrink_isrs(&self, now_ms: i64) {
        let max_lag = self.replication.lag_time_max.as_millis() as i64;
        for p in self.partitions() {
            if let Some(change) = p.maybe_shrink_isr(now_ms, max_lag) {
                self.propose_isr(p, change);
            }
        }
    }

    /// Writes every log directory's high-watermark checkpoint; `false` if one failed.
    fn checkpoint_high_watermarks(&self) -> bool {
        let mut by_dir: BTreeMap<PathBuf, Vec<(String, i32, i64)>> = BTreeMap::new();
        for d in self.log_manager.dirs() {
            by_dir.entry(d.0.clone()).or_default();
        }
        for p in self.partitions() {
            if let Some(dir) = p.log_dir() {
                by_dir
                    .entry(dir)
                    .or_default()
                    .push((p.topic.clone(), p.index, p.high_watermark()));
            }
        }
        let mut ok = true;
        for (dir, mut entries) in by_dir {
            if !dir.is_dir() {
                continue;
            }
            entries.sort();
            if let Err(e) = high_watermark_checkpoint::write(&dir, &entries) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot write the high-watermark checkpoint");
                ok = false;
            }
        }
        ok
    }

    fn create(
        &self,
        image: &MetadataImage,
        topic: &str,
        index: i32,
        topic_id: uuid::Uuid,
        reg: &crate::metadata::partition_registration::PartitionRegistration,
        now: i64,
    ) {
        let settings = self.settings_for(image, topic);
        match self
            .log_manager
            .open(topic, index, topic_id, settings.log.clone(), now)
        {
            Ok((log, report)) => {
                if report.truncated_bytes > 0 {
                    self.metrics
                        .log
                        .recovered_truncated_bytes
                        .inc_by(report.truncated_bytes);
                }
                let hwm = self
                    .checkpointed
                    .get(&(topic.to_string(), index))
                    .copied()
                    .unwrap_or(0);
                let p = Arc::new(Partition::new(
                    (topic, index, topic_id),
                    self.node_id,
                    log,
                    settings.clone(),
                    hwm,
                    now,
                ));
                let transition = p.update(reg, settings, now);
                self.partitions
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((topic.to_string(), index), p.clone());
                self.follow(image, &p, transition);
            }
            Err(e) => {
                tracing::error!(%topic, partition = index, error = %e, "cannot open the partition log");
                if let crate::broker::data_plane::log_manager::LogManagerError::Log(l) = &e
                    && l.is_io()
                {
                    for d in self.log_manager.dirs() {
                        if let Some(dir) = self.log_manager.mark_offline(&d.0) {
                            tracing::error!(dir = %dir.display(), "log directory offline");
                        }
                    }
                    self.metrics
                        .log
                        .offline_dirs
                        .set(self.log_manager.offline_dirs() as i64);
                }
            }
        }
    }

    fn remove(&self, key: &(String, i32), delete: bool) {
        let removed = self
            .partitions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some(p) = removed {
            self.stop_fetching(&p.topic, p.index);
            drop(p);
            if delete {
                self.log_manager.delete(&key.0, key.1);
            }
        }
    }

    fn report_sizes(&self) {
        let mut per_topic: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        let (mut total, mut leaders, mut under, mut under_min, mut at_min) = (0, 0, 0, 0, 0);
        for p in self.partitions() {
            let l = p.leadership();
            total += 1;
            leaders += i64::from(l.leader);
            under += i64::from(l.under_replicated);
            under_min += i64::from(l.under_min_isr);
            at_min += i64::from(l.at_min_isr);
            let (bytes, segments) = p.size();
            let e = per_topic.entry(p.topic.clone()).or_default();
            e.0 += bytes;
            e.1 += segments;
        }
        self.metrics.broker.partitions.set(total);
        self.metrics.broker.leader_partitions.set(leaders);
        self.metrics.broker.under_replicated_partitions.set(under);
        self.metrics.broker.under_min_isr_partitions.set(under_min);
        self.metrics.broker.at_min_isr_partitions.set(at_min);
        let failed: usize = self
            .fetchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|f| f.failed_partitions())
            .sum();
        self.metrics
            .replication
            .fetcher_failed_partitions
            .set(failed as i64);
        let mut reported = self
            .reported_topics
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for gone in reported.iter().filter(|t| !per_topic.contains_key(*t)) {
            // A topic with no replica here any more (deleted or moved): Kafka drops its
            // per-topic metrics too. Absent series are not errors.
            let labels = [gone.as_str()];
            let _ = self.metrics.log.size_bytes.remove_label_values(&labels);
            let _ = self.metrics.log.segments.remove_label_values(&labels);
            let _ = self
                .metrics
                .broker
                .topic_bytes_in
                .remove_label_values(&labels);
            let _ = self
                .metrics
                .broker
                .topic_bytes_out
                .remove_label_values(&labels);
            let _ = self
                .metrics
                .broker
                .topic_messages_in
                .remove_label_values(&labels);
        }
        *reported = per_topic.keys().cloned().collect();
        drop(reported);
        for (topic, (bytes, segments)) in per_topic {
            self.metrics
                .log
                .size_bytes
                .with_label_values(&[&topic])
                .set(bytes as i64);
            self.metrics
                .log
                .segments
                .with_label_values(&[&topic])
                .set(segments as i64);
        }
    }

    /// Runs the flush and retention timers until shutdown; flushes every log on the way out.
    /// (Published images arrive through [`ReplicaPublisher`].)
    pub async fn run(self: Arc<Self>, mut shutdown: ShutdownSignal) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_retention = crate::clock::instant_now();
        let mut last_shrink_check = crate::clock::instant_now();
        let mut last_checkpoint = crate::clock::instant_now();
        // When every directory's checkpoint was last written (the age gauge's origin).
        let written = Arc::new(Mutex::new(crate::clock::instant_now()));
        // Kafka checks ISRs at half the lag limit.
        let shrink_every = (self.replication.lag_time_max / 2).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let retention = last_retention.elapsed() >= RETENTION_CHECK;
                    if retention {
                        last_retention = crate::clock::instant_now();
                    }
                    let shrink = last_shrink_check.elapsed() >= shrink_every;
                    if shrink {
                        last_shrink_check = crate::clock::instant_now();
                    }
                    let checkpoint = last_checkpoint.elapsed()
                        >= self.replication.high_watermark_checkpoint_interval;
                    let age = written.lock().unwrap_or_else(|e| e.into_inner()).elapsed();
                    self.metrics
                        .replication
                        .high_watermark_checkpoint_age
                        .set(age.as_secs_f64());
                    if checkpoint {
                        last_checkpoint = crate::clock::instant_now();
                    }
                    let now = self.clock.wall_ms();
                    let this = self.clone();
                    let written = written.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if shrink {
                            this.shrink_isrs(now);
                        }
                        for p in this.partitions() {
                            if let Err(e) = p.maintain(now, retention) {
                                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "log maintenance failed");
                            }
                        }
                        if checkpoint && this.checkpoint_high_watermarks() {
                            *written.lock().unwrap_or_else(|e| e.into_inner()) =
                                crate::clock::instant_now();
                        }
                        this.report_sizes();
                    })
                    .await;
                }
                _ = shutdown.wait() => break,
            }
        }
        for f in self
            .fetchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            f.1.stop();
        }
        for p in self.partitions() {
            if let Err(e) = p.close() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush on shutdown failed");
            }
        }
        if !self.checkpoint_high_watermarks() {
            tracing::warn!(
                "high watermarks not checkpointed at shutdown; followers resend them after the restart"
            );
        }
    }
}

/// The replica manager as a metadata publisher: it creates, leads, follows and deletes the
/// partitions of each image (on the blocking pool: log creation does file IO) before later
/// publishers — the metadata cache — see the image.
pub struct ReplicaPublisher(pub Arc<ReplicaManager>);

impl MetadataPublisher for ReplicaPublisher {
    fn name(&self) -> &'static str {
        "replica_manager"
    }

    fn publish<'a>(&'a self, update: &'a MetadataUpdate) -> Publishing<'a> {
        let replicas = self.0.clone();
        let image = update.image.clone();
        let previous = update.previous.clone();
        Box::pin(async move {
            let applied =
                tokio::task::spawn_blocking(move || replicas.apply(&image, Some(&previous))).await;
            if let Err(e) = applied {
                tracing::error!(error = %e, "applying a metadata image to the replicas failed");
            }
        })
    }
}
