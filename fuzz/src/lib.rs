//! Helpers shared by the fuzz targets: the seed inputs each target starts from (real encodings
//! made by kraftd's and `kafka-protocol`'s own encoders), and the CRC repair that lets the
//! fuzzer reach past the checksum of a record batch.
//!
//! `scripts/fuzz seeds` runs every target with `KRAFTD_FUZZ_WRITE_SEEDS=<dir>`: the target
//! writes its seeds to `<dir>` and exits before fuzzing ([`write_seeds_if_asked`]).

pub mod seeds;

use std::path::Path;

use kafka_protocol::messages::{self as m, ApiKey, RequestKind};
use kraftd::controller::api::controller_routes;
use kraftd::controller::request::ControllerRequest;
use kraftd::network::RouteTable;
use kraftd::protocol::ApiTable;
use kraftd::protocol::request::{self, RequestError, RequestHead};
use kraftd::raft_io::endpoint::RaftEndpoint;

/// The listeners whose request tables the request target reads frames against; an input's
/// first byte picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// A broker's client listener: its own APIs and the ones it forwards to the controller.
    Broker = 0,
    /// A controller listener: KRaft RPCs, controller APIs and Envelope.
    Controller = 1,
    /// A raft-only listener (the KRaft RPCs alone).
    Raft = 2,
}

impl Listener {
    pub const ALL: [Listener; 3] = [Listener::Broker, Listener::Controller, Listener::Raft];

    pub fn from_byte(b: u8) -> Listener {
        Listener::ALL[usize::from(b) % Listener::ALL.len()]
    }

    /// The table the listener advertises in ApiVersions and serves.
    pub fn apis(self) -> ApiTable {
        match self {
            Listener::Broker => {
                kraftd::broker::service::apis(&kraftd::controller::service::forwarded_ranges())
            }
            Listener::Controller => kraftd::controller::service::routes().apis().clone(),
            Listener::Raft => RouteTable::new(kraftd::raft_io::routes::routes::<RaftEndpoint>())
                .apis()
                .clone(),
        }
    }
}

/// The table of what may travel inside an Envelope (what brokers forward).
pub fn envelope_apis() -> ApiTable {
    ApiTable::new(kraftd::controller::service::forwarded_ranges())
}

/// Every request type a listener serves: `decode_request` decodes a body as the server does,
/// `default_request` gives a default-valued request for the seeds.
macro_rules! served_requests {
    ($($key:ident => $ty:ident),* $(,)?) => {
        /// Decodes `head`'s body as the server does: controller APIs through
        /// [`ControllerRequest::decode`], the others with `decode_body` of their type.
        /// Panics on an API that a listener advertises but this list lacks, so a new API
        /// cannot go unfuzzed.
        pub fn decode_request(head: &RequestHead) -> Result<(), RequestError> {
            if controller_routes().iter().any(|r| r.range.key == head.api_key) {
                return ControllerRequest::decode(head).map(drop);
            }
            match head.api_key {
                $( ApiKey::$key => request::decode_body::<m::$ty>(head).map(drop), )*
                other => panic!("{other:?} is served but the request target cannot decode it"),
            }
        }

        /// A default-valued request of `key`, if a listener serves it.
        pub fn default_request(key: ApiKey) -> Option<RequestKind> {
            match key {
                $( ApiKey::$key => Some(RequestKind::$key(m::$ty::default())), )*
                _ => None,
            }
        }
    };
}

served_requests! {
    ApiVersions => ApiVersionsRequest,
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    Metadata => MetadataRequest,
    InitProducerId => InitProducerIdRequest,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
    DeleteRecords => DeleteRecordsRequest,
    DescribeLogDirs => DescribeLogDirsRequest,
    DescribeTopicPartitions => DescribeTopicPartitionsRequest,
    DescribeConfigs => DescribeConfigsRequest,
    DescribeCluster => DescribeClusterRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    SyncGroup => SyncGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    OffsetDelete => OffsetDeleteRequest,
    ListGroups => ListGroupsRequest,
    DescribeGroups => DescribeGroupsRequest,
    DeleteGroups => DeleteGroupsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    AlterConfigs => AlterConfigsRequest,
    CreatePartitions => CreatePartitionsRequest,
    ElectLeaders => ElectLeadersRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    AlterPartition => AlterPartitionRequest,
    BrokerRegistration => BrokerRegistrationRequest,
    BrokerHeartbeat => BrokerHeartbeatRequest,
    UnregisterBroker => UnregisterBrokerRequest,
    AllocateProducerIds => AllocateProducerIdsRequest,
    ControllerRegistration => ControllerRegistrationRequest,
    UpdateFeatures => UpdateFeaturesRequest,
    Vote => VoteRequest,
    BeginQuorumEpoch => BeginQuorumEpochRequest,
    EndQuorumEpoch => EndQuorumEpochRequest,
    FetchSnapshot => FetchSnapshotRequest,
    DescribeQuorum => DescribeQuorumRequest,
    Envelope => EnvelopeRequest,
}

/// Where a RecordBatch v2 keeps its length, CRC and the start of the CRC-covered bytes.
const LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
/// The RecordBatch v2 header size.
pub const BATCH_HEADER: usize = 61;

/// When `KRAFTD_FUZZ_WRITE_SEEDS` names a directory, writes `make()`'s inputs there (one file
/// each, named by content) and exits the process.
pub fn write_seeds_if_asked(make: impl FnOnce() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os("KRAFTD_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create the seed directory");
    let seeds = make();
    for seed in &seeds {
        let name = format!("seed-{:016x}", fnv1a(seed));
        std::fs::write(dir.join(name), seed).expect("write a seed");
    }
    eprintln!("wrote {} seeds to {}", seeds.len(), dir.display());
    std::process::exit(0);
}

/// A stable content hash for seed file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rewrites the CRC-32C of every whole RecordBatch v2 in `buf` (walking batch by batch with
/// their length fields), so that mutated batches still pass the checksum and the fuzzer
/// exercises what the checksum guards. Stops at the first length that does not fit.
pub fn repair_crcs(buf: &mut [u8]) {
    let mut at = 0;
    while buf.len() - at >= BATCH_HEADER {
        let len = i32::from_be_bytes(buf[at + LENGTH_AT..at + LENGTH_AT + 4].try_into().unwrap());
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let end = match (at + 12).checked_add(len) {
            Some(end) if end <= buf.len() && len >= BATCH_HEADER - 12 => end,
            _ => return,
        };
        let crc = crc32c::crc32c(&buf[at + CRC_FROM..end]);
        buf[at + CRC_AT..at + CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

/// Sets the length field of the one batch that is all of `buf` to match `buf`, then its CRC.
pub fn repair_single_batch(buf: &mut [u8]) {
    if buf.len() < BATCH_HEADER {
        return;
    }
    let len = (buf.len() - 12) as i32;
    buf[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
    repair_crcs(buf);
}
