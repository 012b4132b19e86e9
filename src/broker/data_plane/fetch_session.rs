//! One incremental fetch session (KIP-227): the partitions a fetcher (a consumer or a follower)
//! asked for, with the request parameters it last sent for each and what the last response
//! told it about each partition.
//!
//! A fetcher opens a session with a full fetch (epoch 0); the broker answers with a session id
//! and the session's epoch becomes 1. Each later request names the session and its epoch and
//! carries only the partitions that were added or whose parameters changed, plus the ones to
//! forget; the broker fetches every partition of the session and answers only those with
//! something new: records, a moved high watermark, last stable offset or log start offset, an
//! error, or a diverging epoch. The sessions live in the
//! [`FetchSessionCache`](super::fetch_session_cache::FetchSessionCache); the
//! [`FetchManager`](super::fetch_manager::FetchManager) applies requests and responses to them.

use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::PartitionData;
use uuid::Uuid;

use crate::types::MonoTime;

/// The session id of a fetch without a session, and of a response that created none.
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full fetch that asks for a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch that wants no session (and closes the one it names).
pub const FINAL_EPOCH: i32 = -1;

/// The epoch that follows `epoch`: a negative one stays final, and after `i32::MAX` comes 1
/// (0 would mean a new session).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// Why a fetch could not use the session it named; answered at the top level of the response
/// with no partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchSessionError {
    #[error("no fetch session with this id")]
    IdNotFound,
    #[error("the fetch session's epoch is not the one the request carries")]
    InvalidEpoch,
    #[error("the request names topics by id and the session by name, or the other way round")]
    TopicIdUsage,
}

impl FetchSessionError {
    pub fn response_error(self) -> ResponseError {
        match self {
            FetchSessionError::IdNotFound => ResponseError::FetchSessionIdNotFound,
            FetchSessionError::InvalidEpoch => ResponseError::InvalidFetchSessionEpoch,
            FetchSessionError::TopicIdUsage => ResponseError::FetchSessionTopicIdError,
        }
    }
}

/// How a session names a topic: by id from Fetch v13 on, by name before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionTopic {
    Id(Uuid),
    Name(String),
}

/// A partition of a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: SessionTopic,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: SessionTopic, partition: i32) -> PartitionKey {
        PartitionKey { topic, partition }
    }

    /// The key of a request or response partition: by `topic_id` when the version names
    /// topics by id, else by `name`.
    pub fn of(uses_topic_ids: bool, topic_id: Uuid, name: &str, partition: i32) -> PartitionKey {
        let topic = if uses_topic_ids {
            SessionTopic::Id(topic_id)
        } else {
            SessionTopic::Name(name.to_string())
        };
        PartitionKey { topic, partition }
    }
}

/// What the fetcher last sent for a partition: the parameters an incremental request reuses
/// for the partitions it does not repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    /// The fetcher's own log start offset (followers), -1 for consumers.
    pub log_start_offset: i64,
}

impl FetchParams {
    pub fn of(p: &FetchPartition) -> FetchParams {
        FetchParams {
            fetch_offset: p.fetch_offset,
            partition_max_bytes: p.partition_max_bytes,
            current_leader_epoch: p.current_leader_epoch,
            last_fetched_epoch: p.last_fetched_epoch,
            log_start_offset: p.log_start_offset,
        }
    }

    /// The request partition these parameters stand for.
    pub fn to_partition(self, partition: i32) -> FetchPartition {
        FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(self.fetch_offset)
            .with_partition_max_bytes(self.partition_max_bytes)
            .with_current_leader_epoch(self.current_leader_epoch)
            .with_last_fetched_epoch(self.last_fetched_epoch)
            .with_log_start_offset(self.log_start_offset)
    }
}

/// A partition of a session: the last request parameters and what the fetcher last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPartition {
    pub params: FetchParams,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// This broker's log start offset as last answered.
    pub log_start_offset: i64,
}

impl CachedPartition {
    /// A partition the fetcher has not been answered about yet.
    pub fn new(params: FetchParams) -> CachedPartition {
        CachedPartition {
            params,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
        }
    }

    /// A partition as a full response answered it.
    pub fn answered(params: FetchParams, d: &PartitionData) -> CachedPartition {
        let mut c = CachedPartition::new(params);
        c.must_respond(d);
        c
    }

