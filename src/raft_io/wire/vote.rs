//! Vote (pre-vote and vote) on the wire: a candidate asks a voter for its vote in an epoch.

use kafka_protocol::messages::{self as km, BrokerId, VoteRequest, VoteResponse};

use super::{
    WireError, cluster, cluster_in, join_error, leader_in, leader_out, metadata_partition,
    split_error, topic,
};
use crate::raft::messages::{self as rm, ErrorKind};
use crate::types::{Epoch, NodeId, Offset};

pub fn vote_request_out(r: &rm::VoteRequest) -> VoteRequest {
    VoteRequest::default()
        .with_cluster_id(cluster(&r.cluster_id))
        .with_voter_id(BrokerId(r.voter_id.0))
        .with_topics(vec![
            km::vote_request::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::vote_request::PartitionData::default()
                        .with_partition_index(0)
                        .with_replica_epoch(r.candidate_epoch.0)
                        .with_replica_id(BrokerId(r.candidate_id.0))
                        .with_last_offset_epoch(r.last_offset_epoch.0)
                        .with_last_offset(r.last_offset.0)
                        .with_pre_vote(r.pre_vote),
                ]),
        ])
}

pub fn vote_request_in(r: &VoteRequest) -> Result<rm::VoteRequest, WireError> {
    let p = metadata_partition(
        &r.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    Ok(rm::VoteRequest {
        cluster_id: cluster_in(&r.cluster_id),
        voter_id: NodeId(r.voter_id.0),
        candidate_id: NodeId(p.replica_id.0),
        candidate_epoch: Epoch(p.replica_epoch),
        last_offset_epoch: Epoch(p.last_offset_epoch),
        last_offset: Offset(p.last_offset),
        pre_vote: p.pre_vote,
    })
}

pub fn vote_response_out(r: &rm::VoteResponse) -> VoteResponse {
    let (top, part) = split_error(r.error);
    VoteResponse::default()
        .with_error_code(top)
        .with_topics(vec![
            km::vote_response::TopicData::default()
                .with_topic_name(topic())
                .with_partitions(vec![
                    km::vote_response::PartitionData::default()
                        .with_partition_index(0)
                        .with_error_code(part)
                        .with_leader_id(leader_out(r.leader_id))
                        .with_leader_epoch(r.leader_epoch.0)
                        .with_vote_granted(r.vote_granted),
                ]),
        ])
}

pub fn vote_response_in(r: &VoteResponse) -> rm::VoteResponse {
    match r.topics.first().and_then(|t| t.partitions.first()) {
        Some(p) => rm::VoteResponse {
            error: join_error(r.error_code, p.error_code),
            leader_id: leader_in(p.leader_id),
            leader_epoch: Epoch(p.leader_epoch),
            vote_granted: p.vote_granted && r.error_code == 0,
        },
        None => rm::VoteResponse {
            error: join_error(r.error_code, ErrorKind::InvalidRequest.code()),
            leader_id: None,
            leader_epoch: Epoch::UNKNOWN,
            vote_granted: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::raft_io::wire::VOTE_VERSION;
    use crate::raft_io::wire::test_support::{round_trip, wire};

    #[test]
    fn vote_round_trips() {
        let req = rm::VoteRequest {
            cluster_id: Some("c".into()),
            voter_id: NodeId(2),
            candidate_id: NodeId(1),
            candidate_epoch: Epoch(5),
            last_offset_epoch: Epoch(4),
            last_offset: Offset(99),
            pre_vote: true,
        };
        assert_eq!(
            round_trip(&req, vote_request_out, VOTE_VERSION, vote_request_in).unwrap(),
            req
        );
        let resp = rm::VoteResponse {
            error: ErrorKind::FencedLeaderEpoch,
            leader_id: Some(NodeId(3)),
            leader_epoch: Epoch(6),
            vote_granted: false,
        };
        assert_eq!(
            round_trip(&resp, vote_response_out, VOTE_VERSION, vote_response_in),
            resp
        );
        let top = rm::VoteResponse {
            error: ErrorKind::InconsistentClusterId,
            leader_id: None,
            leader_epoch: Epoch(1),
            vote_granted: false,
        };
        let out = vote_response_out(&top);
        assert_eq!(out.error_code, 104);
        assert_eq!(vote_response_in(&wire(&out, VOTE_VERSION)), top);
    }

    #[test]
    fn requests_about_other_partitions_are_rejected() {
        let mut req = vote_request_out(&rm::VoteRequest {
            cluster_id: None,
            voter_id: NodeId(1),
            candidate_id: NodeId(2),
            candidate_epoch: Epoch(1),
            last_offset_epoch: Epoch(0),
            last_offset: Offset(0),
            pre_vote: false,
        });
        req.topics[0].topic_name = TopicName(StrBytes::from_static_str("orders"));
        assert!(matches!(
            vote_request_in(&req),
            Err(WireError::WrongPartition)
        ));
    }
}
