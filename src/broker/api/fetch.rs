//! Fetch (API 1) for consumers and followers. Consumers read committed data (below the high
//! watermark) from partition leaders; both isolation levels read up to the high watermark,
//! which is also the last stable offset while there are no transactions. Followers (replica
//! id >= 0) read up to the log end offset, and each fetch records the follower's progress,
//! which advances the high watermark and may add it to the ISR; a follower whose last fetched
//! epoch disagrees with this log gets the diverging epoch instead of records. Per-partition
//! and response byte limits; long-poll until `min_bytes` are available or `max_wait_ms`
//! passes (woken by the high watermark for consumers, the log end for followers). Fetch
//! sessions (KIP-227): the session is resolved before reading and the response filtered
//! after it (`data_plane::fetch_manager`); an incremental fetch reads every partition of its
//! session and answers only those with something new.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::Instrument;

use super::BrokerContext;
use crate::broker::data_plane::partition::{Partition, PartitionError};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// Largest wait a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(30);

fn partition_error(index: i32, e: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(e.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(bytes::Bytes::new()))
}

/// Where a follower's log diverges from this leader's: the follower's last fetched batch had
/// `last_fetched_epoch`, and it asks from `fetch_offset`. `end` is this log's largest epoch
/// `<=` that one and where it ends. When that epoch is older, or ends before the fetch
/// offset, the follower must truncate to the returned end offset before fetching again.
fn diverging_epoch(
    last_fetched_epoch: i32,
    fetch_offset: i64,
    end: Option<(i32, i64)>,
) -> Option<EpochEndOffset> {
    let (epoch, end_offset) = end.unwrap_or((-1, -1));
    (epoch < last_fetched_epoch || end_offset < fetch_offset).then(|| {
        EpochEndOffset::default()
            .with_epoch(epoch)
            .with_end_offset(end_offset)
    })
}

/// One pass over the requested partitions; returns the response and the bytes it carries.
fn read_once(ctx: &BrokerContext, r: &FetchRequest, version: i16) -> (FetchResponse, usize) {
    let (mut resp, bytes) = read_all(ctx, r, version);
    if version < 5 {
        // The log start offset exists from v5.
        for t in &mut resp.responses {
            for p in &mut t.partitions {
                p.log_start_offset = -1;
            }
        }
    }
    (resp, bytes)
}

/// What a response may still carry: the request's `max_bytes` across its partitions.
struct Budget {
    remaining: usize,
    /// Bytes of records read so far.
    total: usize,
    /// No partition has returned data yet.
    first: bool,
}

fn read_all(ctx: &BrokerContext, r: &FetchRequest, version: i16) -> (FetchResponse, usize) {
    let image = ctx.cache.image();
    let mut budget = Budget {
        remaining: if r.max_bytes > 0 {
            r.max_bytes as usize
        } else {
            usize::MAX
        },
        total: 0,
        first: true,
    };
    let follower = replica_of(r, version);
    let mut topics = Vec::new();
    for t in &r.topics {
        let name = if version >= 13 {
            image.topics.get(&t.topic_id).map(|x| x.name.clone())
        } else {
            Some(t.topic.0.to_string())
        };
        let mut parts = Vec::new();
        for p in &t.partitions {
            let Some(name) = &name else {
                parts.push(partition_error(p.partition, ResponseError::UnknownTopicId));
                continue;
            };
            parts.push(read_partition(ctx, name, p, follower, version, &mut budget));
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(if version >= 13 {
                    TopicName(StrBytes::from_static_str(""))
                } else {
                    t.topic.clone()
                })
                .with_topic_id(t.topic_id)
                .with_partitions(parts),
        );
    }
    (
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(topics),
        budget.total,
    )
}

/// Whether the metadata lets `replica` into an ISR: registered, unfenced, not shutting down,
/// and fetching with the broker epoch it registered (KIP-903: a replica restarted with a new
/// epoch must not be added on the strength of its previous incarnation).
fn isr_eligible(ctx: &BrokerContext, replica: i32, replica_epoch: i64) -> bool {
    ctx.cache
        .image()
        .cluster
        .brokers
        .get(&replica)
        .is_some_and(|b| b.is_active() && (replica_epoch < 0 || b.epoch == replica_epoch))
}

/// The follower a fetch comes from (its replica id and broker epoch, -1 before v15), or
/// `None` for a consumer.
fn replica_of(r: &FetchRequest, version: i16) -> Option<(i32, i64)> {
    let (id, epoch) = if version >= 15 {
        (r.replica_state.replica_id.0, r.replica_state.replica_epoch)
    } else {
        (r.replica_id.0, -1)
    };
    (id >= 0).then_some((id, epoch))
}

