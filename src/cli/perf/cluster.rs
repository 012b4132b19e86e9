//! What the load generator learns before it sends load: the API versions the broker serves,
//! the topic's partitions and their leaders (creating the topic when it is missing), and the
//! brokers' addresses.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateTopicsRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, MetadataResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::PerfError;
use crate::cli::args::PerfTarget;
use crate::network::client::KafkaConnection;
use crate::protocol::error_code;

const CLIENT_ID: &str = "kraftd-perf";

/// The versions this tool speaks, per API: (lowest, highest). Produce from v3 (RecordBatch
/// v2) and Fetch to v12 (the last version that names topics rather than ids).
const SPOKEN: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Metadata, 1, 12),
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 4),
];

/// The highest version of each API that both sides speak.
#[derive(Debug, Clone, Default)]
pub struct Versions(BTreeMap<i16, i16>);

impl Versions {
    pub fn get(&self, addr: &str, api: ApiKey) -> Result<i16, PerfError> {
        self.0
            .get(&(api as i16))
            .copied()
            .ok_or_else(|| PerfError::Unsupported {
                addr: addr.to_string(),
                api,
            })
    }
}

/// A partition of the topic under load and its leader's address.
#[derive(Debug, Clone)]
pub struct PartitionLeader {
    pub partition: i32,
    pub leader: String,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub bootstrap: String,
    pub versions: Versions,
    pub topic: String,
    pub partitions: Vec<PartitionLeader>,
    pub timeout: Duration,
}

fn kafka_error(what: impl Into<String>, code: i16) -> PerfError {
    PerfError::Kafka {
        what: what.into(),
        error: error_code::name(code).to_string(),
    }
}

