//! FetchSnapshot on the wire: a follower reads a snapshot of the metadata log in chunks.

use bytes::Bytes;
use kafka_protocol::messages::{self as km, BrokerId, FetchSnapshotRequest, FetchSnapshotResponse};

use super::{
    WireError, cluster, cluster_in, join_error, leader_in, leader_out, metadata_partition,
    split_error, topic,
};
use crate::raft::OffsetAndEpoch;
use crate::raft::messages::{self as rm, ErrorKind};
use crate::types::{Epoch, NodeId, Offset};

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
    let p = metadata_partition(&r.topics, |t| &t.name, |t| &t.partitions, |p| p.partition)?;
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
    use super::*;
    use crate::raft_io::wire::FETCH_SNAPSHOT_VERSION;
    use crate::raft_io::wire::test_support::round_trip;

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
            round_trip(
                &req,
                fetch_snapshot_request_out,
                FETCH_SNAPSHOT_VERSION,
                fetch_snapshot_request_in
            )
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
            round_trip(
                &resp,
                fetch_snapshot_response_out,
                FETCH_SNAPSHOT_VERSION,
                fetch_snapshot_response_in
            ),
            resp
        );
    }
}
