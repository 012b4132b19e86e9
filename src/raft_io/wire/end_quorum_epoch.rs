//! EndQuorumEpoch on the wire: a leader that steps down names its preferred successors.

use kafka_protocol::messages::{
    self as km, BrokerId, EndQuorumEpochRequest, EndQuorumEpochResponse,
};

use super::{
    WireError, cluster, cluster_in, leader_out, metadata_partition, quorum_epoch_response_in,
    split_error, topic,
};
use crate::raft::messages as rm;
use crate::types::{Epoch, NodeId};

pub fn end_request_out(r: &rm::EndQuorumEpochRequest) -> EndQuorumEpochRequest {
    EndQuorumEpochRequest::default()
        .with_cluster_id(cluster(&r.cluster_id))
        .with_topics(vec![
            km::end_quorum_epoch_request::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::end_quorum_epoch_request::PartitionData::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(r.leader_id.0))
                        .with_leader_epoch(r.leader_epoch.0)
                        .with_preferred_candidates(
                            r.preferred_successors
                                .iter()
                                .map(|id| {
                                    km::end_quorum_epoch_request::ReplicaInfo::default()
                                        .with_candidate_id(BrokerId(id.0))
                                })
                                .collect(),
                        ),
                ]),
        ])
}

pub fn end_request_in(r: &EndQuorumEpochRequest) -> Result<rm::EndQuorumEpochRequest, WireError> {
    let p = metadata_partition(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    // v0 carries PreferredSuccessors, v1 PreferredCandidates; take whichever is present.
    let mut successors: Vec<NodeId> = p
        .preferred_successors
        .iter()
        .map(|id| NodeId(*id))
        .collect();
    successors.extend(
        p.preferred_candidates
            .iter()
            .map(|c| NodeId(c.candidate_id.0)),
    );
    Ok(rm::EndQuorumEpochRequest {
        cluster_id: cluster_in(&r.cluster_id),
        leader_id: NodeId(p.leader_id.0),
        leader_epoch: Epoch(p.leader_epoch),
        preferred_successors: successors,
    })
}

pub fn end_response_out(r: &rm::QuorumEpochResponse) -> EndQuorumEpochResponse {
    let (top, part) = split_error(r.error);
    EndQuorumEpochResponse::default()
        .with_error_code(top)
        .with_topics(vec![
            km::end_quorum_epoch_response::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::end_quorum_epoch_response::PartitionData::default()
                        .with_partition_index(0)
                        .with_error_code(part)
                        .with_leader_id(leader_out(r.leader_id))
                        .with_leader_epoch(r.leader_epoch.0),
                ]),
        ])
}

pub fn end_response_in(r: &EndQuorumEpochResponse) -> rm::QuorumEpochResponse {
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
    use crate::raft_io::wire::END_QUORUM_EPOCH_VERSION;
    use crate::raft_io::wire::test_support::round_trip;

    #[test]
    fn end_quorum_epoch_round_trips() {
        let end = rm::EndQuorumEpochRequest {
            cluster_id: None,
            leader_id: NodeId(1),
            leader_epoch: Epoch(9),
            preferred_successors: vec![NodeId(3), NodeId(2)],
        };
        assert_eq!(
            round_trip(
                &end,
                end_request_out,
                END_QUORUM_EPOCH_VERSION,
                end_request_in
            )
            .unwrap(),
            end
        );
        let resp = rm::QuorumEpochResponse {
            error: ErrorKind::None,
            leader_id: Some(NodeId(1)),
            leader_epoch: Epoch(9),
        };
        assert_eq!(
            round_trip(
                &resp,
                end_response_out,
                END_QUORUM_EPOCH_VERSION,
                end_response_in
            ),
            resp
        );
    }
}
