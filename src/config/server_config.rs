//! The typed, validated server configuration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::endpoint::{
    HostPort, Listener, SecurityProtocol, Voter, parse_host_port, parse_listener, parse_voter,
};
use super::error::{ConfigError, ConfigErrors};
use super::keys;
use super::sources::RawConfig;
use crate::types::NodeId;

/// Which roles this process runs (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Roles {
    /// The roles as Kafka writes them (`broker`, `controller`, `broker,controller`).
    pub fn label(&self) -> &'static str {
        match (self.broker, self.controller) {
            (true, true) => "broker,controller",
            (true, false) => "broker",
            (false, true) => "controller",
            (false, false) => "",
        }
    }
}

/// Log output format of the process (`kraftd.log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Partition log settings (the `log.*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub segment_bytes: u64,
    pub roll: Duration,
    /// `None` keeps data forever (`-1`).
    pub retention: Option<Duration>,
    /// `None` means no size limit (`-1`).
    pub retention_bytes: Option<u64>,
    pub index_interval_bytes: u64,
    pub index_size_max_bytes: u64,
    pub flush_interval_messages: u64,
    pub flush_interval: Option<Duration>,
    pub flush_before_ack: bool,
}

/// KRaft quorum timing (`controller.quorum.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSettings {
    pub election_timeout: Duration,
    pub fetch_timeout: Duration,
    pub election_backoff_max: Duration,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub append_linger: Duration,
}

