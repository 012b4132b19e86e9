//! Applies Fetch requests and responses to the broker's fetch sessions (KIP-227), the way
//! Kafka's `FetchManager` does.
//!
//! [`FetchManager::new_context`] runs before the partitions are read. By the request's session
//! id and epoch it is:
//! - before Fetch v7, or epoch -1 (final): a fetch without a session (a session it names is
//!   closed); the response carries session id 0;
//! - epoch 0 (initial): a full fetch; a session it names is closed, and once the partitions
//!   are read [`FetchManager::complete`] opens a new session of them if the cache has room;
//! - any other epoch: an incremental fetch of the named session. An unknown id is refused with
//!   `FETCH_SESSION_ID_NOT_FOUND`, another epoch than the session's with
//!   `INVALID_FETCH_SESSION_EPOCH`, a version that names topics differently from the one that
//!   opened the session (ids from v13, names before) with `FETCH_SESSION_TOPIC_ID_ERROR`, all
//!   at the top level without partitions. Otherwise the request's partitions are added or
//!   updated, its forgotten ones removed, the epoch advances, and every partition of the
//!   session is read ([`FetchContext::request`]); `complete` keeps only the partitions with
//!   something new. A session left without partitions is closed and answered without one.

use std::sync::{Mutex, MutexGuard};

use indexmap::IndexMap;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::fetch_session::{
    CachedPartition, FINAL_EPOCH, FetchParams, FetchSession, FetchSessionError, INITIAL_EPOCH,
    INVALID_SESSION_ID, PartitionKey, SessionTopic, next_epoch,
};
use super::fetch_session_cache::FetchSessionCache;
use crate::observability::metrics::FetchSessionMetrics;
use crate::types::MonoTime;

/// Whether a fetch comes from a follower replica (its sessions are privileged).
pub fn from_follower(r: &FetchRequest, version: i16) -> bool {
    if version >= 15 {
        r.replica_state.replica_id.0 >= 0
    } else {
        r.replica_id.0 >= 0
    }
}

/// How one fetch uses sessions, from [`FetchManager::new_context`] to
/// [`FetchManager::complete`].
#[derive(Debug)]
pub enum FetchContext {
    /// The session the request named cannot serve it.
    Refused(FetchSessionError),
    /// No session: the request's partitions, all answered, session id 0.
    Sessionless,
    /// A full fetch that asks for a session of its partitions.
    Full {
        privileged: bool,
        uses_topic_ids: bool,
        params: IndexMap<PartitionKey, FetchParams>,
    },
    /// An incremental fetch: `request` names every partition of the session.
    Incremental {
        session_id: i32,
        /// The session's epoch after this request.
        epoch: i32,
        uses_topic_ids: bool,
        request: FetchRequest,
    },
}

impl FetchContext {
    /// The answer to a refused request, without reading anything.
    pub fn refusal(&self) -> Option<FetchResponse> {
        match self {
            FetchContext::Refused(e) => Some(refused(*e, INVALID_SESSION_ID)),
            _ => None,
        }
    }

    /// The partitions to read: those of the session for an incremental fetch, else the
    /// request's own.
    pub fn request<'a>(&'a self, original: &'a FetchRequest) -> &'a FetchRequest {
        match self {
            FetchContext::Incremental { request, .. } => request,
            _ => original,
        }
    }
}

fn refused(e: FetchSessionError, session_id: i32) -> FetchResponse {
    FetchResponse::default()
        .with_error_code(e.response_error().code())
        .with_session_id(session_id)
}

/// The broker's fetch sessions behind one lock, with their metrics.
pub struct FetchManager {
    cache: Mutex<FetchSessionCache>,
    metrics: FetchSessionMetrics,
}

impl FetchManager {
    pub fn new(cache: FetchSessionCache, metrics: FetchSessionMetrics) -> FetchManager {
        let m = FetchManager {
            cache: Mutex::new(cache),
            metrics,
        };
        m.publish(&m.lock());
        m
    }

