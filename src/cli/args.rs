//! Command-line arguments of `kraftd` (clap). Kept in the library so that tests can check
//! that every command the runbooks document parses.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kraftd",
    version,
    about = "A Kafka-compatible streaming server with a KRaft metadata quorum"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a server with the roles in `process.roles`.
    Server(ConfigArgs),
    /// Run a single-node broker + controller for development, formatting ./data on first run.
    Dev {
        /// Where logs and metadata live.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Print the effective dev configuration and exit.
        #[arg(long)]
        print_config: bool,
        /// Override a configuration key (repeatable): --override key=value.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Storage formatting: random-uuid, format, info.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Describe the KRaft metadata quorum (as `kafka-metadata-quorum`).
    MetadataQuorum(MetadataQuorumArgs),
    /// Create, list, describe, alter and delete topics (as `kafka-topics`).
    Topics(TopicsArgs),
    /// List, describe, delete consumer groups and reset their offsets (as
    /// `kafka-consumer-groups`).
    ConsumerGroups(ConsumerGroupsArgs),
    /// Inspect the metadata log offline: dump.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Load generator: produce, consume or end-to-end, with latency percentiles.
    #[command(subcommand)]
    Perf(PerfCommand),
}

#[derive(Subcommand, Debug, Clone)]
pub enum PerfCommand {
    /// Produce records and report throughput and acknowledgement latency (as
    /// `kafka-producer-perf-test`).
    Produce(PerfProduceArgs),
    /// Read a topic from its log start and report throughput (as `kafka-consumer-perf-test`).
    Consume(PerfConsumeArgs),
    /// Produce at a paced rate while consuming the same topic; reports acknowledgement and
    /// produce-to-consume latency.
    EndToEnd(PerfProduceArgs),
}

#[derive(Args, Debug, Clone)]
pub struct PerfTarget {
    /// Broker endpoints (host:port,...).
    #[arg(long, required = true)]
    pub bootstrap_server: String,
    /// The topic; created with --partitions when it does not exist.
    #[arg(long, required = true)]
    pub topic: String,
    /// Partitions of the topic when the load generator creates it.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Highest Fetch version to use (default: the highest both sides speak, at most 12), e.g.
    /// 11 for a broker whose flexible Fetch responses do not decode.
    #[arg(long)]
    pub max_fetch_version: Option<i16>,
}

#[derive(Args, Debug, Clone)]
pub struct PerfProduceArgs {
    #[command(flatten)]
    pub target: PerfTarget,
    /// Records to send.
    #[arg(long, default_value_t = 100_000)]
    pub num_records: u64,
    /// Value size of every record in bytes.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Target rate in records per second, open-loop: latency is measured from when each record
    /// was due, so a stalled server cannot hide behind a slowed-down client. -1: as fast as
    /// the server acknowledges.
    #[arg(long, default_value_t = -1.0, allow_hyphen_values = true)]
    pub throughput: f64,
    /// acks: 0, 1 or -1/all.
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Largest record batch in bytes (as librdkafka's batch.size).
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: usize,
    /// Produce requests in flight per broker connection.
    #[arg(long, default_value_t = 5)]
    pub max_in_flight: usize,
    /// Use an idempotent producer (InitProducerId, sequence numbers).
    #[arg(long)]
    pub idempotent: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PerfConsumeArgs {
    #[command(flatten)]
    pub target: PerfTarget,
    /// Records to read before stopping.
    #[arg(long)]
    pub num_records: u64,
    /// Fetch max bytes per partition (max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1_048_576)]
    pub partition_max_bytes: i32,
    /// Fetch max bytes per response (fetch.max.bytes).
    #[arg(long, default_value_t = 52_428_800)]
    pub fetch_max_bytes: i32,
}

#[derive(Subcommand)]
pub enum MetadataCommand {
    /// Print every batch and record of a metadata log directory, `.checkpoint` snapshot or
    /// `.log` segment (read-only; safe next to a running server).
    Dump {
        /// `<metadata.log.dir>/__cluster_metadata-0`, `metadata.log.dir`, a `.checkpoint` or a `.log` file.
        path: PathBuf,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("bootstrap").required(true).args(["bootstrap_server", "bootstrap_controller"])))]
pub struct MetadataQuorumArgs {
    /// Broker endpoints (host:port,...); the request is forwarded to the controllers.
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Controller endpoints (host:port,...), asked directly.
    #[arg(long)]
    pub bootstrap_controller: Option<String>,
    /// Request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub command: MetadataQuorumCommand,
}

#[derive(Subcommand)]
pub enum MetadataQuorumCommand {
    /// Describe the quorum: --status or --replication.
    Describe {
        /// Leader, epoch, high watermark, lag and members.
        #[arg(
            long,
            conflicts_with = "replication",
            required_unless_present = "replication"
        )]
        status: bool,
        /// One row per voter and observer.
        #[arg(long)]
        replication: bool,
        /// Show timestamps as "N ms ago".
        #[arg(long, requires = "replication")]
        human_readable: bool,
    },
}

