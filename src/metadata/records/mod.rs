//! Kafka's KRaft metadata record types and their exact wire encoding.
//!
//! A metadata record is the value of a record in a RecordBatch (the key is null), framed as in
//! Kafka's `MetadataRecordSerde`:
//!
//! ```text
//! unsigned varint frame version (1)
//! unsigned varint api key       (the record type, e.g. 2 = TopicRecord)
//! unsigned varint version       (the record schema version)
//! message body                  (generated-message encoding; all metadata records are
//!                                flexible: compact strings/arrays, tagged fields)
//! ```
//!
//! The structs mirror Kafka's schemas (`metadata/src/main/resources/common/metadata/*.json`):
//! struct names are the record names, fields are the snake_case JSON field names, nested
//! structs carry the JSON struct type name (`BrokerEndpoint`, `BrokerFeature`,
//! `ControllerEndpoint`, `ControllerFeature`, `EntityData`) and live in this module. Every
//! struct keeps the tagged fields it does not know in `unknown_tagged_fields`, which are
//! written back on encode; a tag the schema declares cannot be one of them (encode fails). As
//! in Kafka, decoding a declared tag at a version that lacks its field fails.
//!
//! `Default` gives Kafka's field defaults (e.g. `RegisterBrokerRecord::fenced` is `true`,
//! `PartitionChangeRecord::leader` is -2 = no change). As in Kafka's generated classes, a
//! nullable string without an explicit `"default": "null"` defaults to the empty string, not to
//! null (`RegisterBrokerRecord::rack`, `ConfigRecord::value`, `EntityData::entity_name`). Encoding a record at a version that
//! lacks a field holding a non-default value fails, as in Kafka.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};
use uuid::Uuid;

mod wire;

pub use wire::uuid_string;
use wire::{
    Json, Reader, Wire, from_tagged, get_tagged, json_key, put_tagged, put_uvarint, to_bytes,
};

/// The only metadata record frame version Kafka writes and reads.
pub const FRAME_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "could not deserialize metadata record due to unknown frame version {0} (only 1 is supported)"
    )]
    UnsupportedFrameVersion(u32),
    #[error("unknown metadata record type (api key {0})")]
    UnknownApiKey(u32),
    #[error("{record} does not support version {version} (supported versions {lowest}-{highest})")]
    UnsupportedVersion {
        record: &'static str,
        version: i64,
        lowest: i16,
        highest: i16,
    },
    #[error("attempted to write a non-default {field} at version {version} of {record}")]
    NotRepresentable {
        record: &'static str,
        field: &'static str,
        version: i16,
    },
    #[error("tag {tag} is not valid for version {version} of {record}")]
    TagNotValid {
        record: &'static str,
        tag: i32,
        version: i16,
    },
    #[error("truncated metadata record: needed {needed} more byte(s), {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("found {0} byte(s) of garbage after the metadata record")]
    Garbage(usize),
    #[error("invalid metadata record: {0}")]
    Invalid(String),
}

/// A field's default: the given expression, else the type's `Default`.
macro_rules! default_or {
    () => {
        Default::default()
    };
    ($def:expr) => {
        $def
    };
}

/// Generates a nested struct: every field present in all versions, then tagged fields (only
/// unknown ones: no nested metadata struct declares a tagged field).
macro_rules! metadata_struct {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident : $fty:ty $(= $fdef:expr)? ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty, )*
            pub unknown_tagged_fields: BTreeMap<i32, Bytes>,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: default_or!($($fdef)?), )*
                    unknown_tagged_fields: BTreeMap::new(),
                }
            }
        }

        impl Wire for $name {
            fn put(&self, out: &mut BytesMut) -> Result<(), RecordError> {
                $( self.$field.put(out)?; )*
                put_tagged(out, &self.unknown_tagged_fields);
                Ok(())
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, RecordError> {
                let mut this = Self {
                    $( $field: Wire::get(r)?, )*
                    unknown_tagged_fields: BTreeMap::new(),
                };
                get_tagged(r, |tag, data| {
                    this.unknown_tagged_fields.insert(tag, Bytes::copy_from_slice(data));
                    Ok(())
                })?;
                Ok(this)
            }
        }

        impl Json for $name {
            fn json(&self, out: &mut String) {
                #[allow(unused_mut)]
                let mut first = true;
                out.push('{');
                $(
                    json_key(stringify!($field), &mut first, out);
                    self.$field.json(out);
                )*
                out.push('}');
            }
        }

        #[cfg(test)]
        impl wire::arb::Arb for $name {
            fn arb(rng: &mut rand_chacha::ChaCha8Rng) -> Self {
                Self {
                    $( $field: wire::arb::Arb::arb(rng), )*
                    unknown_tagged_fields: BTreeMap::new(),
                }
            }
        }
    };
}

