//! One replica fetcher: a connection to a source broker (the leader of the partitions it
//! carries) over the inter-broker listener, and a loop of Fetch requests for all of them, as
//! Kafka's `ReplicaFetcherThread`. Each answer is applied partition by partition: records are
//! appended with the leader's offsets, a diverging epoch truncates the log, a fetch offset
//! below the leader's log start restarts the log there, and a partition error pauses that
//! partition for `replica.fetch.backoff.ms` until the metadata moves it. The replica manager
//! adds and removes partitions as leadership changes; a fetcher with none left stops.
//!
//! Fetches go through an incremental fetch session (KIP-227, [`FetchSessionHandler`]): after
//! the first full fetch a request names only the partitions whose position or epoch changed,
//! and the leader answers only those with something new, so a follower of thousands of quiet
//! partitions sends and receives almost nothing per round. A session error (the leader evicted
//! or lost the session) is followed at once by a full fetch; other request errors back off.
//!
//! A fetch parked at the leader does not hold back a partition added meanwhile (a new topic, a
//! leadership move): the fetch is abandoned with its connection and the next one carries it;
//! and while a partition is paused, fetches wait at most until it is due again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::ReplicaState;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::broker::data_plane::fetch_session_handler::{FetchSessionHandler, PartitionFetch};
use crate::broker::data_plane::partition::{Partition, PartitionError};
use crate::clock::Clock;
use crate::config::ReplicationSettings;
use crate::network::client::KafkaConnection;
use crate::observability::metrics::ReplicationMetrics;
use crate::types::TopicPartition;

/// The Fetch version followers send: replica state with the broker epoch (v15), topic ids.
const FETCH_VERSION: i16 = 15;

/// What every fetcher of this broker shares.
#[derive(Clone)]
pub struct FetcherContext {
    pub node_id: i32,
    /// This broker's epoch once registered (sent as the replica epoch).
    pub broker_epoch: watch::Receiver<Option<i64>>,
    pub settings: ReplicationSettings,
    pub metrics: ReplicationMetrics,
    pub clock: Clock,
    /// Where an I/O error of a follower's log goes (its directory goes offline).
    pub log_dir_failures: crate::broker::data_plane::log_dir_failure::LogDirFailureHandler,
}

/// Where a partition stands in its fetcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchStatus {
    Fetching,
    /// Paused after a partition error until then (or until the metadata moves it).
    Delayed(Instant),
    /// Stopped on an error an operator must look at.
    Failed,
}

struct FetchEntry {
    partition: Arc<Partition>,
    leader_epoch: i32,
    status: FetchStatus,
    /// Leader high watermark minus this log's end at the last answer.
    lag: i64,
    last_caught_up: Instant,
}

/// A fetcher's partitions and source, shared with the replica manager.
pub struct ReplicaFetcher {
    pub source: i32,
    pub index: u32,
    address: Mutex<Option<String>>,
    partitions: Mutex<BTreeMap<(String, i32), FetchEntry>>,
    changed: Notify,
    /// Bumped with every change of partitions, source address or stop, before `changed` is
    /// notified.
    generation: AtomicU64,
    stopped: AtomicBool,
}

impl ReplicaFetcher {
    pub fn new(source: i32, index: u32) -> Arc<ReplicaFetcher> {
        Arc::new(ReplicaFetcher {
            source,
            index,
            address: Mutex::new(None),
            partitions: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
            generation: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        })
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, i32), FetchEntry>> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source broker's inter-broker endpoint (`host:port`), from its registration.
    pub fn set_address(&self, address: Option<String>) {
        let mut a = self.address.lock().unwrap_or_else(|e| e.into_inner());
        if *a != address {
            *a = address;
            drop(a);
            self.changed();
        }
    }

    /// Fetches `partition` in `leader_epoch` from now on (a new epoch resets a paused or
    /// failed partition).
    pub fn add(&self, partition: Arc<Partition>, leader_epoch: i32) {
        let key = (partition.topic.clone(), partition.index);
        let mut entries = self.entries();
        let same = entries.get(&key).is_some_and(|e| {
            e.leader_epoch == leader_epoch && Arc::ptr_eq(&e.partition, &partition)
        });
        if !same {
            entries.insert(
                key,
                FetchEntry {
                    partition,
                    leader_epoch,
                    status: FetchStatus::Fetching,
                    lag: 0,
                    last_caught_up: crate::clock::instant_now(),
                },
            );
            drop(entries);
            self.changed();
        }
    }

