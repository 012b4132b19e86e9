//! The typed, validated server configuration, composed from the readers of each group of
//! keys (identity, quorum, listeners, logs, telemetry).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::endpoint::{HostPort, Listener, SecurityProtocol, Voter};
use super::error::ConfigErrors;
use super::keys;
use super::listeners::ListenerSettings;
use super::reader::Reader;
use super::sources::RawConfig;
use crate::types::NodeId;

pub use super::identity::Roles;
pub use super::log_settings::{LogSettings, MetadataSettings};
pub use super::quorum::QuorumSettings;
pub use super::telemetry::LogFormat;

/// The validated configuration of one kraftd process.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub roles: Roles,
    pub node_id: NodeId,
    pub voters: Vec<Voter>,
    pub bootstrap_servers: Vec<HostPort>,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub security_protocols: BTreeMap<String, SecurityProtocol>,
    pub controller_listener_names: Vec<String>,
    pub inter_broker_listener_name: Option<String>,
    pub log_dirs: Vec<PathBuf>,
    pub metadata_log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub min_insync_replicas: i32,
    pub auto_create_topics_enable: bool,
    pub log: LogSettings,
    pub message_max_bytes: u32,
    pub socket_request_max_bytes: u32,
    pub connections: super::ConnectionLimits,
    pub quorum: QuorumSettings,
    pub metadata: MetadataSettings,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Every key set explicitly (file, environment or override), as written: the static
    /// broker configs DescribeConfigs reports.
    pub static_values: BTreeMap<String, String>,
    pub broker_heartbeat_interval: Duration,
    pub broker_session_timeout: Duration,
    pub replication: super::ReplicationSettings,
    /// `kraftd.broker.disconnect.fence.ms` (`None` when 0: disabled).
    pub broker_disconnect_fence: Option<Duration>,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_percentage: u32,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval: Duration,
    /// `max.incremental.fetch.session.cache.slots`.
    pub fetch_session_cache_slots: u32,
    /// The group coordinator's `group.*` and `offsets.*` keys.
    pub groups: super::GroupSettings,
    pub http_listener: SocketAddr,
    pub log_format: LogFormat,
    pub otlp_endpoint: Option<String>,
    pub shutdown_timeout: Duration,
}

/// A validated configuration plus the warnings found on the way (unknown keys, a quorum
/// without fault tolerance, inferred settings).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: ServerConfig,
    pub warnings: Vec<String>,
}

impl ServerConfig {
    /// The listeners used by controllers, in `controller.listener.names` order.
    pub fn controller_listeners(&self) -> Vec<&Listener> {
        self.controller_listener_names
            .iter()
            .filter_map(|n| self.listeners.iter().find(|l| &l.name == n))
            .collect()
    }

    /// The listeners that serve Kafka clients (all but the controller ones).
    pub fn broker_listeners(&self) -> Vec<&Listener> {
        self.listeners
            .iter()
            .filter(|l| !self.controller_listener_names.contains(&l.name))
            .collect()
    }

    /// Every directory that must be formatted: the log dirs plus the metadata dir.
    pub fn all_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.log_dirs.clone();
        if !dirs.contains(&self.metadata_log_dir) {
            dirs.push(self.metadata_log_dir.clone());
        }
        dirs
    }

    /// Validates a merged raw configuration.
    pub fn from_raw(raw: &RawConfig) -> Result<LoadedConfig, ConfigErrors> {
        let mut r = Reader::new(raw);
        let mut warnings = unknown_key_warnings(raw);

        let roles = r.roles();
        let node_id = r.node_id();
        let voters = r.voters();
        let bootstrap_servers = r.bootstrap_servers();
        let ListenerSettings {
            listeners,
            advertised_listeners,
            security_protocols,
            controller_listener_names,
            inter_broker_listener_name,
        } = r.listener_settings(roles, node_id, &voters, &mut warnings);

        let log_dirs = r.log_dirs();
        let metadata_log_dir = r.metadata_log_dir(&log_dirs);
        let log = r.log_settings();
        let quorum = r.quorum_settings();
        let metadata = r.metadata_settings();

        let config = ServerConfig {
            roles: roles.unwrap_or(Roles {
                broker: false,
                controller: false,
            }),
            node_id: node_id.unwrap_or(NodeId::NONE),
            voters,
            bootstrap_servers,
            advertised_listeners,
            listeners,
            security_protocols,
            controller_listener_names,
            inter_broker_listener_name,
            log_dirs,
            metadata_log_dir,
            num_partitions: r.int_in::<i32>("num.partitions", 1, i32::MAX),
            default_replication_factor: r.int_in::<i16>("default.replication.factor", 1, i16::MAX),
            min_insync_replicas: r.int_in::<i32>("min.insync.replicas", 1, i32::MAX),
            auto_create_topics_enable: r.boolean("auto.create.topics.enable"),
            log,
            message_max_bytes: r.int_in::<u32>("message.max.bytes", 0, i32::MAX as u32),
            socket_request_max_bytes: r.int_in::<u32>(
                "socket.request.max.bytes",
                1,
                i32::MAX as u32,
            ),
            connections: super::ConnectionLimits {
                max_total: r.int_in::<u32>("max.connections", 1, i32::MAX as u32),
                max_per_ip: r.int_in::<u32>("max.connections.per.ip", 1, i32::MAX as u32),
                max_idle: r.ms_in("connections.max.idle.ms", 1),
            },
            quorum,
            metadata,
            rack: r.opt_string("broker.rack"),
            static_values: static_values(raw),
            broker_heartbeat_interval: r.ms_in("broker.heartbeat.interval.ms", 1),
            broker_session_timeout: r.ms_in("broker.session.timeout.ms", 1),
            replication: r.replication_settings(),
            broker_disconnect_fence: Some(r.ms_in("kraftd.broker.disconnect.fence.ms", 0))
                .filter(|d| !d.is_zero()),
            auto_leader_rebalance: r.boolean("auto.leader.rebalance.enable"),
            leader_imbalance_percentage: r.int_in::<u32>(
                "leader.imbalance.per.broker.percentage",
                0,
                100,
            ),
            leader_imbalance_check_interval: Duration::from_secs(r.int_in::<u64>(
                "leader.imbalance.check.interval.seconds",
                1,
                i64::MAX as u64 / 1000,
            )),
            fetch_session_cache_slots: r.int_in::<u32>(
                "max.incremental.fetch.session.cache.slots",
                0,
                i32::MAX as u32,
            ),
            groups: r.group_settings(),
            http_listener: r.http_listener(),
            log_format: r.log_format(),
            otlp_endpoint: r.otlp_endpoint(),
            shutdown_timeout: r.ms_in("kraftd.shutdown.timeout.ms", 1),
        };
        r.finish(LoadedConfig { config, warnings })
    }
}

/// A warning for every key that is not a known configuration key.
fn unknown_key_warnings(raw: &RawConfig) -> Vec<String> {
    raw.iter()
        .filter(|(key, _)| keys::spec(key).is_none())
        .map(|(key, v)| {
            format!(
                "unknown configuration key `{key}` (from {}) is ignored",
                v.origin
            )
        })
        .collect()
}

/// Every key set explicitly to a non-empty value, trimmed.
fn static_values(raw: &RawConfig) -> BTreeMap<String, String> {
    raw.iter()
        .filter(|(_, v)| !v.value.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.value.trim().to_string()))
        .collect()
}