#[derive(Args)]
pub struct ConfigArgs {
    /// The server.properties file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
    /// Override a configuration key (repeatable): --override key=value.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Print a new random cluster id.
    RandomUuid,
    /// Write meta.properties and the bootstrap checkpoint into every log directory.
    Format {
        /// The cluster id (from `kraftd storage random-uuid`).
        #[arg(short = 't', long = "cluster-id")]
        cluster_id: String,
        /// Skip directories that are already formatted instead of failing.
        #[arg(short = 'g', long)]
        ignore_formatted: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Show the state of every log directory.
    Info {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete", "alter"])))]
#[command(group(clap::ArgGroup::new("report").multiple(false).args([
    "under_replicated_partitions",
    "under_min_isr_partitions",
    "at_min_isr_partitions",
    "unavailable_partitions",
])))]
pub struct TopicsArgs {
    /// Broker endpoints (host:port,...).
    #[arg(long, required = true)]
    pub bootstrap_server: String,
    /// Create a topic.
    #[arg(long)]
    pub create: bool,
    /// List topic names.
    #[arg(long)]
    pub list: bool,
    /// Describe topics and their partitions.
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// Add partitions to a topic (with --partitions).
    #[arg(long)]
    pub alter: bool,
    /// The topic (required for --create, --delete and --alter).
    #[arg(long)]
    pub topic: Option<String>,
    /// Partition count (--create: default `num.partitions`; --alter: the new total).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Replication factor (default `default.replication.factor`).
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// Manual assignment: brokers of partition 0, 1, … as `1:2,2:3`.
    #[arg(long)]
    pub replica_assignment: Option<String>,
    /// A topic config `key=value` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// --create succeeds when the topic exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// --delete/--alter succeed when the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
    /// --describe: only partitions whose ISR is smaller than their replica set.
    #[arg(long)]
    pub under_replicated_partitions: bool,
    /// --describe: only partitions whose ISR is smaller than the topic's effective
    /// min.insync.replicas (acks=all produce fails), and partitions without a leader.
    #[arg(long)]
    pub under_min_isr_partitions: bool,
    /// --describe: only partitions whose ISR is exactly the topic's effective
    /// min.insync.replicas (one more lost replica stops acks=all produce).
    #[arg(long)]
    pub at_min_isr_partitions: bool,
    /// --describe: only partitions without a leader, or whose leader is not a live broker.
    #[arg(long)]
    pub unavailable_partitions: bool,
    /// --list/--describe: leave out internal topics.
    #[arg(long)]
    pub exclude_internal: bool,
    /// Request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

/// Flags of other actions than --describe / --reset-offsets (clap's `requires` would be
/// satisfied by the actions' default `false`).
const NOT_DESCRIBE: [&str; 4] = ["list", "delete", "reset_offsets", "delete_offsets"];
const NOT_RESET: [&str; 4] = ["list", "describe", "delete", "delete_offsets"];

#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["list", "describe", "delete", "reset_offsets", "delete_offsets"])))]
#[command(group(clap::ArgGroup::new("view").multiple(false).args(["members", "offsets", "state"])))]
#[command(group(clap::ArgGroup::new("scenario").multiple(false).args([
    "to_earliest",
    "to_latest",
    "to_offset",
    "to_datetime",
    "shift_by",
])))]
pub struct ConsumerGroupsArgs {
    /// Broker endpoints (host:port,...).
    #[arg(long, required = true)]
    pub bootstrap_server: String,
    /// List every consumer group (with --state: and its state).
    #[arg(long)]
    pub list: bool,
    /// Describe groups: their offsets and lag (default), --members or --state.
    #[arg(long)]
    pub describe: bool,
    /// Delete groups (they must have no members).
    #[arg(long)]
    pub delete: bool,
    /// Reset a group's committed offsets (the group must have no members).
    #[arg(long)]
    pub reset_offsets: bool,
    /// Delete a group's committed offsets of --topic.
    #[arg(long)]
    pub delete_offsets: bool,
    /// The group (repeatable).
    #[arg(long, conflicts_with_all = ["all_groups", "list"])]
    pub group: Vec<String>,
    /// Every group (--describe, --delete, --reset-offsets).
    #[arg(long, conflicts_with = "list")]
    pub all_groups: bool,
    /// --describe: committed offsets, log end offsets and lag per partition (the default).
    #[arg(long, conflicts_with_all = NOT_DESCRIBE)]
    pub offsets: bool,
    /// --describe: the members and how many partitions each has.
    #[arg(long, conflicts_with_all = NOT_DESCRIBE)]
    pub members: bool,
    /// --describe: coordinator, assignment strategy, state and member count. --list: show
    /// the state, only groups in the given states when some are named (`--state Stable,Empty`).
    #[arg(
        long,
        num_args = 0..=1,
        value_delimiter = ',',
        value_name = "STATE,...",
        conflicts_with_all = ["delete", "reset_offsets", "delete_offsets"]
    )]
    pub state: Option<Vec<String>>,
    /// --describe --members: each member's assignment.
    #[arg(long, conflicts_with_all = NOT_DESCRIBE)]
    pub verbose: bool,
    /// --reset-offsets/--delete-offsets: TOPIC or TOPIC:PARTITION,... (repeatable).
    #[arg(long, conflicts_with_all = ["all_topics", "list", "describe", "delete"])]
    pub topic: Vec<String>,
    /// --reset-offsets: every topic the group has committed offsets for.
    #[arg(long, conflicts_with_all = NOT_RESET)]
    pub all_topics: bool,
    /// --reset-offsets: to the log start offset.
    #[arg(long, conflicts_with_all = NOT_RESET)]
    pub to_earliest: bool,
    /// --reset-offsets: to the log end offset.
    #[arg(long, conflicts_with_all = NOT_RESET)]
    pub to_latest: bool,
    /// --reset-offsets: to this offset (clamped to the log's range).
    #[arg(long, conflicts_with_all = NOT_RESET, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// --reset-offsets: to the first offset at or after this time,
    /// YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +hh:mm, -hh:mm; none: the local
    /// time zone).
    #[arg(long, conflicts_with_all = NOT_RESET, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// --reset-offsets: move the committed offsets by N (negative: back).
    #[arg(
        long,
        conflicts_with_all = NOT_RESET,
        allow_hyphen_values = true,
        value_name = "N"
    )]
    pub shift_by: Option<i64>,
    /// --reset-offsets: only print the new offsets (the default).
    #[arg(long, conflicts_with_all = NOT_RESET, conflicts_with = "execute")]
    pub dry_run: bool,
    /// --reset-offsets: commit the new offsets.
    #[arg(long, conflicts_with_all = NOT_RESET)]
    pub execute: bool,
    /// Request timeout in milliseconds.
    #[arg(long, alias = "timeout", default_value_t = 30_000)]
    pub timeout_ms: u64,
}