    /// Stops fetching a partition (and drops its per-partition lag series).
    pub fn remove(&self, topic: &str, partition: i32, metrics: &ReplicationMetrics) -> bool {
        let removed = self
            .entries()
            .remove(&(topic.to_string(), partition))
            .is_some();
        if removed {
            // Absent when per-partition lag is off.
            let _ = metrics
                .partition_lag
                .remove_label_values(&[topic, &partition.to_string()]);
        }
        removed
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Partitions stopped on an error.
    pub fn failed_partitions(&self) -> usize {
        self.entries()
            .values()
            .filter(|e| e.status == FetchStatus::Failed)
            .count()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.changed();
    }

    /// Wakes the fetch loop after a change of partitions, address or the stop flag.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }

    /// How long the leader may hold the next fetch: `replica.fetch.wait.max.ms`, or less when
    /// a paused partition is due to be fetched again sooner.
    fn max_wait(&self, ctx: &FetcherContext) -> std::time::Duration {
        let now = crate::clock::instant_now();
        self.entries()
            .values()
            .filter_map(|e| match e.status {
                FetchStatus::Delayed(until) => Some(until.saturating_duration_since(now)),
                _ => None,
            })
            .fold(ctx.settings.fetch_wait_max, std::time::Duration::min)
    }

    /// Fetches until stopped.
    pub async fn run(self: Arc<Self>, ctx: FetcherContext) {
        let source = self.source.to_string();
        let mut conn: Option<KafkaConnection> = None;
        let mut session = FetchSessionHandler::new(self.source);
        while !self.stopped.load(Ordering::SeqCst) {
            // Read before the partitions: a change after this interrupts the fetch below.
            let generation = self.generation.load(Ordering::SeqCst);
            let wanted = self.wanted(&ctx);
            if wanted.is_empty() {
                self.wait_for_work().await;
                continue;
            }
            let Some(address) = self
                .address
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            else {
                self.wait_for_work().await;
                continue;
            };
            let request = session
                .build(&wanted)
                .apply_to(request(&ctx, self.max_wait(&ctx)));
            ctx.metrics
                .fetcher_requests
                .with_label_values(&[&source])
                .inc();
            // A partition added while a fetch is parked at the leader (up to
            // `replica.fetch.wait.max.ms` when nothing it carries moves) would wait for that
            // fetch to end: the fetch is abandoned instead, with its connection, and the next
            // one (full, as the session's state is unknown) carries the new partition.
            let outcome = {
                let exchange = self.exchange(&ctx, &mut conn, &address, &request);
                tokio::pin!(exchange);
                loop {
                    tokio::select! {
                        r = &mut exchange => break Some(r),
                        () = self.changed.notified() => {
                            if self.generation.load(Ordering::SeqCst) != generation {
                                break None;
                            }
                        }
                    }
                }
            };
            let Some(outcome) = outcome else {
                conn = None;
                session.handle_error();
                continue;
            };
            match outcome {
                Ok(response) if session.handle_response(&response) => {
                    self.apply(&ctx, &wanted, response);
                }
                Ok(response) if is_session_error(response.error_code) => {
                    // The leader evicted or lost this fetcher's session: the next request is
                    // a full fetch, sent at once.
                    tracing::debug!(
                        source = self.source,
                        error = response.error_code,
                        "replica fetch session reset"
                    );
                }
                Ok(response) => {
                    tracing::warn!(
                        source = self.source,
                        error = response.error_code,
                        "replica fetch refused"
                    );
                    ctx.metrics
                        .fetcher_failed_requests
                        .with_label_values(&[&source])
                        .inc();
                    self.backoff(&ctx).await;
                }
                Err(e) => {
                    tracing::debug!(source = self.source, error = %e, "replica fetch failed");
                    session.handle_error();
                    conn = None;
                    ctx.metrics
                        .fetcher_failed_requests
                        .with_label_values(&[&source])
                        .inc();
                    self.backoff(&ctx).await;
                }
            }
            self.report_lag(&ctx);
        }
        let labels = [source.as_str()];
        let _ = ctx.metrics.fetcher_max_lag.remove_label_values(&labels);
        let _ = ctx
            .metrics
            .fetcher_max_lag_seconds
            .remove_label_values(&labels);
    }

    async fn exchange(
        &self,
        ctx: &FetcherContext,
        conn: &mut Option<KafkaConnection>,
        address: &str,
        request: &FetchRequest,
    ) -> Result<FetchResponse, crate::network::client::ClientError> {
        if conn.as_ref().is_none_or(|c| c.addr() != address) {
            let client_id = format!("replica-fetcher-{}-{}", ctx.node_id, self.index);
            *conn = Some(
                KafkaConnection::connect(address, &client_id, ctx.settings.socket_timeout).await?,
            );
        }
        let c = conn.as_mut().expect("connected above");
        let timeout = ctx.settings.socket_timeout + ctx.settings.fetch_wait_max;
        c.send(request, FETCH_VERSION, timeout).await
    }

    async fn wait_for_work(&self) {
        let next_delay = self
            .entries()
            .values()
            .filter_map(|e| match e.status {
                FetchStatus::Delayed(until) => Some(until),
                _ => None,
            })
            .min();
        match next_delay {
            Some(until) => {
                let _ = tokio::time::timeout_at(until.into(), self.changed.notified()).await;
            }
            None => self.changed.notified().await,
        }
    }

    async fn backoff(&self, ctx: &FetcherContext) {
        let _ = tokio::time::timeout(ctx.settings.fetch_backoff, self.changed.notified()).await;
    }

    /// What to fetch of every partition that is not paused (empty when there is none).
    fn wanted(&self, ctx: &FetcherContext) -> BTreeMap<TopicPartition, PartitionFetch> {
        let now = crate::clock::instant_now();
        let mut wanted = BTreeMap::new();
        for entry in self.entries().values_mut() {
            if let FetchStatus::Delayed(until) = entry.status
                && until <= now
            {
                entry.status = FetchStatus::Fetching;
            }
            if entry.status != FetchStatus::Fetching {
                continue;
            }
            let Some(pos) = entry.partition.fetch_position() else {
                continue;
            };
            wanted.insert(
                TopicPartition::new(&entry.partition.topic, entry.partition.index),
                PartitionFetch {
                    topic_id: entry.partition.topic_id,
                    fetch_offset: pos.fetch_offset,
                    current_leader_epoch: entry.leader_epoch,
                    last_fetched_epoch: pos.last_fetched_epoch.unwrap_or(-1),
                    log_start_offset: pos.log_start_offset,
                    partition_max_bytes: ctx.settings.fetch_max_bytes as i32,
                },
            );
        }
        wanted
    }

    /// Applies a fetch answer to each partition it carries (with a session, only the
    /// partitions with something new are there).
    fn apply(
        &self,
        ctx: &FetcherContext,
        wanted: &BTreeMap<TopicPartition, PartitionFetch>,
        response: FetchResponse,
    ) {
        let asked: HashMap<(Uuid, i32), (i64, i32)> = wanted
            .iter()
            .map(|(tp, f)| {
                (
                    (f.topic_id, tp.partition),
                    (f.fetch_offset, f.current_leader_epoch),
                )
            })
            .collect();
        let now_ms = ctx.clock.wall_ms();
        let mut entries = self.entries();
        let by_id: HashMap<(Uuid, i32), (String, i32)> = entries
            .iter()
            .map(|(k, e)| ((e.partition.topic_id, e.partition.index), k.clone()))
            .collect();
        for topic in response.responses {
            for data in topic.partitions {
                let id = (topic.topic_id, data.partition_index);
                let (Some(key), Some((fetch_offset, epoch))) = (by_id.get(&id), asked.get(&id))
                else {
                    continue;
                };
                let Some(entry) = entries.get_mut(key) else {
                    continue;
                };
                if entry.leader_epoch != *epoch {
                    // The metadata moved the partition while this fetch was in flight.
                    continue;
                }
                self.apply_partition(ctx, entry, *fetch_offset, data, now_ms);
            }
        }
    }

    fn apply_partition(
        &self,
        ctx: &FetcherContext,
        entry: &mut FetchEntry,
        fetch_offset: i64,
        data: PartitionData,
        now_ms: i64,
    ) {
        let p = entry.partition.clone();
        let result = match ResponseError::try_from_code(data.error_code) {
            None => self.append(ctx, entry, data, now_ms),
            Some(ResponseError::OffsetOutOfRange)
                if data.log_start_offset >= 0 && fetch_offset < data.log_start_offset =>
            {
                p.restart_at(data.log_start_offset, now_ms)
            }
            Some(e) => {
                tracing::debug!(topic = %p.topic, partition = p.index, source = self.source, error = %e, "partition fetch error; pausing the partition");
                entry.status =
                    FetchStatus::Delayed(crate::clock::instant_now() + pause_after(e, ctx));
                Ok(())
            }
        };
        match result {
            Ok(()) => {}
            Err(PartitionError::NotFollower) => {
                // Leadership moved meanwhile: the replica manager will re-add or remove it.
                entry.status =
                    FetchStatus::Delayed(crate::clock::instant_now() + ctx.settings.fetch_backoff);
            }
            Err(PartitionError::Log(crate::log::LogError::NonContiguous { .. })) => {
                // The log end moved under this fetch (a concurrent truncation): ask again.
            }
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, source = self.source, error = %e, "replication of this partition stopped");
                entry.status = FetchStatus::Failed;
                if let PartitionError::Log(l) = &e
                    && l.is_io()
                {
                    ctx.log_dir_failures.report_partition(&p, l);
                }
            }
        }
    }

    fn append(
        &self,
        ctx: &FetcherContext,
        entry: &mut FetchEntry,
        data: PartitionData,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let p = &entry.partition;
        let d = &data.diverging_epoch;
        if d.epoch >= 0 || d.end_offset >= 0 {
            p.truncate_to_diverging(d.epoch, d.end_offset, now_ms)?;
            ctx.metrics.follower_truncations.inc();
            return Ok(());
        }
        let bytes = data.records.as_ref().map_or(0, |r| r.len());
        p.append_as_follower(
            entry.leader_epoch,
            data.records,
            data.high_watermark,
            data.log_start_offset,
            now_ms,
        )?;
        if bytes > 0 {
            ctx.metrics
                .fetcher_bytes
                .with_label_values(&[&self.source.to_string()])
                .inc_by(bytes as u64);
        }
        entry.lag = (data.high_watermark - p.log_end_offset()).max(0);
        if entry.lag == 0 {
            entry.last_caught_up = crate::clock::instant_now();
        }
        if ctx.settings.per_partition_lag_metrics {
            ctx.metrics
                .partition_lag
                .with_label_values(&[&p.topic, &p.index.to_string()])
                .set(entry.lag);
        }
        Ok(())
    }

    fn report_lag(&self, ctx: &FetcherContext) {
        let now = crate::clock::instant_now();
        let (mut lag, mut seconds) = (0i64, 0f64);
        for e in self.entries().values() {
            lag = lag.max(e.lag);
            if e.lag > 0 {
                seconds = seconds.max(now.duration_since(e.last_caught_up).as_secs_f64());
            }
        }
        let source = self.source.to_string();
        ctx.metrics
            .fetcher_max_lag
            .with_label_values(&[&source])
            .set(lag);
        ctx.metrics
            .fetcher_max_lag_seconds
            .with_label_values(&[&source])
            .set(seconds);
    }
}

