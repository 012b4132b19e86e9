//! The table of every configuration key kraftd reads: name, type, default and meaning.
//!
//! This table is the single source for `docs/configuration.md` (a test renders it and
//! compares) and for the unknown-key warning. Defaults are Kafka's unless the `doc` says why
//! ours differs.

/// The value type of a key, with Kafka's type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Int,
    Long,
    Short,
    Boolean,
    String,
    List,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Int => "int",
            KeyType::Long => "long",
            KeyType::Short => "short",
            KeyType::Boolean => "boolean",
            KeyType::String => "string",
            KeyType::List => "list",
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub ty: KeyType,
    /// The default as written in a properties file; `None` means "unset" (no value).
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    ty: KeyType,
    default: Option<&'static str>,
    doc: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        ty,
        default,
        doc,
    }
}

/// Every key, in the order `docs/configuration.md` lists them.
pub const KEYS: &[KeySpec] = &[
    // --- Roles and quorum membership
    key(
        "process.roles",
        KeyType::List,
        None,
        "Roles of this node: `broker`, `controller` or both (combined mode). Required.",
    ),
    key(
        "node.id",
        KeyType::Int,
        None,
        "Unique id of this node in the cluster (broker and controller share it in combined mode). Required, ≥ 0.",
    ),
    key(
        "controller.quorum.voters",
        KeyType::List,
        None,
        "Static controller quorum: `id@host:port,...`, identical on every node. Required.",
    ),
    key(
        "controller.quorum.bootstrap.servers",
        KeyType::List,
        Some(""),
        "Extra `host:port` controller endpoints used to discover the quorum leader.",
    ),
    // --- Listeners
    key(
        "listeners",
        KeyType::List,
        Some("PLAINTEXT://:9092"),
        "Listeners this node binds: `NAME://host:port,...`; an empty host binds every interface.",
    ),
    key(
        "advertised.listeners",
        KeyType::List,
        None,
        "Listeners published to clients in Metadata; defaults to the non-controller `listeners`, with an empty host replaced by this machine's host name.",
    ),
    key(
        "listener.security.protocol.map",
        KeyType::List,
        Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
        "`NAME:PROTOCOL` pairs; a controller listener missing from the map is PLAINTEXT.",
    ),
    key(
        "controller.listener.names",
        KeyType::List,
        None,
        "Listener names used by controllers. Required for controllers unless it can be inferred from this node's own voter entry (the listener on that port).",
    ),
    key(
        "inter.broker.listener.name",
        KeyType::String,
        None,
        "Listener brokers use to talk to each other; defaults to the PLAINTEXT listener.",
    ),
    // --- Storage
    key(
        "log.dirs",
        KeyType::List,
        None,
        "Directories that hold partition logs; overrides `log.dir`.",
    ),
    key(
        "log.dir",
        KeyType::String,
        Some("/tmp/kafka-logs"),
        "The log directory when `log.dirs` is not set.",
    ),
    key(
        "metadata.log.dir",
        KeyType::String,
        None,
        "Directory of the `__cluster_metadata` log; defaults to the first log directory.",
    ),
    // --- Topic defaults
    key(
        "num.partitions",
        KeyType::Int,
        Some("1"),
        "Default partition count of auto-created topics.",
    ),
    key(
        "default.replication.factor",
        KeyType::Short,
        Some("1"),
        "Default replication factor of auto-created topics.",
    ),
    key(
        "min.insync.replicas",
        KeyType::Int,
        Some("1"),
        "Minimum in-sync replicas for acks=all produce requests.",
    ),
    key(
        "auto.create.topics.enable",
        KeyType::Boolean,
        Some("true"),
        "Create a topic when a client asks Metadata for an unknown one.",
    ),
    // --- Log engine
    key(
        "log.segment.bytes",
        KeyType::Int,
        Some("1073741824"),
        "Maximum size of one log segment file, in bytes.",
    ),
    key(
        "log.roll.ms",
        KeyType::Long,
        None,
        "Roll a segment after this many milliseconds; overrides `log.roll.hours`.",
    ),
    key(
        "log.roll.hours",
        KeyType::Int,
        Some("168"),
        "Roll a segment after this many hours.",
    ),
    key(
        "log.retention.ms",
        KeyType::Long,
        None,
        "Delete segments older than this (milliseconds, -1 = forever); overrides minutes and hours.",
    ),
    key(
        "log.retention.minutes",
        KeyType::Int,
        None,
        "Retention in minutes; overrides `log.retention.hours`.",
    ),
    key(
        "log.retention.hours",
        KeyType::Int,
        Some("168"),
        "Retention in hours.",
    ),
    key(
        "log.retention.bytes",
        KeyType::Long,
        Some("-1"),
        "Delete old segments once a partition exceeds this size (-1 = no limit).",
    ),
    key(
        "log.index.interval.bytes",
        KeyType::Int,
        Some("4096"),
        "Bytes of log between two offset-index entries.",
    ),
    key(
        "log.index.size.max.bytes",
        KeyType::Int,
        Some("10485760"),
        "Preallocated size of an offset or time index file.",
    ),
    key(
        "log.flush.interval.messages",
        KeyType::Long,
        Some("9223372036854775807"),
        "Flush a partition log after this many messages (Kafka relies on replication by default).",
    ),
    key(
        "log.flush.interval.ms",
        KeyType::Long,
        None,
        "Flush a partition log after this many milliseconds (unset: never by time).",
    ),
    key(
        "kraftd.log.flush.before.ack",
        KeyType::Boolean,
        Some("false"),
        "Flush a partition log before acknowledging a produce request: durability for single-replica topics.",
    ),
    key(
        "message.max.bytes",
        KeyType::Int,
        Some("1048588"),
        "Largest record batch a broker accepts, in bytes.",
    ),
    key(
        "socket.request.max.bytes",
        KeyType::Int,
        Some("104857600"),
        "Largest request frame accepted on any listener, in bytes.",
    ),
    key(
        "max.connections",
        KeyType::Int,
        Some("2147483647"),
        "Connections open at once on the broker listeners; at the limit new connections wait to be accepted until one closes.",
    ),
    key(
        "max.connections.per.ip",
        KeyType::Int,
        Some("2147483647"),
        "Connections open at once from one IP address on any listener; one more is closed at once.",
    ),
    key(
        "connections.max.idle.ms",
        KeyType::Long,
        Some("600000"),
        "Close a connection that has sent no request for this long.",
    ),
    // --- KRaft quorum timing
    key(
        "controller.quorum.election.timeout.ms",
        KeyType::Int,
        Some("150"),
        "Election timeout T; a node waits a random time in [T, 2T) before campaigning again. Kafka: 1000; ours is lower for sub-second failover (ADR 0020).",
    ),
    key(
        "controller.quorum.fetch.timeout.ms",
        KeyType::Int,
        Some("300"),
        "A follower that has not fetched from the leader for this long starts a pre-vote; a leader without fetches from a majority for 1.5× this resigns. Kafka: 2000; ours detects a dead leader in a third of a second (ADR 0020).",
    ),
    key(
        "controller.quorum.election.backoff.max.ms",
        KeyType::Int,
        Some("150"),
        "Upper bound of the exponential backoff between failed elections. Kafka: 1000 (ADR 0020).",
    ),
    key(
        "controller.quorum.request.timeout.ms",
        KeyType::Int,
        Some("200"),
        "Timeout of one quorum RPC; must exceed the leader's fetch long-poll. Kafka: 2000 (ADR 0020).",
    ),
    key(
        "controller.quorum.retry.backoff.ms",
        KeyType::Int,
        Some("20"),
        "Delay before retrying a failed quorum RPC.",
    ),
    key(
        "controller.quorum.append.linger.ms",
        KeyType::Int,
        Some("25"),
        "How long the quorum leader waits to batch appends before flushing.",
    ),
    // --- Metadata log and snapshots
    key(
        "metadata.log.segment.bytes",
        KeyType::Int,
        Some("1073741824"),
        "Segment size of the metadata log.",
    ),
    key(
        "metadata.log.segment.ms",
        KeyType::Long,
        Some("604800000"),
        "Roll the metadata log's segment after this many milliseconds.",
    ),
    key(
        "metadata.log.max.record.bytes.between.snapshots",
        KeyType::Long,
        Some("20971520"),
        "Write a metadata snapshot after this many bytes of new records.",
    ),
    key(
        "metadata.log.max.snapshot.interval.ms",
        KeyType::Long,
        Some("3600000"),
        "Write a metadata snapshot at least this often when records arrived (0 disables).",
    ),
    key(
        "metadata.max.retention.bytes",
        KeyType::Long,
        Some("104857600"),
        "Soft size limit of the metadata log and snapshots.",
    ),
    key(
        "metadata.max.retention.ms",
        KeyType::Long,
        Some("604800000"),
        "Age limit of metadata log segments and snapshots.",
    ),
    key(
        "metadata.max.idle.interval.ms",
        KeyType::Int,
        Some("500"),
        "How often an idle active controller writes a NoOpRecord (0 disables).",
    ),
    // --- Broker lifecycle and replication
    key(
        "broker.rack",
        KeyType::String,
        None,
        "Rack (or zone) of this broker; replicas of a partition are spread over racks.",
    ),
    key(
        "broker.heartbeat.interval.ms",
        KeyType::Int,
        Some("2000"),
        "Interval between broker heartbeats to the active controller.",
    ),
    key(
        "broker.session.timeout.ms",
        KeyType::Int,
        Some("9000"),
        "The controller fences a broker that has not heartbeated for this long.",
    ),
    key(
        "kraftd.broker.disconnect.fence.ms",
        KeyType::Long,
        Some("300"),
        "The active controller fences a broker this long after the connection carrying its heartbeats closed (a crashed or killed process), unless it heartbeats again first; 0 disables (only `broker.session.timeout.ms` fences). Not in Kafka; ADR 0012.",
    ),
    key(
        "auto.leader.rebalance.enable",
        KeyType::Boolean,
        Some("true"),
        "The active controller moves leadership back to preferred replicas (the first of each replica list) when a broker's leader imbalance exceeds `leader.imbalance.per.broker.percentage`.",
    ),
    key(
        "leader.imbalance.per.broker.percentage",
        KeyType::Int,
        Some("10"),
        "Percentage of a broker's preferred-leader partitions it may not lead before the controller rebalances them.",
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        KeyType::Long,
        Some("300"),
        "How often the active controller checks the leader imbalance.",
    ),
    key(
        "replica.lag.time.max.ms",
        KeyType::Long,
        Some("30000"),
        "A follower that has not caught up for this long leaves the ISR.",
    ),
    key(
        "num.replica.fetchers",
        KeyType::Int,
        Some("1"),
        "Fetcher connections per source broker; partitions are spread over them by hash.",
    ),
    key(
        "replica.fetch.max.bytes",
        KeyType::Int,
        Some("1048576"),
        "Bytes a follower asks for per partition in one fetch (a larger first batch still comes whole).",
    ),
    key(
        "replica.fetch.response.max.bytes",
        KeyType::Int,
        Some("10485760"),
        "Bytes a follower asks for in one fetch response.",
    ),
    key(
        "replica.fetch.wait.max.ms",
        KeyType::Int,
        Some("500"),
        "How long a leader may hold a follower's fetch while no new data arrives.",
    ),
    key(
        "replica.fetch.min.bytes",
        KeyType::Int,
        Some("1"),
        "Bytes a follower's fetch waits for before the leader answers.",
    ),
    key(
        "replica.fetch.backoff.ms",
        KeyType::Int,
        Some("1000"),
        "Pause of a fetcher after a failed fetch, and of a partition after a partition error.",
    ),
    key(
        "replica.socket.timeout.ms",
        KeyType::Int,
        Some("30000"),
        "A follower's fetch (or its connection attempt) that takes longer fails and is retried.",
    ),
    key(
        "kraftd.replica.lag.per.partition.metrics",
        KeyType::Boolean,
        Some("false"),
        "Export each followed partition's lag (`kafka_replica_partition_lag`, labels topic and partition); off by default, as the series grow with the partition count.",
    ),
    key(
        "replica.high.watermark.checkpoint.interval.ms",
        KeyType::Long,
        Some("5000"),
        "How often each log directory's `replication-offset-checkpoint` (high watermarks) is written.",
    ),
    key(
        "max.incremental.fetch.session.cache.slots",
        KeyType::Int,
        Some("1000"),
        "Incremental fetch sessions (KIP-227) a broker keeps for consumers and followers; 0 answers every fetch without a session.",
    ),
    // --- Consumer groups
    key(
        "offsets.topic.num.partitions",
        KeyType::Int,
        Some("50"),
        "Partitions of `__consumer_offsets`, created on the first FindCoordinator; a group lives on the partition its id hashes to (fixed once the topic exists).",
    ),
    key(
        "offsets.topic.replication.factor",
        KeyType::Short,
        Some("3"),
        "Replication factor of `__consumer_offsets`; creating it fails (clients get COORDINATOR_NOT_AVAILABLE and retry) until this many brokers are registered. `kraftd dev` sets 1.",
    ),
    key(
        "offsets.topic.segment.bytes",
        KeyType::Int,
        Some("104857600"),
        "`segment.bytes` of `__consumer_offsets` (small segments compact and load faster).",
    ),
    key(
        "offsets.retention.minutes",
        KeyType::Int,
        Some("10080"),
        "Committed offsets of a group without members are deleted this long after the later of their commit and the group becoming empty.",
    ),
    key(
        "offsets.retention.check.interval.ms",
        KeyType::Long,
        Some("600000"),
        "How often the coordinator looks for expired offsets.",
    ),
    key(
        "offsets.commit.timeout.ms",
        KeyType::Int,
        Some("5000"),
        "How long an offset commit (or a group's assignment) waits for the in-sync replicas of its `__consumer_offsets` partition before failing with COORDINATOR_NOT_AVAILABLE.",
    ),
    key(
        "offset.metadata.max.bytes",
        KeyType::Int,
        Some("4096"),
        "Largest metadata string an offset commit may carry (OFFSET_METADATA_TOO_LARGE beyond).",
    ),
    key(
        "group.min.session.timeout.ms",
        KeyType::Int,
        Some("6000"),
        "Smallest session timeout a classic group member may ask for.",
    ),
    key(
        "group.max.session.timeout.ms",
        KeyType::Int,
        Some("1800000"),
        "Largest session timeout a classic group member may ask for.",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        KeyType::Int,
        Some("3000"),
        "How long the first rebalance of an empty classic group waits for more members (extended by each joining member, up to the rebalance timeout). `kraftd dev` sets 0.",
    ),
    key(
        "group.max.size",
        KeyType::Int,
        Some("2147483647"),
        "Most members a classic group may have (GROUP_MAX_SIZE_REACHED beyond).",
    ),
    // --- kraftd's own keys
    key(
        "kraftd.group.lag.interval.ms",
        KeyType::Long,
        Some("5000"),
        "How often a group coordinator computes the consumer lag of its groups (`kafka_consumergroup_lag`, `kafka_consumergroup_lag_seconds`); keep it at or below the Prometheus scrape interval.",
    ),
    key(
        "kraftd.group.lag.per.partition.metrics",
        KeyType::Boolean,
        Some("false"),
        "Also export committed offset and lag per group and partition (`kafka_consumergroup_committed_offset`, `kafka_consumergroup_partition_lag`); off by default (one series per group and partition).",
    ),
    key(
        "kraftd.http.listener",
        KeyType::String,
        Some("0.0.0.0:9464"),
        "Address of the observability HTTP server (`/metrics`, `/healthz`, `/readyz`).",
    ),
    key(
        "kraftd.log.format",
        KeyType::String,
        Some("text"),
        "Log output format: `text` or `json`.",
    ),
    key(
        "kraftd.otlp.endpoint",
        KeyType::String,
        None,
        "OpenTelemetry OTLP/HTTP endpoint for traces, e.g. `http://127.0.0.1:4318`; tracing export is off when unset.",
    ),
    key(
        "kraftd.shutdown.timeout.ms",
        KeyType::Long,
        Some("30000"),
        "Upper bound of a graceful shutdown after SIGTERM/SIGINT before the process exits anyway.",
    ),
];

/// Looks up a key by name.
pub fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// Renders the key table as the Markdown table in `docs/configuration.md`.
pub fn render_markdown_table() -> String {
    let mut out = String::from("| Key | Type | Default | Meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let default = match k.default {
            Some("") => "(empty)".to_string(),
            Some(d) => format!("`{d}`"),
            None => "(unset)".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            k.ty.name(),
            default,
            k.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate key in KEYS");
    }

    #[test]
    fn own_keys_carry_the_kraftd_prefix() {
        for k in KEYS {
            if k.name.starts_with("kraftd") {
                assert!(k.name.starts_with("kraftd."), "{}", k.name);
            }
        }
    }
}