impl Cluster {
    /// Negotiates versions with the first reachable bootstrap server, creates the topic when
    /// it is missing and waits until every partition has a leader.
    pub async fn discover(target: &PerfTarget) -> Result<Cluster, PerfError> {
        let timeout = Duration::from_millis(target.timeout_ms);
        let mut conn = KafkaConnection::connect_any(&target.bootstrap_server, CLIENT_ID, timeout)
            .await
            .ok_or_else(|| PerfError::Unreachable(target.bootstrap_server.clone()))?;
        let bootstrap = conn.addr().to_string();
        let served = conn
            .send(&ApiVersionsRequest::default(), 0, timeout)
            .await?;
        if served.error_code != 0 {
            return Err(kafka_error("ApiVersions", served.error_code));
        }
        let mut versions = BTreeMap::new();
        for &(api, low, high) in SPOKEN {
            if let Some(s) = served.api_keys.iter().find(|k| k.api_key == api as i16) {
                let v = high.min(s.max_version);
                if v >= low.max(s.min_version) {
                    versions.insert(api as i16, v);
                }
            }
        }
        let versions = Versions(versions);
        let mut cluster = Cluster {
            bootstrap,
            versions,
            topic: target.topic.clone(),
            partitions: Vec::new(),
            timeout,
        };
        let deadline = Instant::now() + timeout;
        let mut created = false;
        loop {
            let metadata = cluster.metadata(&mut conn).await?;
            match cluster.leaders(&metadata) {
                Ok(partitions) => {
                    cluster.partitions = partitions;
                    if !created {
                        return Ok(cluster);
                    }
                    // A new topic's leaders may not serve it yet: wait until each answers.
                    match cluster.list_offsets(-1).await {
                        Ok(_) => return Ok(cluster),
                        Err(e) if Instant::now() >= deadline => return Err(e),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                Err(PerfError::Kafka { .. }) if !created => {
                    cluster.create_topic(&mut conn, target.partitions).await?;
                    created = true;
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn metadata(&self, conn: &mut KafkaConnection) -> Result<MetadataResponse, PerfError> {
        let version = self.versions.get(conn.addr(), ApiKey::Metadata)?;
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
                TopicName(StrBytes::from_string(self.topic.clone())),
            ))]))
            .with_allow_auto_topic_creation(false);
        Ok(conn.send(&request, version, self.timeout).await?)
    }

    /// Every partition's leader address, or why they are not all known yet.
    fn leaders(&self, m: &MetadataResponse) -> Result<Vec<PartitionLeader>, PerfError> {
        let Some(topic) = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == self.topic))
        else {
            return Err(kafka_error(
                format!("topic {}", self.topic),
                ResponseError::UnknownTopicOrPartition.code(),
            ));
        };
        if topic.error_code != 0 {
            return Err(kafka_error(
                format!("topic {}", self.topic),
                topic.error_code,
            ));
        }
        if topic.partitions.is_empty() {
            return Err(PerfError::NoLeader {
                topic: self.topic.clone(),
                partition: 0,
            });
        }
        let mut out = Vec::new();
        for p in &topic.partitions {
            if p.leader_id.0 < 0 {
                return Err(PerfError::NoLeader {
                    topic: self.topic.clone(),
                    partition: p.partition_index,
                });
            }
            let broker = m
                .brokers
                .iter()
                .find(|b| b.node_id == p.leader_id)
                .ok_or(PerfError::UnknownBroker(p.leader_id.0))?;
            out.push(PartitionLeader {
                partition: p.partition_index,
                leader: format!("{}:{}", broker.host, broker.port),
            });
        }
        out.sort_by_key(|p| p.partition);
        Ok(out)
    }

    async fn create_topic(
        &self,
        conn: &mut KafkaConnection,
        partitions: i32,
    ) -> Result<(), PerfError> {
        let version = self.versions.get(conn.addr(), ApiKey::CreateTopics)?;
        // The broker's default replication factor from v4; older versions need a number.
        let replication_factor = if version >= 4 { -1 } else { 1 };
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(self.topic.clone())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor),
            ])
            .with_timeout_ms(self.timeout.as_millis() as i32);
        let response = conn.send(&request, version, self.timeout).await?;
        for t in &response.topics {
            let code = t.error_code;
            if code != 0 && code != ResponseError::TopicAlreadyExists.code() {
                return Err(kafka_error(format!("creating topic {}", self.topic), code));
            }
        }
        Ok(())
    }

    /// Asks the bootstrap server for an idempotent producer id and epoch.
    pub async fn init_producer_id(&self) -> Result<(i64, i16), PerfError> {
        let mut conn = KafkaConnection::connect(&self.bootstrap, CLIENT_ID, self.timeout).await?;
        let version = self.versions.get(conn.addr(), ApiKey::InitProducerId)?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let r = conn.send(&request, version, self.timeout).await?;
        if r.error_code != 0 {
            return Err(kafka_error("InitProducerId", r.error_code));
        }
        Ok((r.producer_id.0, r.producer_epoch))
    }

    /// The offset of every partition at `timestamp` (-1 latest, -2 earliest), asked of each
    /// partition's leader.
    pub async fn list_offsets(&self, timestamp: i64) -> Result<BTreeMap<i32, i64>, PerfError> {
        let mut by_leader: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for p in &self.partitions {
            by_leader.entry(&p.leader).or_default().push(p.partition);
        }
        let mut offsets = BTreeMap::new();
        for (leader, partitions) in by_leader {
            let mut conn = KafkaConnection::connect(leader, CLIENT_ID, self.timeout).await?;
            let version = self.versions.get(leader, ApiKey::ListOffsets)?;
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(self.topic.clone())))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        ),
                ]);
            let response = conn.send(&request, version, self.timeout).await?;
            for p in response.topics.iter().flat_map(|t| &t.partitions) {
                if p.error_code != 0 {
                    return Err(kafka_error(
                        format!("ListOffsets of partition {}", p.partition_index),
                        p.error_code,
                    ));
                }
                offsets.insert(p.partition_index, p.offset);
            }
        }
        Ok(offsets)
    }

    /// The distinct leader addresses, in a stable order.
    pub fn leader_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.partitions.iter().map(|p| p.leader.clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}
