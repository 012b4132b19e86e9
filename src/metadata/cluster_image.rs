//! Registered brokers and controllers (RegisterBrokerRecord, BrokerRegistrationChangeRecord,
//! Fence/UnfenceBrokerRecord, UnregisterBrokerRecord, RegisterControllerRecord).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::metadata::records::{
    ApiMessageAndVersion, BrokerRegistrationChangeRecord, MetadataRecord, RegisterBrokerRecord,
    RegisterControllerRecord,
};

/// A listener a node advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Kafka's security protocol id (0 = PLAINTEXT, 1 = SSL, 2 = SASL_PLAINTEXT, 3 = SASL_SSL).
    pub security_protocol: i16,
}

/// A supported feature range a node advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureRange {
    pub min: i16,
    pub max: i16,
}

/// One registered broker: the state the controller keeps about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub id: i32,
    /// The offset of its registration record.
    pub epoch: i64,
    pub incarnation_id: Uuid,
    pub listeners: Vec<Endpoint>,
    pub supported_features: BTreeMap<String, FeatureRange>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub directories: Vec<Uuid>,
}

impl BrokerRegistration {
    /// Unfenced and not shutting down: may lead partitions and join ISRs.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&Endpoint> {
        self.listeners.iter().find(|l| l.name == name)
    }

    fn from_record(r: &RegisterBrokerRecord) -> Self {
        BrokerRegistration {
            id: r.broker_id,
            epoch: r.broker_epoch,
            incarnation_id: r.incarnation_id,
            listeners: r
                .end_points
                .iter()
                .map(|e| Endpoint {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                })
                .collect(),
            supported_features: r
                .features
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        FeatureRange {
                            min: f.min_supported_version,
                            max: f.max_supported_version,
                        },
                    )
                })
                .collect(),
            rack: r.rack.clone(),
            fenced: r.fenced,
            in_controlled_shutdown: r.in_controlled_shutdown,
            directories: r.log_dirs.clone(),
        }
    }

    fn to_record(&self) -> RegisterBrokerRecord {
        use crate::metadata::records::{BrokerEndpoint, BrokerFeature};
        RegisterBrokerRecord {
            broker_id: self.id,
            broker_epoch: self.epoch,
            incarnation_id: self.incarnation_id,
            end_points: self
                .listeners
                .iter()
                .map(|l| BrokerEndpoint {
                    name: l.name.clone(),
                    host: l.host.clone(),
                    port: l.port,
                    security_protocol: l.security_protocol,
                    ..Default::default()
                })
                .collect(),
            features: self
                .supported_features
                .iter()
                .map(|(name, r)| BrokerFeature {
                    name: name.clone(),
                    min_supported_version: r.min,
                    max_supported_version: r.max,
                    ..Default::default()
                })
                .collect(),
            rack: self.rack.clone(),
            fenced: self.fenced,
            in_controlled_shutdown: self.in_controlled_shutdown,
            log_dirs: self.directories.clone(),
            ..Default::default()
        }
    }
}

/// One registered controller (KIP-919).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerRegistration {
    pub id: i32,
    pub incarnation_id: Uuid,
    pub zk_migration_ready: bool,
    pub listeners: Vec<Endpoint>,
    pub supported_features: BTreeMap<String, FeatureRange>,
}

