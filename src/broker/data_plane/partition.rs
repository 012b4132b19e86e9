//! One partition hosted on this broker: its log, its role (leader or follower, see
//! [`partition_state`](super::partition_state)), its high watermark and the flush policy.
//!
//! As the leader it appends producers' batches, records each follower's fetches, advances the
//! high watermark to the smallest log end offset of the (maximal) ISR and proposes ISR
//! changes. As a follower it appends the leader's batches with their offsets, truncates where
//! its log diverged, and takes the leader's high watermark up to its own log end offset.
//! Waiters watch three values: the high watermark (consumers, acks=all), the log end offset
//! (followers' long polls) and the leader epoch this broker leads in (-1 when it does not).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use crate::broker::data_plane::partition_state::{
    FollowerState, IsrChange, LeaderState, PartitionRole, Transition, next_role,
};
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
    /// Eligible leader replicas are on (KIP-966): the high watermark advances only while the
    /// ISR has at least `min.insync.replicas` members, so an ELR member holds every committed
    /// record.
    pub eligible_leader_replicas: bool,
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
    #[error("this broker is not a follower of the partition")]
    NotFollower,
    #[error("the ISR has {isr} member(s), fewer than min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    #[error(
        "truncating to offset {target} would remove records below the high watermark {high_watermark}"
    )]
    TruncationBelowHighWatermark { target: i64, high_watermark: i64 },
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
    /// The leader epoch the batch was appended in (acks=all waits within it).
    pub leader_epoch: i32,
}

/// What a read returns besides the records.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Option<Bytes>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Where a follower fetches from next: its log end offset, the epoch of its last batch, the
/// leader epoch it follows and its log start offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub last_fetched_epoch: Option<i32>,
    pub current_leader_epoch: i32,
    pub log_start_offset: i64,
}

/// How an acks=all append ended once its wait is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// The high watermark passed the batch with at least `min.insync.replicas` in the ISR.
    Committed,
    /// The high watermark passed it, but the ISR had shrunk below `min.insync.replicas`.
    BelowMinIsr,
    /// This broker stopped leading in the batch's epoch.
    LostLeadership,
    /// Not yet.
    Pending,
}

struct Inner {
    log: Log,
    role: PartitionRole,
    high_watermark: i64,
    settings: PartitionSettings,
    unflushed_records: u64,
    oldest_unflushed: Option<Instant>,
    producers: ProducerStateManager,
    /// The producer state changed since the last snapshot.
    producers_dirty: bool,
    last_producer_snapshot: Instant,
}

impl Inner {
    fn leader(&self) -> Result<&LeaderState, PartitionError> {
        self.role.as_leader().ok_or(PartitionError::NotLeader)
    }

    fn follower(&self) -> Result<FollowerState, PartitionError> {
        match &self.role {
            PartitionRole::Follower(f) => Ok(*f),
            PartitionRole::Leader(_) => Err(PartitionError::NotFollower),
        }
    }

    /// The leader's high watermark after its log or its followers moved; never backwards.
    fn advance_leader_hwm(&mut self) {
        let end = self.log.log_end_offset();
        let min_isr = self.settings.min_insync_replicas as usize;
        let elr = self.settings.eligible_leader_replicas;
        if let Some(h) = self
            .role
            .as_leader()
            .filter(|l| !elr || l.isr.len() >= min_isr)
            .and_then(|l| l.high_watermark(end))
        {
            self.high_watermark = self.high_watermark.max(h);
        }
        if self.role.as_leader().is_some()
            && super::planted_bug::PlantedBug::HighWatermarkIgnoresFollowers.is_active()
        {
            self.high_watermark = end;
        }
        self.clamp_hwm();
    }

    fn clamp_hwm(&mut self) {
        self.high_watermark = self
            .high_watermark
            .clamp(self.log.log_start_offset(), self.log.log_end_offset());
    }

    /// Rebuilds the producer state after the log end moved back.
    fn reload_producers(&mut self, now_ms: i64) {
        self.producers = load_producers(&self.log, now_ms);
        self.producers_dirty = false;
    }
}

