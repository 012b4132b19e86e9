//! Records a controller writes when it becomes active: on an empty log the bootstrap
//! metadata (the `metadata.version` from `bootstrap.checkpoint`) inside a metadata
//! transaction; on a log with a transaction left open by the previous controller, its abort.

use crate::controller::context::ControllerSettings;
use crate::metadata::features_image::METADATA_VERSION;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::{
    AbortTransactionRecord, ApiMessageAndVersion, BeginTransactionRecord, EndTransactionRecord,
    FeatureLevelRecord, MetadataRecord, NoOpRecord,
};

/// The records to write on activation, if any.
pub fn records(
    image: &MetadataImage,
    settings: &ControllerSettings,
) -> Option<Vec<ApiMessageAndVersion>> {
    if image.features.metadata_version().is_none() {
        let latest = ApiMessageAndVersion::latest;
        return Some(vec![
            latest(MetadataRecord::BeginTransaction(BeginTransactionRecord {
                name: Some("Bootstrap records".to_string()),
                ..Default::default()
            })),
            latest(MetadataRecord::FeatureLevel(FeatureLevelRecord {
                name: METADATA_VERSION.to_string(),
                feature_level: settings.bootstrap_metadata_version,
                ..Default::default()
            })),
            latest(MetadataRecord::EndTransaction(
                EndTransactionRecord::default(),
            )),
        ]);
    }
    None
}

/// The abort written when the previous controller left a transaction open.
pub fn abort_open_transaction() -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::AbortTransaction(AbortTransactionRecord {
        reason: Some("Controller failover".to_string()),
        ..Default::default()
    }))
}

/// The record an idle active controller writes to keep the high watermark moving.
pub fn noop() -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::NoOp(NoOpRecord::default()))
}
