//! The session rules of [`FetchManager`], against a stand-in for the partitions: [`Logs`] answers
//! a fetch the way the broker's read does (records from the fetch offset up to the high
//! watermark, an error for unknown topics).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{FetchContext, FetchManager};
use crate::broker::data_plane::fetch_session::FetchSessionError;
use crate::broker::data_plane::fetch_session_cache::{EVICTION_AGE, FetchSessionCache};
use crate::observability::metrics::{FetchSessionMetrics, Metrics};
use crate::types::MonoTime;

/// Partitions by (topic name, index): (log start offset, high watermark). Topic ids are
/// derived from the name.
#[derive(Default, Clone)]
pub(crate) struct Logs(pub(crate) BTreeMap<(String, i32), (i64, i64)>);

pub(crate) fn topic_id(name: &str) -> Uuid {
    Uuid::from_u128(name.bytes().fold(7u128, |h, b| h * 31 + b as u128))
}

impl Logs {
    pub(crate) fn with(topics: &[(&str, i32)]) -> Logs {
        let mut logs = Logs::default();
        for (t, n) in topics {
            for p in 0..*n {
                logs.0.insert((t.to_string(), p), (0, 0));
            }
        }
        logs
    }

    pub(crate) fn append(&mut self, topic: &str, partition: i32, records: i64) {
        let e = self
            .0
            .get_mut(&(topic.to_string(), partition))
            .expect("known partition");
        e.1 += records;
    }

    fn name_of(&self, id: Uuid) -> Option<String> {
        self.0
            .keys()
            .map(|(t, _)| t)
            .find(|t| topic_id(t) == id)
            .cloned()
    }

    /// The response the broker reads for `r` (one byte of "records" per offset).
    pub(crate) fn read(&self, r: &FetchRequest, version: i16) -> FetchResponse {
        let responses = r
            .topics
            .iter()
            .map(|t| {
                let name = if version >= 13 {
                    self.name_of(t.topic_id)
                } else {
                    Some(t.topic.0.to_string())
                };
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let at = name
                            .as_ref()
                            .and_then(|n| self.0.get(&(n.clone(), p.partition)));
                        match at {
                            None => PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(ResponseError::UnknownTopicId.code())
                                .with_high_watermark(-1)
                                .with_last_stable_offset(-1)
                                .with_log_start_offset(-1),
                            Some((start, hwm)) => {
                                let n = (hwm - p.fetch_offset).max(0) as usize;
                                PartitionData::default()
                                    .with_partition_index(p.partition)
                                    .with_high_watermark(*hwm)
                                    .with_last_stable_offset(*hwm)
                                    .with_log_start_offset(*start)
                                    .with_records(Some(bytes::Bytes::from(vec![1u8; n])))
                            }
                        }
                    })
                    .collect();
                FetchableTopicResponse::default()
                    .with_topic(if version >= 13 {
                        TopicName::default()
                    } else {
                        t.topic.clone()
                    })
                    .with_topic_id(t.topic_id)
                    .with_partitions(partitions)
            })
            .collect();
        FetchResponse::default().with_responses(responses)
    }
}

/// A response's partitions as (topic name or id, index, records, high watermark).
pub(crate) fn summary(resp: &FetchResponse) -> Vec<(String, i32, usize, i64)> {
    resp.responses
        .iter()
        .flat_map(|t| {
            let topic = if t.topic.0.is_empty() {
                t.topic_id.to_string()
            } else {
                t.topic.0.to_string()
            };
            t.partitions.iter().map(move |p| {
                (
                    topic.clone(),
                    p.partition_index,
                    p.records.as_ref().map_or(0, |r| r.len()),
                    p.high_watermark,
                )
            })
        })
        .collect()
}

fn metrics() -> FetchSessionMetrics {
    Metrics::new().broker.fetch_sessions
}

fn manager(slots: usize) -> FetchManager {
    FetchManager::new(FetchSessionCache::new(slots, EVICTION_AGE, 11), metrics())
}

/// A Fetch v12 request (topics by name) for `parts`: (topic, partition, fetch offset).
fn req(
    session_id: i32,
    epoch: i32,
    parts: &[(&str, i32, i64)],
    forget: &[(&str, i32)],
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (t, p, offset) in parts {
        let part = FetchPartition::default()
            .with_partition(*p)
            .with_fetch_offset(*offset)
            .with_partition_max_bytes(1 << 20);
        match topics.last_mut() {
            Some(last) if last.topic.0.as_str() == *t => last.partitions.push(part),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_topic_id(topic_id(t))
                    .with_partitions(vec![part]),
            ),
        }
    }
    let forgotten = forget
        .iter()
        .map(|(t, p)| {
            ForgottenTopic::default()
                .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                .with_topic_id(topic_id(t))
                .with_partitions(vec![*p])
        })
        .collect();
    FetchRequest::default()
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
}

