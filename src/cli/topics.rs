//! `kraftd topics`: Kafka's `kafka-topics` against a broker — create (CreateTopics), list and
//! describe (Metadata, DescribeConfigs for the topic's own configs and its effective
//! `min.insync.replicas`), delete (DeleteTopics), alter partitions (CreatePartitions) — with
//! Kafka's output format, including the partition reports of `--describe`
//! (`--under-replicated-partitions`, `--under-min-isr-partitions`, `--at-min-isr-partitions`,
//! `--unavailable-partitions`).

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::args::TopicsArgs;
use crate::network::client::{ClientError, KafkaConnection};
use crate::protocol::error_code;
use crate::storage::cluster_id::uuid_to_string;

const CLIENT_ID: &str = "kraftd-topics";

#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot reach any of {0}")]
    Unreachable(String),
    #[error("{0}")]
    Usage(String),
    #[error("Error while executing topic command : {name}: {message}")]
    Kafka { name: String, message: String },
}

fn kafka_error(code: i16, message: Option<&StrBytes>) -> TopicsError {
    TopicsError::Kafka {
        name: error_code::name(code).to_string(),
        message: message.map(|m| m.to_string()).unwrap_or_else(|| {
            ResponseError::try_from_code(code)
                .map(|e| e.to_string())
                .unwrap_or_default()
        }),
    }
}

async fn connect(bootstrap: &str, timeout: Duration) -> Result<KafkaConnection, TopicsError> {
    KafkaConnection::connect_any(bootstrap, CLIENT_ID, timeout)
        .await
        .ok_or_else(|| TopicsError::Unreachable(bootstrap.to_string()))
}