    /// Whether an incremental response must carry `d` for this partition, remembering what it
    /// carries: records, a changed high watermark, last stable offset or log start offset, a
    /// preferred read replica, a diverging epoch, or an error. After an error the high
    /// watermark is forgotten, so the partition is answered again once the error is gone.
    pub fn must_respond(&mut self, d: &PartitionData) -> bool {
        let mut respond = d.records.as_ref().is_some_and(|r| !r.is_empty());
        if self.high_watermark != d.high_watermark {
            self.high_watermark = d.high_watermark;
            respond = true;
        }
        if self.last_stable_offset != d.last_stable_offset {
            self.last_stable_offset = d.last_stable_offset;
            respond = true;
        }
        if self.log_start_offset != d.log_start_offset {
            self.log_start_offset = d.log_start_offset;
            respond = true;
        }
        if d.preferred_read_replica.0 >= 0 {
            respond = true;
        }
        if d.diverging_epoch.epoch >= 0 || d.diverging_epoch.end_offset >= 0 {
            respond = true;
        }
        if d.error_code != 0 {
            self.high_watermark = -1;
            respond = true;
        }
        respond
    }
}

/// How a request changed a session's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionUpdate {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// One fetch session.
#[derive(Debug, Clone)]
pub struct FetchSession {
    pub id: i32,
    /// Opened by a follower: evicted only by other followers' sessions, or when stale.
    pub privileged: bool,
    /// Opened at Fetch v13 or later: its partitions are keyed by topic id.
    pub uses_topic_ids: bool,
    /// In the order the broker reads them; partitions that were just answered move to the
    /// end, so that a response's byte limit does not always favour the same partitions.
    pub partitions: IndexMap<PartitionKey, CachedPartition>,
    pub created: MonoTime,
    pub last_used: MonoTime,
    /// The epoch the next request must carry.
    pub epoch: i32,
}

impl FetchSession {
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Applies an incremental request: `sent` partitions are added or get new parameters,
    /// then `forgotten` ones are removed.
    pub fn update(
        &mut self,
        sent: impl IntoIterator<Item = (PartitionKey, FetchParams)>,
        forgotten: impl IntoIterator<Item = PartitionKey>,
    ) -> SessionUpdate {
        let mut u = SessionUpdate::default();
        for (key, params) in sent {
            match self.partitions.get_mut(&key) {
                Some(cached) => {
                    cached.params = params;
                    u.updated += 1;
                }
                None => {
                    self.partitions.insert(key, CachedPartition::new(params));
                    u.added += 1;
                }
            }
        }
        for key in forgotten {
            if self.partitions.shift_remove(&key).is_some() {
                u.removed += 1;
            }
        }
        u
    }