/// One fetch through the manager: context, read, complete.
fn fetch(m: &FetchManager, logs: &Logs, r: &FetchRequest, version: i16, now: u64) -> FetchResponse {
    let context = m.new_context(r, version, MonoTime(now));
    if let Some(refused) = context.refusal() {
        return refused;
    }
    let resp = logs.read(context.request(r), version);
    m.complete(context, resp, MonoTime(now))
}

fn error_of(resp: &FetchResponse) -> Option<ResponseError> {
    ResponseError::try_from_code(resp.error_code)
}

#[test]
fn fetches_without_a_session_answer_everything_with_session_id_zero() {
    let logs = Logs::with(&[("a", 2)]);
    let m = manager(10);
    // Before v7 there are no sessions, whatever the fields say; -1 asks for none.
    for (version, epoch) in [(4, 0), (6, 0), (12, -1), (16, -1)] {
        let resp = fetch(
            &m,
            &logs,
            &req(0, epoch, &[("a", 0, 0), ("a", 1, 0)], &[]),
            version,
            0,
        );
        assert_eq!(resp.session_id, 0, "v{version} epoch {epoch}");
        assert_eq!(resp.error_code, 0);
        assert_eq!(summary(&resp).len(), 2);
    }
    assert_eq!(m.sessions(), 0);
}

#[test]
fn a_full_fetch_opens_a_session_and_a_final_one_closes_it() {
    let logs = Logs::with(&[("a", 2)]);
    let m = manager(10);
    let resp = fetch(
        &m,
        &logs,
        &req(0, 0, &[("a", 0, 0), ("a", 1, 0)], &[]),
        12,
        0,
    );
    let id = resp.session_id;
    assert!(id > 0);
    assert_eq!(m.sessions(), 1);
    assert_eq!(m.metrics.sessions.get(), 1);
    assert_eq!(m.metrics.partitions.get(), 2);
    // A full fetch naming the session replaces it with a new one.
    let resp = fetch(&m, &logs, &req(id, 0, &[("a", 0, 0)], &[]), 12, 1);
    assert!(resp.session_id > 0 && resp.session_id != id);
    assert_eq!((m.sessions(), m.metrics.partitions.get()), (1, 1));
    // A final fetch closes it and gets no session.
    let resp = fetch(
        &m,
        &logs,
        &req(resp.session_id, -1, &[("a", 0, 0)], &[]),
        12,
        2,
    );
    assert_eq!(resp.session_id, 0);
    assert_eq!(summary(&resp).len(), 1);
    assert_eq!((m.sessions(), m.metrics.sessions.get()), (0, 0));
}

#[test]
fn session_errors_are_answered_at_the_top_level_without_partitions() {
    let logs = Logs::with(&[("a", 1)]);
    let m = manager(10);
    let id = fetch(&m, &logs, &req(0, 0, &[("a", 0, 0)], &[]), 12, 0).session_id;
    let cases: [(&str, FetchRequest, i16, ResponseError); 5] = [
        (
            "unknown id",
            req(id.wrapping_add(1), 1, &[], &[]),
            12,
            ResponseError::FetchSessionIdNotFound,
        ),
        (
            "id 0 with an incremental epoch",
            req(0, 1, &[], &[]),
            12,
            ResponseError::FetchSessionIdNotFound,
        ),
        (
            "an epoch ahead",
            req(id, 2, &[], &[]),
            12,
            ResponseError::InvalidFetchSessionEpoch,
        ),
        (
            "a negative epoch other than -1",
            req(id, -2, &[], &[]),
            12,
            ResponseError::InvalidFetchSessionEpoch,
        ),
        (
            "topic ids in a session of names",
            req(id, 1, &[], &[]),
            13,
            ResponseError::FetchSessionTopicIdError,
        ),
    ];
    for (what, r, version, want) in cases {
        let resp = fetch(&m, &logs, &r, version, 1);
        assert_eq!(error_of(&resp), Some(want), "{what}");
        assert!(resp.responses.is_empty(), "{what}");
        assert_eq!(resp.session_id, 0, "{what}");
    }
    // None of them disturbed the session.
    let resp = fetch(&m, &logs, &req(id, 1, &[], &[]), 12, 2);
    assert_eq!((resp.error_code, resp.session_id), (0, id));
}

