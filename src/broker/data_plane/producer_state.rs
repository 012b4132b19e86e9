//! The idempotent producer's per-partition state (KIP-98 idempotence; transactions later).
//!
//! For each producer id the partition leader remembers the producer epoch and the sequence and
//! offset ranges of the producer's last [`NUM_BATCHES_TO_RETAIN`] batches. Before an append,
//! [`ProducerStateManager::check`] tells whether a batch is a resend of one of those (answer with
//! the original offsets, append nothing), continues the producer's sequence (append), or must be
//! refused. After the append, [`ProducerStateManager::update`] records it.
//!
//! Rules, as the Kafka broker applies them to client appends:
//! - a batch without producer id (-1) is not checked;
//! - a batch whose epoch equals the producer's and whose (first, last) sequence equals one of the
//!   cached batches is a duplicate; this is decided before any other rule;
//! - an epoch lower than the producer's is refused with `INVALID_PRODUCER_EPOCH` (what Kafka
//!   answers to Produce since 2.7, `PRODUCER_FENCED` is for transactional APIs);
//! - a higher epoch (a bump, KIP-360) must start at sequence 0, else
//!   `OUT_OF_ORDER_SEQUENCE_NUMBER`; any sequence is accepted only while the producer has no
//!   epoch yet (-1). Epochs are compared as signed 16-bit values and never wrap at a partition:
//!   an idempotent Java producer bumps its own epoch up to `i16::MAX` and then asks for a new
//!   producer id, and the transaction coordinator does the same past `i16::MAX - 1`;
//! - the same epoch must continue the last sequence: `first == last + 1`, or `first == 0` after
//!   `i32::MAX` (sequences wrap); a producer known with no cached batch must start at 0;
//! - an unknown producer id is accepted with any sequence. Since Kafka 2.5 (KIP-360) the broker
//!   never answers `UNKNOWN_PRODUCER_ID` to Produce: when retention or DeleteRecords removed the
//!   producer's last batches, its state is gone and its next batch starts a new entry.
//!
//! The produce path calls, in Kafka's order: `produce_validation::validate` (records are
//! validated before duplicates are looked for), [`ProducerStateManager::check`], the log append,
//! then [`ProducerStateManager::update`]. Transactional batches are recorded like idempotent
//! ones; transaction state (ongoing transactions, markers) is not kept yet.
//!
//! Pure: no IO and no clock (times are arguments). Snapshot files are in [`snapshot`].

pub mod snapshot;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use kafka_protocol::ResponseError;

use crate::log::RecordBatch;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_TIMESTAMP: i64 = -1;
/// Kafka's default `producer.id.expiration.ms` (one day), the idle time after which a
/// producer's state is dropped.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;
/// How many batches per producer are remembered for duplicate detection (the Java producer
/// keeps at most 5 requests in flight per connection with idempotence).
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// `sequence + increment`, wrapping from `i32::MAX` to 0 as producers do.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// `sequence - decrement`, wrapping below 0 to `i32::MAX`.
pub fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// What the producer state needs to know about one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// `base_sequence + record_count - 1`, wrapping at `i32::MAX`.
    pub last_sequence: i32,
    pub max_timestamp: i64,
    pub is_transactional: bool,
}

impl BatchInfo {
    pub fn new(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        record_count: i32,
        max_timestamp: i64,
        is_transactional: bool,
    ) -> BatchInfo {
        let last_sequence = if base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(base_sequence, (record_count - 1).max(0))
        };
        BatchInfo {
            producer_id,
            producer_epoch,
            base_sequence,
            last_sequence,
            max_timestamp,
            is_transactional,
        }
    }

    /// The producer fields of a stored batch (used when replaying the log).
    pub fn from_batch(batch: &RecordBatch) -> BatchInfo {
        let b = batch.bytes();
        let producer_epoch = i16::from_be_bytes([b[51], b[52]]);
        let base_sequence = i32::from_be_bytes([b[53], b[54], b[55], b[56]]);
        let last_sequence = if base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(base_sequence, batch.last_offset_delta())
        };
        BatchInfo {
            producer_id: batch.producer_id(),
            producer_epoch,
            base_sequence,
            last_sequence,
            max_timestamp: batch.max_timestamp(),
            is_transactional: batch.attributes() & 0x10 != 0,
        }
    }

    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// The sequence and offset range of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp as stored (the append time on LogAppendTime topics).
    pub timestamp: i64,
}

