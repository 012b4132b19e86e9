//! The group coordinator's IO shell: one task per `__consumer_offsets` partition this broker
//! leads (see [`shard_task`]), started and stopped by a metadata publisher that runs after
//! the replica manager (so the partition is already led locally), and the routing of group
//! requests to the task of the group's partition.

pub mod lag;
pub mod shard_task;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use crate::broker::data_plane::replica_manager::ReplicaManager;
use crate::config::GroupSettings;
use crate::group::classic_group::ReplyId;
use crate::group::shard::{Effect, GroupConfig, GroupShard, Reply};
use crate::group::{OFFSETS_TOPIC, partition_for};
use crate::metadata::image::MetadataImage;
use crate::metadata_io::publisher::{MetadataPublisher, MetadataUpdate, Publishing};
use crate::observability::metrics::GroupMetrics;
use shard_task::{LoadReport, ShardHandle, ShardObserver, ShardSettings};

/// Routes group requests to the shard of the group's offsets partition.
pub struct GroupCoordinator {
    node_id: i32,
    settings: ShardSettings,
    replicas: Arc<ReplicaManager>,
    shards: Mutex<BTreeMap<i32, ShardHandle>>,
    observer: Arc<Observer>,
    /// The offsets topic's partition count, once it exists.
    partitions: Mutex<Option<i32>>,
}

impl GroupCoordinator {
    pub fn new(
        node_id: i32,
        settings: &GroupSettings,
        clock: crate::clock::Clock,
        replicas: Arc<ReplicaManager>,
        metrics: GroupMetrics,
    ) -> GroupCoordinator {
        let config = GroupConfig {
            min_session_timeout_ms: settings.min_session_timeout.as_millis() as i32,
            max_session_timeout_ms: settings.max_session_timeout.as_millis() as i32,
            initial_rebalance_delay_ms: settings.initial_rebalance_delay.as_millis() as i64,
            max_size: settings.max_size as usize,
            offset_metadata_max_bytes: settings.offset_metadata_max_bytes as usize,
            offsets_retention_ms: settings.offsets_retention.as_millis() as i64,
            offsets_retention_check_interval_ms: settings
                .offsets_retention_check_interval
                .as_millis() as i64,
        };
        GroupCoordinator {
            node_id,
            settings: ShardSettings {
                config,
                commit_timeout: settings.offsets_commit_timeout,
                clock,
            },
            replicas,
            shards: Mutex::new(BTreeMap::new()),
            observer: Arc::new(Observer {
                metrics,
                stats: Mutex::new(BTreeMap::new()),
            }),
            partitions: Mutex::new(None),
        }
    }

    /// The offsets partition of `group`, if the offsets topic exists.
    pub fn partition_of(&self, group: &str) -> Option<i32> {
        let n = (*self.partitions.lock().expect("partitions lock"))?;
        Some(partition_for(group, n))
    }

    /// The running shard of `group`'s partition, or the error a client gets.
    fn shard_of(&self, group: &str) -> Result<ShardHandle, ResponseError> {
        let Some(p) = self.partition_of(group) else {
            return Err(ResponseError::CoordinatorNotAvailable);
        };
        let shard = self
            .shards
            .lock()
            .expect("shards lock")
            .get(&p)
            .cloned()
            .ok_or(ResponseError::NotCoordinator)?;
        if !*shard.loaded.borrow() {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        Ok(shard)
    }

    /// Runs `f` on the shard of `group` and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        group: &str,
        f: impl FnOnce(&mut GroupShard, i64, &mut Vec<Effect>) -> T + Send + 'static,
    ) -> Result<T, ResponseError> {
        let shard = self.shard_of(group)?;
        let (tx, rx) = oneshot::channel();
        let command: shard_task::Command = Box::new(move |rt| {
            let _ = tx.send(rt.run(f));
        });
        shard
            .commands
            .send(command)
            .map_err(|_| ResponseError::NotCoordinator)?;
        rx.await.map_err(|_| ResponseError::NotCoordinator)
    }

    /// Runs `f` on the shard of `group` with a reply id, and waits for that reply (which may
    /// come after a join phase or a write).
    pub async fn request(
        &self,
        group: &str,
        f: impl FnOnce(&mut GroupShard, i64, ReplyId, &mut Vec<Effect>) + Send + 'static,
    ) -> Result<Reply, ResponseError> {
        let shard = self.shard_of(group)?;
        let (tx, rx) = oneshot::channel();
        let command: shard_task::Command = Box::new(move |rt| rt.request(tx, f));
        shard
            .commands
            .send(command)
            .map_err(|_| ResponseError::NotCoordinator)?;
        rx.await.map_err(|_| ResponseError::NotCoordinator)
    }

