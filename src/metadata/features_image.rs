//! Finalized feature levels, `metadata.version` among them (FeatureLevelRecord).

use std::collections::BTreeMap;

use crate::metadata::records::{ApiMessageAndVersion, FeatureLevelRecord, MetadataRecord};

/// The name of the metadata version feature.
pub const METADATA_VERSION: &str = "metadata.version";

/// KIP-966's feature: eligible leader replicas are on at level 1 and above.
pub const ELIGIBLE_LEADER_REPLICAS_VERSION: &str = "eligible.leader.replicas.version";

/// The `metadata.version` levels this build supports (3.9-IV0).
pub const SUPPORTED_METADATA_VERSIONS: (i16, i16) = (21, 21);

/// Every feature this build supports, with its lowest and highest level, as brokers and
/// controllers advertise them when they register (ADR 0013 for the second).
pub const SUPPORTED_FEATURES: [(&str, (i16, i16)); 2] = [
    (METADATA_VERSION, SUPPORTED_METADATA_VERSIONS),
    (ELIGIBLE_LEADER_REPLICAS_VERSION, (0, 1)),
];

/// Finalized features. A level of 0 removes a feature, so no stored level is 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeaturesImage {
    pub finalized: BTreeMap<String, i16>,
}

impl FeaturesImage {
    /// The finalized `metadata.version` level, if any was written.
    pub fn metadata_version(&self) -> Option<i16> {
        self.finalized.get(METADATA_VERSION).copied()
    }

    /// Whether the controller keeps eligible leader replicas (KIP-966).
    pub fn eligible_leader_replicas_enabled(&self) -> bool {
        self.finalized
            .get(ELIGIBLE_LEADER_REPLICAS_VERSION)
            .is_some_and(|level| *level >= 1)
    }

    pub fn replay(&mut self, r: &FeatureLevelRecord) {
        if r.feature_level == 0 {
            self.finalized.remove(&r.name);
        } else {
            self.finalized.insert(r.name.clone(), r.feature_level);
        }
    }

    /// The records that rebuild this part from nothing (`metadata.version` first, as Kafka
    /// requires it before any record whose version depends on it).
    pub fn records(&self, out: &mut Vec<ApiMessageAndVersion>) {
        let mv = self.finalized.get_key_value(METADATA_VERSION);
        for (name, level) in mv.into_iter().chain(
            self.finalized
                .iter()
                .filter(|(n, _)| *n != METADATA_VERSION),
        ) {
            out.push(ApiMessageAndVersion::latest(MetadataRecord::FeatureLevel(
                FeatureLevelRecord {
                    name: name.clone(),
                    feature_level: *level,
                    ..Default::default()
                },
            )));
        }
    }
}
