//! Native consumer lag: every `kraftd.group.lag.interval.ms` the coordinator compares the
//! committed offsets of the groups it coordinates with the partitions' high watermarks, and
//! how long ago the first unconsumed record was appended. Positions of partitions this broker
//! leads are read locally; the others come from one Fetch (a consumer's, up to the high
//! watermark) per leading broker over the inter-broker listener.
//!
//! A partition without a committed offset has no lag series (never -1).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::GroupCoordinator;
use crate::broker::control_plane::metadata_cache::MetadataCache;
use crate::broker::data_plane::replica_manager::ReplicaManager;
use crate::clock::Clock;
use crate::log::batch::RecordBatch;
use crate::network::client::KafkaConnection;
use crate::observability::metrics::GroupMetrics;
use crate::shutdown::ShutdownSignal;

type TopicPartition = (String, i32);

/// Where a partition's log stands for lag: its high watermark and, when the committed offset
/// is below it, the append time of the record at the committed offset.
#[derive(Debug, Clone, Copy)]
struct Position {
    high_watermark: i64,
    first_unconsumed_timestamp: Option<i64>,
}

/// Computes and exports consumer lag for the groups this broker coordinates.
pub struct LagCollector {
    pub coordinator: Arc<GroupCoordinator>,
    pub replicas: Arc<ReplicaManager>,
    pub cache: MetadataCache,
    pub metrics: GroupMetrics,
    pub clock: Clock,
    pub node_id: i32,
    pub interval: Duration,
    pub per_partition: bool,
}

/// How long one remote position read may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