    fn lock(&self) -> MutexGuard<'_, FetchSessionCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, cache: &FetchSessionCache) {
        self.metrics.sessions.set(cache.len() as i64);
        self.metrics.partitions.set(cache.total_partitions() as i64);
    }

    /// Resolves the session of a request before its partitions are read (see the module doc).
    pub fn new_context(&self, r: &FetchRequest, version: i16, now: MonoTime) -> FetchContext {
        if version < 7 {
            return FetchContext::Sessionless;
        }
        let ids = version >= 13;
        if r.session_epoch == INITIAL_EPOCH || r.session_epoch == FINAL_EPOCH {
            if r.session_id != INVALID_SESSION_ID {
                let mut cache = self.lock();
                if cache.remove(r.session_id).is_some() {
                    self.publish(&cache);
                }
            }
            if r.session_epoch == FINAL_EPOCH {
                return FetchContext::Sessionless;
            }
            return FetchContext::Full {
                privileged: from_follower(r, version),
                uses_topic_ids: ids,
                params: sent(r, ids).collect(),
            };
        }
        let mut cache = self.lock();
        let Some(session) = cache.get_mut(r.session_id) else {
            return FetchContext::Refused(FetchSessionError::IdNotFound);
        };
        if session.epoch != r.session_epoch {
            return FetchContext::Refused(FetchSessionError::InvalidEpoch);
        }
        if session.uses_topic_ids != ids {
            return FetchContext::Refused(FetchSessionError::TopicIdUsage);
        }
        session.update(sent(r, ids), forgotten(r, ids));
        let context = if session.is_empty() {
            cache.remove(r.session_id);
            FetchContext::Sessionless
        } else {
            session.epoch = next_epoch(session.epoch);
            let context = FetchContext::Incremental {
                session_id: session.id,
                epoch: session.epoch,
                uses_topic_ids: ids,
                request: session_request(r, session),
            };
            cache.touch(r.session_id, now);
            context
        };
        self.publish(&cache);
        context
    }

    /// Turns the response read for `context` into the one to send: opens the session of a
    /// full fetch, and keeps only what is new for an incremental one.
    pub fn complete(
        &self,
        context: FetchContext,
        mut resp: FetchResponse,
        now: MonoTime,
    ) -> FetchResponse {
        match context {
            FetchContext::Refused(e) => refused(e, INVALID_SESSION_ID),
            FetchContext::Sessionless => resp.with_session_id(INVALID_SESSION_ID),
            FetchContext::Full {
                privileged,
                uses_topic_ids,
                params,
            } => {
                let partitions = answered(&resp, uses_topic_ids)
                    .filter_map(|(key, d)| {
                        let p = *params.get(&key)?;
                        Some((key, CachedPartition::answered(p, d)))
                    })
                    .collect();
                let mut cache = self.lock();
                let created = cache.create(now, privileged, uses_topic_ids, partitions);
                if created.evicted.is_some() {
                    self.metrics.evictions.inc();
                }
                self.publish(&cache);
                resp.with_session_id(created.session_id)
            }
            FetchContext::Incremental {
                session_id,
                epoch,
                uses_topic_ids,
                ..
            } => {
                let mut cache = self.lock();
                // Closed or evicted while the fetch waited: the answer is still right, and the
                // fetcher learns of the loss from its next request.
                let Some(session) = cache.get_mut(session_id) else {
                    return resp.with_session_id(session_id);
                };
                if session.epoch != epoch {
                    // Another request of this session came in meanwhile.
                    return refused(FetchSessionError::InvalidEpoch, session_id);
                }
                let mut keep = session.select(answered(&resp, uses_topic_ids)).into_iter();
                for t in &mut resp.responses {
                    t.partitions.retain(|_| keep.next().unwrap_or(true));
                }
                resp.responses.retain(|t| !t.partitions.is_empty());
                resp.with_session_id(session_id)
            }
        }
    }

    /// Sessions held now.
    pub fn sessions(&self) -> usize {
        self.lock().len()
    }
}

/// The partitions a request sends, keyed as its version names topics.
fn sent(r: &FetchRequest, ids: bool) -> impl Iterator<Item = (PartitionKey, FetchParams)> + '_ {
    r.topics.iter().flat_map(move |t| {
        t.partitions.iter().map(move |p| {
            (
                PartitionKey::of(ids, t.topic_id, &t.topic.0, p.partition),
                FetchParams::of(p),
            )
        })
    })
}

/// The partitions a response answers, keyed as its version names topics.
fn answered(
    resp: &FetchResponse,
    ids: bool,
) -> impl Iterator<Item = (PartitionKey, &PartitionData)> + '_ {
    resp.responses.iter().flat_map(move |t| {
        t.partitions.iter().map(move |d| {
            (
                PartitionKey::of(ids, t.topic_id, &t.topic.0, d.partition_index),
                d,
            )
        })
    })
}

/// The partitions a request forgets.
fn forgotten(r: &FetchRequest, ids: bool) -> impl Iterator<Item = PartitionKey> + '_ {
    r.forgotten_topics_data.iter().flat_map(move |t| {
        t.partitions
            .iter()
            .map(move |p| PartitionKey::of(ids, t.topic_id, &t.topic.0, *p))
    })
}

/// The request to read for an incremental fetch: `r`'s limits with every partition of the
/// session, in the session's order, consecutive partitions of a topic grouped.
fn session_request(r: &FetchRequest, session: &FetchSession) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (key, cached) in &session.partitions {
        let p = cached.params.to_partition(key.partition);
        let same = topics.last().is_some_and(|t| match &key.topic {
            SessionTopic::Id(id) => t.topic_id == *id,
            SessionTopic::Name(n) => *t.topic.0 == **n,
        });
        if same {
            if let Some(t) = topics.last_mut() {
                t.partitions.push(p);
            }
            continue;
        }
        let t = match &key.topic {
            SessionTopic::Id(id) => FetchTopic::default().with_topic_id(*id),
            SessionTopic::Name(n) => {
                FetchTopic::default().with_topic(TopicName(StrBytes::from_string(n.clone())))
            }
        };
        topics.push(t.with_partitions(vec![p]));
    }
    let mut request = r.clone();
    request.topics = topics;
    request.forgotten_topics_data = Vec::new();
    request
}

#[cfg(test)]
pub(crate) mod tests;