/// The Fetch request every round starts from: this follower's replica state, the
/// `replica.fetch.*` limits and `max_wait`; the session fills in the partitions.
fn request(ctx: &FetcherContext, max_wait: std::time::Duration) -> FetchRequest {
    let epoch = ctx.broker_epoch.borrow().unwrap_or(-1);
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(ctx.node_id))
                .with_replica_epoch(epoch),
        )
        .with_max_wait_ms(max_wait.as_millis() as i32)
        .with_min_bytes(ctx.settings.fetch_min_bytes as i32)
        .with_max_bytes(ctx.settings.fetch_response_max_bytes as i32)
        .with_isolation_level(0)
}

/// A top-level error that only means the session is gone: the next (full) fetch goes at once.
fn is_session_error(code: i16) -> bool {
    code == ResponseError::FetchSessionIdNotFound.code()
        || code == ResponseError::InvalidFetchSessionEpoch.code()
}

/// How long a partition pauses after error `e`. A leader that does not know the partition or
/// its epoch yet is applying the same metadata this follower already has: it is asked again
/// shortly, as a new leader's high watermark (and every acks=all produce) waits for its
/// followers' first fetches. Other errors pause for `replica.fetch.backoff.ms`.
fn pause_after(e: ResponseError, ctx: &FetcherContext) -> std::time::Duration {
    match e {
        ResponseError::UnknownLeaderEpoch
        | ResponseError::NotLeaderOrFollower
        | ResponseError::UnknownTopicOrPartition
        | ResponseError::UnknownTopicId => {
            LEADER_CATCHING_UP_BACKOFF.min(ctx.settings.fetch_backoff)
        }
        _ => ctx.settings.fetch_backoff,
    }
}

/// The pause before asking a leader that is still applying the metadata again.
const LEADER_CATCHING_UP_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

/// Which of a source broker's `fetchers` carries a partition (Kafka spreads partitions by a
/// hash of topic and partition).
pub fn fetcher_index(topic: &str, partition: i32, fetchers: u32) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    topic.hash(&mut h);
    partition.hash(&mut h);
    (h.finish() % u64::from(fetchers.max(1))) as u32
}
