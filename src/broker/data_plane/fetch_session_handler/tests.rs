use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{FetchSessionHandler, PartitionFetch};
use crate::broker::data_plane::fetch_manager::FetchManager;
use crate::broker::data_plane::fetch_manager::tests::{Logs, topic_id};
use crate::broker::data_plane::fetch_session_cache::{EVICTION_AGE, FetchSessionCache};
use crate::observability::metrics::Metrics;
use crate::types::{MonoTime, TopicPartition};

type Wanted = BTreeMap<TopicPartition, PartitionFetch>;

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn want(topic: &str, offset: i64) -> PartitionFetch {
    PartitionFetch {
        topic_id: topic_id(topic),
        fetch_offset: offset,
        current_leader_epoch: 3,
        last_fetched_epoch: -1,
        log_start_offset: -1,
        partition_max_bytes: 1 << 20,
    }
}

fn wanted(parts: &[(&str, i32, i64)]) -> Wanted {
    parts
        .iter()
        .map(|(t, p, o)| (tp(t, *p), want(t, *o)))
        .collect()
}

/// (topic, partition, fetch offset) of the partitions a request sends.
fn sent(r: &FetchRequest) -> Vec<(String, i32, i64)> {
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic.0.to_string(), p.partition, p.fetch_offset))
        })
        .collect()
}

fn forgotten(r: &FetchRequest) -> Vec<(String, Uuid, i32)> {
    r.forgotten_topics_data
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic.0.to_string(), t.topic_id, *p))
        })
        .collect()
}

fn response(session_id: i32, parts: &[(&str, i32)]) -> FetchResponse {
    let responses = parts
        .iter()
        .map(|(t, p)| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                .with_partitions(vec![PartitionData::default().with_partition_index(*p)])
        })
        .collect();
    FetchResponse::default()
        .with_session_id(session_id)
        .with_responses(responses)
}

#[test]
fn the_first_request_is_full_and_a_session_id_opens_the_session() {
    let mut h = FetchSessionHandler::new(2);
    assert_eq!(h.node(), 2);
    let w = wanted(&[("a", 0, 5), ("a", 1, 6), ("b", 0, 7)]);
    let parts = h.build(&w);
    assert!(parts.is_full());
    assert_eq!((parts.session_id, parts.session_epoch), (0, 0));
    assert_eq!(parts.partition_count(), 3);
    assert_eq!(parts.topics.len(), 2, "grouped by topic");
    assert_eq!(parts.topics[0].topic_id, topic_id("a"));
    assert!(parts.forgotten.is_empty());
    assert!(h.handle_response(&response(77, &[("a", 0), ("a", 1), ("b", 0)])));
    assert_eq!((h.session_id(), h.epoch()), (77, 1));
    // Nothing changed: an incremental request without partitions.
    let parts = h.build(&w);
    assert!(!parts.is_full());
    assert_eq!((parts.session_id, parts.session_epoch), (77, 1));
    assert_eq!(parts.partition_count(), 0);
    assert!(h.handle_response(&response(77, &[])));
    assert_eq!(h.epoch(), 2);
}

#[test]
fn incremental_requests_send_changes_and_forget_what_is_no_longer_wanted() {
    let mut h = FetchSessionHandler::new(1);
    h.build(&wanted(&[("a", 0, 0), ("a", 1, 0), ("b", 0, 0)]));
    assert!(h.handle_response(&response(9, &[("a", 0), ("a", 1), ("b", 0)])));
    // a-1 moved on, b-0 got a new leader epoch, c-0 is new, a-0 is gone.
    let mut w = wanted(&[("a", 1, 40), ("b", 0, 0), ("c", 0, 0)]);
    w.get_mut(&tp("b", 0)).unwrap().current_leader_epoch = 4;
    let r = h
        .build(&w)
        .apply_to(FetchRequest::default().with_max_wait_ms(500));
    assert_eq!((r.session_id, r.session_epoch, r.max_wait_ms), (9, 1, 500));
    assert_eq!(
        sent(&r),
        vec![("a".into(), 1, 40), ("b".into(), 0, 0), ("c".into(), 0, 0)]
    );
    assert_eq!(forgotten(&r), vec![("a".into(), topic_id("a"), 0)]);
    assert!(h.handle_response(&response(9, &[("a", 1)])));
    // A topic re-created under the same name: forgotten by its old id, sent with the new.
    let mut w2 = w.clone();
    let new_id = Uuid::from_u128(99);
    w2.get_mut(&tp("c", 0)).unwrap().topic_id = new_id;
    let r = h.build(&w2).apply_to(FetchRequest::default());
    assert_eq!(sent(&r), vec![("c".into(), 0, 0)]);
    assert_eq!(r.topics[0].topic_id, new_id);
    assert_eq!(forgotten(&r), vec![("c".into(), topic_id("c"), 0)]);
}