/// One producer id's state at this partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Oldest first, at most [`NUM_BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    /// Timestamp of the last append, for producer id expiration.
    pub last_timestamp: i64,
    /// The epoch of the last transaction coordinator that wrote a marker (-1 until
    /// transactions exist; kept for the snapshot format).
    pub coordinator_epoch: i32,
    /// First offset of the ongoing transaction (always `None` until transactions exist).
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerStateEntry {
    pub fn empty(producer_id: i64) -> ProducerStateEntry {
        ProducerStateEntry {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            last_timestamp: NO_TIMESTAMP,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    pub fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    fn find_duplicate(&self, batch: &BatchInfo) -> Option<&BatchMetadata> {
        if batch.producer_epoch != self.producer_epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|m| m.first_seq == batch.base_sequence && m.last_seq == batch.last_sequence)
    }

    fn add_batch(&mut self, epoch: i16, meta: BatchMetadata) {
        if self.producer_epoch != epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.last_timestamp = meta.timestamp;
        self.batches.push_back(meta);
    }
}

/// The outcome of [`ProducerStateManager::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Append the batch, then call [`ProducerStateManager::update`].
    Append,
    /// A resend of an appended batch: answer with these offsets and append nothing. Kafka
    /// answers `timestamp` (the original batch's stored max timestamp) as the response's
    /// `log_append_time_ms`, on CreateTime topics too.
    Duplicate {
        first_offset: i64,
        last_offset: i64,
        timestamp: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    #[error("producer {producer_id} sent epoch {epoch}, older than its epoch {current_epoch}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current_epoch: i16,
    },
    #[error(
        "producer {producer_id} moved from epoch {current_epoch} to {epoch} with sequence {first_seq}; a new epoch starts at sequence 0"
    )]
    NewEpochNotAtZero {
        producer_id: i64,
        epoch: i16,
        current_epoch: i16,
        first_seq: i32,
    },
    #[error("producer {producer_id} (epoch {epoch}) sent sequence {first_seq} after {last_seq}")]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    },
}

impl ProducerStateError {
    /// The error code for the partition's Produce response.
    pub fn error(&self) -> ResponseError {
        match self {
            ProducerStateError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ProducerStateError::NewEpochNotAtZero { .. }
            | ProducerStateError::OutOfOrderSequence { .. } => {
                ResponseError::OutOfOrderSequenceNumber
            }
        }
    }
}

/// Per-partition map of producer id to [`ProducerStateEntry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: BTreeMap<i64, ProducerStateEntry>,
    /// The offset after the last batch applied (the log end offset the state corresponds to).
    map_end_offset: i64,
}

impl ProducerStateManager {
    /// Empty state for a log that starts at `offset`.
    pub fn new(offset: i64) -> ProducerStateManager {
        ProducerStateManager {
            producers: BTreeMap::new(),
            map_end_offset: offset,
        }
    }

