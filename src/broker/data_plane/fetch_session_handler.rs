//! The fetcher's side of a fetch session (KIP-227), as Kafka's `FetchSessionHandler`: one per
//! broker a replica fetcher fetches from. It remembers what the broker's session holds and
//! turns "the partitions I want now" into the next request's partitions and forgotten ones.
//!
//! ```text
//! let mut handler = FetchSessionHandler::new(leader_id);
//! loop {
//!     let parts = handler.build(&wanted);            // wanted: TopicPartition → PartitionFetch
//!     let request = parts.apply_to(FetchRequest::default().with_max_wait_ms(..)...);
//!     match send(request).await {
//!         Err(_) => handler.handle_error(),          // the next request is full
//!         Ok(resp) if handler.handle_response(&resp) => {
//!             for (tp, data) in handler.answered(&resp) { /* records, high watermark, ... */ }
//!         }
//!         Ok(_) => {}                                // session error: the next request is full
//!     }
//! }
//! ```
//!
//! - With no session (at first, and after any error) [`build`](FetchSessionHandler::build)
//!   makes a full request: every wanted partition, session epoch 0, and the id of a session to
//!   close if there was one. A response with a session id opens the session; its epoch is 1.
//! - With a session, the request carries only the partitions added since the last request and
//!   those whose fetch offset, epochs, log start offset or byte limit changed; partitions no
//!   longer wanted are forgotten. A topic that came back with another id (same name) is
//!   forgotten under the old id and sent under the new one (Fetch v13 and later name topics by
//!   id). The response carries only partitions with something new;
//!   [`answered`](FetchSessionHandler::answered) lists them, the others are unchanged.
//! - `FETCH_SESSION_ID_NOT_FOUND` (the broker lost the session) starts over without a session;
//!   `INVALID_FETCH_SESSION_EPOCH`, any other top-level error, a response that does not match
//!   what was asked, or a transport error ([`handle_error`](FetchSessionHandler::handle_error))
//!   closes the session with the next, full, request.
//!
//! Requests and responses alternate: build one request, then handle its response or its
//! error before building the next.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::fetch_session::{INITIAL_EPOCH, INVALID_SESSION_ID, next_epoch};
use crate::types::TopicPartition;

/// What a fetcher wants of one partition (the topic name and index are the map key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionFetch {
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    /// The fetcher's log start offset (followers), -1 when it has none.
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

impl PartitionFetch {
    fn to_partition(self, partition: i32) -> FetchPartition {
        FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(self.fetch_offset)
            .with_current_leader_epoch(self.current_leader_epoch)
            .with_last_fetched_epoch(self.last_fetched_epoch)
            .with_log_start_offset(self.log_start_offset)
            .with_partition_max_bytes(self.partition_max_bytes)
    }
}

/// The session part of the next Fetch request. Topics carry both their name and id; the
/// encoder writes the one the request version uses.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequestParts {
    pub session_id: i32,
    pub session_epoch: i32,
    /// The partitions to send, grouped by topic.
    pub topics: Vec<FetchTopic>,
    pub forgotten: Vec<ForgottenTopic>,
}

impl FetchRequestParts {
    /// A full request (epoch 0) names every wanted partition.
    pub fn is_full(&self) -> bool {
        self.session_epoch == INITIAL_EPOCH
    }

    /// The partitions sent.
    pub fn partition_count(&self) -> usize {
        self.topics.iter().map(|t| t.partitions.len()).sum()
    }

    /// `request` with these session fields, partitions and forgotten partitions.
    pub fn apply_to(self, request: FetchRequest) -> FetchRequest {
        request
            .with_session_id(self.session_id)
            .with_session_epoch(self.session_epoch)
            .with_topics(self.topics)
            .with_forgotten_topics_data(self.forgotten)
    }
}

/// The fetcher's side of the session with one broker.
#[derive(Debug, Clone)]
pub struct FetchSessionHandler {
    node: i32,
    session_id: i32,
    /// The epoch of the next request; [`INITIAL_EPOCH`] makes it full.
    epoch: i32,
    /// The partitions the broker's session holds, as last sent.
    session: BTreeMap<TopicPartition, PartitionFetch>,
}

impl FetchSessionHandler {
    /// No session yet with broker `node`: the first request is full.
    pub fn new(node: i32) -> FetchSessionHandler {
        FetchSessionHandler {
            node,
            session_id: INVALID_SESSION_ID,
            epoch: INITIAL_EPOCH,
            session: BTreeMap::new(),
        }
    }

    pub fn node(&self) -> i32 {
        self.node
    }

    /// The session id of the next request (0: none).
    pub fn session_id(&self) -> i32 {
        self.session_id
    }

