//! KRaft RPCs on the wire: the raft core's typed messages to and from `kafka_protocol`
//! messages about the single partition `__cluster_metadata-0`. Top-level errors
//! (`INCONSISTENT_CLUSTER_ID`, malformed requests) sit at the top level; everything else in
//! the partition, as Kafka does.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    self as km, BeginQuorumEpochRequest, BeginQuorumEpochResponse, BrokerId, EndQuorumEpochRequest,
    EndQuorumEpochResponse, FetchRequest, FetchResponse, FetchSnapshotRequest,
    FetchSnapshotResponse, TopicName, VoteRequest, VoteResponse,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::raft::codec::{self, CodecError};
use crate::raft::messages::{self as rm, ErrorKind};
use crate::raft::{Batch, OffsetAndEpoch};
use crate::types::{Epoch, NodeId, Offset};

/// The metadata topic and its fixed topic id (Kafka's `Uuid.METADATA_TOPIC_ID`).
pub const METADATA_TOPIC: &str = "__cluster_metadata";
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u64_pair(0, 1);

/// Versions kraftd speaks between controllers (the newest the codec supports).
pub const VOTE_VERSION: i16 = 2;
pub const BEGIN_QUORUM_EPOCH_VERSION: i16 = 1;
pub const END_QUORUM_EPOCH_VERSION: i16 = 1;
pub const FETCH_VERSION: i16 = 18;
pub const FETCH_SNAPSHOT_VERSION: i16 = 1;

/// A request that cannot be mapped: it is not about `__cluster_metadata-0`, or malformed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("request is not about {METADATA_TOPIC}-0")]
    WrongPartition,
    #[error(transparent)]
    Codec(#[from] CodecError),
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(METADATA_TOPIC))
}

fn cluster(id: &Option<String>) -> Option<StrBytes> {
    id.as_ref().map(|s| StrBytes::from_string(s.clone()))
}

fn cluster_in(id: &Option<StrBytes>) -> Option<String> {
    id.as_ref().map(|s| s.to_string()).filter(|s| !s.is_empty())
}

fn leader_out(id: Option<NodeId>) -> BrokerId {
    BrokerId(id.map_or(-1, |n| n.0))
}

fn leader_in(id: BrokerId) -> Option<NodeId> {
    (id.0 >= 0).then_some(NodeId(id.0))
}

fn error_in(code: i16) -> ErrorKind {
    // Codes the core does not model are treated as a generic failure of that request.
    ErrorKind::from_code(code).unwrap_or(ErrorKind::InvalidRequest)
}

/// The top-level error and the partition-level one, as Kafka places them.
fn split_error(e: ErrorKind) -> (i16, i16) {
    match e {
        ErrorKind::InconsistentClusterId | ErrorKind::InvalidRequest => (e.code(), 0),
        other => (0, other.code()),
    }
}

/// The first non-zero of a top-level and a partition-level error.
fn join_error(top: i16, partition: i16) -> ErrorKind {
    error_in(if top != 0 { top } else { partition })
}

// ---------------------------------------------------------------- Vote

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
    let p = r
        .topics
        .first()
        .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.first())
        .filter(|p| p.partition_index == 0)
        .ok_or(WireError::WrongPartition)?;
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

// ---------------------------------------------------------------- BeginQuorumEpoch

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
    let p = r
        .topics
        .first()
        .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.first())
        .filter(|p| p.partition_index == 0)
        .ok_or(WireError::WrongPartition)?;
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
    rm::QuorumEpochResponse {
        error: join_error(
            r.error_code,
            p.map_or(ErrorKind::InvalidRequest.code(), |p| p.error_code),
        ),
        leader_id: p.and_then(|p| leader_in(p.leader_id)),
        leader_epoch: Epoch(p.map_or(-1, |p| p.leader_epoch)),
    }
}

// ---------------------------------------------------------------- EndQuorumEpoch

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
    let p = r
        .topics
        .first()
        .filter(|t| t.topic_name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.first())
        .filter(|p| p.partition_index == 0)
        .ok_or(WireError::WrongPartition)?;
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
    rm::QuorumEpochResponse {
        error: join_error(
            r.error_code,
            p.map_or(ErrorKind::InvalidRequest.code(), |p| p.error_code),
        ),
        leader_id: p.and_then(|p| leader_in(p.leader_id)),
        leader_epoch: Epoch(p.map_or(-1, |p| p.leader_epoch)),
    }
}

