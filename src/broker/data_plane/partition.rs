//! One partition hosted on this broker: its log, its leadership as the metadata image says,
//! its high watermark, and the flush policy. Until follower replication exists, the high
//! watermark advances on the leader only while the ISR is the leader alone; with a larger ISR
//! it stays put (acks=all then times out rather than acknowledging unreplicated data).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::broker::data_plane::produce_validation::{
    self, TimestampType, ValidationContext, ValidationError,
};
use crate::broker::data_plane::producer_state::{
    BatchInfo, CheckOutcome, DEFAULT_PRODUCER_ID_EXPIRATION_MS, ProducerStateError,
    ProducerStateManager, snapshot,
};
use crate::log::{AppendInfo, Log, LogConfig, LogError};
use crate::metadata::partition_registration::PartitionRegistration;

/// Per-topic behaviour beyond the log engine's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSettings {
    pub log: LogConfig,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    pub min_insync_replicas: i32,
    /// fsync before acknowledging (`kraftd.log.flush.before.ack`).
    pub flush_before_ack: bool,
    /// `flush.messages`: fsync after this many unflushed records.
    pub flush_messages: u64,
    /// `flush.ms`: fsync data older than this (checked by the replica manager's timer).
    pub flush_interval: Option<Duration>,
    /// `cleanup.policy` contains `compact` (every record needs a key).
    pub compacted: bool,
    /// `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms`.
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// The most bytes one produced batch may decompress to (`socket.request.max.bytes`).
    pub max_uncompressed_bytes: usize,
}