    /// The session epoch of the next request (0: a full request).
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// The next request's session fields and partitions for the partitions wanted now; the
    /// handler takes `wanted` as what the broker's session will hold.
    pub fn build(
        &mut self,
        wanted: &BTreeMap<TopicPartition, PartitionFetch>,
    ) -> FetchRequestParts {
        let mut send: Vec<(&TopicPartition, PartitionFetch)> = Vec::new();
        let mut forget: Vec<(&TopicPartition, Uuid)> = Vec::new();
        if self.epoch == INITIAL_EPOCH {
            send.extend(wanted.iter().map(|(tp, f)| (tp, *f)));
        } else {
            for (tp, old) in &self.session {
                match wanted.get(tp) {
                    None => forget.push((tp, old.topic_id)),
                    Some(new) if new.topic_id != old.topic_id => {
                        forget.push((tp, old.topic_id));
                        send.push((tp, *new));
                    }
                    Some(new) if new != old => send.push((tp, *new)),
                    Some(_) => {}
                }
            }
            send.extend(
                wanted
                    .iter()
                    .filter(|(tp, _)| !self.session.contains_key(*tp))
                    .map(|(tp, f)| (tp, *f)),
            );
        }
        let parts = FetchRequestParts {
            session_id: self.session_id,
            session_epoch: self.epoch,
            topics: group_sent(&send),
            forgotten: group_forgotten(&forget),
        };
        self.session = wanted.clone();
        parts
    }

    /// Takes in the response to the last built request; false when it could not be used (a
    /// session error or a response that does not match the request), and the next request is
    /// then full.
    pub fn handle_response(&mut self, resp: &FetchResponse) -> bool {
        if resp.error_code != 0 {
            if resp.error_code == ResponseError::FetchSessionIdNotFound.code() {
                self.session_id = INVALID_SESSION_ID;
            }
            self.epoch = INITIAL_EPOCH;
            return false;
        }
        let full = self.epoch == INITIAL_EPOCH;
        let Some(answered) = self.answered_keys(resp) else {
            // Partitions that were not asked for: start over, closing an incremental session.
            if full {
                self.session_id = INVALID_SESSION_ID;
            }
            self.epoch = INITIAL_EPOCH;
            return false;
        };
        if full {
            if answered.len() != self.session.len() {
                // A full response answers every partition.
                self.session_id = INVALID_SESSION_ID;
                return false;
            }
            self.session_id = resp.session_id;
            self.epoch = if resp.session_id == INVALID_SESSION_ID {
                INITIAL_EPOCH
            } else {
                next_epoch(INITIAL_EPOCH)
            };
        } else if resp.session_id == INVALID_SESSION_ID {
            // The broker closed the session.
            self.session_id = INVALID_SESSION_ID;
            self.epoch = INITIAL_EPOCH;
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        true
    }

    /// The request failed without a response: the next request is full and closes the session.
    pub fn handle_error(&mut self) {
        self.epoch = INITIAL_EPOCH;
    }

    /// The partitions a response answers, by name (responses from Fetch v13 on name topics by
    /// id; the ids are those of the session). Partitions of unknown topics are left out.
    pub fn answered<'a>(
        &self,
        resp: &'a FetchResponse,
    ) -> Vec<(TopicPartition, &'a PartitionData)> {
        let names = self.names_by_id();
        resp.responses
            .iter()
            .flat_map(|t| {
                let name = topic_name(&names, t.topic_id, &t.topic.0);
                t.partitions
                    .iter()
                    .filter_map(move |d| Some((TopicPartition::new(name?, d.partition_index), d)))
            })
            .collect()
    }

    fn names_by_id(&self) -> BTreeMap<Uuid, &str> {
        self.session
            .iter()
            .map(|(tp, f)| (f.topic_id, tp.topic.as_str()))
            .collect()
    }

    /// The session partitions a response answers, or `None` when it answers one the session
    /// does not hold (or cannot be named).
    fn answered_keys(&self, resp: &FetchResponse) -> Option<BTreeSet<TopicPartition>> {
        let names = self.names_by_id();
        let mut keys = BTreeSet::new();
        for t in &resp.responses {
            let name = topic_name(&names, t.topic_id, &t.topic.0)?;
            for d in &t.partitions {
                let tp = TopicPartition::new(name, d.partition_index);
                if !self.session.contains_key(&tp) {
                    return None;
                }
                keys.insert(tp);
            }
        }
        Some(keys)
    }
}

/// A response topic's name: by id when the response names topics by id, else its name.
fn topic_name<'a>(names: &BTreeMap<Uuid, &'a str>, id: Uuid, name: &'a str) -> Option<&'a str> {
    if id.is_nil() {
        (!name.is_empty()).then_some(name)
    } else {
        names.get(&id).copied()
    }
}

fn topic_name_of(tp: &TopicPartition) -> TopicName {
    TopicName(StrBytes::from_string(tp.topic.clone()))
}

/// Consecutive partitions of one topic (same name and id) in one entry.
fn group_sent(send: &[(&TopicPartition, PartitionFetch)]) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, f) in send {
        let p = f.to_partition(tp.partition);
        match topics.last_mut() {
            Some(t) if t.topic_id == f.topic_id && *t.topic.0 == *tp.topic => t.partitions.push(p),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(topic_name_of(tp))
                    .with_topic_id(f.topic_id)
                    .with_partitions(vec![p]),
            ),
        }
    }
    topics
}

fn group_forgotten(forget: &[(&TopicPartition, Uuid)]) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for (tp, id) in forget {
        match topics.last_mut() {
            Some(t) if t.topic_id == *id && *t.topic.0 == *tp.topic => {
                t.partitions.push(tp.partition)
            }
            _ => topics.push(
                ForgottenTopic::default()
                    .with_topic(topic_name_of(tp))
                    .with_topic_id(*id)
                    .with_partitions(vec![tp.partition]),
            ),
        }
    }
    topics
}

#[cfg(test)]
mod tests;