impl LagCollector {
    pub async fn run(self, mut shutdown: ShutdownSignal) {
        let mut connections: BTreeMap<i32, KafkaConnection> = BTreeMap::new();
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            self.collect(&mut connections).await;
        }
    }

    /// One round: committed offsets → positions → metrics.
    async fn collect(&self, connections: &mut BTreeMap<i32, KafkaConnection>) {
        let committed: Vec<(String, TopicPartition, i64)> = self
            .coordinator
            .each(|shard| {
                shard
                    .offsets()
                    .groups()
                    .flat_map(|(g, offsets)| {
                        offsets
                            .iter()
                            .map(|(tp, c)| (g.clone(), tp.clone(), c.offset))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        // The lowest committed offset of each partition: the record whose time is needed.
        let mut wanted: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (_, tp, offset) in &committed {
            let w = wanted.entry(tp.clone()).or_insert(*offset);
            *w = (*w).min(*offset);
        }
        let positions = self.positions(&wanted, connections).await;
        self.export(&committed, &positions);
    }

    /// Positions of `wanted` partitions (partition → lowest committed offset).
    async fn positions(
        &self,
        wanted: &BTreeMap<TopicPartition, i64>,
        connections: &mut BTreeMap<i32, KafkaConnection>,
    ) -> BTreeMap<TopicPartition, Position> {
        let image = self.cache.image();
        let mut out = BTreeMap::new();
        let mut remote: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, offset) in wanted {
            let Some(leader) = image
                .topics
                .get_by_name(&tp.0)
                .and_then(|t| t.partitions.get(&tp.1))
                .map(|p| p.leader)
                .filter(|l| *l >= 0)
            else {
                continue;
            };
            if leader == self.node_id {
                if let Some(p) = self.local_position(tp, *offset) {
                    out.insert(tp.clone(), p);
                } else {
                    self.metrics.lag_read_failures.inc();
                }
            } else {
                remote
                    .entry(leader)
                    .or_default()
                    .push((tp.clone(), *offset));
            }
        }
        for (leader, partitions) in remote {
            let Some(addr) = self.replicas.leader_address(&image, leader) else {
                self.metrics
                    .lag_read_failures
                    .inc_by(partitions.len() as u64);
                continue;
            };
            match self
                .remote_positions(connections, leader, &addr, &partitions)
                .await
            {
                Some(found) => {
                    let missing = partitions.len() - found.len();
                    self.metrics.lag_read_failures.inc_by(missing as u64);
                    out.extend(found);
                }
                None => {
                    connections.remove(&leader);
                    self.metrics
                        .lag_read_failures
                        .inc_by(partitions.len() as u64);
                }
            }
        }
        out
    }

    fn local_position(&self, tp: &TopicPartition, offset: i64) -> Option<Position> {
        let partition = self.replicas.get(&tp.0, tp.1)?;
        partition
            .with_log(|log, hwm| {
                let ts = if offset < hwm && offset >= log.log_start_offset() {
                    log.read(offset, 1, hwm, true)
                        .ok()
                        .flatten()
                        .and_then(|b| timestamp_at(b, offset))
                } else {
                    None
                };
                Position {
                    high_watermark: hwm,
                    first_unconsumed_timestamp: ts,
                }
            })
            .ok()
    }

    /// Reads `partitions` of broker `leader` with one consumer Fetch (no wait, the first batch
    /// at each committed offset); `None` when the broker cannot be asked.
    async fn remote_positions(
        &self,
        connections: &mut BTreeMap<i32, KafkaConnection>,
        leader: i32,
        addr: &str,
        partitions: &[(TopicPartition, i64)],
    ) -> Option<BTreeMap<TopicPartition, Position>> {
        if connections.get(&leader).is_none_or(|c| c.addr() != addr) {
            let client_id = format!("kraftd-consumer-lag-{}", self.node_id);
            let c = KafkaConnection::connect(addr, &client_id, FETCH_TIMEOUT)
                .await
                .ok()?;
            connections.insert(leader, c);
        }
        let conn = connections.get_mut(&leader)?;
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in partitions {
            topics.entry(topic).or_default().push(
                FetchPartition::default()
                    .with_partition(*partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(*offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(1),
            );
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, parts)| {
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(parts)
                    })
                    .collect(),
            );
        let response = conn.send(&request, 12, FETCH_TIMEOUT).await.ok()?;
        let mut out = BTreeMap::new();
        for t in response.responses {
            let topic = t.topic.0.to_string();
            for p in t.partitions {
                if p.error_code != 0 || p.high_watermark < 0 {
                    continue;
                }
                let tp = (topic.clone(), p.partition_index);
                let Some(offset) = partitions.iter().find(|(x, _)| *x == tp).map(|(_, o)| *o)
                else {
                    continue;
                };
                let ts = p
                    .records
                    .filter(|_| offset < p.high_watermark)
                    .and_then(|b| timestamp_at(b, offset));
                out.insert(
                    tp,
                    Position {
                        high_watermark: p.high_watermark,
                        first_unconsumed_timestamp: ts,
                    },
                );
            }
        }
        Some(out)
    }

    /// Sets the lag series of this round (and removes those of groups, topics or partitions
    /// no longer committed here).
    fn export(
        &self,
        committed: &[(String, TopicPartition, i64)],
        positions: &BTreeMap<TopicPartition, Position>,
    ) {
        let now = self.clock.wall_ms();
        let mut lag: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
        let m = &self.metrics;
        m.consumergroup_committed_offset.reset();
        m.consumergroup_partition_lag.reset();
        for (group, tp, offset) in committed {
            let Some(pos) = positions.get(tp) else {
                continue;
            };
            let partition_lag = (pos.high_watermark - offset).max(0);
            let seconds = match pos.first_unconsumed_timestamp {
                Some(ts) if partition_lag > 0 => ((now - ts).max(0) as f64) / 1000.0,
                _ => 0.0,
            };
            let e = lag.entry((group.clone(), tp.0.clone())).or_default();
            e.0 += partition_lag;
            e.1 = e.1.max(seconds);
            if self.per_partition {
                let p = tp.1.to_string();
                m.consumergroup_committed_offset
                    .with_label_values(&[group, &tp.0, &p])
                    .set(*offset);
                m.consumergroup_partition_lag
                    .with_label_values(&[group, &tp.0, &p])
                    .set(partition_lag);
            }
        }
        m.consumergroup_lag.reset();
        m.consumergroup_lag_seconds.reset();
        for ((group, topic), (offsets, seconds)) in lag {
            m.consumergroup_lag
                .with_label_values(&[&group, &topic])
                .set(offsets);
            m.consumergroup_lag_seconds
                .with_label_values(&[&group, &topic])
                .set(seconds);
        }
    }
}

/// The timestamp of the record at `offset` (or the first after it) in `batches`.
fn timestamp_at(batches: Bytes, offset: i64) -> Option<i64> {
    for batch in RecordBatch::split_all(batches).ok()? {
        if batch.last_offset() < offset || batch.is_control() {
            continue;
        }
        if batch.base_offset() >= offset {
            return Some(batch.base_timestamp());
        }
        let mut b = batch.bytes().clone();
        let set = RecordBatchDecoder::decode(&mut b).ok()?;
        return set
            .records
            .iter()
            .find(|r| r.offset >= offset)
            .map(|r| r.timestamp);
    }
    None
}
