//! `kraftd metadata-quorum describe --status | --replication`: Kafka's
//! `kafka-metadata-quorum` output, from DescribeQuorum (and DescribeCluster for the cluster id),
//! following the leader hint when the first node asked is not the leader.

use std::fmt::Write;
use std::time::Duration;

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::{self, ReplicaState};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, DescribeClusterRequest, DescribeQuorumRequest,
    DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::network::client::{ClientError, KafkaConnection};
use crate::protocol::error_code;

/// The metadata topic the quorum replicates.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
const CLIENT_ID: &str = "kraftd-metadata-quorum";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

#[derive(Debug, thiserror::Error)]
pub enum QuorumCliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{addr} does not serve {api:?}; is it a kraftd or Kafka controller listener?")]
    Unsupported { addr: String, api: ApiKey },
    #[error("DescribeQuorum failed: {0}")]
    Failed(String),
    #[error(
        "no node of {0} knows the quorum leader; is a leader elected? (check each controller's /metrics kafka_raft_state)"
    )]
    NoLeader(String),
}

/// One replica of the metadata partition as the leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub node_id: i32,
    pub log_end_offset: i64,
    /// Milliseconds since the epoch, `-1` when unknown.
    pub last_fetch_timestamp: i64,
    pub last_caught_up_timestamp: i64,
}

/// The quorum as described by its leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    pub cluster_id: String,
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<ReplicaView>,
    pub observers: Vec<ReplicaView>,
}

fn replica(r: &ReplicaState) -> ReplicaView {
    ReplicaView {
        node_id: *r.replica_id,
        log_end_offset: r.log_end_offset,
        last_fetch_timestamp: r.last_fetch_timestamp,
        last_caught_up_timestamp: r.last_caught_up_timestamp,
    }
}

impl QuorumView {
    /// Builds the view from the metadata partition of a DescribeQuorum response.
    pub fn from_partition(cluster_id: String, p: &describe_quorum_response::PartitionData) -> Self {
        QuorumView {
            cluster_id,
            leader_id: *p.leader_id,
            leader_epoch: p.leader_epoch,
            high_watermark: p.high_watermark,
            voters: p.current_voters.iter().map(replica).collect(),
            observers: p.observers.iter().map(replica).collect(),
        }
    }

    fn leader(&self) -> Option<&ReplicaView> {
        self.voters.iter().find(|v| v.node_id == self.leader_id)
    }

