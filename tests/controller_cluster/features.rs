//! UpdateFeatures through a broker (forwarded to the active controller): an operator turns
//! eligible leader replicas on (ADR 0013).

use kafka_protocol::messages::UpdateFeaturesRequest;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;

use super::*;

fn update_features(addr: &str, name: &'static str, level: i16) -> (i16, Option<String>) {
    let resp = block_on(async {
        let mut c = KafkaConnection::connect(addr, "test", Duration::from_secs(2))
            .await
            .unwrap();
        let req = UpdateFeaturesRequest::default()
            .with_timeout_ms(30_000)
            .with_feature_updates(vec![
                FeatureUpdateKey::default()
                    .with_feature(StrBytes::from_static_str(name))
                    .with_max_version_level(level)
                    .with_upgrade_type(1),
            ]);
        c.send(&req, 1, Duration::from_secs(35)).await.unwrap()
    });
    assert_eq!(resp.error_code, 0);
    let r = &resp.results[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[test]
fn eligible_leader_replicas_are_enabled_through_a_broker() {
    let c = Cluster::builder().controllers(1).brokers(3).start(START);
    let b0 = c.brokers[0].addr();
    let elr = "eligible.leader.replicas.version";
    let (code, message) = update_features(&b0, elr, 2);
    assert_eq!(
        code,
        kafka_protocol::ResponseError::InvalidUpdateVersion.code(),
        "{message:?}"
    );
    assert_eq!(update_features(&b0, elr, 1).0, 0);
    let log = c.controllers[0].log_text();
    assert!(
        log.contains("finalizing feature level") && log.contains(elr),
        "{log}"
    );
    // Every broker registered again after a restart still supports the finalized level.
    let mut c = c;
    c.brokers[1].restart(START);
    c.brokers[1].wait_ready(START);
}