/// Metadata log and snapshot settings (`metadata.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSettings {
    pub log_segment_bytes: u64,
    pub log_segment: Duration,
    pub max_record_bytes_between_snapshots: u64,
    /// `None` disables time-based snapshots.
    pub max_snapshot_interval: Option<Duration>,
    pub max_retention_bytes: Option<u64>,
    pub max_retention: Option<Duration>,
    /// `None` disables the idle NoOpRecord.
    pub max_idle_interval: Option<Duration>,
}

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
    pub replica_lag_time_max: Duration,
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
        let mut r = Reader {
            raw,
            errors: Vec::new(),
        };
        let mut warnings = Vec::new();
        for (key, v) in raw {
            if keys::spec(key).is_none() {
                warnings.push(format!(
                    "unknown configuration key `{key}` (from {}) is ignored",
                    v.origin
                ));
            }
        }

        let roles = r.roles();
        let node_id = r.node_id();
        let voters = r.voters();
        let bootstrap_servers = r.list_of("controller.quorum.bootstrap.servers", |s| {
            parse_host_port(s).map_err(|e| (e, "host:port entries".to_string()))
        });
        let listeners = r.list_of("listeners", |s| {
            parse_listener(s).map_err(|e| (e, "NAME://host:port entries".to_string()))
        });
        let security_protocols = r.security_protocol_map();

        let controller_listener_names =
            r.controller_listener_names(roles, node_id, &voters, &listeners, &mut warnings);
        if let (Some(roles), Some(node_id)) = (roles, node_id) {
            r.check_roles(
                roles,
                node_id,
                &voters,
                &listeners,
                &controller_listener_names,
                &mut warnings,
            );
        }
        r.check_listener_protocols(&listeners, &security_protocols, &controller_listener_names);
        let advertised_listeners = r.advertised_listeners(&listeners, &controller_listener_names);
        let inter_broker_listener_name =
            r.inter_broker_listener(roles, &listeners, &controller_listener_names);

        let log_dirs = r.log_dirs();
        let metadata_log_dir = r
            .opt_string("metadata.log.dir")
            .map(PathBuf::from)
            .or_else(|| log_dirs.first().cloned())
            .unwrap_or_else(|| PathBuf::from("/tmp/kafka-logs"));

        let log = LogSettings {
            segment_bytes: r.int_in::<u64>("log.segment.bytes", 14, i32::MAX as u64),
            roll: r
                .retention_like(&["log.roll.ms"], &[("log.roll.hours", 3_600_000)], false)
                .unwrap_or(Duration::from_secs(168 * 3600)),
            retention: r.retention_like(
                &["log.retention.ms"],
                &[
                    ("log.retention.minutes", 60_000),
                    ("log.retention.hours", 3_600_000),
                ],
                true,
            ),
            retention_bytes: r.optional_limit("log.retention.bytes"),
            index_interval_bytes: r.int_in::<u64>("log.index.interval.bytes", 0, i32::MAX as u64),
            index_size_max_bytes: r.int_in::<u64>("log.index.size.max.bytes", 4, i32::MAX as u64),
            flush_interval_messages: r.int_in::<u64>(
                "log.flush.interval.messages",
                1,
                i64::MAX as u64,
            ),
            flush_interval: r.opt_ms("log.flush.interval.ms"),
            flush_before_ack: r.boolean("kraftd.log.flush.before.ack"),
        };
        let quorum = QuorumSettings {
            election_timeout: r.ms_in("controller.quorum.election.timeout.ms", 1),
            fetch_timeout: r.ms_in("controller.quorum.fetch.timeout.ms", 1),
            election_backoff_max: r.ms_in("controller.quorum.election.backoff.max.ms", 0),
            request_timeout: r.ms_in("controller.quorum.request.timeout.ms", 1),
            retry_backoff: r.ms_in("controller.quorum.retry.backoff.ms", 0),
            append_linger: r.ms_in("controller.quorum.append.linger.ms", 0),
        };
        let metadata = MetadataSettings {
            log_segment_bytes: r.int_in::<u64>("metadata.log.segment.bytes", 14, i32::MAX as u64),
            log_segment: r.ms_in("metadata.log.segment.ms", 1),
            max_record_bytes_between_snapshots: r.int_in::<u64>(
                "metadata.log.max.record.bytes.between.snapshots",
                1,
                i64::MAX as u64,
            ),
            max_snapshot_interval: Some(r.ms_in("metadata.log.max.snapshot.interval.ms", 0))
                .filter(|d| !d.is_zero()),
            max_retention_bytes: r.optional_limit("metadata.max.retention.bytes"),
            max_retention: r.signed_ms_or_forever("metadata.max.retention.ms"),
            max_idle_interval: Some(r.ms_in("metadata.max.idle.interval.ms", 0))
                .filter(|d| !d.is_zero()),
        };

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
            static_values: raw
                .iter()
                .filter(|(_, v)| !v.value.trim().is_empty())
                .map(|(k, v)| (k.clone(), v.value.trim().to_string()))
                .collect(),
            broker_heartbeat_interval: r.ms_in("broker.heartbeat.interval.ms", 1),
            broker_session_timeout: r.ms_in("broker.session.timeout.ms", 1),
            replica_lag_time_max: r.ms_in("replica.lag.time.max.ms", 1),
            http_listener: r.http_listener(),
            log_format: r.log_format(),
            otlp_endpoint: r.otlp_endpoint(),
            shutdown_timeout: r.ms_in("kraftd.shutdown.timeout.ms", 1),
        };
        if r.errors.is_empty() {
            Ok(LoadedConfig { config, warnings })
        } else {
            Err(ConfigErrors(r.errors))
        }
    }
}