    /// Runs `f` on every loaded shard of this broker (ListGroups).
    pub async fn each<T: Send + 'static>(
        &self,
        f: impl Fn(&mut GroupShard) -> T + Send + Sync + Clone + 'static,
    ) -> Vec<Result<T, ResponseError>> {
        let shards: Vec<ShardHandle> = self
            .shards
            .lock()
            .expect("shards lock")
            .values()
            .cloned()
            .collect();
        let mut out = Vec::new();
        for shard in shards {
            if !*shard.loaded.borrow() {
                out.push(Err(ResponseError::CoordinatorLoadInProgress));
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let f = f.clone();
            let command: shard_task::Command = Box::new(move |rt| {
                let _ = tx.send(f(&mut rt.shard));
            });
            if shard.commands.send(command).is_err() {
                continue;
            }
            if let Ok(v) = rx.await {
                out.push(Ok(v));
            }
        }
        out
    }

    /// Starts shards for the offsets partitions this broker now leads and stops the others.
    pub fn apply(&self, image: &MetadataImage) {
        let topic = image.topics.get_by_name(OFFSETS_TOPIC);
        *self.partitions.lock().expect("partitions lock") =
            topic.map(|t| t.partitions.len() as i32).filter(|n| *n > 0);
        let mut shards = self.shards.lock().expect("shards lock");
        let mut led: BTreeMap<i32, i32> = BTreeMap::new();
        if let Some(t) = topic {
            for (p, reg) in &t.partitions {
                if reg.leader == self.node_id {
                    led.insert(*p, reg.leader_epoch);
                }
            }
        }
        shards.retain(|p, h| {
            let keep = led.get(p) == Some(&h.leader_epoch) && !h.commands.is_closed();
            if !keep {
                tracing::info!(
                    partition = p,
                    "stopping the group coordinator of an offsets partition"
                );
            }
            keep
        });
        for (p, epoch) in led {
            if shards.contains_key(&p) {
                continue;
            }
            let Some(partition) = self.replicas.get(OFFSETS_TOPIC, p) else {
                continue;
            };
            if !partition.is_leader() || partition.leader_epoch() != epoch {
                continue;
            }
            let observer: Arc<dyn ShardObserver> = self.observer.clone();
            let handle = shard_task::spawn(p, epoch, partition, self.settings.clone(), observer);
            shards.insert(p, handle);
        }
    }
}

/// Per-shard figures behind the group metrics.
#[derive(Default)]
struct ShardStats {
    /// (group, state, members)
    groups: Vec<(String, &'static str, usize)>,
    offsets: usize,
}

/// Turns shard state into metrics (the shards run on their own tasks; this sums them).
struct Observer {
    metrics: GroupMetrics,
    stats: Mutex<BTreeMap<i32, ShardStats>>,
}

impl Observer {
    fn publish(&self, stats: &BTreeMap<i32, ShardStats>) {
        let m = &self.metrics;
        m.coordinator_partitions.set(stats.len() as i64);
        let mut by_state: BTreeMap<&str, i64> = crate::observability::group_metrics::GROUP_STATES
            .iter()
            .map(|s| (*s, 0))
            .collect();
        m.members.reset();
        let mut offsets = 0;
        for s in stats.values() {
            offsets += s.offsets;
            for (g, state, members) in &s.groups {
                *by_state.entry(state).or_default() += 1;
                m.members.with_label_values(&[g]).set(*members as i64);
            }
        }
        for (state, n) in by_state {
            m.groups.with_label_values(&[state, "classic"]).set(n);
        }
        m.offsets.set(offsets as i64);
    }
}

impl ShardObserver for Observer {
    fn loaded(&self, _partition: i32, seconds: f64, report: &LoadReport) {
        self.metrics.load_duration.observe(seconds);
        self.metrics.loaded_records.inc_by(report.records);
    }

    fn events(&self, events: crate::group::shard::ShardEvents) {
        for (group, cause) in &events.rebalances {
            self.metrics
                .rebalances
                .with_label_values(&[group, cause.label()])
                .inc();
        }
        self.metrics.offset_commits.inc_by(events.offsets_committed);
    }

    fn observe(&self, partition: i32, shard: &GroupShard) {
        let s = ShardStats {
            groups: shard
                .listings()
                .into_iter()
                .map(|l| (l.group_id, l.state.name(), l.members))
                .collect(),
            offsets: shard.offsets().len(),
        };
        let mut stats = self.stats.lock().expect("stats lock");
        stats.insert(partition, s);
        self.publish(&stats);
    }

    fn unloaded(&self, partition: i32) {
        let mut stats = self.stats.lock().expect("stats lock");
        stats.remove(&partition);
        self.publish(&stats);
    }
}

/// The group coordinator as a metadata publisher, after the replica manager.
pub struct GroupCoordinatorPublisher(pub Arc<GroupCoordinator>);

impl MetadataPublisher for GroupCoordinatorPublisher {
    fn name(&self) -> &'static str {
        "group_coordinator"
    }

    fn publish<'a>(&'a self, update: &'a MetadataUpdate) -> Publishing<'a> {
        Box::pin(async move { self.0.apply(&update.image) })
    }
}