#[test]
fn incremental_fetches_carry_only_what_changed() {
    let mut logs = Logs::with(&[("a", 3), ("b", 1)]);
    let m = manager(10);
    let full = req(0, 0, &[("a", 0, 0), ("a", 1, 0), ("a", 2, 0)], &[]);
    let resp = fetch(&m, &logs, &full, 12, 0);
    let id = resp.session_id;
    assert_eq!(
        summary(&resp).len(),
        3,
        "a full response carries every partition"
    );

    // Nothing new: an empty incremental response.
    let resp = fetch(&m, &logs, &req(id, 1, &[], &[]), 12, 1);
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert!(resp.responses.is_empty(), "{:?}", summary(&resp));

    // Records on a-1: only a-1, with records and the new high watermark.
    logs.append("a", 1, 4);
    let resp = fetch(&m, &logs, &req(id, 2, &[], &[]), 12, 2);
    assert_eq!(summary(&resp), vec![("a".into(), 1, 4, 4)]);

    // The fetcher moves a-1 on to 4 and adds b-0; b-0 is new, a-1 has nothing new.
    let resp = fetch(
        &m,
        &logs,
        &req(id, 3, &[("a", 1, 4), ("b", 0, 0)], &[]),
        12,
        3,
    );
    assert_eq!(summary(&resp), vec![("b".into(), 0, 0, 0)]);
    assert_eq!(m.metrics.partitions.get(), 4);

    // Forgetting a-0 and a-2; b-0 gets records.
    logs.append("b", 0, 2);
    let resp = fetch(&m, &logs, &req(id, 4, &[], &[("a", 0), ("a", 2)]), 12, 4);
    assert_eq!(summary(&resp), vec![("b".into(), 0, 2, 2)]);
    assert_eq!(m.metrics.partitions.get(), 2);
    // a-0 gets records but is no longer in the session.
    logs.append("a", 0, 9);
    let resp = fetch(&m, &logs, &req(id, 5, &[("b", 0, 2)], &[]), 12, 5);
    assert!(resp.responses.is_empty(), "{:?}", summary(&resp));

    // A moved log start offset is news too.
    logs.0.get_mut(&("a".to_string(), 1)).unwrap().0 = 2;
    let resp = fetch(&m, &logs, &req(id, 6, &[], &[]), 12, 6);
    assert_eq!(summary(&resp), vec![("a".into(), 1, 0, 4)]);
}

#[test]
fn the_session_reads_every_partition_with_its_latest_parameters() {
    let logs = Logs::with(&[("a", 2), ("b", 2)]);
    let m = manager(10);
    let full = req(
        0,
        0,
        &[("a", 0, 0), ("a", 1, 0), ("b", 0, 0), ("b", 1, 0)],
        &[],
    );
    let id = fetch(&m, &logs, &full, 12, 0).session_id;
    let r = req(id, 1, &[("b", 1, 7)], &[("a", 0)])
        .with_max_bytes(999)
        .with_min_bytes(3)
        .with_max_wait_ms(77);
    let context = m.new_context(&r, 12, MonoTime(1));
    let FetchContext::Incremental { request, epoch, .. } = &context else {
        panic!("{context:?}");
    };
    assert_eq!(*epoch, 2);
    assert_eq!(
        (request.max_bytes, request.min_bytes, request.max_wait_ms),
        (999, 3, 77)
    );
    assert!(request.forgotten_topics_data.is_empty());
    let read: Vec<(String, i32, i64)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic.0.to_string(), p.partition, p.fetch_offset))
        })
        .collect();
    assert_eq!(
        read,
        vec![("a".into(), 1, 0), ("b".into(), 0, 0), ("b".into(), 1, 7)]
    );
    assert_eq!(request.topics.len(), 2, "partitions grouped by topic");
}

#[test]
fn answered_partitions_go_to_the_back_of_the_next_read() {
    let mut logs = Logs::with(&[("a", 3)]);
    let m = manager(10);
    let id = fetch(
        &m,
        &logs,
        &req(0, 0, &[("a", 0, 0), ("a", 1, 0), ("a", 2, 0)], &[]),
        12,
        0,
    )
    .session_id;
    logs.append("a", 0, 1);
    fetch(&m, &logs, &req(id, 1, &[], &[]), 12, 1);
    let context = m.new_context(&req(id, 2, &[("a", 0, 1)], &[]), 12, MonoTime(2));
    let order: Vec<i32> = context
        .request(&FetchRequest::default())
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition))
        .collect();
    assert_eq!(order, vec![1, 2, 0]);
}