/// Generates a metadata record struct. Fields are listed in schema order with the first
/// version that has them (`since N`, all schemas use open-ended `N+` ranges) and Kafka's
/// default; tagged fields are listed in ascending tag order.
macro_rules! metadata_record {
    (
        $(#[$meta:meta])*
        $name:ident (api_key $key:literal, versions $lo:literal ..= $hi:literal) {
            $( $(#[$fmeta:meta])* $field:ident : $fty:ty = $fdef:expr, since $fmin:literal; )*
        }
        tagged {
            $( $(#[$tmeta:meta])* $tag:literal => $tfield:ident : $tty:ty = $tdef:expr, since $tmin:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $fty, )*
            $( $(#[$tmeta])* pub $tfield: $tty, )*
            pub unknown_tagged_fields: BTreeMap<i32, Bytes>,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: $fdef, )*
                    $( $tfield: $tdef, )*
                    unknown_tagged_fields: BTreeMap::new(),
                }
            }
        }

        impl $name {
            pub const API_KEY: i16 = $key;
            pub const NAME: &'static str = stringify!($name);
            pub const LOWEST_VERSION: i16 = $lo;
            pub const HIGHEST_VERSION: i16 = $hi;

            #[allow(unused_variables)]
            fn encode_body(&self, version: i16, out: &mut BytesMut) -> Result<(), RecordError> {
                #[allow(unused)]
                let defaults = Self::default();
                let absent = |field: &'static str| RecordError::NotRepresentable {
                    record: Self::NAME,
                    field,
                    version,
                };
                $(
                    if version >= $fmin {
                        self.$field.put(out)?;
                    } else if self.$field != defaults.$field {
                        return Err(absent(stringify!($field)));
                    }
                )*
                $(
                    if self.unknown_tagged_fields.contains_key(&$tag) {
                        return Err(RecordError::Invalid(format!(
                            "{} declares tag {} ({}): it cannot be an unknown tagged field",
                            Self::NAME,
                            $tag,
                            stringify!($tfield)
                        )));
                    }
                )*
                #[allow(unused_mut)]
                let mut tagged = self.unknown_tagged_fields.clone();
                $(
                    if self.$tfield != defaults.$tfield {
                        if version < $tmin {
                            return Err(absent(stringify!($tfield)));
                        }
                        tagged.insert($tag, to_bytes(&self.$tfield)?);
                    }
                )*
                put_tagged(out, &tagged);
                Ok(())
            }

            #[allow(unused_variables)]
            fn decode_body(version: i16, r: &mut Reader<'_>) -> Result<Self, RecordError> {
                #[allow(unused_mut)]
                let mut this = Self::default();
                $(
                    if version >= $fmin {
                        this.$field = Wire::get(r)?;
                    }
                )*
                get_tagged(r, |tag, data| {
                    match tag {
                        $(
                            $tag => {
                                if version < $tmin {
                                    return Err(RecordError::TagNotValid { record: Self::NAME, tag, version });
                                }
                                this.$tfield = from_tagged(tag, data)?;
                            }
                        )*
                        _ => {
                            this.unknown_tagged_fields.insert(tag, Bytes::copy_from_slice(data));
                        }
                    }
                    Ok(())
                })?;
                Ok(this)
            }

            /// Fields of `version` as JSON; tagged fields only when not at their default.
            #[allow(unused_variables)]
            fn json(&self, version: i16, out: &mut String) {
                #[allow(unused)]
                let defaults = Self::default();
                #[allow(unused_mut)]
                let mut first = true;
                out.push('{');
                $(
                    if version >= $fmin {
                        json_key(stringify!($field), &mut first, out);
                        self.$field.json(out);
                    }
                )*
                $(
                    if version >= $tmin && self.$tfield != defaults.$tfield {
                        json_key(stringify!($tfield), &mut first, out);
                        self.$tfield.json(out);
                    }
                )*
                out.push('}');
            }

            /// A random value representable at `version`.
            #[cfg(test)]
            #[allow(unused_variables)]
            pub(crate) fn arb(version: i16, rng: &mut rand_chacha::ChaCha8Rng) -> Self {
                #[allow(unused_mut)]
                let mut this = Self::default();
                $(
                    if version >= $fmin {
                        this.$field = wire::arb::Arb::arb(rng);
                    }
                )*
                $(
                    if version >= $tmin {
                        this.$tfield = wire::arb::Arb::arb(rng);
                    }
                )*
                this
            }
        }

    };
}

/// Generates [`MetadataRecord`] and its dispatch from the list of record types.
macro_rules! metadata_records {
    ( $( $variant:ident => $ty:ident ),* $(,)? ) => {
        /// Every KRaft metadata record type; the variant name is the record name without the
        /// `Record` suffix.
        #[derive(Debug, Clone, PartialEq)]
        pub enum MetadataRecord {
            $( $variant($ty), )*
        }

        $(
            impl From<$ty> for MetadataRecord {
                fn from(r: $ty) -> Self {
                    MetadataRecord::$variant(r)
                }
            }
        )*

        impl MetadataRecord {
            /// The record type id (`MetadataRecordType`).
            pub fn api_key(&self) -> i16 {
                match self { $( MetadataRecord::$variant(_) => $ty::API_KEY, )* }
            }

            /// The Kafka record name, e.g. `"TopicRecord"`.
            pub fn name(&self) -> &'static str {
                match self { $( MetadataRecord::$variant(_) => $ty::NAME, )* }
            }

            /// The highest schema version of this record type.
            pub fn latest_version(&self) -> i16 {
                match self { $( MetadataRecord::$variant(_) => $ty::HIGHEST_VERSION, )* }
            }

            /// The versions of the record type `api_key`; `None` for an unknown type.
            pub fn supported_versions(api_key: i16) -> Option<RangeInclusive<i16>> {
                match api_key {
                    $( $ty::API_KEY => Some($ty::LOWEST_VERSION..=$ty::HIGHEST_VERSION), )*
                    _ => None,
                }
            }

            /// The record name of `api_key`, if known.
            pub fn name_of(api_key: i16) -> Option<&'static str> {
                match api_key {
                    $( $ty::API_KEY => Some($ty::NAME), )*
                    _ => None,
                }
            }

            fn encode_body(&self, version: i16, out: &mut BytesMut) -> Result<(), RecordError> {
                match self { $( MetadataRecord::$variant(r) => r.encode_body(version, out), )* }
            }

            fn decode_body(api_key: i16, version: i16, r: &mut Reader<'_>) -> Result<Self, RecordError> {
                match api_key {
                    $( $ty::API_KEY => $ty::decode_body(version, r).map(MetadataRecord::$variant), )*
                    _ => Err(RecordError::UnknownApiKey(api_key as u32)),
                }
            }

            /// The fields as one line of JSON (camelCase keys, as Kafka's `JsonConverter`s),
            /// restricted to `version`.
            pub fn to_json(&self, version: i16) -> String {
                let mut out = String::new();
                match self { $( MetadataRecord::$variant(r) => r.json(version, &mut out), )* }
                out
            }

            /// Every api key with its record name.
            pub const ALL: &'static [(i16, &'static str)] = &[ $( ($ty::API_KEY, $ty::NAME), )* ];

            #[cfg(test)]
            pub(crate) fn arb(api_key: i16, version: i16, rng: &mut rand_chacha::ChaCha8Rng) -> Self {
                match api_key {
                    $( $ty::API_KEY => MetadataRecord::$variant($ty::arb(version, rng)), )*
                    _ => panic!("unknown api key {api_key}"),
                }
            }

            #[cfg(test)]
            pub(crate) fn unknown_tagged_fields_mut(&mut self) -> &mut BTreeMap<i32, Bytes> {
                match self { $( MetadataRecord::$variant(r) => &mut r.unknown_tagged_fields, )* }
            }
        }
    };
}