    /// Decides which of the `answered` partitions an incremental response carries (one flag
    /// each, in order) and moves the carried ones to the end of the session's order. A
    /// partition the session does not hold is carried.
    pub fn select<'a>(
        &mut self,
        answered: impl IntoIterator<Item = (PartitionKey, &'a PartitionData)>,
    ) -> Vec<bool> {
        let mut keep = Vec::new();
        let mut carried = std::collections::HashSet::new();
        for (key, d) in answered {
            let respond = match self.partitions.get_mut(&key) {
                Some(cached) => cached.must_respond(d),
                None => true,
            };
            if respond {
                carried.insert(key);
            }
            keep.push(respond);
        }
        if !carried.is_empty() && carried.len() < self.partitions.len() {
            let (moved, rest): (IndexMap<_, _>, IndexMap<_, _>) =
                std::mem::take(&mut self.partitions)
                    .into_iter()
                    .partition(|(k, _)| carried.contains(k));
            self.partitions = rest;
            self.partitions.extend(moved);
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::fetch_response::EpochEndOffset;

    use super::*;

    fn params(offset: i64) -> FetchParams {
        FetchParams {
            fetch_offset: offset,
            partition_max_bytes: 1024,
            current_leader_epoch: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
        }
    }

    fn data(hwm: i64, lso: i64, start: i64, records: usize) -> PartitionData {
        PartitionData::default()
            .with_high_watermark(hwm)
            .with_last_stable_offset(lso)
            .with_log_start_offset(start)
            .with_records(Some(bytes::Bytes::from(vec![0u8; records])))
    }

    fn key(topic: &str, partition: i32) -> PartitionKey {
        PartitionKey::new(SessionTopic::Name(topic.into()), partition)
    }

    #[test]
    fn epochs_advance_wrap_to_one_and_final_stays_final() {
        for (epoch, next) in [(0, 1), (1, 2), (i32::MAX, 1), (-1, -1), (-7, -1)] {
            assert_eq!(next_epoch(epoch), next, "after {epoch}");
        }
    }

    #[test]
    fn session_errors_map_to_their_kafka_codes() {
        for (e, want) in [
            (
                FetchSessionError::IdNotFound,
                ResponseError::FetchSessionIdNotFound,
            ),
            (
                FetchSessionError::InvalidEpoch,
                ResponseError::InvalidFetchSessionEpoch,
            ),
            (
                FetchSessionError::TopicIdUsage,
                ResponseError::FetchSessionTopicIdError,
            ),
        ] {
            assert_eq!(e.response_error(), want);
        }
    }

    #[test]
    fn a_partition_is_answered_only_when_something_is_new() {
        // Last answer: high watermark 10, last stable offset 10, log start 0.
        let last = data(10, 10, 0, 0);
        let diverging = data(10, 10, 0, 0)
            .with_diverging_epoch(EpochEndOffset::default().with_epoch(2).with_end_offset(7));
        let preferred = data(10, 10, 0, 0).with_preferred_read_replica(BrokerId(3));
        let error = data(10, 10, 0, 0).with_error_code(ResponseError::NotLeaderOrFollower.code());
        let cases: [(&str, PartitionData, bool); 8] = [
            ("nothing new", data(10, 10, 0, 0), false),
            ("records", data(10, 10, 0, 5), true),
            ("high watermark", data(11, 10, 0, 0), true),
            ("last stable offset", data(10, 11, 0, 0), true),
            ("log start offset", data(10, 10, 4, 0), true),
            ("diverging epoch", diverging, true),
            ("preferred read replica", preferred, true),
            ("error", error, true),
        ];
        for (what, d, want) in cases {
            let mut c = CachedPartition::answered(params(0), &last);
            assert_eq!(c.must_respond(&d), want, "{what}");
            // Asked again with the same answer, only records, errors and the
            // per-response signals are carried again.
            let again = d.records.as_ref().is_some_and(|r| !r.is_empty())
                || d.error_code != 0
                || d.diverging_epoch.epoch >= 0
                || d.preferred_read_replica.0 >= 0;
            assert_eq!(c.must_respond(&d), again, "{what}, twice");
        }
    }

    #[test]
    fn after_an_error_the_partition_is_answered_again_when_it_clears() {
        let mut c = CachedPartition::answered(params(0), &data(10, 10, 0, 0));
        let error = data(10, 10, 0, 0).with_error_code(ResponseError::NotLeaderOrFollower.code());
        assert!(c.must_respond(&error));
        assert!(c.must_respond(&data(10, 10, 0, 0)), "the error cleared");
        assert!(!c.must_respond(&data(10, 10, 0, 0)));
    }

    fn session(keys: &[PartitionKey]) -> FetchSession {
        FetchSession {
            id: 5,
            privileged: false,
            uses_topic_ids: false,
            partitions: keys
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        CachedPartition::answered(params(0), &data(10, 10, 0, 0)),
                    )
                })
                .collect(),
            created: MonoTime(0),
            last_used: MonoTime(0),
            epoch: 1,
        }
    }

    #[test]
    fn an_update_adds_changes_then_forgets() {
        let mut s = session(&[key("a", 0), key("a", 1)]);
        let u = s.update(
            [(key("a", 1), params(40)), (key("b", 0), params(3))],
            [key("a", 0), key("zz", 9)],
        );
        assert_eq!(
            u,
            SessionUpdate {
                added: 1,
                updated: 1,
                removed: 1
            }
        );
        let keys: Vec<_> = s.partitions.keys().cloned().collect();
        assert_eq!(keys, vec![key("a", 1), key("b", 0)]);
        assert_eq!(s.partitions[&key("a", 1)].params.fetch_offset, 40);
        // A partition sent and forgotten in one request is gone.
        s.update([(key("c", 0), params(0))], [key("c", 0)]);
        assert!(!s.partitions.contains_key(&key("c", 0)));
    }

    #[test]
    fn answered_partitions_move_to_the_end_of_the_order() {
        let keys = [key("a", 0), key("a", 1), key("b", 0), key("b", 1)];
        let mut s = session(&keys);
        let quiet = data(10, 10, 0, 0);
        let busy = data(10, 10, 0, 3);
        let answered = [
            (keys[0].clone(), &busy),
            (keys[1].clone(), &quiet),
            (keys[2].clone(), &busy),
            (keys[3].clone(), &quiet),
        ];
        assert_eq!(s.select(answered), vec![true, false, true, false]);
        let order: Vec<_> = s.partitions.keys().cloned().collect();
        assert_eq!(
            order,
            vec![
                keys[1].clone(),
                keys[3].clone(),
                keys[0].clone(),
                keys[2].clone()
            ]
        );
        // A partition the session does not hold is carried.
        assert_eq!(s.select([(key("x", 0), &quiet)]), vec![true]);
    }

    #[test]
    fn keys_follow_the_version_naming_of_topics() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            PartitionKey::of(true, id, "", 2),
            PartitionKey::new(SessionTopic::Id(id), 2)
        );
        assert_eq!(
            PartitionKey::of(false, Uuid::nil(), "t", 2),
            PartitionKey::new(SessionTopic::Name("t".into()), 2)
        );
        let p = params(9).to_partition(4);
        assert_eq!((p.partition, FetchParams::of(&p)), (4, params(9)));
    }
}