/// Producer state from the latest snapshot and the log after it.
fn load_producers(log: &Log, now_ms: i64) -> ProducerStateManager {
    snapshot::recover(log.dir(), log, now_ms, DEFAULT_PRODUCER_ID_EXPIRATION_MS).unwrap_or_else(
        |e| {
            tracing::warn!(dir = %log.dir().display(), error = %e, "producer state rebuilt from the whole log");
            let mut m = ProducerStateManager::new(log.log_start_offset());
            let _ = read_all_batches(log, &mut m);
            m
        },
    )
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: Uuid,
    node_id: i32,
    inner: Mutex<Inner>,
    hwm: watch::Sender<i64>,
    log_end: watch::Sender<i64>,
    /// The leader epoch this broker leads in, -1 while it follows.
    leading: watch::Sender<i32>,
}

impl Partition {
    /// Partition `index` of `topic` (id `topic_id`) over `log`, starting from the checkpointed
    /// `high_watermark` (clamped to the log), as a follower of nobody until the first
    /// registration arrives.
    pub fn new(
        (topic, index, topic_id): (&str, i32, Uuid),
        node_id: i32,
        log: Log,
        settings: PartitionSettings,
        high_watermark: i64,
        now_ms: i64,
    ) -> Partition {
        let producers = load_producers(&log, now_ms);
        let end = log.log_end_offset();
        let mut inner = Inner {
            log,
            role: PartitionRole::UNASSIGNED,
            high_watermark,
            settings,
            unflushed_records: 0,
            oldest_unflushed: None,
            producers,
            producers_dirty: false,
            last_producer_snapshot: crate::clock::instant_now(),
        };
        inner.clamp_hwm();
        let (hwm, _) = watch::channel(inner.high_watermark);
        let (log_end, _) = watch::channel(end);
        let (leading, _) = watch::channel(-1);
        Partition {
            topic: topic.to_string(),
            index,
            topic_id,
            node_id,
            inner: Mutex::new(inner),
            hwm,
            log_end,
            leading,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the watchers where the high watermark, the log end and the leadership are now.
    fn publish(&self, s: std::sync::MutexGuard<'_, Inner>) {
        let hwm = s.high_watermark;
        let end = s.log.log_end_offset();
        let leading = s.role.as_leader().map_or(-1, |l| l.leader_epoch);
        drop(s);
        self.hwm
            .send_if_modified(|v| std::mem::replace(v, hwm) != hwm);
        self.log_end
            .send_if_modified(|v| std::mem::replace(v, end) != end);
        self.leading
            .send_if_modified(|v| std::mem::replace(v, leading) != leading);
    }

    /// Follows the image: leadership, epochs, ISR; settings may have changed too.
    pub fn update(
        &self,
        reg: &PartitionRegistration,
        settings: PartitionSettings,
        now_ms: i64,
    ) -> Transition {
        let mut s = self.lock();
        s.settings = settings;
        let end = s.log.log_end_offset();
        let transition = next_role(&mut s.role, self.node_id, reg, end, now_ms);
        match transition {
            Transition::BecameLeader { leader_epoch } => {
                tracing::info!(topic = %self.topic, partition = self.index, epoch = leader_epoch, isr = ?reg.isr, log_end_offset = end, "became leader");
            }
            Transition::BecameFollower {
                leader,
                leader_epoch,
            } => {
                tracing::info!(topic = %self.topic, partition = self.index, leader, epoch = leader_epoch, log_end_offset = end, "became follower");
            }
            Transition::Unchanged => {}
        }
        s.advance_leader_hwm();
        self.publish(s);
        transition
    }

    /// How this broker leads the partition, for the replica manager's gauges.
    pub fn leadership(&self) -> Leadership {
        let s = self.lock();
        let Some(l) = s.role.as_leader() else {
            return Leadership {
                leader: false,
                under_replicated: false,
                under_min_isr: false,
                at_min_isr: false,
            };
        };
        let isr = l.isr.len() as i32;
        let min = s.settings.min_insync_replicas;
        Leadership {
            leader: true,
            under_replicated: (isr as usize) < l.replicas.len(),
            under_min_isr: isr < min,
            at_min_isr: isr == min,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.lock().role.as_leader().is_some()
    }

    /// Whether an append may fsync before it returns (`kraftd.log.flush.before.ack`, or a
    /// finite `flush.messages`); only those appends need a blocking thread.
    pub fn append_may_sync(&self) -> bool {
        let s = self.lock();
        s.settings.flush_before_ack || s.settings.flush_messages < i64::MAX as u64
    }

    pub fn leader_epoch(&self) -> i32 {
        self.lock().role.leader_epoch()
    }

    pub fn high_watermark(&self) -> i64 {
        self.lock().high_watermark
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().log.log_end_offset()
    }

    /// A receiver that changes whenever the high watermark advances.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.hwm.subscribe()
    }

    /// A receiver that changes whenever the log end offset moves (followers' long polls).
    pub fn subscribe_log_end(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
    }

    /// A receiver of the leader epoch this broker leads in (-1 while it does not).
    pub fn subscribe_leadership(&self) -> watch::Receiver<i32> {
        self.leading.subscribe()
    }

    /// Where an acks=all append that ended at `needed` (exclusive) in `leader_epoch` stands.
    pub fn replicated(&self, needed: i64, leader_epoch: i32) -> Replicated {
        let s = self.lock();
        let Some(l) = s
            .role
            .as_leader()
            .filter(|l| l.leader_epoch == leader_epoch)
        else {
            return Replicated::LostLeadership;
        };
        if s.high_watermark < needed {
            return Replicated::Pending;
        }
        if (l.isr.len() as i32) < s.settings.min_insync_replicas {
            Replicated::BelowMinIsr
        } else {
            Replicated::Committed
        }
    }

    /// Waits until the append that ended at `needed` in `epoch` is replicated to the ISR,
    /// this broker stops leading in that epoch, or `deadline` passes (`Pending`).
    pub async fn wait_replicated(
        &self,
        needed: i64,
        epoch: i32,
        deadline: std::time::Instant,
    ) -> Replicated {
        let mut hwm = self.subscribe();
        let mut leading = self.subscribe_leadership();
        loop {
            hwm.borrow_and_update();
            leading.borrow_and_update();
            let outcome = self.replicated(needed, epoch);
            if outcome != Replicated::Pending {
                return outcome;
            }
            let changed = async {
                tokio::select! {
                    r = hwm.changed() => r.is_ok(),
                    r = leading.changed() => r.is_ok(),
                }
            };
            match tokio::time::timeout_at(deadline.into(), changed).await {
                Ok(true) => {}
                // The partition went away (deleted or moved): no longer its leader.
                Ok(false) => return self.replicated(needed, epoch),
                Err(_) => return Replicated::Pending,
            }
        }
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
        let (epoch, isr) = {
            let l = s.leader()?;
            (l.leader_epoch, l.isr.len())
        };
        let ctx = s.settings.validation_context(acks, api_version, now_ms);
        let validated =
            produce_validation::validate(records, &ctx).map_err(PartitionError::Invalid)?;
        if acks == -1 && (isr as i32) < s.settings.min_insync_replicas {
            return Err(PartitionError::NotEnoughReplicas {
                isr,
                min: s.settings.min_insync_replicas,
            });
        }
        let infos: Vec<_> = validated.batches.iter().map(|b| b.batch_info()).collect();
        if let Some(mut duplicate) = Self::duplicate(&mut s, &infos)? {
            duplicate.leader_epoch = epoch;
            return Ok(duplicate);
        }
        let mut bytes = bytes::BytesMut::new();
        for b in &validated.batches {
            bytes.extend_from_slice(b.batch.bytes());
        }
        let log_append_time = s.settings.log_append_time;
        let info = s
            .log
            .append_as_leader(bytes.freeze(), epoch, now_ms, log_append_time)?;
        let count = Self::appended(&mut s, &infos, &info, validated.log_append_time)?;
        s.advance_leader_hwm();
        let result = AppendResult {
            base_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: validated.log_append_time,
            log_start_offset: s.log.log_start_offset(),
            records: count,
            duplicate: false,
            leader_epoch: epoch,
        };
        self.publish(s);
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
                    leader_epoch: -1,
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
        Self::count_unflushed(s, info)
    }

    /// The flush policy after an append; returns the number of records appended.
    fn count_unflushed(s: &mut Inner, info: &AppendInfo) -> Result<u64, PartitionError> {
        let count = (info.last_offset - info.first_offset + 1).max(0) as u64;
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

    /// Reads committed data (below the high watermark) from `offset` for a consumer. Only the
    /// leader serves consumers.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, PartitionError> {
        let s = self.lock();
        s.leader()?;
        Self::read_up_to(&s, offset, max_bytes, min_one, s.high_watermark)
    }

    fn read_up_to(
        s: &Inner,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        bound: i64,
    ) -> Result<ReadResult, PartitionError> {
        let records = if offset == bound && offset >= s.log.log_start_offset() {
            None
        } else {
            s.log.read(offset, max_bytes, bound, min_one)?
        };
        Ok(ReadResult {
            records,
            high_watermark: s.high_watermark,
            log_start_offset: s.log.log_start_offset(),
            log_end_offset: s.log.log_end_offset(),
        })
    }

    /// A follower's fetch from `offset` (its log end offset): records its progress, which may
    /// advance the high watermark or, when the metadata lets the replica into the ISR
    /// (`isr_eligible`), make it join; then reads up to the log end. Returns the read and an
    /// ISR expansion to propose.
    pub fn read_for_follower(
        &self,
        replica: i32,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        isr_eligible: bool,
        now_ms: i64,
    ) -> Result<(ReadResult, Option<IsrChange>), PartitionError> {
        let mut s = self.lock();
        s.leader()?;
        let end = s.log.log_end_offset();
        let hwm = s.high_watermark;
        let change = s.role.as_leader_mut().and_then(|l| {
            l.record_fetch(replica, offset.min(end), end, now_ms);
            isr_eligible
                .then(|| l.expansion(replica, hwm, now_ms))
                .flatten()
        });
        s.advance_leader_hwm();
        let read = Self::read_up_to(&s, offset, max_bytes, min_one, end)?;
        self.publish(s);
        Ok((read, change))
    }

    /// The ISR shrink due now (`replica.lag.time.max.ms` = `max_lag_ms`), if this broker leads
    /// and a member fell behind.
    pub fn maybe_shrink_isr(&self, now_ms: i64, max_lag_ms: i64) -> Option<IsrChange> {
        let mut s = self.lock();
        let end = s.log.log_end_offset();
        s.role
            .as_leader_mut()
            .and_then(|l| l.shrink(end, now_ms, max_lag_ms))
    }

    /// The controller's answer to an ISR change: committed at `partition_epoch`, or refused
    /// (`None`: proposed again by a check after [`ISR_RETRY_BACKOFF_MS`]).
    pub fn isr_answered(&self, leader_epoch: i32, committed: Option<(Vec<i32>, i32)>, now_ms: i64) {
        let mut s = self.lock();
        let Some(l) = s.role.as_leader_mut() else {
            return;
        };
        match committed {
            Some((isr, partition_epoch)) => l.isr_committed(leader_epoch, isr, partition_epoch),
            None => l.abandon_pending(now_ms + ISR_RETRY_BACKOFF_MS),
        }
        s.advance_leader_hwm();
        self.publish(s);
    }

    /// Where this follower fetches next; `None` while it leads.
    pub fn fetch_position(&self) -> Option<FetchPosition> {
        let s = self.lock();
        let f = s.follower().ok()?;
        Some(FetchPosition {
            fetch_offset: s.log.log_end_offset(),
            last_fetched_epoch: s.log.latest_epoch(),
            current_leader_epoch: f.leader_epoch,
            log_start_offset: s.log.log_start_offset(),
        })
    }

    /// Appends batches fetched from the leader of `leader_epoch` with their offsets, and takes
    /// the leader's high watermark and log start offset (up to this log's end).
    pub fn append_as_follower(
        &self,
        leader_epoch: i32,
        records: Option<Bytes>,
        leader_high_watermark: i64,
        leader_log_start: i64,
        now_ms: i64,
    ) -> Result<u64, PartitionError> {
        let mut s = self.lock();
        if s.follower()?.leader_epoch != leader_epoch {
            return Err(PartitionError::NotFollower);
        }
        let mut count = 0;
        if let Some(records) = records.filter(|r| !r.is_empty()) {
            // Split and validated once; the log takes the same batches (cheap clones).
            let batches = crate::log::RecordBatch::split_all(records)?;
            let info = s.log.append_parsed_as_follower(batches.clone(), now_ms)?;
            s.producers.load_from_batches(batches.iter());
            s.producers.update_map_end_offset(info.last_offset + 1);
            s.producers_dirty = true;
            count = Self::count_unflushed(&mut s, &info)?;
        }
        if leader_log_start > s.log.log_start_offset() {
            s.log.delete_records_before(leader_log_start)?;
        }
        s.high_watermark = s.high_watermark.max(leader_high_watermark);
        s.clamp_hwm();
        self.publish(s);
        Ok(count)
    }

    /// The follower's answer to the leader's diverging epoch: truncates to where its log and
    /// the leader's agree (`epoch` ended at `end_offset` on the leader). Returns the new log
    /// end offset. Never truncates below the high watermark: committed records are the same on
    /// every replica, so a leader that lacks them lost data and this replica keeps its copy.
    pub fn truncate_to_diverging(
        &self,
        epoch: i32,
        end_offset: i64,
        now_ms: i64,
    ) -> Result<i64, PartitionError> {
        let mut s = self.lock();
        s.follower()?;
        // This log's largest epoch at or below the leader's one: both logs agree up to the
        // earlier of their ends. Nothing at or below it: nothing agrees.
        let target = match s.log.end_offset_for_epoch(epoch) {
            Some((_, end)) if epoch >= 0 => end.min(end_offset),
            _ => s.log.log_start_offset(),
        }
        .clamp(s.log.log_start_offset(), s.log.log_end_offset());
        if target < s.high_watermark {
            return Err(PartitionError::TruncationBelowHighWatermark {
                target,
                high_watermark: s.high_watermark,
            });
        }
        if target < s.log.log_end_offset() {
            tracing::info!(topic = %self.topic, partition = self.index, from = s.log.log_end_offset(), to = target, "truncating a diverged follower log");
            s.log.truncate_to(target)?;
            s.reload_producers(now_ms);
        }
        let end = s.log.log_end_offset();
        self.publish(s);
        Ok(end)
    }

    /// The follower's fetch offset is below the leader's log start: restart the log there.
    pub fn restart_at(&self, offset: i64, now_ms: i64) -> Result<(), PartitionError> {
        let mut s = self.lock();
        s.follower()?;
        tracing::info!(topic = %self.topic, partition = self.index, offset, "restarting the follower log at the leader's log start");
        s.log.truncate_fully_and_start_at(offset, now_ms)?;
        s.producers.truncate_fully_and_start_at(offset);
        s.high_watermark = offset;
        self.publish(s);
        Ok(())
    }

    /// (log start, high watermark) for ListOffsets earliest/latest.
    pub fn offsets(&self) -> Result<(i64, i64), PartitionError> {
        let s = self.lock();
        s.leader()?;
        Ok((s.log.log_start_offset(), s.high_watermark))
    }

    /// Runs `f` on the log (ListOffsets by timestamp, DeleteRecords, DescribeLogDirs).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log, i64) -> T) -> Result<T, PartitionError> {
        let mut s = self.lock();
        s.leader()?;
        let hwm = s.high_watermark;
        Ok(f(&mut s.log, hwm))
    }

    /// The log directory holding this partition's log.
    pub fn log_dir(&self) -> Option<std::path::PathBuf> {
        self.lock().log.dir().parent().map(|d| d.to_path_buf())
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
            let hwm = s.high_watermark;
            s.log.apply_retention(now_ms, hwm)?;
            s.clamp_hwm();
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

/// How long a leader waits before proposing again an ISR change the controller refused (a
/// fenced follower that keeps fetching would otherwise be proposed at every fetch).
pub const ISR_RETRY_BACKOFF_MS: i64 = 1_000;

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

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
