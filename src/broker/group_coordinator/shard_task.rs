//! The IO shell of one `__consumer_offsets` partition this broker leads: loads its groups
//! from the log, then owns the partition's [`GroupShard`], feeding it requests and timer
//! ticks and carrying out its effects (answers, and records appended to the partition and
//! acknowledged once the in-sync replicas hold them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::broker::data_plane::partition::{Partition, PartitionError, Replicated};
use crate::clock::Clock;
use crate::group::classic_group::ReplyId;
use crate::group::records::CoordinatorRecord;
use crate::group::shard::{Effect, GroupConfig, GroupShard, Reply, WriteId};
use crate::log::batch::RecordBatch;

/// Work for a shard's task: a closure run on its state.
pub type Command = Box<dyn FnOnce(&mut ShardRuntime) + Send>;

/// Bytes read from the log per step while loading.
const LOAD_CHUNK_BYTES: usize = 4 << 20;

/// Largest decompressed batch accepted while loading.
const MAX_LOAD_BATCH: usize = 64 << 20;

/// How often a shard's state is turned into metrics.
const OBSERVE_INTERVAL: Duration = Duration::from_millis(500);

/// What a shard's task owns.
pub struct ShardRuntime {
    pub shard: GroupShard,
    replies: BTreeMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
    effects: Vec<Effect>,
    clock: Clock,
    partition: Arc<Partition>,
    written: mpsc::UnboundedSender<(WriteId, Result<(), ResponseError>)>,
    commit_timeout: Duration,
}

impl ShardRuntime {
    pub fn now(&self) -> i64 {
        self.clock.wall_ms()
    }

    /// Runs `f` on the shard, collecting its effects.
    pub fn run<T>(&mut self, f: impl FnOnce(&mut GroupShard, i64, &mut Vec<Effect>) -> T) -> T {
        let now = self.now();
        let mut out = Vec::new();
        let v = f(&mut self.shard, now, &mut out);
        self.effects.extend(out);
        v
    }

    /// Registers `tx` for a deferred answer and runs `f` with its reply id.
    pub fn request(
        &mut self,
        tx: oneshot::Sender<Reply>,
        f: impl FnOnce(&mut GroupShard, i64, ReplyId, &mut Vec<Effect>),
    ) {
        let id = self.next_reply;
        self.next_reply += 1;
        self.replies.insert(id, tx);
        self.run(|shard, now, out| f(shard, now, id, out));
    }

    /// Carries out the effects collected so far.
    fn execute(&mut self) {
        while !self.effects.is_empty() {
            for effect in std::mem::take(&mut self.effects) {
                match effect {
                    Effect::Reply(id, reply) => {
                        if let Some(tx) = self.replies.remove(&id) {
                            let _ = tx.send(reply);
                        }
                    }
                    Effect::Write(id, records) => self.write(id, records),
                }
            }
        }
    }

    /// Appends `records` as one batch and reports, on the shard's task, when the in-sync
    /// replicas hold it (or why not).
    fn write(&mut self, id: WriteId, records: Vec<CoordinatorRecord>) {
        let now = self.now();
        let batch = match encode(&records, now) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "encoding group coordinator records failed");
                return self.fail_write(id, ResponseError::UnknownServerError);
            }
        };
        let appended = self.partition.append_as_leader(batch, -1, 9, now);
        let a = match appended {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "appending group coordinator records failed");
                return self.fail_write(id, append_error(&e));
            }
        };
        if crate::broker::data_plane::planted_bug::PlantedBug::CommitsBeforeReplication.is_active()
        {
            let _ = self.written.send((id, Ok(())));
            return;
        }
        let partition = self.partition.clone();
        let written = self.written.clone();
        let deadline = crate::clock::instant_now() + self.commit_timeout;
        tokio::spawn(async move {
            let outcome = partition
                .wait_replicated(a.last_offset + 1, a.leader_epoch, deadline)
                .await;
            let result = match outcome {
                Replicated::Committed => Ok(()),
                Replicated::LostLeadership => Err(ResponseError::NotCoordinator),
                Replicated::BelowMinIsr | Replicated::Pending => {
                    Err(ResponseError::CoordinatorNotAvailable)
                }
            };
            let _ = written.send((id, result));
        });
    }

    fn fail_write(&mut self, id: WriteId, e: ResponseError) {
        let now = self.now();
        let mut out = Vec::new();
        self.shard.write_done(now, id, Err(e), &mut out);
        self.effects.extend(out);
    }
}

