//! What the controller's pure request functions share with the controller task: the
//! settings they read, the context they see and the result they return.

use std::time::Duration;

use crate::metadata::image::MetadataImage;
use crate::metadata::records::ApiMessageAndVersion;

/// Settings the controller's decisions depend on.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    pub node_id: i32,
    pub cluster_id: String,
    /// `metadata.version` written into an empty log (from `bootstrap.checkpoint`).
    pub bootstrap_metadata_version: i16,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    /// `min.insync.replicas` of this controller's configuration: the default of topics that
    /// set none (when no cluster-wide default is configured dynamically).
    pub min_insync_replicas: i32,
    pub session_timeout: Duration,
    /// `kraftd.broker.disconnect.fence.ms`: how long after a broker's heartbeat connection
    /// closes it is fenced unless it heartbeats again (`None`: only the session timeout fences).
    pub disconnect_fence_grace: Option<Duration>,
    /// `metadata.max.idle.interval.ms` (`None`: no NoOpRecords).
    pub max_idle_interval: Option<Duration>,
    /// Automatic preferred-leader rebalance (`None`: `auto.leader.rebalance.enable=false`).
    pub leader_rebalance: Option<LeaderRebalance>,
}

/// `leader.imbalance.check.interval.seconds` and `leader.imbalance.per.broker.percentage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderRebalance {
    pub check_interval: Duration,
    /// A broker's partitions are rebalanced when more than this percentage of those it is the
    /// preferred leader of are led by another broker.
    pub imbalance_percentage: u32,
}

/// What a pure controller function returns: the records to write and the answer to give once
/// they are committed.
#[derive(Debug)]
pub struct ControllerResult<R> {
    pub records: Vec<ApiMessageAndVersion>,
    pub response: R,
}

impl<R> ControllerResult<R> {
    pub fn new(records: Vec<ApiMessageAndVersion>, response: R) -> Self {
        ControllerResult { records, response }
    }

    /// An answer that writes nothing.
    pub fn answer(response: R) -> Self {
        ControllerResult {
            records: Vec::new(),
            response,
        }
    }
}

/// What a controller function sees.
pub struct Context<'a> {
    /// The pending image (committed plus this controller's uncommitted records).
    pub image: &'a MetadataImage,
    /// The offset the next record will get (a broker epoch is the offset of its registration).
    pub next_offset: i64,
    pub settings: &'a ControllerSettings,
    /// Milliseconds on the controller's monotonic clock.
    pub now_ms: u64,
}

impl<R> ControllerResult<R> {
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> ControllerResult<S> {
        ControllerResult {
            records: self.records,
            response: f(self.response),
        }
    }
}