// ---------------------------------------------------------------- Fetch

pub fn fetch_request_out(r: &rm::FetchRequest) -> FetchRequest {
    FetchRequest::default()
        .with_cluster_id(cluster(&r.cluster_id))
        .with_replica_state(
            km::fetch_request::ReplicaState::default()
                .with_replica_id(BrokerId(r.replica_id.0))
                .with_replica_epoch(r.replica_epoch),
        )
        .with_max_wait_ms(r.max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(0)
        .with_max_bytes(r.max_bytes.min(i32::MAX as usize) as i32)
        .with_topics(vec![
            km::fetch_request::FetchTopic::default()
                .with_topic(topic())
                .with_topic_id(METADATA_TOPIC_ID)
                .with_partitions(vec![
                    km::fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(r.current_leader_epoch.0)
                        .with_fetch_offset(r.fetch_offset.0)
                        .with_last_fetched_epoch(r.last_fetched_epoch.0)
                        .with_log_start_offset(-1)
                        // v18: the fetcher's high watermark; i64::MAX means unknown.
                        .with_high_watermark(r.high_watermark.map_or(i64::MAX, |o| o.0))
                        .with_partition_max_bytes(r.max_bytes.min(i32::MAX as usize) as i32),
                ]),
        ])
}

pub fn fetch_request_in(r: &FetchRequest) -> Result<rm::FetchRequest, WireError> {
    let t = r.topics.first().ok_or(WireError::WrongPartition)?;
    if t.topic_id != METADATA_TOPIC_ID && t.topic.0.as_str() != METADATA_TOPIC {
        return Err(WireError::WrongPartition);
    }
    let p = t
        .partitions
        .first()
        .filter(|p| p.partition == 0)
        .ok_or(WireError::WrongPartition)?;
    // v15+ carries the replica in ReplicaState; older versions in ReplicaId.
    let replica_id = if r.replica_state.replica_id.0 >= 0 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    Ok(rm::FetchRequest {
        cluster_id: cluster_in(&r.cluster_id),
        replica_id: NodeId(replica_id),
        replica_epoch: r.replica_state.replica_epoch,
        current_leader_epoch: Epoch(p.current_leader_epoch),
        fetch_offset: Offset(p.fetch_offset),
        last_fetched_epoch: Epoch(p.last_fetched_epoch),
        max_wait: Duration::from_millis(r.max_wait_ms.max(0) as u64),
        max_bytes: p.partition_max_bytes.max(0) as usize,
        // Absent before v18 (decodes as i64::MAX) or unknown.
        high_watermark: (p.high_watermark >= 0 && p.high_watermark != i64::MAX)
            .then_some(Offset(p.high_watermark)),
    })
}

pub fn fetch_response_out(
    r: &rm::FetchResponse,
    timestamp_ms: i64,
) -> Result<FetchResponse, WireError> {
    let (top, part) = split_error(r.error);
    let records = if r.records.is_empty() {
        None
    } else {
        Some(codec::encode_batches(&r.records, timestamp_ms)?)
    };
    let mut partition = km::fetch_response::PartitionData::default()
        .with_partition_index(0)
        .with_error_code(part)
        .with_high_watermark(r.high_watermark.map_or(-1, |o| o.0))
        .with_last_stable_offset(r.high_watermark.map_or(-1, |o| o.0))
        .with_log_start_offset(r.log_start_offset.0)
        .with_current_leader(
            km::fetch_response::LeaderIdAndEpoch::default()
                .with_leader_id(leader_out(r.leader_id))
                .with_leader_epoch(r.leader_epoch.0),
        )
        .with_records(records);
    if let Some(d) = r.diverging_epoch {
        partition = partition.with_diverging_epoch(
            km::fetch_response::EpochEndOffset::default()
                .with_epoch(d.epoch.0)
                .with_end_offset(d.offset.0),
        );
    }
    if let Some(s) = r.snapshot_id {
        partition = partition.with_snapshot_id(
            km::fetch_response::SnapshotId::default()
                .with_end_offset(s.offset.0)
                .with_epoch(s.epoch.0),
        );
    }
    Ok(FetchResponse::default()
        .with_error_code(top)
        .with_responses(vec![
            km::fetch_response::FetchableTopicResponse::default()
                .with_topic(topic())
                .with_topic_id(METADATA_TOPIC_ID)
                .with_partitions(vec![partition]),
        ]))
}

pub fn fetch_response_in(r: &FetchResponse) -> Result<rm::FetchResponse, WireError> {
    let Some(p) = r.responses.first().and_then(|t| t.partitions.first()) else {
        return Ok(rm::FetchResponse {
            error: join_error(r.error_code, ErrorKind::InvalidRequest.code()),
            high_watermark: None,
            log_start_offset: Offset(0),
            records: Vec::new(),
            diverging_epoch: None,
            snapshot_id: None,
            leader_id: None,
            leader_epoch: Epoch::UNKNOWN,
        });
    };
    let records: Vec<Batch> = match &p.records {
        Some(bytes) if !bytes.is_empty() => codec::decode_batches(bytes.clone())?,
        _ => Vec::new(),
    };
    Ok(rm::FetchResponse {
        error: join_error(r.error_code, p.error_code),
        high_watermark: (p.high_watermark >= 0).then_some(Offset(p.high_watermark)),
        log_start_offset: Offset(p.log_start_offset.max(0)),
        records,
        diverging_epoch: (p.diverging_epoch.epoch >= 0).then_some(OffsetAndEpoch::new(
            Offset(p.diverging_epoch.end_offset),
            Epoch(p.diverging_epoch.epoch),
        )),
        snapshot_id: (p.snapshot_id.epoch >= 0 && p.snapshot_id.end_offset >= 0).then_some(
            OffsetAndEpoch::new(Offset(p.snapshot_id.end_offset), Epoch(p.snapshot_id.epoch)),
        ),
        leader_id: leader_in(p.current_leader.leader_id),
        leader_epoch: Epoch(p.current_leader.leader_epoch),
    })
}

// ---------------------------------------------------------------- FetchSnapshot

pub fn fetch_snapshot_request_out(r: &rm::FetchSnapshotRequest) -> FetchSnapshotRequest {
    FetchSnapshotRequest::default()
        .with_cluster_id(cluster(&r.cluster_id))
        .with_replica_id(BrokerId(r.replica_id.0))
        .with_max_bytes(r.max_bytes.min(i32::MAX as usize) as i32)
        .with_topics(vec![
            km::fetch_snapshot_request::TopicSnapshot::default()
                .with_name(topic())
                .with_partitions(vec![
                    km::fetch_snapshot_request::PartitionSnapshot::default()
                        .with_partition(0)
                        .with_current_leader_epoch(r.current_leader_epoch.0)
                        .with_snapshot_id(
                            km::fetch_snapshot_request::SnapshotId::default()
                                .with_end_offset(r.snapshot_id.offset.0)
                                .with_epoch(r.snapshot_id.epoch.0),
                        )
                        .with_position(r.position.min(i64::MAX as u64) as i64),
                ]),
        ])
}

pub fn fetch_snapshot_request_in(
    r: &FetchSnapshotRequest,
) -> Result<rm::FetchSnapshotRequest, WireError> {
    let p = r
        .topics
        .first()
        .filter(|t| t.name.0.as_str() == METADATA_TOPIC)
        .and_then(|t| t.partitions.first())
        .filter(|p| p.partition == 0)
        .ok_or(WireError::WrongPartition)?;
    Ok(rm::FetchSnapshotRequest {
        cluster_id: cluster_in(&r.cluster_id),
        replica_id: NodeId(r.replica_id.0),
        current_leader_epoch: Epoch(p.current_leader_epoch),
        snapshot_id: OffsetAndEpoch::new(
            Offset(p.snapshot_id.end_offset),
            Epoch(p.snapshot_id.epoch),
        ),
        position: p.position.max(0) as u64,
        max_bytes: r.max_bytes.max(0) as usize,
    })
}

pub fn fetch_snapshot_response_out(r: &rm::FetchSnapshotResponse) -> FetchSnapshotResponse {
    let (top, part) = split_error(r.error);
    FetchSnapshotResponse::default()
        .with_error_code(top)
        .with_topics(vec![
            km::fetch_snapshot_response::TopicSnapshot::default()
                .with_name(topic())
                .with_partitions(vec![
                    km::fetch_snapshot_response::PartitionSnapshot::default()
                        .with_index(0)
                        .with_error_code(part)
                        .with_snapshot_id(
                            km::fetch_snapshot_response::SnapshotId::default()
                                .with_end_offset(r.snapshot_id.offset.0)
                                .with_epoch(r.snapshot_id.epoch.0),
                        )
                        .with_current_leader(
                            km::fetch_snapshot_response::LeaderIdAndEpoch::default()
                                .with_leader_id(leader_out(r.leader_id))
                                .with_leader_epoch(r.leader_epoch.0),
                        )
                        .with_size(r.size.min(i64::MAX as u64) as i64)
                        .with_position(r.position.min(i64::MAX as u64) as i64)
                        .with_unaligned_records(r.unaligned_records.clone()),
                ]),
        ])
}

pub fn fetch_snapshot_response_in(r: &FetchSnapshotResponse) -> rm::FetchSnapshotResponse {
    match r.topics.first().and_then(|t| t.partitions.first()) {
        Some(p) => rm::FetchSnapshotResponse {
            error: join_error(r.error_code, p.error_code),
            snapshot_id: OffsetAndEpoch::new(
                Offset(p.snapshot_id.end_offset),
                Epoch(p.snapshot_id.epoch),
            ),
            size: p.size.max(0) as u64,
            position: p.position.max(0) as u64,
            unaligned_records: p.unaligned_records.clone(),
            leader_id: leader_in(p.current_leader.leader_id),
            leader_epoch: Epoch(p.current_leader.leader_epoch),
        },
        None => rm::FetchSnapshotResponse {
            error: join_error(r.error_code, ErrorKind::InvalidRequest.code()),
            snapshot_id: OffsetAndEpoch::new(Offset(-1), Epoch::UNKNOWN),
            size: 0,
            position: 0,
            unaligned_records: Bytes::new(),
            leader_id: None,
            leader_epoch: Epoch::UNKNOWN,
        },
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable};

    use super::*;
    use crate::raft::{BatchPayload, ControlRecord};

    /// Encodes at `version` and decodes again, as a peer would see it.
    fn wire<M: Encodable + Decodable>(m: &M, version: i16) -> M {
        let mut b = BytesMut::new();
        m.encode(&mut b, version).unwrap();
        M::decode(&mut b.freeze(), version).unwrap()
    }

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
            vote_request_in(&wire(&vote_request_out(&req), VOTE_VERSION)).unwrap(),
            req
        );
        let resp = rm::VoteResponse {
            error: ErrorKind::FencedLeaderEpoch,
            leader_id: Some(NodeId(3)),
            leader_epoch: Epoch(6),
            vote_granted: false,
        };
        assert_eq!(
            vote_response_in(&wire(&vote_response_out(&resp), VOTE_VERSION)),
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
    fn quorum_epoch_messages_round_trip() {
        let begin = rm::BeginQuorumEpochRequest {
            cluster_id: Some("c".into()),
            voter_id: NodeId(3),
            leader_id: NodeId(1),
            leader_epoch: Epoch(9),
        };
        assert_eq!(
            begin_request_in(&wire(
                &begin_request_out(&begin),
                BEGIN_QUORUM_EPOCH_VERSION
            ))
            .unwrap(),
            begin
        );
        let end = rm::EndQuorumEpochRequest {
            cluster_id: None,
            leader_id: NodeId(1),
            leader_epoch: Epoch(9),
            preferred_successors: vec![NodeId(3), NodeId(2)],
        };
        assert_eq!(
            end_request_in(&wire(&end_request_out(&end), END_QUORUM_EPOCH_VERSION)).unwrap(),
            end
        );
        let resp = rm::QuorumEpochResponse {
            error: ErrorKind::None,
            leader_id: Some(NodeId(1)),
            leader_epoch: Epoch(9),
        };
        assert_eq!(
            begin_response_in(&wire(
                &begin_response_out(&resp),
                BEGIN_QUORUM_EPOCH_VERSION
            )),
            resp
        );
        assert_eq!(
            end_response_in(&wire(&end_response_out(&resp), END_QUORUM_EPOCH_VERSION)),
            resp
        );
    }

    #[test]
    fn fetch_round_trips_with_records_divergence_and_snapshot() {
        let req = rm::FetchRequest {
            cluster_id: Some("c".into()),
            replica_id: NodeId(101),
            replica_epoch: -1,
            current_leader_epoch: Epoch(3),
            fetch_offset: Offset(10),
            last_fetched_epoch: Epoch(2),
            max_wait: Duration::from_millis(500),
            max_bytes: 8 << 20,
            high_watermark: None,
        };
        assert_eq!(
            fetch_request_in(&wire(&fetch_request_out(&req), FETCH_VERSION)).unwrap(),
            req
        );
        let resp = rm::FetchResponse {
            error: ErrorKind::None,
            high_watermark: Some(Offset(12)),
            log_start_offset: Offset(0),
            records: vec![
                Batch {
                    base_offset: Offset(10),
                    epoch: Epoch(3),
                    payload: BatchPayload::Control(vec![ControlRecord::LeaderChange {
                        leader_id: NodeId(1),
                        voters: vec![NodeId(1), NodeId(2), NodeId(3)],
                        granting_voters: vec![NodeId(1), NodeId(2)],
                    }]),
                },
                Batch {
                    base_offset: Offset(11),
                    epoch: Epoch(3),
                    payload: BatchPayload::Data(vec![Bytes::from_static(b"record")]),
                },
            ],
            diverging_epoch: None,
            snapshot_id: None,
            leader_id: Some(NodeId(1)),
            leader_epoch: Epoch(3),
        };
        let out = wire(&fetch_response_out(&resp, 5).unwrap(), FETCH_VERSION);
        assert_eq!(fetch_response_in(&out).unwrap(), resp);
        let diverging = rm::FetchResponse {
            records: Vec::new(),
            diverging_epoch: Some(OffsetAndEpoch::new(Offset(7), Epoch(2))),
            ..resp.clone()
        };
        assert_eq!(
            fetch_response_in(&wire(
                &fetch_response_out(&diverging, 0).unwrap(),
                FETCH_VERSION
            ))
            .unwrap(),
            diverging
        );
        let snapshot = rm::FetchResponse {
            records: Vec::new(),
            snapshot_id: Some(OffsetAndEpoch::new(Offset(50), Epoch(2))),
            ..resp
        };
        assert_eq!(
            fetch_response_in(&wire(
                &fetch_response_out(&snapshot, 0).unwrap(),
                FETCH_VERSION
            ))
            .unwrap(),
            snapshot
        );
    }

    #[test]
    fn fetch_snapshot_round_trips() {
        let req = rm::FetchSnapshotRequest {
            cluster_id: Some("c".into()),
            replica_id: NodeId(2),
            current_leader_epoch: Epoch(4),
            snapshot_id: OffsetAndEpoch::new(Offset(100), Epoch(3)),
            position: 4096,
            max_bytes: 1 << 20,
        };
        assert_eq!(
            fetch_snapshot_request_in(&wire(
                &fetch_snapshot_request_out(&req),
                FETCH_SNAPSHOT_VERSION
            ))
            .unwrap(),
            req
        );
        let resp = rm::FetchSnapshotResponse {
            error: ErrorKind::None,
            snapshot_id: req.snapshot_id,
            size: 9000,
            position: 4096,
            unaligned_records: Bytes::from_static(b"chunk"),
            leader_id: Some(NodeId(1)),
            leader_epoch: Epoch(4),
        };
        assert_eq!(
            fetch_snapshot_response_in(&wire(
                &fetch_snapshot_response_out(&resp),
                FETCH_SNAPSHOT_VERSION
            )),
            resp
        );
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
