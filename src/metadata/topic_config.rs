//! The topic-level configs kraftd accepts (Kafka's `TopicConfig`/`LogConfig` names), their
//! types, the broker setting that provides the default, and value validation. Used by
//! CreateTopics, the config APIs and DescribeConfigs.

/// The type of a config value, for validation and DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    Int,
    Long,
    Double,
    String,
    List,
}

impl ConfigType {
    /// Kafka's `ConfigType` id in DescribeConfigs v3+ (BOOLEAN=1, STRING=2, INT=3, SHORT=4,
    /// LONG=5, DOUBLE=6, LIST=7, CLASS=8, PASSWORD=9).
    pub fn wire_id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default when neither the topic nor the broker sets it.
    pub default: &'static str,
    /// The broker config that provides the default, if any.
    pub broker_key: Option<&'static str>,
    /// Allowed values (for enumerated strings and list items).
    pub allowed: &'static [&'static str],
    /// Smallest allowed value for numbers.
    pub min: Option<f64>,
}

const fn k(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    broker_key: Option<&'static str>,
) -> TopicConfigKey {
    TopicConfigKey {
        name,
        kind,
        default,
        broker_key,
        allowed: &[],
        min: None,
    }
}

const fn min(mut key: TopicConfigKey, m: f64) -> TopicConfigKey {
    key.min = Some(m);
    key
}

const fn one_of(mut key: TopicConfigKey, allowed: &'static [&'static str]) -> TopicConfigKey {
    key.allowed = allowed;
    key
}

use ConfigType as T;

/// Every topic config, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    one_of(
        k(
            "cleanup.policy",
            T::List,
            "delete",
            Some("log.cleanup.policy"),
        ),
        &["delete", "compact"],
    ),
    one_of(
        k(
            "compression.type",
            T::String,
            "producer",
            Some("compression.type"),
        ),
        &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
    ),
    min(
        k(
            "delete.retention.ms",
            T::Long,
            "86400000",
            Some("log.cleaner.delete.retention.ms"),
        ),
        0.0,
    ),
    min(
        k(
            "file.delete.delay.ms",
            T::Long,
            "60000",
            Some("log.segment.delete.delay.ms"),
        ),
        0.0,
    ),
    min(
        k(
            "flush.messages",
            T::Long,
            "9223372036854775807",
            Some("log.flush.interval.messages"),
        ),
        1.0,
    ),
    min(
        k(
            "flush.ms",
            T::Long,
            "9223372036854775807",
            Some("log.flush.interval.ms"),
        ),
        0.0,
    ),
    k("follower.replication.throttled.replicas", T::List, "", None),
    min(
        k(
            "index.interval.bytes",
            T::Int,
            "4096",
            Some("log.index.interval.bytes"),
        ),
        0.0,
    ),
    k("leader.replication.throttled.replicas", T::List, "", None),
    min(
        k(
            "local.retention.bytes",
            T::Long,
            "-2",
            Some("log.local.retention.bytes"),
        ),
        -2.0,
    ),
    min(
        k(
            "local.retention.ms",
            T::Long,
            "-2",
            Some("log.local.retention.ms"),
        ),
        -2.0,
    ),
    min(
        k(
            "max.compaction.lag.ms",
            T::Long,
            "9223372036854775807",
            Some("log.cleaner.max.compaction.lag.ms"),
        ),
        1.0,
    ),
    min(
        k(
            "max.message.bytes",
            T::Int,
            "1048588",
            Some("message.max.bytes"),
        ),
        0.0,
    ),
    min(
        k(
            "message.timestamp.after.max.ms",
            T::Long,
            "9223372036854775807",
            Some("log.message.timestamp.after.max.ms"),
        ),
        0.0,
    ),
    min(
        k(
            "message.timestamp.before.max.ms",
            T::Long,
            "9223372036854775807",
            Some("log.message.timestamp.before.max.ms"),
        ),
        0.0,
    ),
    one_of(
        k(
            "message.timestamp.type",
            T::String,
            "CreateTime",
            Some("log.message.timestamp.type"),
        ),
        &["CreateTime", "LogAppendTime"],
    ),
    min(
        k(
            "min.cleanable.dirty.ratio",
            T::Double,
            "0.5",
            Some("log.cleaner.min.cleanable.ratio"),
        ),
        0.0,
    ),
    min(
        k(
            "min.compaction.lag.ms",
            T::Long,
            "0",
            Some("log.cleaner.min.compaction.lag.ms"),
        ),
        0.0,
    ),
    min(
        k(
            "min.insync.replicas",
            T::Int,
            "1",
            Some("min.insync.replicas"),
        ),
        1.0,
    ),
    k("preallocate", T::Boolean, "false", Some("log.preallocate")),
    k("remote.storage.enable", T::Boolean, "false", None),
    min(
        k(
            "retention.bytes",
            T::Long,
            "-1",
            Some("log.retention.bytes"),
        ),
        -1.0,
    ),
    min(
        k(
            "retention.ms",
            T::Long,
            "604800000",
            Some("log.retention.ms"),
        ),
        -1.0,
    ),
    min(
        k(
            "segment.bytes",
            T::Int,
            "1073741824",
            Some("log.segment.bytes"),
        ),
        14.0,
    ),
    min(
        k(
            "segment.index.bytes",
            T::Int,
            "10485760",
            Some("log.index.size.max.bytes"),
        ),
        4.0,
    ),
    min(
        k(
            "segment.jitter.ms",
            T::Long,
            "0",
            Some("log.roll.jitter.ms"),
        ),
        0.0,
    ),
    min(
        k("segment.ms", T::Long, "604800000", Some("log.roll.ms")),
        1.0,
    ),
    k(
        "unclean.leader.election.enable",
        T::Boolean,
        "false",
        Some("unclean.leader.election.enable"),
    ),
];