metadata_struct! {
    /// An endpoint of a broker (`RegisterBrokerRecord.EndPoints`).
    BrokerEndpoint {
        name: String,
        host: String,
        port: u16,
        security_protocol: i16,
    }
}

metadata_struct! {
    /// A feature range a broker supports (`RegisterBrokerRecord.Features`).
    BrokerFeature {
        name: String,
        min_supported_version: i16,
        max_supported_version: i16,
    }
}

metadata_struct! {
    /// An endpoint of a controller (`RegisterControllerRecord.EndPoints`).
    ControllerEndpoint {
        name: String,
        host: String,
        port: u16,
        security_protocol: i16,
    }
}

metadata_struct! {
    /// A feature range a controller supports (`RegisterControllerRecord.Features`).
    ControllerFeature {
        name: String,
        min_supported_version: i16,
        max_supported_version: i16,
    }
}

metadata_struct! {
    /// One component of a client quota entity (`ClientQuotaRecord.Entity`).
    EntityData {
        entity_type: String,
        /// `None` is the default entity.
        entity_name: Option<String> = Some(String::new()),
    }
}

metadata_record! {
    /// A broker registration. v1 adds InControlledShutdown, v2 IsMigratingZkBroker, v3 LogDirs.
    RegisterBrokerRecord (api_key 0, versions 0..=3) {
        broker_id: i32 = 0, since 0;
        is_migrating_zk_broker: bool = false, since 2;
        incarnation_id: Uuid = Uuid::nil(), since 0;
        broker_epoch: i64 = 0, since 0;
        end_points: Vec<BrokerEndpoint> = Vec::new(), since 0;
        features: Vec<BrokerFeature> = Vec::new(), since 0;
        rack: Option<String> = Some(String::new()), since 0;
        fenced: bool = true, since 0;
        in_controlled_shutdown: bool = false, since 1;
    }
    tagged {
        /// The directory ids of the broker's online log directories.
        0 => log_dirs: Vec<Uuid> = Vec::new(), since 3;
    }
}