/// The error a coordinator request gets when its records cannot be appended (as Kafka maps
/// them for group writes).
fn append_error(e: &PartitionError) -> ResponseError {
    match e {
        PartitionError::NotLeader | PartitionError::NotFollower => ResponseError::NotCoordinator,
        PartitionError::Invalid(_) => ResponseError::InvalidCommitOffsetSize,
        _ => ResponseError::CoordinatorNotAvailable,
    }
}

/// One uncompressed batch of `records`, stamped `now`.
fn encode(records: &[CoordinatorRecord], now: i64) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // No producer: the batch's base sequence is -1. The encoder keeps records in
            // one batch while offset minus sequence stays the same.
            sequence: i as i32 - 1,
            timestamp: now,
            key: Some(r.encode_key()),
            value: r.encode_value(),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

fn decompress_bounded(records: &mut Bytes, compression: Compression) -> anyhow::Result<Bytes> {
    let payload = std::mem::take(records);
    Ok(crate::log::compression::decompress(
        payload,
        compression,
        MAX_LOAD_BATCH,
    )?)
}

/// What loading a partition found.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadReport {
    pub records: u64,
    pub skipped: u64,
    pub bytes: u64,
}

/// Replays the partition's log, from its start to its log end offset, into `shard`.
async fn load(
    partition: &Arc<Partition>,
    shard: &mut GroupShard,
    now: i64,
) -> Result<LoadReport, PartitionError> {
    let mut report = LoadReport::default();
    let (mut offset, end) = {
        let p = partition.clone();
        tokio::task::spawn_blocking(move || {
            p.with_log(|log, _| (log.log_start_offset(), log.log_end_offset()))
        })
        .await
        .map_err(|_| PartitionError::NotLeader)??
    };
    while offset < end {
        let p = partition.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            p.with_log(|log, _| log.read(offset, LOAD_CHUNK_BYTES, end, true))
        })
        .await
        .map_err(|_| PartitionError::NotLeader)??
        .map_err(PartitionError::Log)?;
        let Some(bytes) = chunk else {
            break;
        };
        report.bytes += bytes.len() as u64;
        let batches = RecordBatch::split_all(bytes).map_err(PartitionError::Log)?;
        if batches.is_empty() {
            break;
        }
        for batch in batches {
            offset = batch.next_offset();
            if batch.is_control() {
                continue;
            }
            let mut b = batch.bytes().clone();
            let set = match RecordBatchDecoder::decode_with_custom_compression(
                &mut b,
                Some(&decompress_bounded),
            ) {
                Ok(set) => set,
                Err(e) => {
                    tracing::warn!(offset, error = %e, "skipping an unreadable batch of __consumer_offsets");
                    report.skipped += 1;
                    continue;
                }
            };
            for r in set.records {
                let Some(key) = r.key else {
                    report.skipped += 1;
                    continue;
                };
                match CoordinatorRecord::decode(&key, r.value.as_deref()) {
                    Ok(record) => {
                        shard.replay(record, now);
                        report.records += 1;
                    }
                    Err(e) => {
                        tracing::warn!(offset = r.offset, error = %e, "skipping an unreadable __consumer_offsets record");
                        report.skipped += 1;
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Shared view of a running shard.
#[derive(Clone)]
pub struct ShardHandle {
    pub partition: i32,
    pub leader_epoch: i32,
    pub commands: mpsc::UnboundedSender<Command>,
    /// `true` once the groups are loaded.
    pub loaded: watch::Receiver<bool>,
}

/// Settings a shard task needs.
#[derive(Clone)]
pub struct ShardSettings {
    pub config: GroupConfig,
    pub commit_timeout: Duration,
    pub clock: Clock,
}

/// Called with each shard's load outcome (seconds taken, report) and the shard after every
/// command (for metrics).
pub trait ShardObserver: Send + Sync + 'static {
    fn loaded(&self, partition: i32, seconds: f64, report: &LoadReport);
    fn observe(&self, partition: i32, shard: &GroupShard);
    /// What happened in the shard since the last call (counters), after every step.
    fn events(&self, events: crate::group::shard::ShardEvents);
    fn unloaded(&self, partition: i32);
}

/// Starts the task of offsets partition `index` led in `leader_epoch`.
pub fn spawn(
    index: i32,
    leader_epoch: i32,
    partition: Arc<Partition>,
    settings: ShardSettings,
    observer: Arc<dyn ShardObserver>,
) -> ShardHandle {
    let (commands, rx) = mpsc::unbounded_channel();
    let (loaded_tx, loaded) = watch::channel(false);
    tokio::spawn(run(
        index,
        leader_epoch,
        partition,
        settings,
        observer,
        rx,
        loaded_tx,
    ));
    ShardHandle {
        partition: index,
        leader_epoch,
        commands,
        loaded,
    }
}

async fn run(
    index: i32,
    leader_epoch: i32,
    partition: Arc<Partition>,
    settings: ShardSettings,
    observer: Arc<dyn ShardObserver>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    loaded: watch::Sender<bool>,
) {
    let clock = settings.clock;
    let started = crate::clock::instant_now();
    let mut shard = GroupShard::new(settings.config.clone(), clock.wall_ms());
    let report = match load(&partition, &mut shard, clock.wall_ms()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(partition = index, error = %e, "loading groups failed; this broker no longer leads the offsets partition");
            return;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        partition = index,
        leader_epoch,
        records = report.records,
        skipped = report.skipped,
        bytes = report.bytes,
        seconds,
        "loaded groups of __consumer_offsets"
    );
    observer.loaded(index, seconds, &report);
    let (written_tx, mut written) = mpsc::unbounded_channel();
    let mut rt = ShardRuntime {
        shard,
        replies: BTreeMap::new(),
        next_reply: 0,
        effects: Vec::new(),
        clock,
        partition: partition.clone(),
        written: written_tx,
        commit_timeout: settings.commit_timeout,
    };
    let _ = loaded.send(true);
    let mut leadership = partition.subscribe_leadership();
    let mut observed = crate::clock::instant_now();
    observer.observe(index, &rt.shard);
    loop {
        let next = rt.shard.next_deadline();
        // Wakes at least once a second so that the metrics follow the shard.
        let wait = Duration::from_millis((next - rt.now()).clamp(0, 1_000) as u64);
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => cmd(&mut rt),
                None => break,
            },
            Some((id, result)) = written.recv() => {
                rt.run(|shard, now, out| shard.write_done(now, id, result, out));
            }
            changed = leadership.changed() => {
                if changed.is_err() || partition.leader_epoch() != leader_epoch || !partition.is_leader() {
                    break;
                }
            }
            _ = tokio::time::sleep(wait) => {
                rt.run(|shard, now, out| shard.tick(now, out));
            }
        }
        rt.execute();
        observer.events(rt.shard.take_events());
        if observed.elapsed() >= OBSERVE_INTERVAL {
            observer.observe(index, &rt.shard);
            observed = crate::clock::instant_now();
        }
    }
    rt.run(|shard, _, out| shard.unload(ResponseError::NotCoordinator, out));
    // Failed writes answered by `unload` may not have reached `effects` through
    // `write_done`; answer whatever is still waiting.
    rt.effects.retain(|e| matches!(e, Effect::Reply(..)));
    rt.execute();
    // Requests still waiting see their answer dropped: NOT_COORDINATOR.
    rt.replies.clear();
    observer.unloaded(index);
    tracing::info!(
        partition = index,
        leader_epoch,
        "unloaded groups of __consumer_offsets"
    );
}
