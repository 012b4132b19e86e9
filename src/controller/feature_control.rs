//! UpdateFeatures (API 57): finalize feature levels as FeatureLevelRecords, each within the
//! range this build and every registered broker and controller supports (Kafka's
//! FeatureControlManager). How an operator turns eligible leader replicas on
//! (`eligible.leader.replicas.version=1`, ADR 0013).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    UpdateFeaturesRequest, UpdateFeaturesResponse, update_features_request::FeatureUpdateKey,
    update_features_response::UpdatableFeatureResult,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::context::{Context, ControllerResult};
use crate::metadata::cluster_image::FeatureRange;
use crate::metadata::features_image::{METADATA_VERSION, SUPPORTED_FEATURES};
use crate::metadata::records::{ApiMessageAndVersion, FeatureLevelRecord, MetadataRecord};

/// `FeatureUpdateKey.UpgradeType` (v1+).
const UPGRADE: i8 = 1;
const SAFE_DOWNGRADE: i8 = 2;
const UNSAFE_DOWNGRADE: i8 = 3;

type Failure = (ResponseError, String);

pub fn update_features(
    ctx: &Context<'_>,
    r: &UpdateFeaturesRequest,
    version: i16,
) -> ControllerResult<UpdateFeaturesResponse> {
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (i, u) in r.feature_updates.iter().enumerate() {
        let name = u.feature.to_string();
        let duplicate = r.feature_updates[..i]
            .iter()
            .any(|earlier| earlier.feature == u.feature);
        let outcome = if duplicate {
            Err((
                ResponseError::InvalidRequest,
                format!("Feature {name} appears more than once in the request."),
            ))
        } else {
            check_update(ctx, &name, u, version)
        };
        let result = UpdatableFeatureResult::default().with_feature(u.feature.clone());
        match outcome {
            Ok(level) => {
                tracing::info!(feature = %name, level, validate_only = r.validate_only, "finalizing feature level");
                records.push(ApiMessageAndVersion::latest(MetadataRecord::FeatureLevel(
                    FeatureLevelRecord {
                        name,
                        feature_level: level,
                        ..Default::default()
                    },
                )));
                results.push(result);
            }
            Err((error, message)) => results.push(
                result
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            ),
        }
    }
    if r.validate_only {
        records.clear();
    }
    ControllerResult::new(
        records,
        UpdateFeaturesResponse::default().with_results(results),
    )
}

/// The level `u` finalizes for feature `name`, or why it may not.
fn check_update(
    ctx: &Context<'_>,
    name: &str,
    u: &FeatureUpdateKey,
    version: i16,
) -> Result<i16, Failure> {
    let invalid = |message: String| Err((ResponseError::InvalidUpdateVersion, message));
    let upgrade_type = if version == 0 {
        if u.allow_downgrade {
            SAFE_DOWNGRADE
        } else {
            UPGRADE
        }
    } else {
        u.upgrade_type
    };
    if !matches!(upgrade_type, UPGRADE | SAFE_DOWNGRADE | UNSAFE_DOWNGRADE) {
        return Err((
            ResponseError::InvalidRequest,
            format!("Unknown upgrade type {upgrade_type} for feature {name}."),
        ));
    }
    let Some((_, supported)) = SUPPORTED_FEATURES.iter().find(|(n, _)| *n == name) else {
        return invalid(format!("Unknown feature {name}."));
    };
    let level = u.max_version_level;
    let current = ctx.image.features.finalized.get(name).copied().unwrap_or(0);
    if level < 0 {
        return invalid(format!(
            "Invalid update version {level} for feature {name}."
        ));
    }
    if level < current && upgrade_type == UPGRADE {
        return invalid(format!(
            "Invalid update version {level} for feature {name}: it is finalized at {current}; \
             a downgrade needs the upgrade type SAFE_DOWNGRADE or UNSAFE_DOWNGRADE."
        ));
    }
    if name == METADATA_VERSION && level != current {
        return invalid(format!(
            "Invalid update version {level} for feature {name}: this build supports only \
             level {current}."
        ));
    }
    if level == 0 {
        return Ok(0);
    }
    let ours = FeatureRange {
        min: supported.0,
        max: supported.1,
    };
    let nodes = ctx
        .image
        .cluster
        .brokers
        .values()
        .map(|b| (format!("Broker {}", b.id), &b.supported_features))
        .chain(
            ctx.image
                .cluster
                .controllers
                .values()
                .map(|c| (format!("Controller {}", c.id), &c.supported_features)),
        );
    for (node, features) in std::iter::once(("This controller".to_string(), None))
        .chain(nodes.map(|(n, f)| (n, Some(f))))
    {
        let range = match features {
            None => Some(&ours),
            Some(f) => f.get(name),
        };
        match range {
            Some(r) if (r.min..=r.max).contains(&level) => {}
            Some(r) => {
                return invalid(format!(
                    "Invalid update version {level} for feature {name}. {node} only supports \
                     versions {}-{}.",
                    r.min, r.max
                ));
            }
            None => {
                return invalid(format!(
                    "Invalid update version {level} for feature {name}. {node} does not \
                     support this feature."
                ));
            }
        }
    }
    Ok(level)
}
