//! UpdateFeatures: which feature levels may be finalized.

use kafka_protocol::messages::UpdateFeaturesRequest;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;

use super::*;
use crate::controller::feature_control::update_features;
use crate::metadata::features_image::ELIGIBLE_LEADER_REPLICAS_VERSION;

const ELR: &str = ELIGIBLE_LEADER_REPLICAS_VERSION;

fn update(name: &str, level: i16, upgrade_type: i8) -> FeatureUpdateKey {
    FeatureUpdateKey::default()
        .with_feature(StrBytes::from_string(name.to_string()))
        .with_max_version_level(level)
        .with_upgrade_type(upgrade_type)
}

/// Sends UpdateFeatures v1 with `updates`; each feature's error code.
fn send(h: &mut Harness, updates: Vec<FeatureUpdateKey>, validate_only: bool) -> Vec<i16> {
    let r = UpdateFeaturesRequest::default()
        .with_feature_updates(updates)
        .with_validate_only(validate_only);
    let resp = h.run(|ctx, _| update_features(ctx, &r, 1));
    assert_eq!(resp.error_code, 0);
    resp.results.iter().map(|r| r.error_code).collect()
}

fn elr_level(h: &Harness) -> Option<i16> {
    h.image.features.finalized.get(ELR).copied()
}

#[test]
fn feature_levels_are_finalized_within_every_nodes_range() {
    let invalid = ResponseError::InvalidUpdateVersion.code();
    let mut h = Harness::new();
    active(&mut h, &[1, 2]);
    /// (name, updates, validate only, each feature's error code, the ELR level after)
    type Case = (
        &'static str,
        Vec<FeatureUpdateKey>,
        bool,
        Vec<i16>,
        Option<i16>,
    );
    let cases: Vec<Case> = vec![
        (
            "validate only writes nothing",
            vec![update(ELR, 1, 1)],
            true,
            vec![0],
            None,
        ),
        (
            "an unknown feature",
            vec![update("no.such.version", 1, 1)],
            false,
            vec![invalid],
            None,
        ),
        (
            "above what anyone supports",
            vec![update(ELR, 2, 1)],
            false,
            vec![invalid],
            None,
        ),
        (
            "an unknown upgrade type",
            vec![update(ELR, 1, 7)],
            false,
            vec![ResponseError::InvalidRequest.code()],
            None,
        ),
        (
            "the same feature twice",
            vec![update(ELR, 1, 1), update(ELR, 1, 1)],
            false,
            vec![0, ResponseError::InvalidRequest.code()],
            Some(1),
        ),
        (
            "a downgrade needs a downgrade type",
            vec![update(ELR, 0, 1)],
            false,
            vec![invalid],
            Some(1),
        ),
        (
            "a safe downgrade to 0 removes it",
            vec![update(ELR, 0, 2)],
            false,
            vec![0],
            None,
        ),
        (
            "metadata.version stays at the level this build supports",
            vec![update("metadata.version", 22, 1)],
            false,
            vec![invalid],
            None,
        ),
        (
            "enabled again",
            vec![update(ELR, 1, 1)],
            false,
            vec![0],
            Some(1),
        ),
    ];
    for (name, updates, validate_only, want, level) in cases {
        assert_eq!(send(&mut h, updates, validate_only), want, "{name}");
        assert_eq!(elr_level(&h), level, "{name}");
    }
    assert!(h.image.features.eligible_leader_replicas_enabled());
}

#[test]
fn a_broker_that_does_not_support_the_feature_blocks_it() {
    let mut h = Harness::new();
    active(&mut h, &[1]);
    let old = registration(2, 2).with_features(vec![
        kafka_protocol::messages::broker_registration_request::Feature::default()
            .with_name(StrBytes::from_static_str("metadata.version"))
            .with_min_supported_version(21)
            .with_max_supported_version(21),
    ]);
    let resp = h.run(|ctx, hb| cluster_control::register_broker(ctx, hb, &old));
    assert_eq!(resp.error_code, 0);
    let r = UpdateFeaturesRequest::default().with_feature_updates(vec![update(ELR, 1, 1)]);
    let resp = h.run(|ctx, _| update_features(ctx, &r, 1));
    assert_eq!(
        resp.results[0].error_code,
        ResponseError::InvalidUpdateVersion.code()
    );
    let message = resp.results[0].error_message.as_deref().unwrap_or("");
    assert!(message.contains("Broker 2 does not support"), "{message}");
    assert_eq!(elr_level(&h), None);
}

#[test]
fn version_0_downgrades_with_allow_downgrade() {
    let mut h = Harness::new();
    active(&mut h, &[1]);
    let send0 = |h: &mut Harness, level: i16, allow: bool| {
        let r = UpdateFeaturesRequest::default().with_feature_updates(vec![
            FeatureUpdateKey::default()
                .with_feature(StrBytes::from_static_str(ELR))
                .with_max_version_level(level)
                .with_allow_downgrade(allow),
        ]);
        h.run(|ctx, _| update_features(ctx, &r, 0)).results[0].error_code
    };
    assert_eq!(send0(&mut h, 1, false), 0);
    assert_eq!(
        send0(&mut h, 0, false),
        ResponseError::InvalidUpdateVersion.code()
    );
    assert_eq!(send0(&mut h, 0, true), 0);
    assert_eq!(elr_level(&h), None);
}