impl PartitionSettings {
    /// What produce validation checks a batch against under these settings.
    fn validation_context(&self, acks: i16, api_version: i16, now_ms: i64) -> ValidationContext {
        ValidationContext {
            api_version,
            acks,
            timestamp_type: if self.log_append_time {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            max_message_bytes: self.log.max_batch_bytes,
            segment_bytes: self.log.segment_bytes as usize,
            timestamp_before_max_ms: self.timestamp_before_max_ms,
            timestamp_after_max_ms: self.timestamp_after_max_ms,
            compacted: self.compacted,
            max_uncompressed_bytes: self.max_uncompressed_bytes,
            now_ms,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("this broker is not the leader of the partition")]
    NotLeader,
    #[error("the ISR has {isr} member(s), fewer than min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{}", .0.message())]
    Invalid(ValidationError),
    #[error(transparent)]
    Producer(#[from] ProducerStateError),
}

/// Whether this broker leads the partition, and how healthy its ISR is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    pub leader: bool,
    pub under_replicated: bool,
    pub under_min_isr: bool,
    pub at_min_isr: bool,
}

/// The offsets of an accepted append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The stamped time for LogAppendTime topics, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub records: u64,
    /// A retry of a batch already in the log (idempotent producer): nothing was appended.
    pub duplicate: bool,
}

/// What a read returns besides the records.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Option<Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

struct Inner {
    log: Log,
    leader: i32,
    leader_epoch: i32,
    isr: Vec<i32>,
    /// Size of the replica set.
    replicas: usize,
    is_leader: bool,
    high_watermark: i64,
    settings: PartitionSettings,
    unflushed_records: u64,
    oldest_unflushed: Option<Instant>,
    producers: ProducerStateManager,
    /// The producer state changed since the last snapshot.
    producers_dirty: bool,
    last_producer_snapshot: Instant,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: Uuid,
    node_id: i32,
    inner: Mutex<Inner>,
    hwm: watch::Sender<i64>,
}

impl Partition {
    pub fn new(
        topic: &str,
        index: i32,
        topic_id: Uuid,
        node_id: i32,
        log: Log,
        settings: PartitionSettings,
    ) -> Partition {
        let (hwm, _) = watch::channel(0);
        let now = crate::clock::Clock::new().wall_ms();
        let producers = snapshot::recover(log.dir(), &log, now, DEFAULT_PRODUCER_ID_EXPIRATION_MS)
            .unwrap_or_else(|e| {
                tracing::warn!(%topic, partition = index, error = %e, "producer state rebuilt from the whole log");
                let mut m = ProducerStateManager::new(log.log_start_offset());
                let _ = read_all_batches(&log, &mut m);
                m
            });
        Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            node_id,
            inner: Mutex::new(Inner {
                log,
                leader: -1,
                leader_epoch: -1,
                isr: Vec::new(),
                replicas: 0,
                is_leader: false,
                high_watermark: 0,
                settings,
                unflushed_records: 0,
                oldest_unflushed: None,
                producers,
                producers_dirty: false,
                last_producer_snapshot: crate::clock::instant_now(),
            }),
            hwm,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows the image: leadership, epoch, ISR; settings may have changed too.
    pub fn update(&self, reg: &PartitionRegistration, settings: PartitionSettings) {
        let mut s = self.lock();
        let was_leader = s.is_leader;
        s.leader = reg.leader;
        s.leader_epoch = reg.leader_epoch;
        s.isr = reg.isr.clone();
        s.replicas = reg.replicas.len();
        s.is_leader = reg.leader == self.node_id;
        s.settings = settings;
        if s.is_leader && !was_leader {
            tracing::info!(topic = %self.topic, partition = self.index, epoch = reg.leader_epoch, "became leader");
        }
        Self::advance_hwm(&mut s, self.node_id);
        let hwm = s.high_watermark;
        drop(s);
        self.hwm.send_if_modified(|v| {
            let changed = *v != hwm;
            *v = hwm;
            changed
        });
    }

    /// With the leader as the only ISR member, everything appended is committed.
    fn advance_hwm(s: &mut Inner, node_id: i32) {
        if s.is_leader && s.isr == [node_id] {
            s.high_watermark = s.log.log_end_offset();
        }
        s.high_watermark = s
            .high_watermark
            .clamp(s.log.log_start_offset(), s.log.log_end_offset());
    }

    /// How this broker leads the partition, for the replica manager's gauges.
    pub fn leadership(&self) -> Leadership {
        let s = self.lock();
        let isr = s.isr.len() as i32;
        let min = s.settings.min_insync_replicas;
        Leadership {
            leader: s.is_leader,
            under_replicated: s.is_leader && (isr as usize) < s.replicas,
            under_min_isr: s.is_leader && isr < min,
            at_min_isr: s.is_leader && isr == min,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.lock().is_leader
    }

    /// Whether an append may fsync before it returns (`kraftd.log.flush.before.ack`, or a
    /// finite `flush.messages`); only those appends need a blocking thread.
    pub fn append_may_sync(&self) -> bool {
        let s = self.lock();
        s.settings.flush_before_ack || s.settings.flush_messages < i64::MAX as u64
    }

    pub fn leader_epoch(&self) -> i32 {
        self.lock().leader_epoch
    }

    pub fn high_watermark(&self) -> i64 {
        self.lock().high_watermark
    }

    /// A receiver that changes whenever the high watermark advances.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.hwm.subscribe()
    }

    /// Validates and appends a producer's batch as the leader; an idempotent producer's
    /// retry of a batch already in the log gets the original offsets and appends nothing.
    /// `acks_all` checks min.insync.replicas first.
    pub fn append_as_leader(
        &self,
        records: Bytes,
        acks: i16,
        api_version: i16,
        now_ms: i64,
    ) -> Result<AppendResult, PartitionError> {
        let mut s = self.lock();
        if !s.is_leader {
            return Err(PartitionError::NotLeader);
        }
        let ctx = s.settings.validation_context(acks, api_version, now_ms);
        let validated =
            produce_validation::validate(records, &ctx).map_err(PartitionError::Invalid)?;
        if acks == -1 && (s.isr.len() as i32) < s.settings.min_insync_replicas {
            return Err(PartitionError::NotEnoughReplicas {
                isr: s.isr.len(),
                min: s.settings.min_insync_replicas,
            });
        }
        let infos: Vec<_> = validated.batches.iter().map(|b| b.batch_info()).collect();
        if let Some(duplicate) = Self::duplicate(&mut s, &infos)? {
            return Ok(duplicate);
        }
        let mut bytes = bytes::BytesMut::new();
        for b in &validated.batches {
            bytes.extend_from_slice(b.batch.bytes());
        }
        let epoch = s.leader_epoch;
        let log_append_time = s.settings.log_append_time;
        let info = s
            .log
            .append_as_leader(bytes.freeze(), epoch, now_ms, log_append_time)?;
        let count = Self::appended(&mut s, &infos, &info, validated.log_append_time)?;
        Self::advance_hwm(&mut s, self.node_id);
        let result = AppendResult {
            base_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: validated.log_append_time,
            log_start_offset: s.log.log_start_offset(),
            records: count,
            duplicate: false,
        };
        let hwm = s.high_watermark;
        drop(s);
        self.hwm.send_replace(hwm);
        Ok(result)
    }

    /// The original offsets of a batch an idempotent producer already wrote, if one of
    /// `infos` is such a retry.
    fn duplicate(
        s: &mut Inner,
        infos: &[BatchInfo],
    ) -> Result<Option<AppendResult>, PartitionError> {
        for info in infos {
            if let CheckOutcome::Duplicate {
                first_offset,
                last_offset,
                timestamp,
            } = s.producers.check(info)?
            {
                return Ok(Some(AppendResult {
                    base_offset: first_offset,
                    last_offset,
                    log_append_time: if s.settings.log_append_time {
                        timestamp
                    } else {
                        -1
                    },
                    log_start_offset: s.log.log_start_offset(),
                    records: 0,
                    duplicate: true,
                }));
            }
        }
        Ok(None)
    }

    /// Records an append of `infos` at `info`'s offsets in the producer state and the flush
    /// policy (flushing when it says so); returns the number of records appended.
    fn appended(
        s: &mut Inner,
        infos: &[BatchInfo],
        info: &AppendInfo,
        log_append_time: i64,
    ) -> Result<u64, PartitionError> {
        // One batch per request (Produce v3+), so the batch's offsets are the append's.
        for bi in infos {
            if bi.has_producer_id() {
                s.producers
                    .update(bi, info.first_offset, info.last_offset, log_append_time);
                s.producers_dirty = true;
            }
        }
        s.producers.update_map_end_offset(info.last_offset + 1);
        let count = (info.last_offset - info.first_offset + 1) as u64;
        s.unflushed_records += count;
        s.oldest_unflushed
            .get_or_insert_with(crate::clock::instant_now);
        if s.settings.flush_before_ack || s.unflushed_records >= s.settings.flush_messages {
            s.log.flush()?;
            s.unflushed_records = 0;
            s.oldest_unflushed = None;
        }
        Ok(count)
    }

    /// Reads committed data (below the high watermark) from `offset`. Only the leader serves
    /// reads (no follower fetching yet).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, PartitionError> {
        let s = self.lock();
        if !s.is_leader {
            return Err(PartitionError::NotLeader);
        }
        let records = if offset == s.high_watermark && offset >= s.log.log_start_offset() {
            None
        } else {
            s.log.read(offset, max_bytes, s.high_watermark, min_one)?
        };
        Ok(ReadResult {
            records,
            high_watermark: s.high_watermark,
            log_start_offset: s.log.log_start_offset(),
            log_end_offset: s.log.log_end_offset(),
        })
    }