#[test]
fn errors_reset_to_a_full_request() {
    struct Case {
        what: &'static str,
        error: Option<ResponseError>,
        /// The next request's session id: kept (to close the session) or 0.
        keeps_id: bool,
    }
    let cases = [
        Case {
            what: "session id not found",
            error: Some(ResponseError::FetchSessionIdNotFound),
            keeps_id: false,
        },
        Case {
            what: "invalid epoch",
            error: Some(ResponseError::InvalidFetchSessionEpoch),
            keeps_id: true,
        },
        Case {
            what: "topic id usage",
            error: Some(ResponseError::FetchSessionTopicIdError),
            keeps_id: true,
        },
        Case {
            what: "transport error",
            error: None,
            keeps_id: true,
        },
    ];
    for c in cases {
        let mut h = FetchSessionHandler::new(1);
        let w = wanted(&[("a", 0, 0), ("a", 1, 0)]);
        h.build(&w);
        assert!(h.handle_response(&response(5, &[("a", 0), ("a", 1)])));
        h.build(&w);
        match c.error {
            Some(e) => {
                let resp = FetchResponse::default().with_error_code(e.code());
                assert!(!h.handle_response(&resp), "{}", c.what);
            }
            None => h.handle_error(),
        }
        let parts = h.build(&w);
        assert!(parts.is_full(), "{}", c.what);
        assert_eq!(parts.partition_count(), 2, "{}", c.what);
        assert_eq!(
            parts.session_id,
            if c.keeps_id { 5 } else { 0 },
            "{}",
            c.what
        );
    }
}

#[test]
fn responses_that_do_not_match_the_request_are_refused() {
    let w = wanted(&[("a", 0, 0), ("a", 1, 0)]);
    // A full response that leaves out a partition.
    let mut h = FetchSessionHandler::new(1);
    h.build(&w);
    assert!(!h.handle_response(&response(5, &[("a", 0)])));
    assert_eq!((h.session_id(), h.epoch()), (0, 0));
    // An incremental response with a partition the session does not hold.
    h.build(&w);
    assert!(h.handle_response(&response(5, &[("a", 0), ("a", 1)])));
    h.build(&w);
    assert!(!h.handle_response(&response(5, &[("x", 0)])));
    assert_eq!(
        (h.session_id(), h.epoch()),
        (5, 0),
        "closes the session next"
    );
    // A full response without a session id: no session, the next request is full again.
    let mut h = FetchSessionHandler::new(1);
    h.build(&w);
    assert!(h.handle_response(&response(0, &[("a", 0), ("a", 1)])));
    assert!(h.build(&w).is_full());
    // The broker closing the session in an incremental response.
    let mut h = FetchSessionHandler::new(1);
    h.build(&w);
    assert!(h.handle_response(&response(5, &[("a", 0), ("a", 1)])));
    h.build(&w);
    assert!(h.handle_response(&response(0, &[])));
    assert_eq!((h.session_id(), h.epoch()), (0, 0));
}

/// A fetcher that follows `logs` through the handler and a broker-side [`FetchManager`]: it
/// wants partitions, applies what each response answers, and must end up with every record.
struct Fetcher {
    handler: FetchSessionHandler,
    wanted: Wanted,
    /// Records received per partition.
    received: BTreeMap<TopicPartition, i64>,
    version: i16,
}

impl Fetcher {
    /// One round: build, serve, handle; returns (partitions sent, forgotten, answered).
    fn round(&mut self, m: &FetchManager, logs: &Logs, now: u64) -> (usize, usize, usize) {
        let parts = self.handler.build(&self.wanted);
        let r = parts.apply_to(FetchRequest::default().with_max_bytes(i32::MAX));
        let context = m.new_context(&r, self.version, MonoTime(now));
        let resp = match context.refusal() {
            Some(refused) => refused,
            None => {
                let read = logs.read(context.request(&r), self.version);
                m.complete(context, read, MonoTime(now))
            }
        };
        let (sent, forgot) = (sent(&r).len(), forgotten(&r).len());
        if !self.handler.handle_response(&resp) {
            return (sent, forgot, 0);
        }
        let answered = self.handler.answered(&resp);
        for (tp, d) in &answered {
            let n = d.records.as_ref().map_or(0, |b| b.len()) as i64;
            *self.received.entry(tp.clone()).or_default() += n;
            if let Some(w) = self.wanted.get_mut(tp) {
                w.fetch_offset += n;
            }
        }
        (sent, forgot, answered.len())
    }