impl ControllerRegistration {
    fn from_record(r: &RegisterControllerRecord) -> Self {
        ControllerRegistration {
            id: r.controller_id,
            incarnation_id: r.incarnation_id,
            zk_migration_ready: r.zk_migration_ready,
            listeners: r
                .end_points
                .iter()
                .map(|e| Endpoint {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                })
                .collect(),
            supported_features: r
                .features
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        FeatureRange {
                            min: f.min_supported_version,
                            max: f.max_supported_version,
                        },
                    )
                })
                .collect(),
        }
    }

    fn to_record(&self) -> RegisterControllerRecord {
        use crate::metadata::records::{ControllerEndpoint, ControllerFeature};
        RegisterControllerRecord {
            controller_id: self.id,
            incarnation_id: self.incarnation_id,
            zk_migration_ready: self.zk_migration_ready,
            end_points: self
                .listeners
                .iter()
                .map(|l| ControllerEndpoint {
                    name: l.name.clone(),
                    host: l.host.clone(),
                    port: l.port,
                    security_protocol: l.security_protocol,
                    ..Default::default()
                })
                .collect(),
            features: self
                .supported_features
                .iter()
                .map(|(name, r)| ControllerFeature {
                    name: name.clone(),
                    min_supported_version: r.min,
                    max_supported_version: r.max,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Why a cluster record cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterReplayError {
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("broker {id} has epoch {current}, the record names epoch {record}")]
    EpochMismatch { id: i32, current: i64, record: i64 },
    #[error("invalid {field} value {value} for broker {id}")]
    InvalidValue {
        id: i32,
        field: &'static str,
        value: i8,
    },
}

/// Brokers and controllers by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterImage {
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub controllers: BTreeMap<i32, ControllerRegistration>,
}

impl ClusterImage {
    pub fn register_broker(&mut self, r: &RegisterBrokerRecord) {
        self.brokers
            .insert(r.broker_id, BrokerRegistration::from_record(r));
    }

    pub fn unregister_broker(&mut self, id: i32, epoch: i64) -> Result<(), ClusterReplayError> {
        let b = self.broker_with_epoch(id, epoch)?;
        let _ = b;
        self.brokers.remove(&id);
        Ok(())
    }

    /// FenceBrokerRecord / UnfenceBrokerRecord (metadata versions before 3.3-IV2).
    pub fn set_fenced(
        &mut self,
        id: i32,
        epoch: i64,
        fenced: bool,
    ) -> Result<(), ClusterReplayError> {
        self.broker_with_epoch(id, epoch)?.fenced = fenced;
        Ok(())
    }

    pub fn change_broker(
        &mut self,
        r: &BrokerRegistrationChangeRecord,
    ) -> Result<(), ClusterReplayError> {
        let id = r.broker_id;
        let b = self.broker_with_epoch(id, r.broker_epoch)?;
        match r.fenced {
            0 => {}
            1 => b.fenced = true,
            -1 => b.fenced = false,
            value => {
                return Err(ClusterReplayError::InvalidValue {
                    id,
                    field: "Fenced",
                    value,
                });
            }
        }
        match r.in_controlled_shutdown {
            0 => {}
            1 => b.in_controlled_shutdown = true,
            value => {
                return Err(ClusterReplayError::InvalidValue {
                    id,
                    field: "InControlledShutdown",
                    value,
                });
            }
        }
        if !r.log_dirs.is_empty() {
            b.directories = r.log_dirs.clone();
        }
        Ok(())
    }

    pub fn register_controller(&mut self, r: &RegisterControllerRecord) {
        self.controllers
            .insert(r.controller_id, ControllerRegistration::from_record(r));
    }

    fn broker_with_epoch(
        &mut self,
        id: i32,
        epoch: i64,
    ) -> Result<&mut BrokerRegistration, ClusterReplayError> {
        let b = self
            .brokers
            .get_mut(&id)
            .ok_or(ClusterReplayError::UnknownBroker(id))?;
        if b.epoch != epoch {
            return Err(ClusterReplayError::EpochMismatch {
                id,
                current: b.epoch,
                record: epoch,
            });
        }
        Ok(b)
    }

    /// Brokers that may lead partitions and join ISRs.
    pub fn active_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| b.is_active())
    }

    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        for c in self.controllers.values() {
            out.push(ApiMessageAndVersion::latest(
                MetadataRecord::RegisterController(c.to_record()),
            ));
        }
        for b in self.brokers.values() {
            out.push(ApiMessageAndVersion::latest(
                MetadataRecord::RegisterBroker(b.to_record()),
            ));
        }
    }
}
