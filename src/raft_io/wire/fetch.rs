//! Fetch on the wire: a follower (or observer) reads the metadata log from the leader; the
//! response carries record batches, a diverging epoch or the snapshot to fetch instead.

use std::time::Duration;

use kafka_protocol::messages::{self as km, BrokerId, FetchRequest, FetchResponse};

use super::{
    METADATA_TOPIC, METADATA_TOPIC_ID, WireError, cluster, cluster_in, join_error, leader_in,
    leader_out, split_error, topic,
};
use crate::raft::codec;
use crate::raft::messages::{self as rm, ErrorKind};
use crate::raft::{Batch, OffsetAndEpoch};
use crate::types::{Epoch, NodeId, Offset};

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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::raft::{BatchPayload, ControlRecord};
    use crate::raft_io::wire::FETCH_VERSION;
    use crate::raft_io::wire::test_support::{round_trip, wire};

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
            round_trip(&req, fetch_request_out, FETCH_VERSION, fetch_request_in).unwrap(),
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
}