    /// State restored from snapshot entries taken at `offset`, dropping producers that expired
    /// by `now_ms` (as Kafka does when it loads a snapshot).
    pub fn from_entries(
        offset: i64,
        entries: impl IntoIterator<Item = ProducerStateEntry>,
        now_ms: i64,
        expiration_ms: i64,
    ) -> ProducerStateManager {
        let mut m = ProducerStateManager::new(offset);
        for e in entries {
            m.producers.insert(e.producer_id, e);
        }
        m.remove_expired_producers(now_ms, expiration_ms);
        m
    }

    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    /// Advances the offset the state corresponds to (call after every append, including batches
    /// without producer id).
    pub fn update_map_end_offset(&mut self, next_offset: i64) {
        self.map_end_offset = next_offset;
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &ProducerStateEntry> {
        self.producers.values()
    }

    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Decides what to do with a client's batch; see the module documentation for the rules.
    pub fn check(&self, batch: &BatchInfo) -> Result<CheckOutcome, ProducerStateError> {
        if !batch.has_producer_id() {
            return Ok(CheckOutcome::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(CheckOutcome::Append);
        };
        if let Some(d) = entry.find_duplicate(batch) {
            return Ok(CheckOutcome::Duplicate {
                first_offset: d.first_offset,
                last_offset: d.last_offset,
                timestamp: d.timestamp,
            });
        }
        if batch.producer_epoch < entry.producer_epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.producer_epoch,
                current_epoch: entry.producer_epoch,
            });
        }
        if batch.producer_epoch != entry.producer_epoch {
            if batch.base_sequence != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
                return Err(ProducerStateError::NewEpochNotAtZero {
                    producer_id: batch.producer_id,
                    epoch: batch.producer_epoch,
                    current_epoch: entry.producer_epoch,
                    first_seq: batch.base_sequence,
                });
            }
        } else {
            let last_seq = entry.last_seq();
            if entry.producer_epoch != NO_PRODUCER_EPOCH
                && !in_sequence(last_seq, batch.base_sequence)
            {
                return Err(ProducerStateError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    epoch: batch.producer_epoch,
                    first_seq: batch.base_sequence,
                    last_seq,
                });
            }
        }
        Ok(CheckOutcome::Append)
    }

    /// Records a batch appended at `first_offset..=last_offset`. `append_time` is the
    /// LogAppendTime the leader stamped, or [`NO_TIMESTAMP`] on CreateTime topics (then the
    /// batch's max timestamp is remembered, as Kafka does).
    pub fn update(
        &mut self,
        batch: &BatchInfo,
        first_offset: i64,
        last_offset: i64,
        append_time: i64,
    ) {
        self.map_end_offset = self.map_end_offset.max(last_offset + 1);
        if !batch.has_producer_id() {
            return;
        }
        let timestamp = if append_time >= 0 {
            append_time
        } else {
            batch.max_timestamp
        };
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry::empty(batch.producer_id));
        entry.add_batch(
            batch.producer_epoch,
            BatchMetadata {
                first_seq: batch.base_sequence,
                last_seq: batch.last_sequence,
                first_offset,
                last_offset,
                timestamp,
            },
        );
    }

    /// Rebuilds state from stored batches (recovery: from a snapshot's offset to the log end),
    /// without validation, as Kafka replays replicated data. Control batches only advance the
    /// map end offset until transactions exist.
    pub fn load_from_batches<'a>(&mut self, batches: impl IntoIterator<Item = &'a RecordBatch>) {
        for b in batches {
            if b.next_offset() <= self.map_end_offset {
                continue;
            }
            if !b.is_control() {
                let info = BatchInfo::from_batch(b);
                if info.has_producer_id() {
                    let entry = self
                        .producers
                        .entry(info.producer_id)
                        .or_insert_with(|| ProducerStateEntry::empty(info.producer_id));
                    entry.add_batch(
                        info.producer_epoch,
                        BatchMetadata {
                            first_seq: info.base_sequence,
                            last_seq: info.last_sequence,
                            first_offset: b.base_offset(),
                            last_offset: b.last_offset(),
                            timestamp: info.max_timestamp,
                        },
                    );
                }
            }
            self.map_end_offset = b.next_offset();
        }
    }

    /// Forgets batches at or above `offset` (the log was truncated to end there). Producers left
    /// without any cached batch are removed: their earlier state is not known here, so the
    /// caller that needs it exact reloads from a snapshot at or below `offset` and replays the
    /// log ([`ProducerStateManager::load_from_batches`]). Returns how many producers were removed.
    pub fn truncate_to(&mut self, offset: i64) -> usize {
        let mut removed = Vec::new();
        for (pid, e) in self.producers.iter_mut() {
            let had = !e.batches.is_empty();
            e.batches.retain(|b| b.last_offset < offset);
            if had && e.batches.is_empty() {
                removed.push(*pid);
            } else if let Some(last) = e.batches.back() {
                e.last_timestamp = last.timestamp;
            }
            if e.current_txn_first_offset.is_some_and(|o| o >= offset) {
                e.current_txn_first_offset = None;
            }
        }
        for pid in &removed {
            self.producers.remove(pid);
        }
        self.map_end_offset = self.map_end_offset.min(offset);
        removed.len()
    }

    /// Drops every producer (the log was emptied and now starts at `offset`).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) {
        self.producers.clear();
        self.map_end_offset = offset;
    }

    /// Removes producers idle for `expiration_ms` or more (`producer.id.expiration.ms`) that
    /// have no ongoing transaction. Returns how many were removed.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }
}