    /// Leader log end offset minus the lowest voter log end offset.
    pub fn max_follower_lag(&self) -> i64 {
        let Some(leader) = self.leader() else {
            return 0;
        };
        self.voters
            .iter()
            .map(|v| leader.log_end_offset - v.log_end_offset)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// How far (in ms) the laggiest voter's last catch-up trails the leader's; 0 when the
    /// leader is the laggiest, -1 when unknown — Kafka's definition.
    pub fn max_follower_lag_time_ms(&self) -> i64 {
        let Some(leader) = self.leader() else {
            return -1;
        };
        let Some(laggiest) = self.voters.iter().min_by_key(|v| v.log_end_offset) else {
            return -1;
        };
        if laggiest.node_id == leader.node_id {
            return 0;
        }
        if leader.last_caught_up_timestamp < 0 || laggiest.last_caught_up_timestamp < 0 {
            return -1;
        }
        (leader.last_caught_up_timestamp - laggiest.last_caught_up_timestamp).max(0)
    }

    /// `describe --status`.
    pub fn format_status(&self) -> String {
        let ids = |rs: &[ReplicaView]| {
            format!(
                "[{}]",
                rs.iter()
                    .map(|r| r.node_id.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let mut out = String::new();
        let rows = [
            ("ClusterId", self.cluster_id.clone()),
            ("LeaderId", self.leader_id.to_string()),
            ("LeaderEpoch", self.leader_epoch.to_string()),
            ("HighWatermark", self.high_watermark.to_string()),
            ("MaxFollowerLag", self.max_follower_lag().to_string()),
            (
                "MaxFollowerLagTimeMs",
                self.max_follower_lag_time_ms().to_string(),
            ),
            ("CurrentVoters", ids(&self.voters)),
            ("CurrentObservers", ids(&self.observers)),
        ];
        for (k, v) in rows {
            let _ = writeln!(out, "{:<24}{v}", format!("{k}:"));
        }
        out
    }

    /// `describe --replication`; `now_ms` renders `--human-readable` times as "N ms ago".
    pub fn format_replication(&self, human_readable_now_ms: Option<i64>) -> String {
        let leader_leo = self.leader().map_or(0, |l| l.log_end_offset);
        let time = |t: i64| match (t, human_readable_now_ms) {
            (t, _) if t < 0 => "-1".to_string(),
            (t, Some(now)) => format!("{} ms ago", (now - t).max(0)),
            (t, None) => t.to_string(),
        };
        let mut rows = vec![[
            "NodeId".to_string(),
            "LogEndOffset".into(),
            "Lag".into(),
            "LastFetchTimestamp".into(),
            "LastCaughtUpTimestamp".into(),
            "Status".into(),
        ]];
        let mut voters = self.voters.clone();
        // The leader first, then voters and observers by id (Kafka's order).
        voters.sort_by_key(|v| (v.node_id != self.leader_id, v.node_id));
        let mut observers = self.observers.clone();
        observers.sort_by_key(|o| o.node_id);
        for (r, status) in voters
            .iter()
            .map(|v| {
                let s = if v.node_id == self.leader_id {
                    "Leader"
                } else {
                    "Follower"
                };
                (v, s)
            })
            .chain(observers.iter().map(|o| (o, "Observer")))
        {
            rows.push([
                r.node_id.to_string(),
                r.log_end_offset.to_string(),
                (leader_leo - r.log_end_offset).max(0).to_string(),
                time(r.last_fetch_timestamp),
                time(r.last_caught_up_timestamp),
                status.to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("\t").trim_end());
        }
        out
    }
}

/// Picks the highest version of `api` both sides support, up to `ours`.
async fn negotiate(
    conn: &mut KafkaConnection,
    api: ApiKey,
    ours: i16,
    timeout: Duration,
) -> Result<i16, QuorumCliError> {
    let response = conn
        .send(&ApiVersionsRequest::default(), 0, timeout)
        .await?;
    response
        .api_keys
        .iter()
        .find(|a| a.api_key == api as i16)
        .map(|a| a.max_version.min(ours))
        .ok_or_else(|| QuorumCliError::Unsupported {
            addr: conn.addr().to_string(),
            api,
        })
}

fn describe_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ])
}

/// Where the response says the leader is, when it names one with an endpoint.
fn leader_hint(response: &DescribeQuorumResponse) -> Option<String> {
    let leader = response
        .topics
        .first()?
        .partitions
        .first()
        .map(|p| *p.leader_id)
        .filter(|id| *id >= 0)?;
    let node = response.nodes.iter().find(|n| *n.node_id == leader)?;
    let l = node.listeners.first()?;
    Some(format!("{}:{}", l.host, l.port))
}

/// Asks `bootstrap` (comma-separated `host:port`s) for the quorum, following leader hints.
pub async fn describe(bootstrap: &str, timeout: Duration) -> Result<QuorumView, QuorumCliError> {
    let mut candidates: Vec<String> = bootstrap
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut tried = Vec::new();
    let mut last_error = None;
    while let Some(addr) = candidates.first().cloned() {
        candidates.remove(0);
        if tried.contains(&addr) {
            continue;
        }
        tried.push(addr.clone());
        let mut conn = match KafkaConnection::connect(&addr, CLIENT_ID, timeout).await {
            Ok(c) => c,
            Err(e) => {
                last_error = Some(e.into());
                continue;
            }
        };
        let version = negotiate(&mut conn, ApiKey::DescribeQuorum, 2, timeout).await?;
        let response = conn.send(&describe_request(), version, timeout).await?;
        let partition = response.topics.first().and_then(|t| t.partitions.first());
        let code = partition.map_or(response.error_code, |p| {
            if response.error_code != 0 {
                response.error_code
            } else {
                p.error_code
            }
        });
        if code == NOT_LEADER_OR_FOLLOWER {
            if let Some(hint) = leader_hint(&response) {
                candidates.insert(0, hint);
            }
            continue;
        }
        if code != error_code::NONE {
            return Err(QuorumCliError::Failed(format!(
                "{} from {addr}{}",
                error_code::name(code),
                response
                    .error_message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )));
        }
        let Some(partition) = partition else {
            return Err(QuorumCliError::Failed(format!(
                "{addr} answered without the {METADATA_TOPIC} partition"
            )));
        };
        let cluster_version = negotiate(&mut conn, ApiKey::DescribeCluster, 1, timeout).await?;
        let mut request = DescribeClusterRequest::default();
        if cluster_version >= 1 {
            // KIP-919: ask a controller listener about controllers.
            request = request.with_endpoint_type(2);
        }
        let cluster = conn.send(&request, cluster_version, timeout).await?;
        return Ok(QuorumView::from_partition(
            cluster.cluster_id.to_string(),
            partition,
        ));
    }
    Err(last_error.unwrap_or_else(|| QuorumCliError::NoLeader(bootstrap.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> QuorumView {
        let r = |id, leo, fetch, caught| ReplicaView {
            node_id: id,
            log_end_offset: leo,
            last_fetch_timestamp: fetch,
            last_caught_up_timestamp: caught,
        };
        QuorumView {
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 118,
            voters: vec![
                r(1, 118, 1000, 1000),
                r(2, 120, 1005, 1005),
                r(3, 100, 900, 700),
            ],
            observers: vec![r(101, 118, 990, 990)],
        }
    }

    #[test]
    fn status_matches_kafkas_fields_and_semantics() {
        let out = view().format_status();
        let expected = "\
ClusterId:              MkU3OEVBNTcwNTJENDM2Qk
LeaderId:               2
LeaderEpoch:            7
HighWatermark:          118
MaxFollowerLag:         20
MaxFollowerLagTimeMs:   305
CurrentVoters:          [1,2,3]
CurrentObservers:       [101]
";
        assert_eq!(out, expected);
    }

    #[test]
    fn lag_time_is_zero_when_the_leader_is_laggiest_and_unknown_without_a_leader() {
        let mut v = view();
        v.voters.retain(|r| r.node_id == 2);
        assert_eq!(v.max_follower_lag_time_ms(), 0);
        v.leader_id = 9;
        assert_eq!(v.max_follower_lag_time_ms(), -1);
        assert_eq!(v.max_follower_lag(), 0);
    }

    #[test]
    fn replication_table_lists_leader_followers_then_observers() {
        let out = view().format_replication(None);
        let lines: Vec<_> = out.lines().collect();
        assert!(
            lines[0].starts_with("NodeId") && lines[0].ends_with("Status"),
            "{out}"
        );
        assert!(
            lines[1].starts_with('2') && lines[1].ends_with("Leader"),
            "{out}"
        );
        assert!(
            lines[2].starts_with('1') && lines[2].ends_with("Follower"),
            "{out}"
        );
        assert!(
            lines[3].starts_with('3') && lines[3].contains("20") && lines[3].ends_with("Follower"),
            "{out}"
        );
        assert!(
            lines[4].starts_with("101") && lines[4].ends_with("Observer"),
            "{out}"
        );
        let human = view().format_replication(Some(1010));
        assert!(
            human.contains("5 ms ago") && human.contains("310 ms ago"),
            "{human}"
        );
    }
}