metadata_record! {
    UnregisterBrokerRecord (api_key 1, versions 0..=0) {
        broker_id: i32 = 0, since 0;
        broker_epoch: i64 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    TopicRecord (api_key 2, versions 0..=0) {
        name: String = String::new(), since 0;
        topic_id: Uuid = Uuid::nil(), since 0;
    }
    tagged {}
}

metadata_record! {
    /// A partition's full state. v1 adds Directories, v2 EligibleLeaderReplicas and
    /// LastKnownElr (KIP-966).
    PartitionRecord (api_key 3, versions 0..=2) {
        partition_id: i32 = -1, since 0;
        topic_id: Uuid = Uuid::nil(), since 0;
        replicas: Vec<i32> = Vec::new(), since 0;
        isr: Vec<i32> = Vec::new(), since 0;
        removing_replicas: Vec<i32> = Vec::new(), since 0;
        adding_replicas: Vec<i32> = Vec::new(), since 0;
        /// -1: no leader.
        leader: i32 = -1, since 0;
        leader_epoch: i32 = -1, since 0;
        partition_epoch: i32 = -1, since 0;
        directories: Vec<Uuid> = Vec::new(), since 1;
    }
    tagged {
        /// 0 = RECOVERED, 1 = RECOVERING.
        0 => leader_recovery_state: i8 = 0, since 0;
        1 => eligible_leader_replicas: Option<Vec<i32>> = None, since 2;
        2 => last_known_elr: Option<Vec<i32>> = None, since 2;
    }
}

metadata_record! {
    /// A config change; `value` `None` deletes the config.
    ConfigRecord (api_key 4, versions 0..=0) {
        resource_type: i8 = 0, since 0;
        resource_name: String = String::new(), since 0;
        name: String = String::new(), since 0;
        value: Option<String> = Some(String::new()), since 0;
    }
    tagged {}
}

metadata_record! {
    /// A change to a partition; every tagged field at its default means "no change".
    PartitionChangeRecord (api_key 5, versions 0..=2) {
        partition_id: i32 = -1, since 0;
        topic_id: Uuid = Uuid::nil(), since 0;
    }
    tagged {
        0 => isr: Option<Vec<i32>> = None, since 0;
        /// -2: no change, -1: no leader.
        1 => leader: i32 = -2, since 0;
        2 => replicas: Option<Vec<i32>> = None, since 0;
        3 => removing_replicas: Option<Vec<i32>> = None, since 0;
        4 => adding_replicas: Option<Vec<i32>> = None, since 0;
        /// -1: no change.
        5 => leader_recovery_state: i8 = -1, since 0;
        6 => eligible_leader_replicas: Option<Vec<i32>> = None, since 2;
        7 => last_known_elr: Option<Vec<i32>> = None, since 2;
        8 => directories: Option<Vec<Uuid>> = None, since 1;
    }
}

metadata_record! {
    /// Fences a broker (before metadata.version 3.3-IV2).
    FenceBrokerRecord (api_key 7, versions 0..=0) {
        id: i32 = 0, since 0;
        epoch: i64 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    /// Unfences a broker (before metadata.version 3.3-IV2).
    UnfenceBrokerRecord (api_key 8, versions 0..=0) {
        id: i32 = 0, since 0;
        epoch: i64 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    RemoveTopicRecord (api_key 9, versions 0..=0) {
        topic_id: Uuid = Uuid::nil(), since 0;
    }
    tagged {}
}

metadata_record! {
    DelegationTokenRecord (api_key 10, versions 0..=0) {
        owner: String = String::new(), since 0;
        requester: String = String::new(), since 0;
        renewers: Vec<String> = Vec::new(), since 0;
        issue_timestamp: i64 = 0, since 0;
        max_timestamp: i64 = 0, since 0;
        expiration_timestamp: i64 = 0, since 0;
        token_id: String = String::new(), since 0;
    }
    tagged {}
}

metadata_record! {
    UserScramCredentialRecord (api_key 11, versions 0..=0) {
        name: String = String::new(), since 0;
        mechanism: i8 = 0, since 0;
        salt: Bytes = Bytes::new(), since 0;
        stored_key: Bytes = Bytes::new(), since 0;
        server_key: Bytes = Bytes::new(), since 0;
        iterations: i32 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    /// A finalized feature level; level 0 removes the feature.
    FeatureLevelRecord (api_key 12, versions 0..=0) {
        name: String = String::new(), since 0;
        feature_level: i16 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    ClientQuotaRecord (api_key 14, versions 0..=0) {
        entity: Vec<EntityData> = Vec::new(), since 0;
        key: String = String::new(), since 0;
        value: f64 = 0.0, since 0;
        remove: bool = false, since 0;
    }
    tagged {}
}

metadata_record! {
    ProducerIdsRecord (api_key 15, versions 0..=0) {
        broker_id: i32 = 0, since 0;
        broker_epoch: i64 = -1, since 0;
        next_producer_id: i64 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    /// `fenced` / `in_controlled_shutdown`: -1 = unfence / leave, 0 = no change, 1 = fence / enter.
    BrokerRegistrationChangeRecord (api_key 17, versions 0..=2) {
        broker_id: i32 = 0, since 0;
        broker_epoch: i64 = 0, since 0;
    }
    tagged {
        0 => fenced: i8 = 0, since 0;
        1 => in_controlled_shutdown: i8 = 0, since 1;
        2 => log_dirs: Vec<Uuid> = Vec::new(), since 2;
    }
}

metadata_record! {
    AccessControlEntryRecord (api_key 18, versions 0..=0) {
        id: Uuid = Uuid::nil(), since 0;
        resource_type: i8 = 0, since 0;
        resource_name: String = String::new(), since 0;
        pattern_type: i8 = 0, since 0;
        principal: String = String::new(), since 0;
        host: String = String::new(), since 0;
        operation: i8 = 0, since 0;
        permission_type: i8 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    RemoveAccessControlEntryRecord (api_key 19, versions 0..=0) {
        id: Uuid = Uuid::nil(), since 0;
    }
    tagged {}
}

metadata_record! {
    /// Written periodically by the active controller so that the log advances.
    NoOpRecord (api_key 20, versions 0..=0) {}
    tagged {}
}

metadata_record! {
    /// 0 = None, 1 = Migration, 2 = PreMigration, 3 = PostMigration.
    ZkMigrationStateRecord (api_key 21, versions 0..=0) {
        zk_migration_state: i8 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    RemoveUserScramCredentialRecord (api_key 22, versions 0..=0) {
        name: String = String::new(), since 0;
        mechanism: i8 = 0, since 0;
    }
    tagged {}
}

metadata_record! {
    BeginTransactionRecord (api_key 23, versions 0..=0) {}
    tagged {
        0 => name: Option<String> = None, since 0;
    }
}

metadata_record! {
    EndTransactionRecord (api_key 24, versions 0..=0) {}
    tagged {}
}

metadata_record! {
    AbortTransactionRecord (api_key 25, versions 0..=0) {}
    tagged {
        0 => reason: Option<String> = None, since 0;
    }
}

metadata_record! {
    RemoveDelegationTokenRecord (api_key 26, versions 0..=0) {
        token_id: String = String::new(), since 0;
    }
    tagged {}
}

metadata_record! {
    RegisterControllerRecord (api_key 27, versions 0..=0) {
        controller_id: i32 = 0, since 0;
        incarnation_id: Uuid = Uuid::nil(), since 0;
        zk_migration_ready: bool = false, since 0;
        end_points: Vec<ControllerEndpoint> = Vec::new(), since 0;
        features: Vec<ControllerFeature> = Vec::new(), since 0;
    }
    tagged {}
}

metadata_record! {
    /// Clears the ELRs of one topic, or of all topics when `topic_name` is empty.
    ClearElrRecord (api_key 28, versions 0..=0) {
        topic_name: String = String::new(), since 0;
    }
    tagged {}
}

metadata_records! {
    RegisterBroker => RegisterBrokerRecord,
    UnregisterBroker => UnregisterBrokerRecord,
    Topic => TopicRecord,
    Partition => PartitionRecord,
    Config => ConfigRecord,
    PartitionChange => PartitionChangeRecord,
    FenceBroker => FenceBrokerRecord,
    UnfenceBroker => UnfenceBrokerRecord,
    RemoveTopic => RemoveTopicRecord,
    DelegationToken => DelegationTokenRecord,
    UserScramCredential => UserScramCredentialRecord,
    FeatureLevel => FeatureLevelRecord,
    ClientQuota => ClientQuotaRecord,
    ProducerIds => ProducerIdsRecord,
    BrokerRegistrationChange => BrokerRegistrationChangeRecord,
    AccessControlEntry => AccessControlEntryRecord,
    RemoveAccessControlEntry => RemoveAccessControlEntryRecord,
    NoOp => NoOpRecord,
    ZkMigrationState => ZkMigrationStateRecord,
    RemoveUserScramCredential => RemoveUserScramCredentialRecord,
    BeginTransaction => BeginTransactionRecord,
    EndTransaction => EndTransactionRecord,
    AbortTransaction => AbortTransactionRecord,
    RemoveDelegationToken => RemoveDelegationTokenRecord,
    RegisterController => RegisterControllerRecord,
    ClearElr => ClearElrRecord,
}

/// A metadata record with the schema version it is (to be) encoded at.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiMessageAndVersion {
    pub record: MetadataRecord,
    pub version: i16,
}

impl ApiMessageAndVersion {
    pub fn new(record: MetadataRecord, version: i16) -> Self {
        ApiMessageAndVersion { record, version }
    }

    /// The record at the highest version of its type.
    pub fn latest(record: MetadataRecord) -> Self {
        let version = record.latest_version();
        ApiMessageAndVersion { record, version }
    }
}

fn check_version(api_key: i16, version: i64) -> Result<i16, RecordError> {
    let record =
        MetadataRecord::name_of(api_key).ok_or(RecordError::UnknownApiKey(api_key as u32))?;
    let range = MetadataRecord::supported_versions(api_key)
        .ok_or(RecordError::UnknownApiKey(api_key as u32))?;
    match i16::try_from(version) {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(RecordError::UnsupportedVersion {
            record,
            version,
            lowest: *range.start(),
            highest: *range.end(),
        }),
    }
}

/// Encodes a record value: frame version, api key, version, message body.
pub fn encode(m: &ApiMessageAndVersion) -> Result<Bytes, RecordError> {
    let api_key = m.record.api_key();
    let version = check_version(api_key, i64::from(m.version))?;
    let mut out = BytesMut::new();
    put_uvarint(&mut out, FRAME_VERSION);
    put_uvarint(&mut out, api_key as u32);
    put_uvarint(&mut out, version as u32);
    m.record.encode_body(version, &mut out)?;
    Ok(out.freeze())
}

/// Decodes a record value written by [`encode`] or by Kafka.
pub fn decode(value: &[u8]) -> Result<ApiMessageAndVersion, RecordError> {
    let mut r = Reader::new(value);
    let frame = r.uvarint()?;
    if frame != FRAME_VERSION {
        return Err(RecordError::UnsupportedFrameVersion(frame));
    }
    let api_key = r.uvarint()?;
    let api_key = i16::try_from(api_key).map_err(|_| RecordError::UnknownApiKey(api_key))?;
    let version = check_version(api_key, i64::from(r.uvarint()?))?;
    let record = MetadataRecord::decode_body(api_key, version, &mut r)?;
    if r.remaining() != 0 {
        return Err(RecordError::Garbage(r.remaining()));
    }
    Ok(ApiMessageAndVersion { record, version })
}

impl fmt::Display for ApiMessageAndVersion {
    /// `TopicRecord(v0) {"name":"orders","topicId":"..."}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(v{}) {}",
            self.record.name(),
            self.version,
            self.record.to_json(self.version)
        )
    }
}

impl fmt::Display for MetadataRecord {
    /// The record at its latest version, as [`ApiMessageAndVersion`] displays it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.to_json(self.latest_version()))
    }
}

#[cfg(test)]
mod tests;
