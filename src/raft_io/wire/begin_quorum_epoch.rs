//! BeginQuorumEpoch on the wire: a new leader tells the voters of its epoch.

use kafka_protocol::messages::{
    self as km, BeginQuorumEpochRequest, BeginQuorumEpochResponse, BrokerId,
};

use super::{
    WireError, cluster, cluster_in, leader_out, metadata_partition, quorum_epoch_response_in,
    split_error, topic,
};
use crate::raft::messages as rm;
use crate::types::{Epoch, NodeId};

pub fn begin_request_out(r: &rm::BeginQuorumEpochRequest) -> BeginQuorumEpochRequest {
    BeginQuorumEpochRequest::default()
        .with_cluster_id(cluster(&r.cluster_id))
        .with_voter_id(BrokerId(r.voter_id.0))
        .with_topics(vec![
            km::begin_quorum_epoch_request::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::begin_quorum_epoch_request::PartitionData::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(r.leader_id.0))
                        .with_leader_epoch(r.leader_epoch.0),
                ]),
        ])
}

pub fn begin_request_in(
    r: &BeginQuorumEpochRequest,
) -> Result<rm::BeginQuorumEpochRequest, WireError> {
    let p = metadata_partition(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    Ok(rm::BeginQuorumEpochRequest {
        cluster_id: cluster_in(&r.cluster_id),
        voter_id: NodeId(r.voter_id.0),
        leader_id: NodeId(p.leader_id.0),
        leader_epoch: Epoch(p.leader_epoch),
    })
}

pub fn begin_response_out(r: &rm::QuorumEpochResponse) -> BeginQuorumEpochResponse {
    let (top, part) = split_error(r.error);
    BeginQuorumEpochResponse::default()
        .with_error_code(top)
        .with_topics(vec![
            km::begin_quorum_epoch_response::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::begin_quorum_epoch_response::PartitionData::default()
                        .with_partition_index(0)
                        .with_error_code(part)
                        .with_leader_id(leader_out(r.leader_id))
                        .with_leader_epoch(r.leader_epoch.0),
                ]),
        ])
}

pub fn begin_response_in(r: &BeginQuorumEpochResponse) -> rm::QuorumEpochResponse {
    let p = r.topics.first().and_then(|t| t.partitions.first());
    quorum_epoch_response_in(
        r.error_code,
        p.map(|p| (p.error_code, p.leader_id, p.leader_epoch)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::messages::ErrorKind;
    use crate::raft_io::wire::BEGIN_QUORUM_EPOCH_VERSION;
    use crate::raft_io::wire::test_support::round_trip;

    #[test]
    fn begin_quorum_epoch_round_trips() {
        let begin = rm::BeginQuorumEpochRequest {
            cluster_id: Some("c".into()),
            voter_id: NodeId(3),
            leader_id: NodeId(1),
            leader_epoch: Epoch(9),
        };
        assert_eq!(
            round_trip(
                &begin,
                begin_request_out,
                BEGIN_QUORUM_EPOCH_VERSION,
                begin_request_in
            )
            .unwrap(),
            begin
        );
        let resp = rm::QuorumEpochResponse {
            error: ErrorKind::None,
            leader_id: Some(NodeId(1)),
            leader_epoch: Epoch(9),
        };
        assert_eq!(
            round_trip(
                &resp,
                begin_response_out,
                BEGIN_QUORUM_EPOCH_VERSION,
                begin_response_in
            ),
            resp
        );
    }
}