    /// Every wanted partition's records received up to its high watermark.
    fn caught_up(&self, logs: &Logs) -> bool {
        self.wanted.iter().all(|(tp, w)| {
            let hwm = logs.0[&(tp.topic.clone(), tp.partition)].1;
            w.fetch_offset == hwm
        })
    }
}

#[test]
fn a_fetcher_and_the_broker_agree_over_incremental_rounds() {
    for version in [12i16, 16] {
        let mut logs = Logs::with(&[("a", 3), ("b", 2)]);
        let m = FetchManager::new(
            FetchSessionCache::new(10, EVICTION_AGE, 5),
            Metrics::new().broker.fetch_sessions,
        );
        let mut f = Fetcher {
            handler: FetchSessionHandler::new(1),
            wanted: wanted(&[("a", 0, 0), ("a", 1, 0), ("a", 2, 0)]),
            received: BTreeMap::new(),
            version,
        };
        let v = format!("v{version}");
        // Round 1: full.
        assert_eq!(f.round(&m, &logs, 0), (3, 0, 3), "{v}");
        let id = f.handler.session_id();
        assert!(id > 0, "{v}");
        // Round 2: records on a-1 only.
        logs.append("a", 1, 5);
        assert_eq!(f.round(&m, &logs, 1), (0, 0, 1), "{v}");
        // Round 3: a-1's new offset is sent; b-0 and b-1 are added (answered: new to the
        // session); records on a-2.
        f.wanted.insert(tp("b", 0), want("b", 0));
        f.wanted.insert(tp("b", 1), want("b", 0));
        logs.append("a", 2, 2);
        assert_eq!(f.round(&m, &logs, 2), (3, 0, 3), "{v}");
        // Round 4: a-0 is forgotten; a-2's new offset sent; records on b-1 and a-0.
        f.wanted.remove(&tp("a", 0));
        logs.append("b", 1, 7);
        logs.append("a", 0, 4);
        assert_eq!(f.round(&m, &logs, 3), (1, 1, 1), "{v}");
        assert_eq!(f.handler.session_id(), id, "{v}: one session throughout");
        // Round 5: nothing new except b-1's offset being sent.
        assert_eq!(f.round(&m, &logs, 4), (1, 0, 0), "{v}");
        assert!(f.caught_up(&logs), "{v}");
        assert_eq!(
            f.received,
            BTreeMap::from([
                (tp("a", 0), 0),
                (tp("a", 1), 5),
                (tp("a", 2), 2),
                (tp("b", 0), 0),
                (tp("b", 1), 7),
            ]),
            "{v}"
        );
        // A lost response: the next request is full, closes the session and opens another.
        f.handler.build(&f.wanted);
        f.handler.handle_error();
        logs.append("b", 0, 3);
        assert_eq!(f.round(&m, &logs, 5), (4, 0, 4), "{v}");
        let second = f.handler.session_id();
        assert!(second > 0 && second != id, "{v}");
        assert_eq!(m.sessions(), 1, "{v}: the old session was closed");
        // The broker loses every session (a restart): the fetcher starts over.
        let restarted = FetchManager::new(
            FetchSessionCache::new(10, EVICTION_AGE, 6),
            Metrics::new().broker.fetch_sessions,
        );
        logs.append("a", 1, 1);
        // (b-0's offset from the last round is the one change it sends.)
        assert_eq!(f.round(&restarted, &logs, 6), (1, 0, 0), "{v}: refused");
        assert_eq!(f.handler.session_id(), 0, "{v}");
        assert_eq!(f.round(&restarted, &logs, 7), (4, 0, 4), "{v}: full again");
        assert_eq!(
            f.round(&restarted, &logs, 8),
            (1, 0, 0),
            "{v}: a-1's offset"
        );
        assert!(f.caught_up(&logs), "{v}");
        assert_eq!(f.received[&tp("b", 0)], 3, "{v}");
        assert_eq!(f.received[&tp("a", 1)], 6, "{v}");
    }
}