/// One partition of the fetch: its leader's checks, the divergence of a follower that asks,
/// then its records within the budget.
fn read_partition(
    ctx: &BrokerContext,
    name: &str,
    p: &FetchPartition,
    follower: Option<(i32, i64)>,
    version: i16,
    budget: &mut Budget,
) -> PartitionData {
    let check_divergence = follower.is_some() && version >= 12;
    let Some(partition) = ctx.replicas.get(name, p.partition) else {
        let e = ctx.no_replica_error_at(name, p.partition, p.current_leader_epoch);
        return partition_error(p.partition, e);
    };
    if p.current_leader_epoch >= 0 {
        let epoch = partition.leader_epoch();
        if p.current_leader_epoch < epoch {
            return partition_error(p.partition, ResponseError::FencedLeaderEpoch);
        }
        if p.current_leader_epoch > epoch {
            return partition_error(p.partition, ResponseError::UnknownLeaderEpoch);
        }
    }
    if check_divergence
        && p.last_fetched_epoch >= 0
        && let Some(diverged) = diverged(&partition, p)
    {
        return diverged;
    }
    read_records(ctx, &partition, name, p, follower, budget)
}

/// The answer to a follower whose log diverges from this one, if it does.
fn diverged(partition: &Partition, p: &FetchPartition) -> Option<PartitionData> {
    let end = partition.with_log(|log, _| log.end_offset_for_epoch(p.last_fetched_epoch));
    let Ok(end) = end else {
        return None;
    };
    let diverging = diverging_epoch(p.last_fetched_epoch, p.fetch_offset, end)?;
    let (start, hwm) = partition.offsets().unwrap_or((-1, -1));
    Some(
        PartitionData::default()
            .with_partition_index(p.partition)
            .with_high_watermark(hwm)
            .with_last_stable_offset(hwm)
            .with_log_start_offset(start)
            .with_diverging_epoch(diverging)
            .with_records(Some(bytes::Bytes::new())),
    )
}

/// The partition's records from the fetch offset, within its limit and the budget.
fn read_records(
    ctx: &BrokerContext,
    partition: &Arc<Partition>,
    name: &str,
    p: &FetchPartition,
    follower: Option<(i32, i64)>,
    budget: &mut Budget,
) -> PartitionData {
    let limit = (p.partition_max_bytes.max(0) as usize).min(budget.remaining);
    // The first partition with data may exceed the limits so a consumer always
    // progresses (KIP-74).
    let read = match follower {
        None => partition.read(p.fetch_offset, limit, budget.first),
        Some((replica, replica_epoch)) => {
            let now = ctx.clock.wall_ms();
            let eligible = isr_eligible(ctx, replica, replica_epoch);
            partition
                .read_for_follower(replica, p.fetch_offset, limit, budget.first, eligible, now)
                .map(|(read, change)| {
                    if let Some(change) = change {
                        ctx.replicas.propose_isr(partition.clone(), change);
                    }
                    read
                })
        }
    };
    match read {
        Ok(res) => {
            let size = res.records.as_ref().map_or(0, |b| b.len());
            if size > 0 {
                budget.first = false;
            }
            budget.remaining = budget.remaining.saturating_sub(size);
            budget.total += size;
            ctx.metrics
                .topic_bytes_out
                .with_label_values(&[name])
                .inc_by(size as u64);
            PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(res.high_watermark)
                .with_last_stable_offset(res.high_watermark)
                .with_log_start_offset(res.log_start_offset)
                .with_aborted_transactions(Some(Vec::new()))
                // Clients read an empty set, not null, when there is nothing.
                .with_records(Some(res.records.unwrap_or_default()))
        }
        Err(PartitionError::NotLeader | PartitionError::NotFollower) => {
            partition_error(p.partition, ResponseError::NotLeaderOrFollower)
        }
        Err(PartitionError::Log(e)) => {
            if e.is_io() {
                ctx.replicas
                    .log_dir_failures()
                    .report_partition(partition, &e);
            }
            let code = ResponseError::try_from_code(e.error_code())
                .unwrap_or(ResponseError::UnknownServerError);
            let mut d = partition_error(p.partition, code);
            if let Ok((start, hwm)) = partition.offsets() {
                d = d
                    .with_high_watermark(hwm)
                    .with_last_stable_offset(hwm)
                    .with_log_start_offset(start);
            }
            d
        }
        Err(
            PartitionError::NotEnoughReplicas { .. }
            | PartitionError::Invalid(_)
            | PartitionError::TruncationBelowHighWatermark { .. }
            | PartitionError::Producer(_),
        ) => partition_error(p.partition, ResponseError::UnknownServerError),
    }
}

/// Fetch v4–v16.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::Fetch, 4, 16, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: FetchRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r, head.api_version).await;
        let code = resp
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .find(|c| *c != 0)
            .unwrap_or(resp.error_code);
        respond(&head, &resp, code)
    })
}

