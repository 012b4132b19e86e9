//! What governs client access and is kept verbatim for now: ACLs, SCRAM credentials,
//! delegation tokens and client quotas. Each entry is its latest record, keyed as Kafka keys
//! it, so removal records and snapshots work.

use std::collections::BTreeMap;

use crate::metadata::records::{ApiMessageAndVersion, MetadataRecord};

/// The identity of an access entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessKey {
    Acl(uuid::Uuid),
    Scram {
        name: String,
        mechanism: i8,
    },
    DelegationToken(String),
    /// Entity (type, name) pairs and the quota key.
    ClientQuota {
        entity: Vec<(String, Option<String>)>,
        key: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessImage {
    pub entries: BTreeMap<AccessKey, ApiMessageAndVersion>,
}

impl AccessImage {
    /// Applies an access record; `false` when `record` is not one.
    pub fn replay(&mut self, record: &ApiMessageAndVersion) -> bool {
        match &record.record {
            MetadataRecord::AccessControlEntry(r) => {
                self.entries.insert(AccessKey::Acl(r.id), record.clone());
            }
            MetadataRecord::RemoveAccessControlEntry(r) => {
                self.entries.remove(&AccessKey::Acl(r.id));
            }
            MetadataRecord::UserScramCredential(r) => {
                self.entries.insert(
                    AccessKey::Scram {
                        name: r.name.clone(),
                        mechanism: r.mechanism,
                    },
                    record.clone(),
                );
            }
            MetadataRecord::RemoveUserScramCredential(r) => {
                self.entries.remove(&AccessKey::Scram {
                    name: r.name.clone(),
                    mechanism: r.mechanism,
                });
            }
            MetadataRecord::DelegationToken(r) => {
                self.entries.insert(
                    AccessKey::DelegationToken(r.token_id.clone()),
                    record.clone(),
                );
            }
            MetadataRecord::RemoveDelegationToken(r) => {
                self.entries
                    .remove(&AccessKey::DelegationToken(r.token_id.clone()));
            }
            MetadataRecord::ClientQuota(r) => {
                let key = AccessKey::ClientQuota {
                    entity: r
                        .entity
                        .iter()
                        .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
                        .collect(),
                    key: r.key.clone(),
                };
                if r.remove {
                    self.entries.remove(&key);
                } else {
                    self.entries.insert(key, record.clone());
                }
            }
            _ => return false,
        }
        true
    }

    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        out.extend(self.entries.values().cloned());
    }
}
