//! The effective value of a topic or broker config and where it comes from, in Kafka's order:
//! the topic's own config, the broker's dynamic config, the cluster-wide dynamic broker
//! default, the static broker config (server.properties, environment, overrides), the default.

use std::collections::BTreeMap;

use crate::metadata::configs_image::{ConfigResource, ConfigsImage};
use crate::metadata::topic_config::TopicConfigKey;

/// Kafka's `ConfigSource` ids (DescribeConfigs v1+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// One candidate value with its source and the config name it is set under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
}

/// Every place a broker-level key can be set, most specific first (the first is the value).
pub fn broker_synonyms(
    configs: &ConfigsImage,
    static_values: &BTreeMap<String, String>,
    broker_id: i32,
    key: &str,
    default: Option<&str>,
) -> Vec<Synonym> {
    let mut out = Vec::new();
    let mut push = |value: Option<&str>, source| {
        if let Some(v) = value {
            out.push(Synonym {
                name: key.to_string(),
                value: v.to_string(),
                source,
            });
        }
    };
    push(
        configs.value(&ConfigResource::broker(Some(broker_id)), key),
        ConfigSource::DynamicBroker,
    );
    push(
        configs.value(&ConfigResource::broker(None), key),
        ConfigSource::DynamicDefaultBroker,
    );
    push(
        static_values.get(key).map(String::as_str),
        ConfigSource::StaticBroker,
    );
    push(default, ConfigSource::Default);
    out
}

/// Every place a topic config can be set, most specific first.
pub fn topic_synonyms(
    configs: &ConfigsImage,
    static_values: &BTreeMap<String, String>,
    broker_id: i32,
    topic: &str,
    key: &TopicConfigKey,
) -> Vec<Synonym> {
    let mut out = Vec::new();
    if let Some(v) = configs.value(&ConfigResource::topic(topic), key.name) {
        out.push(Synonym {
            name: key.name.to_string(),
            value: v.to_string(),
            source: ConfigSource::DynamicTopic,
        });
    }
    match key.broker_key {
        Some(bk) => {
            let broker_default = crate::config::keys::spec(bk)
                .and_then(|s| s.default)
                .unwrap_or(key.default);
            out.extend(broker_synonyms(
                configs,
                static_values,
                broker_id,
                bk,
                Some(broker_default),
            ));
        }
        None => out.push(Synonym {
            name: key.name.to_string(),
            value: key.default.to_string(),
            source: ConfigSource::Default,
        }),
    }
    out
}