/// The definition of a topic config.
pub fn topic_config(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Why a topic config value is refused (Kafka answers INVALID_CONFIG with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicConfigError {
    #[error("Unknown topic config name: {0}")]
    Unknown(String),
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// Checks one topic config name and value.
pub fn validate(name: &str, value: &str) -> Result<(), TopicConfigError> {
    let key = topic_config(name).ok_or_else(|| TopicConfigError::Unknown(name.to_string()))?;
    let invalid = |reason: String| TopicConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    let number = match key.kind {
        T::Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(invalid("Expected value to be either true or false".into()));
            }
            None
        }
        T::Int => Some(
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT".into()))? as f64,
        ),
        T::Long => Some(
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG".into()))? as f64,
        ),
        T::Double => Some(
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| invalid("Not a number of type DOUBLE".into()))?,
        ),
        T::String => {
            if !key.allowed.is_empty() && !key.allowed.contains(&value) {
                return Err(invalid(format!(
                    "String must be one of: {}",
                    key.allowed.join(", ")
                )));
            }
            None
        }
        T::List => {
            if !key.allowed.is_empty() {
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !key.allowed.contains(&item) {
                        return Err(invalid(format!(
                            "Invalid value {item}; allowed: {}",
                            key.allowed.join(", ")
                        )));
                    }
                }
            }
            None
        }
    };
    if let (Some(n), Some(m)) = (number, key.min)
        && n < m
    {
        return Err(invalid(format!("Value must be at least {m}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_unique() {
        let names: Vec<_> = TOPIC_CONFIGS.iter().map(|k| k.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn values_are_checked_by_type_range_and_allowed_set() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "archive").is_err());
        assert!(validate("unclean.leader.election.enable", "TRUE").is_ok());
        assert!(validate("unclean.leader.election.enable", "yes").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("min.insync.replicas", "0").is_err());
        assert_eq!(
            validate("retention.parsecs", "1"),
            Err(TopicConfigError::Unknown("retention.parsecs".into()))
        );
    }
}
