//! Configuration of the raft core, with the defaults chosen in ADR 0020.

use std::time::Duration;

use crate::types::NodeId;

/// Configuration of one [`crate::raft::RaftCore`].
///
/// Kafka names in brackets; our defaults are shorter than Kafka's (ADR 0020 explains why and
/// what they cost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This node's `node.id`.
    pub node_id: NodeId,
    /// The cluster id (`meta.properties`); requests carrying another one are rejected.
    pub cluster_id: String,
    /// The static voter set (`controller.quorum.voters`). A node not in it is an observer.
    pub voters: Vec<NodeId>,
    /// Where a node without a known leader (an observer) sends its discovery Fetch
    /// (`controller.quorum.bootstrap.servers`). The driver maps these ids to addresses; Kafka
    /// gives bootstrap servers synthetic negative ids (-2, -3, …). Defaults to the voters.
    pub bootstrap_servers: Vec<NodeId>,
    /// Election timeout T (`controller.quorum.election.timeout.ms`), drawn in `[T, 2T)`.
    /// Default 150 ms (Kafka: 1000 ms).
    pub election_timeout: Duration,
    /// Fetch timeout (`controller.quorum.fetch.timeout.ms`): a voter that has had no successful
    /// fetch for this long starts a pre-vote; the leader resigns after 1.5× without fetches from
    /// a majority. Default 300 ms (Kafka: 2000 ms).
    pub fetch_timeout: Duration,
    /// Cap of the election backoff (`controller.quorum.election.backoff.max.ms`). Default 150 ms
    /// (Kafka: 1000 ms).
    pub election_backoff_max: Duration,
    /// Request timeout (`controller.quorum.request.timeout.ms`): an unanswered request is
    /// forgotten after this long and may be resent. Must exceed `fetch_max_wait`. Default 200 ms
    /// (Kafka: 2000 ms).
    pub request_timeout: Duration,
    /// Backoff after an error response (`controller.quorum.retry.backoff.ms`). Default 20 ms.
    pub retry_backoff: Duration,
    /// How long the leader parks a fetch that has nothing new (`MaxWaitMs`). Default 100 ms
    /// (Kafka's constant: 500 ms).
    pub fetch_max_wait: Duration,
    /// `MaxBytes` of a Fetch. Default 8 MiB.
    pub fetch_max_bytes: usize,
    /// `MaxBytes` of a FetchSnapshot. Default 8 MiB.
    pub fetch_snapshot_max_bytes: usize,
    /// TEST ONLY: plants a bug that grants a second binding vote in an epoch, so the simulator
    /// can prove that its invariants catch a double vote. Never set this outside tests.
    #[doc(hidden)]
    pub test_only_grant_second_vote: bool,
}

impl RaftConfig {
    /// A config with the default timeouts.
    pub fn new(node_id: NodeId, cluster_id: impl Into<String>, voters: Vec<NodeId>) -> Self {
        RaftConfig {
            node_id,
            cluster_id: cluster_id.into(),
            bootstrap_servers: voters.clone(),
            voters,
            election_timeout: Duration::from_millis(150),
            fetch_timeout: Duration::from_millis(300),
            election_backoff_max: Duration::from_millis(150),
            request_timeout: Duration::from_millis(200),
            retry_backoff: Duration::from_millis(20),
            fetch_max_wait: Duration::from_millis(100),
            fetch_max_bytes: 8 * 1024 * 1024,
            fetch_snapshot_max_bytes: 8 * 1024 * 1024,
            test_only_grant_second_vote: false,
        }
    }

    /// Whether `id` is a voter.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// The number of votes (or acknowledgements) that form a majority of the voters.
    pub fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Check-quorum timeout: 1.5 × the fetch timeout (Kafka's `CHECK_QUORUM_TIMEOUT_FACTOR`).
    pub fn check_quorum_timeout(&self) -> Duration {
        self.fetch_timeout * 3 / 2
    }

    /// Period of BeginQuorumEpoch resends to voters that have not fetched recently.
    pub fn begin_quorum_epoch_period(&self) -> Duration {
        self.fetch_timeout / 2
    }

    /// Validates the invariants between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        let mut sorted = self.voters.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.voters.len() {
            return Err(ConfigError::DuplicateVoter);
        }
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::NoBootstrapServers);
        }
        if self.request_timeout <= self.fetch_max_wait {
            return Err(ConfigError::RequestTimeoutTooShort);
        }
        if self.fetch_timeout <= self.fetch_max_wait {
            return Err(ConfigError::FetchTimeoutTooShort);
        }
        if self.election_timeout.is_zero() {
            return Err(ConfigError::ZeroElectionTimeout);
        }
        Ok(())
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The voter set is empty.
    #[error("controller.quorum.voters is empty")]
    NoVoters,
    /// Neither voters nor bootstrap servers to discover the leader from.
    #[error("missing kraft bootstrap servers")]
    NoBootstrapServers,
    /// A voter is listed twice.
    #[error("controller.quorum.voters lists a voter twice")]
    DuplicateVoter,
    /// `request_timeout <= fetch_max_wait`: every parked fetch would time out.
    #[error("request timeout must exceed the fetch max wait")]
    RequestTimeoutTooShort,
    /// `fetch_timeout <= fetch_max_wait`: followers would time out on idle leaders.
    #[error("fetch timeout must exceed the fetch max wait")]
    FetchTimeoutTooShort,
    /// A zero election timeout.
    #[error("election timeout must be positive")]
    ZeroElectionTimeout,
}