#[test]
fn forgetting_every_partition_closes_the_session() {
    let logs = Logs::with(&[("a", 1)]);
    let m = manager(10);
    let id = fetch(&m, &logs, &req(0, 0, &[("a", 0, 0)], &[]), 12, 0).session_id;
    let resp = fetch(&m, &logs, &req(id, 1, &[], &[("a", 0)]), 12, 1);
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(m.sessions(), 0);
    let resp = fetch(&m, &logs, &req(id, 2, &[], &[]), 12, 2);
    assert_eq!(error_of(&resp), Some(ResponseError::FetchSessionIdNotFound));
}

#[test]
fn a_second_request_with_the_same_epoch_loses() {
    let logs = Logs::with(&[("a", 1)]);
    let m = manager(10);
    let id = fetch(&m, &logs, &req(0, 0, &[("a", 0, 0)], &[]), 12, 0).session_id;
    let r = req(id, 1, &[], &[]);
    let first = m.new_context(&r, 12, MonoTime(1));
    // The same epoch again (a resent request) is refused at once...
    let second = m.new_context(&r, 12, MonoTime(1));
    assert!(matches!(
        second,
        FetchContext::Refused(FetchSessionError::InvalidEpoch)
    ));
    // ... and a request that overtook the first one makes the first one's answer an error.
    let overtaking = m.new_context(&req(id, 2, &[], &[]), 12, MonoTime(1));
    let resp = m.complete(first, logs.read(&r, 12), MonoTime(1));
    assert_eq!(
        error_of(&resp),
        Some(ResponseError::InvalidFetchSessionEpoch)
    );
    assert_eq!(resp.session_id, id);
    let resp = m.complete(overtaking, logs.read(&r, 12), MonoTime(1));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
}

#[test]
fn sessions_by_topic_id_keep_unknown_ids_and_report_them_every_time() {
    let logs = Logs::with(&[("a", 1)]);
    let m = manager(10);
    let mut r = req(0, 0, &[("a", 0, 0), ("gone", 0, 0)], &[]);
    let id = fetch(&m, &logs, &r, 16, 0).session_id;
    assert!(id > 0);
    assert_eq!(m.metrics.partitions.get(), 2);
    r = req(id, 1, &[], &[]);
    let resp = fetch(&m, &logs, &r, 16, 1);
    let s = summary(&resp);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, topic_id("gone").to_string());
    assert_eq!(
        resp.responses[0].partitions[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
    // Forgotten by id.
    let resp = fetch(&m, &logs, &req(id, 2, &[], &[("gone", 0)]), 16, 2);
    assert!(resp.responses.is_empty());
    assert_eq!(m.metrics.partitions.get(), 1);
    // A name-based version cannot continue it.
    let resp = fetch(&m, &logs, &req(id, 3, &[], &[]), 12, 3);
    assert_eq!(
        error_of(&resp),
        Some(ResponseError::FetchSessionTopicIdError)
    );
}

#[test]
fn a_full_cache_answers_without_a_session_and_followers_evict_consumers() {
    let logs = Logs::with(&[("a", 1)]);
    let m = manager(1);
    let consumer = fetch(&m, &logs, &req(0, 0, &[("a", 0, 0)], &[]), 12, 0).session_id;
    assert!(consumer > 0);
    let other = fetch(&m, &logs, &req(0, 0, &[("a", 0, 0)], &[]), 12, 1);
    assert_eq!(other.session_id, 0, "no room for a second consumer");
    assert_eq!(summary(&other).len(), 1, "answered as a full fetch");
    assert_eq!(m.metrics.evictions.get(), 0);
    let follower = req(0, 0, &[("a", 0, 0)], &[]).with_replica_id(BrokerId(2));
    let resp = fetch(&m, &logs, &follower, 12, 2);
    assert!(resp.session_id > 0);
    assert_eq!(m.metrics.evictions.get(), 1);
    let resp = fetch(&m, &logs, &req(consumer, 1, &[], &[]), 12, 3);
    assert_eq!(error_of(&resp), Some(ResponseError::FetchSessionIdNotFound));
}

#[test]
fn followers_are_told_by_replica_id_or_replica_state() {
    use kafka_protocol::messages::fetch_request::ReplicaState;
    let by_id = FetchRequest::default().with_replica_id(BrokerId(3));
    let by_state = FetchRequest::default()
        .with_replica_state(ReplicaState::default().with_replica_id(BrokerId(3)));
    for (r, version, want) in [
        (&by_id, 14, true),
        (&by_id, 15, false),
        (&by_state, 15, true),
        (&by_state, 14, false),
        (&FetchRequest::default(), 16, false),
    ] {
        assert_eq!(super::from_follower(r, version), want, "v{version}");
    }
}
