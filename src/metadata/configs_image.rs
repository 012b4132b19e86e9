//! Dynamic configs by resource (ConfigRecord; a null value deletes the key).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::metadata::records::{ApiMessageAndVersion, ConfigRecord, MetadataRecord};

/// Kafka's `ConfigResource.Type` ids.
pub mod resource_type {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
    pub const BROKER_LOGGER: i8 = 8;
    pub const CLIENT_METRICS: i8 = 16;
    pub const GROUP: i8 = 32;
}

/// A config resource: its type id and name (a topic name, a broker id, or "" for the
/// cluster-wide broker default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    pub resource_type: i8,
    pub name: String,
}

impl ConfigResource {
    pub fn topic(name: &str) -> Self {
        ConfigResource {
            resource_type: resource_type::TOPIC,
            name: name.to_string(),
        }
    }

    pub fn broker(id: Option<i32>) -> Self {
        ConfigResource {
            resource_type: resource_type::BROKER,
            name: id.map(|i| i.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigsImage {
    pub resources: BTreeMap<ConfigResource, Arc<BTreeMap<String, String>>>,
}

impl ConfigsImage {
    pub fn get(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        self.resources.get(resource).map(|m| &**m)
    }

    /// One config value of a resource.
    pub fn value(&self, resource: &ConfigResource, key: &str) -> Option<&str> {
        self.get(resource)
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }

    pub fn replay(&mut self, r: &ConfigRecord) {
        let resource = ConfigResource {
            resource_type: r.resource_type,
            name: r.resource_name.clone(),
        };
        match &r.value {
            Some(v) => {
                let m = self.resources.entry(resource).or_default();
                Arc::make_mut(m).insert(r.name.clone(), v.clone());
            }
            None => {
                if let Some(m) = self.resources.get_mut(&resource) {
                    Arc::make_mut(m).remove(&r.name);
                    if m.is_empty() {
                        self.resources.remove(&resource);
                    }
                }
            }
        }
    }

    /// Drops every config of a resource (its topic was deleted).
    pub fn remove_resource(&mut self, resource: &ConfigResource) {
        self.resources.remove(resource);
    }

    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        for (res, m) in &self.resources {
            for (k, v) in m.iter() {
                out.push(ApiMessageAndVersion::latest(MetadataRecord::Config(
                    ConfigRecord {
                        resource_type: res.resource_type,
                        resource_name: res.name.clone(),
                        name: k.clone(),
                        value: Some(v.clone()),
                        ..Default::default()
                    },
                )));
            }
        }
    }
}