/// Parses `1:2,2:3` into per-partition broker lists.
pub fn parse_assignment(s: &str) -> Result<Vec<Vec<i32>>, TopicsError> {
    s.split(',')
        .map(|p| {
            p.split(':')
                .map(|b| {
                    b.trim().parse::<i32>().map_err(|_| {
                        TopicsError::Usage(format!(
                            "invalid broker id {b:?} in --replica-assignment"
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

fn parse_configs(configs: &[String]) -> Result<Vec<(String, String)>, TopicsError> {
    configs
        .iter()
        .map(|c| {
            c.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| TopicsError::Usage(format!("--config {c}: expected key=value")))
        })
        .collect()
}

/// One partition as `--describe` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// One topic as `--describe` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    pub name: String,
    pub topic_id: String,
    pub partitions: Vec<PartitionView>,
    /// Configs set on the topic itself, `key=value`.
    pub configs: Vec<String>,
    /// The topic's effective `min.insync.replicas` (its own, else the broker's), when known.
    pub min_isr: Option<usize>,
}

/// Which partitions `--describe` shows: all (with the topic line), or one of Kafka's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    All,
    /// ISR smaller than the replica set.
    UnderReplicated,
    /// ISR smaller than the effective min.insync.replicas, or no leader.
    UnderMinIsr,
    /// ISR exactly the effective min.insync.replicas.
    AtMinIsr,
    /// No leader, or a leader that is not a live broker.
    Unavailable,
}

impl Report {
    /// The report the flags ask for; one at most (clap enforces it), and only with
    /// `--describe`.
    pub fn of(args: &TopicsArgs) -> Result<Report, TopicsError> {
        let report = Report::from_args(args);
        if report != Report::All && !args.describe {
            return Err(TopicsError::Usage(
                "--under-replicated-partitions, --under-min-isr-partitions, \
                 --at-min-isr-partitions and --unavailable-partitions need --describe"
                    .into(),
            ));
        }
        Ok(report)
    }

    fn from_args(args: &TopicsArgs) -> Report {
        if args.under_replicated_partitions {
            Report::UnderReplicated
        } else if args.under_min_isr_partitions {
            Report::UnderMinIsr
        } else if args.at_min_isr_partitions {
            Report::AtMinIsr
        } else if args.unavailable_partitions {
            Report::Unavailable
        } else {
            Report::All
        }
    }

    /// Whether partition `p` of `topic` belongs in the report; `live` are the broker ids the
    /// Metadata response lists (registered and unfenced).
    pub fn shows(self, topic: &TopicView, p: &PartitionView, live: &[i32]) -> bool {
        let leaderless = p.leader < 0;
        match self {
            Report::All => true,
            Report::UnderReplicated => p.isr.len() < p.replicas.len(),
            Report::UnderMinIsr => leaderless || topic.min_isr.is_some_and(|m| p.isr.len() < m),
            Report::AtMinIsr => topic.min_isr == Some(p.isr.len()),
            Report::Unavailable => leaderless || !live.contains(&p.leader),
        }
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

impl TopicView {
    pub fn from_metadata(m: &MetadataResponse) -> Vec<TopicView> {
        let mut out: Vec<TopicView> = m
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .map(|t| {
                let mut partitions: Vec<PartitionView> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionView {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                TopicView {
                    name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    topic_id: uuid_to_string(&t.topic_id),
                    partitions,
                    configs: Vec::new(),
                    min_isr: None,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Kafka's `--describe` lines: a topic line, then one line per shown partition.
    pub fn format(&self, filter: impl Fn(&PartitionView) -> bool, with_header: bool) -> String {
        let mut s = String::new();
        if with_header {
            let rf = self.partitions.first().map_or(0, |p| p.replicas.len());
            s.push_str(&format!(
                "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
                self.name,
                self.topic_id,
                self.partitions.len(),
                rf,
                self.configs.join(",")
            ));
        }
        for p in self.partitions.iter().filter(|p| filter(p)) {
            let leader = if p.leader < 0 {
                "none".to_string()
            } else {
                p.leader.to_string()
            };
            s.push_str(&format!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tElr: \tLastKnownElr: \n",
                self.name,
                p.partition,
                leader,
                join(&p.replicas),
                join(&p.isr)
            ));
        }
        s
    }
}

/// Runs the command; returns what to print.
pub async fn run(args: &TopicsArgs) -> Result<String, TopicsError> {
    Report::of(args)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut conn = connect(&args.bootstrap_server, timeout).await?;
    let topic = || {
        args.topic
            .clone()
            .ok_or_else(|| TopicsError::Usage("--topic is required for this action".into()))
    };
    if args.create {
        create(&mut conn, args, &topic()?, timeout).await
    } else if args.delete {
        delete(&mut conn, args, &topic()?, timeout).await
    } else if args.alter {
        alter(&mut conn, args, &topic()?, timeout).await
    } else {
        describe(&mut conn, args, timeout).await
    }
}

/// `--delete`: deletes the topic.
async fn delete(
    conn: &mut KafkaConnection,
    args: &TopicsArgs,
    name: &str,
    timeout: Duration,
) -> Result<String, TopicsError> {
    let req = DeleteTopicsRequest::default()
        .with_timeout_ms(timeout.as_millis() as i32)
        .with_topics(vec![
            DeleteTopicState::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_string())))),
        ]);
    let resp = send_retry(conn, &req, 6, timeout, |r| {
        r.responses.first().map(|t| t.error_code)
    })
    .await?;
    let first = resp.responses.first();
    outcome(
        args,
        first.map(|t| (t.error_code, t.error_message.as_ref())),
        "DeleteTopics",
    )
}

/// `--alter --partitions N`: grows the topic to N partitions.
async fn alter(
    conn: &mut KafkaConnection,
    args: &TopicsArgs,
    name: &str,
    timeout: Duration,
) -> Result<String, TopicsError> {
    let count = args
        .partitions
        .ok_or_else(|| TopicsError::Usage("--alter needs --partitions".into()))?;
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(timeout.as_millis() as i32)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_count(count)
                .with_assignments(None),
        ]);
    let resp = send_retry(conn, &req, 3, timeout, |r| {
        r.results.first().map(|t| t.error_code)
    })
    .await?;
    let first = resp.results.first();
    outcome(
        args,
        first.map(|t| (t.error_code, t.error_message.as_ref())),
        "CreatePartitions",
    )
}

/// The answer to a one-topic request `what`: done, or (with `--if-exists`) nothing to do.
fn outcome(
    args: &TopicsArgs,
    first: Option<(i16, Option<&StrBytes>)>,
    what: &str,
) -> Result<String, TopicsError> {
    match first {
        Some((0, _)) => Ok(String::new()),
        Some((code, _))
            if args.if_exists && code == ResponseError::UnknownTopicOrPartition.code() =>
        {
            Ok(String::new())
        }
        Some((code, message)) => Err(kafka_error(code, message)),
        None => Err(TopicsError::Usage(format!("empty {what} response"))),
    }
}

/// `--describe` and `--list`: the topics (all, or `--topic`) with their partitions and configs.
async fn describe(
    conn: &mut KafkaConnection,
    args: &TopicsArgs,
    timeout: Duration,
) -> Result<String, TopicsError> {
    let topics = args.topic.as_ref().map(|t| {
        vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.clone())))),
        ]
    });
    let req = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(false);
    let resp = conn.send(&req, 12, timeout).await?;
    if let Some(t) = resp.topics.iter().find(|t| t.error_code != 0) {
        if args.if_exists && t.error_code == ResponseError::UnknownTopicOrPartition.code() {
            return Ok(String::new());
        }
        return Err(kafka_error(t.error_code, None));
    }
    let mut views = TopicView::from_metadata(&resp);
    if args.exclude_internal {
        views.retain(|v| !v.name.starts_with("__"));
    }
    if args.list {
        return Ok(views.iter().map(|v| format!("{}\n", v.name)).collect());
    }
    // The topic's own configs (Kafka shows the dynamic topic configs).
    if !views.is_empty() {
        let req = DescribeConfigsRequest::default().with_resources(
            views
                .iter()
                .map(|v| {
                    DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_string(v.name.clone()))
                        .with_configuration_keys(None)
                })
                .collect(),
        );
        if let Ok(resp) = conn.send(&req, 4, timeout).await {
            for r in resp.results {
                if let Some(v) = views
                    .iter_mut()
                    .find(|v| v.name == r.resource_name.as_str())
                {
                    v.configs = r
                        .configs
                        .iter()
                        .filter(|c| c.config_source == 1)
                        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
                        .collect();
                    // The effective value, whatever its source (topic, broker or default).
                    v.min_isr = r
                        .configs
                        .iter()
                        .find(|c| c.name.as_str() == "min.insync.replicas")
                        .and_then(|c| c.value.as_deref()?.trim().parse().ok());
                }
            }
        }
    }
    let report = Report::of(args)?;
    let live: Vec<i32> = resp.brokers.iter().map(|b| b.node_id.0).collect();
    Ok(views
        .iter()
        .map(|v| v.format(|p| report.shows(v, p, &live), report == Report::All))
        .collect())
}

