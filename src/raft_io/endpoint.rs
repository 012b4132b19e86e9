//! The controller listener's KRaft APIs: decode the Kafka request, hand it to the raft driver,
//! encode the core's answer. Also DescribeQuorum and DescribeCluster (KIP-919) for the
//! `metadata-quorum` tooling.

use kafka_protocol::messages::describe_quorum_response::{self as dq, ReplicaState};
use kafka_protocol::messages::{
    self as km, BeginQuorumEpochRequest, BrokerId, DescribeClusterRequest, DescribeClusterResponse,
    DescribeQuorumRequest, DescribeQuorumResponse, EndQuorumEpochRequest, FetchRequest,
    FetchSnapshotRequest, TopicName, VoteRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::driver::RaftHandle;
use super::wire::{self, METADATA_TOPIC};
use crate::raft::messages::{self as rm, ErrorKind};
use crate::types::NodeId;

/// A voter's controller endpoint, for leader hints and DescribeCluster.
#[derive(Debug, Clone)]
pub struct ControllerNode {
    pub id: NodeId,
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// The raft side of a controller listener.
#[derive(Clone)]
pub struct RaftEndpoint {
    pub handle: RaftHandle,
    pub cluster_id: String,
    pub controllers: Vec<ControllerNode>,
}

/// A raft request that could not be served: the connection is closed with this reason.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error("the raft driver did not answer (shutting down)")]
    NoAnswer,
}

impl RaftEndpoint {
    pub async fn vote(&self, r: &VoteRequest) -> Result<km::VoteResponse, EndpointError> {
        let req = wire::vote_request_in(r)?;
        match self
            .handle
            .request(req.candidate_id, rm::Request::Vote(req))
            .await
        {
            Some(rm::Response::Vote(v)) => Ok(wire::vote_response_out(&v)),
            _ => Err(EndpointError::NoAnswer),
        }
    }

    pub async fn begin_quorum_epoch(
        &self,
        r: &BeginQuorumEpochRequest,
    ) -> Result<km::BeginQuorumEpochResponse, EndpointError> {
        let req = wire::begin_request_in(r)?;
        match self
            .handle
            .request(req.leader_id, rm::Request::BeginQuorumEpoch(req))
            .await
        {
            Some(rm::Response::BeginQuorumEpoch(v)) => Ok(wire::begin_response_out(&v)),
            _ => Err(EndpointError::NoAnswer),
        }
    }

    pub async fn end_quorum_epoch(
        &self,
        r: &EndQuorumEpochRequest,
    ) -> Result<km::EndQuorumEpochResponse, EndpointError> {
        let req = wire::end_request_in(r)?;
        match self
            .handle
            .request(req.leader_id, rm::Request::EndQuorumEpoch(req))
            .await
        {
            Some(rm::Response::EndQuorumEpoch(v)) => Ok(wire::end_response_out(&v)),
            _ => Err(EndpointError::NoAnswer),
        }
    }

    pub async fn fetch(
        &self,
        r: &FetchRequest,
        wall_ms: i64,
    ) -> Result<km::FetchResponse, EndpointError> {
        let req = wire::fetch_request_in(r)?;
        match self
            .handle
            .request(req.replica_id, rm::Request::Fetch(req))
            .await
        {
            Some(rm::Response::Fetch(v)) => Ok(wire::fetch_response_out(&v, wall_ms)?),
            _ => Err(EndpointError::NoAnswer),
        }
    }

    pub async fn fetch_snapshot(
        &self,
        r: &FetchSnapshotRequest,
    ) -> Result<km::FetchSnapshotResponse, EndpointError> {
        let req = wire::fetch_snapshot_request_in(r)?;
        match self
            .handle
            .request(req.replica_id, rm::Request::FetchSnapshot(req))
            .await
        {
            Some(rm::Response::FetchSnapshot(v)) => Ok(wire::fetch_snapshot_response_out(&v)),
            _ => Err(EndpointError::NoAnswer),
        }
    }

    /// DescribeQuorum: answered by the leader; others say NOT_LEADER_OR_FOLLOWER and name the
    /// leader (with its endpoint in v2) so tools can follow.
    pub async fn describe_quorum(
        &self,
        r: &DescribeQuorumRequest,
        version: i16,
    ) -> Result<DescribeQuorumResponse, EndpointError> {
        let asks_metadata = r
            .topics
            .first()
            .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
            .and_then(|t| t.partitions.first())
            .is_some_and(|p| p.partition_index == 0);
        let topic = |p: dq::PartitionData| {
            vec![
                dq::TopicData::default()
                    .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                    .with_partitions(vec![p]),
            ]
        };
        if !asks_metadata {
            return Ok(DescribeQuorumResponse::default().with_topics(topic(
                dq::PartitionData::default().with_error_code(3), // UNKNOWN_TOPIC_OR_PARTITION
            )));
        }
        let d = self
            .handle
            .describe_quorum()
            .await
            .ok_or(EndpointError::NoAnswer)?;
        // Timestamps exist from v1, node endpoints from v2.
        let stamp = |t: Option<crate::types::MonoTime>| match t {
            Some(t) if version >= 1 => self.handle.wall_ms(t),
            _ => -1,
        };
        let replica = |r: &rm::ReplicaDescription| {
            ReplicaState::default()
                .with_replica_id(BrokerId(r.replica_id.0))
                .with_log_end_offset(r.log_end_offset.map_or(-1, |o| o.0))
                .with_last_fetch_timestamp(stamp(r.last_fetch_time))
                .with_last_caught_up_timestamp(stamp(r.last_caught_up_time))
        };
        let partition = dq::PartitionData::default()
            .with_partition_index(0)
            .with_error_code(d.error.code())
            .with_leader_id(BrokerId(d.leader_id.map_or(-1, |l| l.0)))
            .with_leader_epoch(d.leader_epoch.0)
            .with_high_watermark(d.high_watermark.map_or(-1, |o| o.0))
            .with_current_voters(d.current_voters.iter().map(replica).collect())
            .with_observers(d.observers.iter().map(replica).collect());
        let nodes = if version < 2 {
            Vec::new()
        } else {
            self.controllers
                .iter()
                .map(|c| {
                    dq::Node::default()
                        .with_node_id(BrokerId(c.id.0))
                        .with_listeners(vec![
                            dq::Listener::default()
                                .with_name(StrBytes::from_string(c.listener.clone()))
                                .with_host(StrBytes::from_string(c.host.clone()))
                                .with_port(c.port),
                        ])
                })
                .collect()
        };
        // Kafka reports NOT_LEADER_OR_FOLLOWER in the partition, not at the top level.
        debug_assert!(d.error == ErrorKind::None || d.error == ErrorKind::NotLeaderOrFollower);
        Ok(DescribeQuorumResponse::default()
            .with_topics(topic(partition))
            .with_nodes(nodes))
    }

    /// DescribeCluster on a controller listener (KIP-919): the cluster id, the active
    /// controller and the controllers.
    pub async fn describe_cluster(&self, _r: &DescribeClusterRequest) -> DescribeClusterResponse {
        let leader = self.handle.status().borrow().raft.leader_id;
        DescribeClusterResponse::default()
            .with_endpoint_type(2)
            .with_cluster_id(StrBytes::from_string(self.cluster_id.clone()))
            .with_controller_id(BrokerId(leader.map_or(-1, |l| l.0)))
            .with_brokers(
                self.controllers
                    .iter()
                    .map(|c| {
                        km::describe_cluster_response::DescribeClusterBroker::default()
                            .with_broker_id(BrokerId(c.id.0))
                            .with_host(StrBytes::from_string(c.host.clone()))
                            .with_port(c.port as i32)
                    })
                    .collect(),
            )
    }
}