/// Resolves the request's fetch session, reads (waiting for `min_bytes` when asked), and keeps
/// only what is new for an incremental session.
pub async fn handle(ctx: &BrokerContext, r: &FetchRequest, version: i16) -> FetchResponse {
    let context = ctx.fetch_sessions.new_context(r, version, ctx.clock.now());
    if let Some(refused) = context.refusal() {
        return refused;
    }
    let resp = read_until_ready(ctx, context.request(r), version).await;
    ctx.fetch_sessions.complete(context, resp, ctx.clock.now())
}

async fn read_until_ready(ctx: &BrokerContext, r: &FetchRequest, version: i16) -> FetchResponse {
    let deadline = crate::clock::instant_now()
        + Duration::from_millis(r.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    // Wake on any requested partition's high watermark moving (its log end for followers).
    let follower = replica_of(r, version).is_some();
    let image = ctx.cache.image();
    let mut watchers: Vec<_> = r
        .topics
        .iter()
        .flat_map(|t| {
            let name = if version >= 13 {
                image.topics.get(&t.topic_id).map(|x| x.name.clone())
            } else {
                Some(t.topic.0.to_string())
            };
            t.partitions.iter().filter_map(move |p| {
                let n = name.clone()?;
                Some((n, p.partition))
            })
        })
        .filter_map(|(n, p)| {
            let partition = ctx.replicas.get(&n, p)?;
            Some(if follower {
                partition.subscribe_log_end()
            } else {
                partition.subscribe()
            })
        })
        .collect();
    loop {
        for w in &mut watchers {
            w.borrow_and_update();
        }
        let (resp, bytes) = read_once(ctx, r, version);
        let has_error = resp
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .any(|p| p.error_code != 0);
        if bytes >= r.min_bytes.max(0) as usize
            || has_error
            || crate::clock::instant_now() >= deadline
            || watchers.is_empty()
        {
            return resp;
        }
        let changed = futures_any(&mut watchers);
        let waiting = ctx.metrics.purgatory_size.with_label_values(&["Fetch"]);
        waiting.inc();
        let woken = tokio::time::timeout_at(deadline.into(), changed)
            .instrument(tracing::info_span!("fetch.wait", min_bytes = r.min_bytes))
            .await;
        waiting.dec();
        if woken.is_err() {
            return read_once(ctx, r, version).0;
        }
    }
}

/// Resolves when any receiver sees a new value; a closed channel (its partition went away)
/// never wakes it. Polls every receiver from this task instead of spawning one per partition.
async fn futures_any(watchers: &mut [tokio::sync::watch::Receiver<i64>]) {
    use std::future::Future;
    use std::task::Poll;
    let mut changes: Vec<_> = watchers
        .iter_mut()
        .map(|w| Some(Box::pin(w.changed())))
        .collect();
    std::future::poll_fn(|cx| {
        for slot in changes.iter_mut() {
            if let Some(change) = slot {
                match change.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(()),
                    Poll::Ready(Err(_)) => *slot = None,
                    Poll::Pending => {}
                }
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{diverging_epoch, futures_any};

    #[tokio::test]
    async fn any_watcher_wakes_the_wait_and_closed_ones_never_do() {
        let (tx1, rx1) = tokio::sync::watch::channel(0i64);
        let (tx2, rx2) = tokio::sync::watch::channel(0i64);
        let mut watchers = vec![rx1, rx2];
        drop(tx1);
        let short = Duration::from_millis(20);
        assert!(
            tokio::time::timeout(short, futures_any(&mut watchers))
                .await
                .is_err(),
            "a closed channel woke the wait"
        );
        tx2.send(5).unwrap();
        tokio::time::timeout(Duration::from_secs(5), futures_any(&mut watchers))
            .await
            .expect("the second watcher wakes the wait");
    }

    #[test]
    fn a_follower_diverges_when_its_epoch_is_unknown_or_ends_earlier() {
        // The leader has epoch 3 ending at 120; the follower fetched epoch 3 up to 100.
        assert!(diverging_epoch(3, 100, Some((3, 120))).is_none());
        assert!(diverging_epoch(3, 120, Some((3, 120))).is_none());
        // The follower has more of epoch 3 than the leader kept.
        let d = diverging_epoch(3, 130, Some((3, 120))).unwrap();
        assert_eq!((d.epoch, d.end_offset), (3, 120));
        // The follower's epoch 5 never existed here; the leader's latest older one is 3.
        let d = diverging_epoch(5, 130, Some((3, 120))).unwrap();
        assert_eq!((d.epoch, d.end_offset), (3, 120));
        // Nothing at or below the follower's epoch.
        let d = diverging_epoch(1, 10, None).unwrap();
        assert_eq!((d.epoch, d.end_offset), (-1, -1));
    }
}