/// Typed access to the raw map that accumulates errors instead of stopping at the first.
struct Reader<'a> {
    raw: &'a RawConfig,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    /// The explicit value (trimmed), or `None` when the key is unset or empty.
    fn explicit(&self, key: &str) -> Option<(String, String)> {
        self.raw
            .get(key)
            .map(|v| (v.value.trim().to_string(), v.origin.clone()))
            .filter(|(v, _)| !v.is_empty())
    }

    /// The explicit value, else the documented default.
    fn value(&self, key: &str) -> Option<(String, String)> {
        self.explicit(key).or_else(|| {
            keys::spec(key)
                .and_then(|s| s.default)
                .map(|d| (d.to_string(), "default".to_string()))
        })
    }

    fn invalid(&mut self, key: &str, value: &str, origin: &str, reason: &str, allowed: &str) {
        self.errors.push(ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            origin: origin.to_string(),
            reason: reason.to_string(),
            allowed: allowed.to_string(),
        });
    }

    fn int_in<T>(&mut self, key: &str, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let (value, origin) = self.value(key).expect("numeric keys have defaults");
        match value.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            Ok(_) => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "out of range",
                    &format!("allowed: an integer in [{min}, {max}]"),
                );
                min
            }
            Err(_) => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "not an integer",
                    &format!("allowed: an integer in [{min}, {max}]"),
                );
                min
            }
        }
    }

    fn ms_in(&mut self, key: &str, min: u64) -> Duration {
        Duration::from_millis(self.int_in::<u64>(key, min, i64::MAX as u64))
    }

    fn opt_ms(&mut self, key: &str) -> Option<Duration> {
        self.explicit(key)?;
        Some(self.ms_in(key, 0))
    }

    fn parse_signed(&mut self, key: &str, value: &str, origin: &str) -> Option<i64> {
        match value.parse::<i64>() {
            Ok(n) if n >= -1 => Some(n),
            _ => {
                self.invalid(
                    key,
                    value,
                    origin,
                    "not a valid number",
                    "allowed: -1 (no limit) or an integer ≥ 0",
                );
                None
            }
        }
    }

    /// A `-1 = unlimited` byte limit.
    fn optional_limit(&mut self, key: &str) -> Option<u64> {
        let (value, origin) = self.value(key)?;
        match self.parse_signed(key, &value, &origin) {
            Some(-1) | None => None,
            Some(n) => Some(n as u64),
        }
    }

    fn signed_ms_or_forever(&mut self, key: &str) -> Option<Duration> {
        let (value, origin) = self.value(key)?;
        match self.parse_signed(key, &value, &origin) {
            Some(-1) | None => None,
            Some(n) => Some(Duration::from_millis(n as u64)),
        }
    }

    /// Kafka's precedence for `*.ms` over coarser units; `-1` (when allowed) means forever.
    fn retention_like(
        &mut self,
        ms_keys: &[&str],
        coarser: &[(&str, u64)],
        allow_forever: bool,
    ) -> Option<Duration> {
        let mut candidates: Vec<(&str, u64)> = ms_keys.iter().map(|k| (*k, 1)).collect();
        candidates.extend_from_slice(coarser);
        // Explicit values in precedence order, then the default of the coarsest key.
        let chosen = candidates
            .iter()
            .find_map(|(k, unit)| self.explicit(k).map(|v| (*k, *unit, v)))
            .or_else(|| {
                candidates
                    .iter()
                    .find_map(|(k, unit)| self.value(k).map(|v| (*k, *unit, v)))
            });
        let (key, unit, (value, origin)) = chosen?;
        let allowed = if allow_forever {
            "allowed: -1 (forever) or an integer ≥ 0"
        } else {
            "allowed: an integer ≥ 1"
        };
        match value.parse::<i64>() {
            Ok(-1) if allow_forever => None,
            Ok(n) if n >= 1 || (allow_forever && n == 0) => {
                Some(Duration::from_millis((n as u64).saturating_mul(unit)))
            }
            _ => {
                self.invalid(key, &value, &origin, "not a valid duration", allowed);
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        let (value, origin) = self.value(key).expect("boolean keys have defaults");
        match value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.invalid(
                    key,
                    &value,
                    &origin,
                    "not a boolean",
                    "allowed: true or false",
                );
                false
            }
        }
    }

    fn opt_string(&self, key: &str) -> Option<String> {
        self.explicit(key).map(|(v, _)| v)
    }

    /// Parses a comma-separated list; empty items are skipped.
    fn list_of<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, (String, String)>,
    ) -> Vec<T> {
        let Some((value, origin)) = self.value(key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match parse(item) {
                Ok(v) => out.push(v),
                Err((reason, allowed)) => self.invalid(
                    key,
                    item,
                    &origin,
                    &reason,
                    &format!("allowed: a comma-separated list of {allowed}"),
                ),
            }
        }
        out
    }

    fn roles(&mut self) -> Option<Roles> {
        let Some((value, origin)) = self.explicit("process.roles") else {
            self.errors.push(ConfigError::Missing {
                key: "process.roles",
                hint: "add `process.roles=broker,controller` (combined), `process.roles=broker` or `process.roles=controller`".into(),
            });
            return None;
        };
        let mut roles = Roles {
            broker: false,
            controller: false,
        };
        for item in value.split(',').map(str::trim) {
            let slot = match item {
                "broker" => &mut roles.broker,
                "controller" => &mut roles.controller,
                _ => {
                    self.invalid(
                        "process.roles",
                        &value,
                        &origin,
                        &format!("unknown role {item:?}"),
                        "allowed: broker, controller or broker,controller",
                    );
                    return None;
                }
            };
            if *slot {
                self.invalid(
                    "process.roles",
                    &value,
                    &origin,
                    &format!("role {item:?} is listed twice"),
                    "allowed: broker, controller or broker,controller",
                );
                return None;
            }
            *slot = true;
        }
        Some(roles)
    }

    fn node_id(&mut self) -> Option<NodeId> {
        let Some((value, origin)) = self.explicit("node.id") else {
            self.errors.push(ConfigError::Missing {
                key: "node.id",
                hint: "add `node.id=<n>` with a number that is unique in the cluster (for a controller, its id in controller.quorum.voters)".into(),
            });
            return None;
        };
        match value.parse::<i32>() {
            Ok(n) if n >= 0 => Some(NodeId(n)),
            _ => {
                self.invalid(
                    "node.id",
                    &value,
                    &origin,
                    "not a valid node id",
                    "allowed: an integer in [0, 2147483647]",
                );
                None
            }
        }
    }

    fn voters(&mut self) -> Vec<Voter> {
        let Some((value, origin)) = self.explicit("controller.quorum.voters") else {
            self.errors.push(ConfigError::Missing {
                key: "controller.quorum.voters",
                hint: "add `controller.quorum.voters=<id>@<host>:<port>,...` listing every controller, identical on every node (e.g. `controller.quorum.voters=1@localhost:9093`)".into(),
            });
            return Vec::new();
        };
        let voters = self.list_of("controller.quorum.voters", |s| {
            parse_voter(s).map_err(|e| (e, "id@host:port entries".to_string()))
        });
        let mut seen = BTreeMap::new();
        for v in &voters {
            if let Some(prev) = seen.insert(v.id, v) {
                self.invalid(
                    "controller.quorum.voters",
                    &value,
                    &origin,
                    &format!("voter id {} appears twice ({prev} and {v})", v.id),
                    "allowed: each voter id once",
                );
            }
        }
        voters
    }

    fn security_protocol_map(&mut self) -> BTreeMap<String, SecurityProtocol> {
        let entries = self.list_of("listener.security.protocol.map", |s| {
            let bad = || (format!("{s:?} is not NAME:PROTOCOL"), "NAME:PROTOCOL pairs with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL".to_string());
            let (name, proto) = s.split_once(':').ok_or_else(bad)?;
            let proto = SecurityProtocol::parse(proto.trim()).ok_or_else(bad)?;
            Ok((name.trim().to_ascii_uppercase(), proto))
        });
        entries.into_iter().collect()
    }

    fn controller_listener_names(
        &mut self,
        roles: Option<Roles>,
        node_id: Option<NodeId>,
        voters: &[Voter],
        listeners: &[Listener],
        warnings: &mut Vec<String>,
    ) -> Vec<String> {
        if self.explicit("controller.listener.names").is_some() {
            return self.list_of("controller.listener.names", |s| Ok(s.to_ascii_uppercase()));
        }
        let is_controller = roles.is_some_and(|r| r.controller);
        // A controller's own voter entry names its controller port: the listener on that port
        // is the controller listener. Infer it when exactly one listener matches.
        if is_controller && let Some(me) = node_id.and_then(|id| voters.iter().find(|v| v.id == id))
        {
            let matching: Vec<_> = listeners
                .iter()
                .filter(|l| l.address.port == me.address.port)
                .collect();
            if let [only] = matching.as_slice() {
                warnings.push(format!(
                    "controller.listener.names is not set; using {} because it is the listener on port {} of this node's voter entry {me}. Add `controller.listener.names={}` to make this explicit",
                    only.name, me.address.port, only.name
                ));
                return vec![only.name.clone()];
            }
        }
        if roles.is_some() {
            let suggestion = listeners
                .iter()
                .find(|l| l.name.contains("CONTROLLER"))
                .map(|l| l.name.clone())
                .unwrap_or_else(|| "CONTROLLER".to_string());
            self.errors.push(ConfigError::Missing {
                key: "controller.listener.names",
                hint: format!(
                    "add the line `controller.listener.names={suggestion}` (the listener controllers use; for a controller it must also be in `listeners`, e.g. `{suggestion}://:9093`)"
                ),
            });
        }
        Vec::new()
    }

    fn check_roles(
        &mut self,
        roles: Roles,
        node_id: NodeId,
        voters: &[Voter],
        listeners: &[Listener],
        controller_names: &[String],
        warnings: &mut Vec<String>,
    ) {
        let (voters_value, voters_origin) = self
            .explicit("controller.quorum.voters")
            .unwrap_or_default();
        let (listeners_value, listeners_origin) = self.value("listeners").unwrap_or_default();
        if roles.controller {
            if !voters.is_empty() && !voters.iter().any(|v| v.id == node_id) {
                self.invalid(
                    "controller.quorum.voters",
                    &voters_value,
                    &voters_origin,
                    &format!("this node runs the controller role with node.id={node_id}, which is not a voter"),
                    &format!("add `{node_id}@<host>:<port>` to controller.quorum.voters on every node, or remove `controller` from process.roles"),
                );
            }
            for name in controller_names {
                if !listeners.iter().any(|l| &l.name == name) {
                    self.invalid(
                        "listeners",
                        &listeners_value,
                        &listeners_origin,
                        &format!("controller listener {name} (controller.listener.names) is not among the listeners"),
                        &format!("add `{name}://:<port>` to listeners"),
                    );
                }
            }
            if voters.len() == 2 {
                warnings.push("controller.quorum.voters has 2 voters: a majority is 2, so the quorum tolerates no failure (use 3 or 5 voters)".to_string());
            } else if voters.len().is_multiple_of(2) && !voters.is_empty() {
                warnings.push(format!(
                    "controller.quorum.voters has {} voters: an even count tolerates no more failures than {} voters",
                    voters.len(),
                    voters.len() - 1
                ));
            }
        } else {
            for l in listeners {
                if controller_names.contains(&l.name) {
                    self.invalid(
                        "listeners",
                        &listeners_value,
                        &listeners_origin,
                        &format!("this node has process.roles=broker but lists the controller listener {l}"),
                        "remove the controller listener from listeners on broker-only nodes (brokers only connect to controllers)",
                    );
                }
            }
        }
        if roles.broker
            && !listeners
                .iter()
                .any(|l| !controller_names.contains(&l.name))
        {
            self.invalid(
                "listeners",
                &listeners_value,
                &listeners_origin,
                "a broker needs at least one listener that is not a controller listener",
                "add a client listener such as `PLAINTEXT://:9092`",
            );
        }
    }

    fn check_listener_protocols(
        &mut self,
        listeners: &[Listener],
        map: &BTreeMap<String, SecurityProtocol>,
        controller_names: &[String],
    ) {
        let (listeners_value, listeners_origin) = self.value("listeners").unwrap_or_default();
        let mut names = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for l in listeners {
            if names.insert(l.name.clone(), ()).is_some() {
                self.invalid(
                    "listeners",
                    &listeners_value,
                    &listeners_origin,
                    &format!("listener name {} is used twice", l.name),
                    "allowed: each listener name once",
                );
            }
            if let Some(other) = ports.insert(l.address.port, l.name.clone()) {
                self.invalid(
                    "listeners",
                    &listeners_value,
                    &listeners_origin,
                    &format!(
                        "listeners {other} and {} share port {}",
                        l.name, l.address.port
                    ),
                    "allowed: one listener per port",
                );
            }
            let protocol = match map.get(&l.name) {
                Some(p) => *p,
                None if controller_names.contains(&l.name) => SecurityProtocol::Plaintext,
                None => {
                    self.invalid(
                        "listener.security.protocol.map",
                        &self
                            .value("listener.security.protocol.map")
                            .unwrap_or_default()
                            .0,
                        &self
                            .value("listener.security.protocol.map")
                            .unwrap_or_default()
                            .1,
                        &format!("listener {} has no security protocol", l.name),
                        &format!(
                            "add `{}:PLAINTEXT` to listener.security.protocol.map",
                            l.name
                        ),
                    );
                    continue;
                }
            };
            if protocol != SecurityProtocol::Plaintext {
                self.invalid(
                    "listener.security.protocol.map",
                    &format!("{}:{}", l.name, protocol.name()),
                    &self
                        .value("listener.security.protocol.map")
                        .unwrap_or_default()
                        .1,
                    &format!(
                        "listener {} uses {}, which kraftd does not serve yet",
                        l.name,
                        protocol.name()
                    ),
                    "allowed today: PLAINTEXT",
                );
            }
        }
    }

    fn advertised_listeners(
        &mut self,
        listeners: &[Listener],
        controller_names: &[String],
    ) -> Vec<Listener> {
        if self.explicit("advertised.listeners").is_some() {
            let advertised = self.list_of("advertised.listeners", |s| {
                parse_listener(s).map_err(|e| (e, "NAME://host:port entries".to_string()))
            });
            let (value, origin) = self.explicit("advertised.listeners").unwrap_or_default();
            for a in &advertised {
                if controller_names.contains(&a.name) {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!(
                            "controller listener {} must not be advertised to clients",
                            a.name
                        ),
                        "list only client listeners",
                    );
                } else if !listeners.iter().any(|l| l.name == a.name) {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!("{} is not among the listeners", a.name),
                        "advertise only listeners this node binds",
                    );
                }
                if a.address.host.is_empty() {
                    self.invalid(
                        "advertised.listeners",
                        &value,
                        &origin,
                        &format!("{a} has no host"),
                        "advertise a host name or address clients can reach",
                    );
                }
            }
            return advertised;
        }
        let host = local_host_name();
        listeners
            .iter()
            .filter(|l| !controller_names.contains(&l.name))
            .map(|l| {
                let mut l = l.clone();
                if l.address.host.is_empty()
                    || l.address.host == "0.0.0.0"
                    || l.address.host == "::"
                {
                    l.address.host = host.clone();
                }
                l
            })
            .collect()
    }

    fn inter_broker_listener(
        &mut self,
        roles: Option<Roles>,
        listeners: &[Listener],
        controller_names: &[String],
    ) -> Option<String> {
        if let Some((value, origin)) = self.explicit("inter.broker.listener.name") {
            let name = value.to_ascii_uppercase();
            if controller_names.contains(&name) {
                self.invalid(
                    "inter.broker.listener.name",
                    &value,
                    &origin,
                    "it names a controller listener",
                    "name a client listener from listeners",
                );
            } else if roles.is_some_and(|r| r.broker) && !listeners.iter().any(|l| l.name == name) {
                self.invalid(
                    "inter.broker.listener.name",
                    &value,
                    &origin,
                    "it is not among the listeners",
                    "name a listener from listeners",
                );
            }
            return Some(name);
        }
        listeners
            .iter()
            .find(|l| l.name == "PLAINTEXT" && !controller_names.contains(&l.name))
            .or_else(|| {
                listeners
                    .iter()
                    .find(|l| !controller_names.contains(&l.name))
            })
            .map(|l| l.name.clone())
    }

    fn log_dirs(&mut self) -> Vec<PathBuf> {
        let dirs = self.list_of("log.dirs", |s| Ok(PathBuf::from(s)));
        if !dirs.is_empty() {
            return dirs;
        }
        let (dir, _) = self.value("log.dir").unwrap_or_default();
        vec![PathBuf::from(dir)]
    }

    fn http_listener(&mut self) -> SocketAddr {
        let (value, origin) = self.value("kraftd.http.listener").unwrap_or_default();
        value.parse().unwrap_or_else(|_| {
            self.invalid(
                "kraftd.http.listener",
                &value,
                &origin,
                "not an IP:port socket address",
                "allowed: e.g. 0.0.0.0:9464 or 127.0.0.1:9464",
            );
            SocketAddr::from(([0, 0, 0, 0], 9464))
        })
    }

    fn log_format(&mut self) -> LogFormat {
        let (value, origin) = self.value("kraftd.log.format").unwrap_or_default();
        match value.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                self.invalid(
                    "kraftd.log.format",
                    &value,
                    &origin,
                    "unknown format",
                    "allowed: text or json",
                );
                LogFormat::Text
            }
        }
    }

    fn otlp_endpoint(&mut self) -> Option<String> {
        let (value, origin) = self.explicit("kraftd.otlp.endpoint")?;
        if value.starts_with("http://") || value.starts_with("https://") {
            Some(value)
        } else {
            self.invalid(
                "kraftd.otlp.endpoint",
                &value,
                &origin,
                "not an http(s) URL",
                "allowed: e.g. http://127.0.0.1:4318",
            );
            None
        }
    }
}

/// This machine's host name (what Kafka advertises for a listener without a host).
fn local_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).trim().to_string()
    } else {
        String::new()
    };
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}