/// Sends `req`, retrying while the answer is NOT_CONTROLLER or another retriable error,
/// until `timeout`.
async fn send_retry<R>(
    conn: &mut KafkaConnection,
    req: &R,
    version: i16,
    timeout: Duration,
    code: impl Fn(&R::Response) -> Option<i16>,
) -> Result<R::Response, TopicsError>
where
    R: kafka_protocol::protocol::Request + kafka_protocol::protocol::Encodable,
{
    let deadline = crate::clock::instant_now() + timeout;
    loop {
        let resp = conn.send(req, version, timeout).await?;
        let retriable = code(&resp)
            .and_then(ResponseError::try_from_code)
            .is_some_and(|e| e.is_retriable() || e == ResponseError::NotController);
        if !retriable || crate::clock::instant_now() >= deadline {
            return Ok(resp);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create(
    conn: &mut KafkaConnection,
    args: &TopicsArgs,
    name: &str,
    timeout: Duration,
) -> Result<String, TopicsError> {
    let mut t = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(args.partitions.unwrap_or(-1))
        .with_replication_factor(args.replication_factor.unwrap_or(-1))
        .with_configs(
            parse_configs(&args.configs)?
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect(),
        );
    if let Some(a) = &args.replica_assignment {
        if args.partitions.is_some() || args.replication_factor.is_some() {
            return Err(TopicsError::Usage(
                "--replica-assignment cannot be used with --partitions or --replication-factor"
                    .into(),
            ));
        }
        t = t.with_assignments(
            parse_assignment(a)?
                .into_iter()
                .enumerate()
                .map(|(i, brokers)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i as i32)
                        .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
                })
                .collect(),
        );
    }
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(timeout.as_millis() as i32)
        .with_topics(vec![t]);
    let resp = send_retry(conn, &req, 7, timeout, |r| {
        r.topics.first().map(|t| t.error_code)
    })
    .await?;
    match resp.topics.first() {
        Some(t) if t.error_code == 0 => Ok(format!("Created topic {name}.\n")),
        Some(t)
            if args.if_not_exists && t.error_code == ResponseError::TopicAlreadyExists.code() =>
        {
            Ok(String::new())
        }
        Some(t) => Err(kafka_error(t.error_code, t.error_message.as_ref())),
        None => Err(TopicsError::Usage("empty CreateTopics response".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse() {
        assert_eq!(
            parse_assignment("1:2,2:3").unwrap(),
            vec![vec![1, 2], vec![2, 3]]
        );
        assert!(parse_assignment("1:x").is_err());
        assert_eq!(
            parse_configs(&["retention.ms=10".into()]).unwrap(),
            vec![("retention.ms".to_string(), "10".to_string())]
        );
        assert!(parse_configs(&["nope".into()]).is_err());
    }

    #[test]
    fn describe_output_matches_kafkas_layout() {
        let v = TopicView {
            name: "orders".into(),
            topic_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            partitions: vec![
                PartitionView {
                    partition: 0,
                    leader: 1,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                },
                PartitionView {
                    partition: 1,
                    leader: -1,
                    replicas: vec![2, 1],
                    isr: vec![2],
                },
            ],
            configs: vec!["retention.ms=10".into()],
            min_isr: Some(2),
        };
        assert_eq!(
            v.format(|_| true, true),
            "Topic: orders\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: retention.ms=10\n\
             \tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\tElr: \tLastKnownElr: \n\
             \tTopic: orders\tPartition: 1\tLeader: none\tReplicas: 2,1\tIsr: 2\tElr: \tLastKnownElr: \n"
        );
        assert_eq!(v.format(|p| p.leader < 0, false).lines().count(), 1);
    }

    fn partition(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionView {
        PartitionView {
            partition,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        }
    }

    /// The reports pick partitions as `kafka-topics` does, against the effective min ISR.
    #[test]
    fn reports_select_partitions_like_kafka_topics() {
        let v = TopicView {
            name: "orders".into(),
            topic_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            partitions: vec![
                partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
                partition(1, 2, &[2, 3, 1], &[2, 3]),
                partition(2, 3, &[3, 1, 2], &[3]),
                partition(3, -1, &[1, 2, 3], &[1]),
                partition(4, 4, &[4, 1, 2], &[4, 1, 2]),
            ],
            configs: Vec::new(),
            min_isr: Some(2),
        };
        let live = [1, 2, 3];
        let shown = |r: Report| -> Vec<i32> {
            v.partitions
                .iter()
                .filter(|p| r.shows(&v, p, &live))
                .map(|p| p.partition)
                .collect()
        };
        assert_eq!(shown(Report::All), vec![0, 1, 2, 3, 4]);
        assert_eq!(shown(Report::UnderReplicated), vec![1, 2, 3]);
        assert_eq!(shown(Report::UnderMinIsr), vec![2, 3]);
        assert_eq!(shown(Report::AtMinIsr), vec![1]);
        // Partition 4's leader (broker 4) is not among the live brokers.
        assert_eq!(shown(Report::Unavailable), vec![3, 4]);
        // Without a known min ISR only leaderless partitions are under it, none at it.
        let unknown = TopicView {
            min_isr: None,
            ..v.clone()
        };
        let under: Vec<i32> = unknown
            .partitions
            .iter()
            .filter(|p| Report::UnderMinIsr.shows(&unknown, p, &live))
            .map(|p| p.partition)
            .collect();
        assert_eq!(under, vec![3]);
        assert!(
            !unknown
                .partitions
                .iter()
                .any(|p| Report::AtMinIsr.shows(&unknown, p, &live))
        );
    }

    #[test]
    fn report_flags_exclude_each_other_and_need_describe() {
        use crate::cli::args::{Cli, Command};
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["kraftd", "topics", "--bootstrap-server", "b:9092"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv)
        };
        let report = |extra: &[&str]| match parse(extra).map(|c| c.command) {
            Ok(Command::Topics(t)) => Report::of(&t).ok(),
            _ => panic!("{extra:?} does not parse"),
        };
        assert_eq!(report(&["--describe"]), Some(Report::All));
        assert_eq!(
            report(&["--describe", "--under-min-isr-partitions"]),
            Some(Report::UnderMinIsr)
        );
        assert_eq!(
            report(&["--describe", "--at-min-isr-partitions"]),
            Some(Report::AtMinIsr)
        );
        assert_eq!(report(&["--list", "--under-min-isr-partitions"]), None);
        assert!(
            parse(&[
                "--describe",
                "--under-replicated-partitions",
                "--under-min-isr-partitions"
            ])
            .is_err()
        );
    }
}