    /// (log start, high watermark) for ListOffsets earliest/latest.
    pub fn offsets(&self) -> Result<(i64, i64), PartitionError> {
        let s = self.lock();
        if !s.is_leader {
            return Err(PartitionError::NotLeader);
        }
        Ok((s.log.log_start_offset(), s.high_watermark))
    }

    /// Runs `f` on the log (ListOffsets by timestamp, DeleteRecords, DescribeLogDirs).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log, i64) -> T) -> Result<T, PartitionError> {
        let mut s = self.lock();
        if !s.is_leader {
            return Err(PartitionError::NotLeader);
        }
        let hwm = s.high_watermark;
        Ok(f(&mut s.log, hwm))
    }

    /// Size in bytes and segment count, for metrics.
    pub fn size(&self) -> (u64, usize) {
        let s = self.lock();
        (s.log.size_bytes(), s.log.segment_count())
    }

    /// Timer work: fsync data older than `flush.ms`, apply retention.
    pub fn maintain(&self, now_ms: i64, retention: bool) -> Result<(), LogError> {
        // Rolled segments are fsynced here, with the partition unlocked, so appends never
        // wait for them (a roll used to fsync the whole old segment on the Produce path).
        let rolled = self.lock().log.rolled_unflushed()?;
        if let Some(rolled) = rolled {
            rolled.sync()?;
            self.lock().log.mark_flushed(rolled)?;
        }
        let mut s = self.lock();
        let due = match (s.settings.flush_interval, s.oldest_unflushed) {
            (Some(limit), Some(since)) => since.elapsed() >= limit,
            _ => false,
        };
        if due {
            s.log.flush()?;
            s.unflushed_records = 0;
            s.oldest_unflushed = None;
        }
        if retention {
            s.log.apply_retention(now_ms)?;
        }
        if s.producers_dirty && s.last_producer_snapshot.elapsed() >= PRODUCER_SNAPSHOT_INTERVAL {
            Self::snapshot_producers(&mut s);
        }
        Ok(())
    }

    fn snapshot_producers(s: &mut Inner) {
        s.producers.update_map_end_offset(s.log.log_end_offset());
        match snapshot::write_snapshot(s.log.dir(), &s.producers) {
            Ok(_) => {
                s.producers_dirty = false;
                s.last_producer_snapshot = crate::clock::instant_now();
            }
            Err(e) => tracing::warn!(error = %e, "cannot write the producer state snapshot"),
        }
    }

    /// Flushes and closes the log (shutdown).
    pub fn close(&self) -> Result<(), LogError> {
        let mut s = self.lock();
        s.log.flush()?;
        // A clean stop leaves the recovery point on disk: the next start validates nothing.
        s.log.checkpoint()?;
        Self::snapshot_producers(&mut s);
        Ok(())
    }
}

/// How often a changed producer state is written to a snapshot (and always on shutdown), so a
/// restart replays at most this much of the log.
const PRODUCER_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);

/// Rebuilds producer state from every batch of the log (no usable snapshot).
fn read_all_batches(log: &Log, m: &mut ProducerStateManager) -> Result<(), LogError> {
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let Some(bytes) = log.read(offset, 1 << 20, end, true)? else {
            break;
        };
        let batches = crate::log::RecordBatch::split_all(bytes)?;
        let Some(last) = batches.last() else { break };
        offset = last.next_offset();
        m.load_from_batches(batches.iter());
    }
    m.update_map_end_offset(end);
    Ok(())
}
