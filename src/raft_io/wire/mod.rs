//! KRaft RPCs on the wire: the raft core's typed messages to and from `kafka_protocol`
//! messages about the single partition `__cluster_metadata-0`. Top-level errors
//! (`INCONSISTENT_CLUSTER_ID`, malformed requests) sit at the top level; everything else in
//! the partition, as Kafka does.
//!
//! One file per RPC; this file holds what they share: the metadata partition, cluster ids,
//! leaders and the placement of errors.

mod begin_quorum_epoch;
mod end_quorum_epoch;
mod fetch;
mod fetch_snapshot;
mod vote;

use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::raft::codec::CodecError;
use crate::raft::messages::{self as rm, ErrorKind};
use crate::types::{Epoch, NodeId};

pub use begin_quorum_epoch::{
    begin_request_in, begin_request_out, begin_response_in, begin_response_out,
};
pub use end_quorum_epoch::{end_request_in, end_request_out, end_response_in, end_response_out};
pub use fetch::{fetch_request_in, fetch_request_out, fetch_response_in, fetch_response_out};
pub use fetch_snapshot::{
    fetch_snapshot_request_in, fetch_snapshot_request_out, fetch_snapshot_response_in,
    fetch_snapshot_response_out,
};
pub use vote::{vote_request_in, vote_request_out, vote_response_in, vote_response_out};

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

/// The partition a request is about: the first partition of its first topic, which must be
/// `__cluster_metadata-0`.
fn metadata_partition<'a, T, P>(
    topics: &'a [T],
    topic_name: impl Fn(&T) -> &TopicName,
    partitions: impl Fn(&'a T) -> &'a [P],
    partition_index: impl Fn(&P) -> i32,
) -> Result<&'a P, WireError> {
    topics
        .first()
        .filter(|t| topic_name(t).0.as_str() == METADATA_TOPIC)
        .and_then(|t| partitions(t).first())
        .filter(|p| partition_index(p) == 0)
        .ok_or(WireError::WrongPartition)
}

/// A BeginQuorumEpoch or EndQuorumEpoch response from its top-level error and its partition's
/// error code, leader id and leader epoch; a response without a partition is an invalid one.
fn quorum_epoch_response_in(
    top_error: i16,
    partition: Option<(i16, BrokerId, i32)>,
) -> rm::QuorumEpochResponse {
    rm::QuorumEpochResponse {
        error: join_error(
            top_error,
            partition.map_or(ErrorKind::InvalidRequest.code(), |p| p.0),
        ),
        leader_id: partition.and_then(|p| leader_in(p.1)),
        leader_epoch: Epoch(partition.map_or(-1, |p| p.2)),
    }
}

#[cfg(test)]
mod test_support {
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Encodes at `version` and decodes again, as a peer would see it.
    pub(super) fn wire<M: Encodable + Decodable>(m: &M, version: i16) -> M {
        let mut b = BytesMut::new();
        m.encode(&mut b, version).unwrap();
        M::decode(&mut b.freeze(), version).unwrap()
    }

    /// Maps `value` out, sends it through the wire at `version` and maps it back in.
    pub(super) fn round_trip<T, M: Encodable + Decodable, R>(
        value: &T,
        out: impl Fn(&T) -> M,
        version: i16,
        back: impl Fn(&M) -> R,
    ) -> R {
        back(&wire(&out(value), version))
    }
}
