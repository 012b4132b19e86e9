//! Table tests of the controller's pure functions: each takes the pending image and a request
//! and returns records plus the answer; the records are replayed here to check the result.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    IncrementalAlterConfigsRequest, UnregisterBrokerRequest, incremental_alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::broker_heartbeat::BrokerHeartbeatManager;
use super::cluster_control::LostBroker;
use super::context::{Context, ControllerResult, ControllerSettings, LeaderRebalance};
use super::{activation, cluster_control, config_control, producer_id_control};
use crate::metadata::configs_image::ConfigResource;
use crate::metadata::delta::MetadataDelta;
use crate::metadata::image::{MetadataImage, Provenance};
use crate::metadata::records::*;

const CLUSTER: &str = "q1Sh-9_ISia_zwGINzRvyQ";

fn settings() -> ControllerSettings {
    ControllerSettings {
        node_id: 1,
        cluster_id: CLUSTER.into(),
        bootstrap_metadata_version: 21,
        num_partitions: 1,
        default_replication_factor: 1,
        min_insync_replicas: 1,
        session_timeout: Duration::from_millis(9000),
        disconnect_fence_grace: Some(Duration::from_millis(500)),
        max_idle_interval: Some(Duration::from_millis(500)),
        leader_rebalance: Some(LeaderRebalance {
            check_interval: Duration::from_secs(300),
            imbalance_percentage: 10,
        }),
    }
}

/// Replays `records` on `image`, advancing the offset per record.
fn apply(image: &MetadataImage, records: &[ApiMessageAndVersion]) -> MetadataImage {
    let mut delta = MetadataDelta::new(image);
    for r in records {
        delta.replay(r).unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
    let p = Provenance {
        last_offset: image.provenance.last_offset + records.len() as i64,
        ..image.provenance
    };
    delta.apply(p).0
}

fn bootstrapped() -> MetadataImage {
    let records = activation::records(&MetadataImage::empty(), &settings()).expect("bootstrap");
    assert!(activation::records(&apply(&MetadataImage::empty(), &records), &settings()).is_none());
    apply(&MetadataImage::empty(), &records)
}

mod elections;
mod elr;
mod features;

struct Harness {
    image: MetadataImage,
    /// What the last [`Harness::run`] wrote.
    last_records: Vec<ApiMessageAndVersion>,
    heartbeats: BrokerHeartbeatManager,
    now_ms: u64,
    settings: ControllerSettings,
}

impl Harness {
    fn new() -> Self {
        Harness {
            image: bootstrapped(),
            last_records: Vec::new(),
            heartbeats: BrokerHeartbeatManager::new(),
            now_ms: 0,
            settings: settings(),
        }
    }

    fn run<R>(
        &mut self,
        f: impl FnOnce(&Context<'_>, &mut BrokerHeartbeatManager) -> ControllerResult<R>,
    ) -> R {
        let ctx = Context {
            image: &self.image,
            next_offset: self.image.provenance.end_offset(),
            settings: &self.settings,
            now_ms: self.now_ms,
        };
        let result = f(&ctx, &mut self.heartbeats);
        self.image = apply(&self.image, &result.records);
        self.last_records = result.records;
        result.response
    }

    /// `f` of the context a request would see now.
    fn with_ctx<R>(&self, f: impl FnOnce(&Context<'_>) -> R) -> R {
        f(&Context {
            image: &self.image,
            next_offset: self.image.provenance.end_offset(),
            settings: &self.settings,
            now_ms: self.now_ms,
        })
    }

    /// Runs the active controller's timer check once: the broker it fenced, and why.
    fn fence_lost(&mut self) -> Option<LostBroker> {
        let ctx = Context {
            image: &self.image,
            next_offset: self.image.provenance.end_offset(),
            settings: &self.settings,
            now_ms: self.now_ms,
        };
        let (why, r) = cluster_control::fence_lost_broker(&ctx, &mut self.heartbeats)?;
        self.image = apply(&self.image, &r.records);
        Some(why)
    }

    fn connection_closed(&mut self, id: i32, epoch: i64) {
        self.run(|ctx, hb| cluster_control::heartbeat_connection_closed(ctx, hb, id, epoch));
    }

    fn register(&mut self, id: i32, incarnation: u128) -> (i16, i64) {
        let r = registration(id, incarnation);
        let resp = self.run(|ctx, hb| cluster_control::register_broker(ctx, hb, &r));
        (resp.error_code, resp.broker_epoch)
    }

    fn heartbeat(
        &mut self,
        id: i32,
        epoch: i64,
        offset: i64,
        fence: bool,
        shut_down: bool,
    ) -> (i16, bool, bool, bool) {
        let r = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(id))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(offset)
            .with_want_fence(fence)
            .with_want_shut_down(shut_down);
        let resp = self.run(|ctx, hb| cluster_control::broker_heartbeat(ctx, hb, &r));
        (
            resp.error_code,
            resp.is_caught_up,
            resp.is_fenced,
            resp.should_shut_down,
        )
    }
}

/// Registers and unfences `ids`; returns their epochs.
fn active(h: &mut Harness, ids: &[i32]) -> Vec<i64> {
    let epochs: Vec<i64> = ids
        .iter()
        .map(|id| h.register(*id, *id as u128).1)
        .collect();
    let end = h.image.provenance.end_offset();
    for (id, e) in ids.iter().zip(&epochs) {
        h.heartbeat(*id, *e, end, false, false);
    }
    epochs
}

fn registration(id: i32, incarnation: u128) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(id))
        .with_cluster_id(StrBytes::from_static_str(CLUSTER))
        .with_incarnation_id(Uuid::from_u128(incarnation))
        .with_listeners(vec![
            Listener::default()
                .with_name(StrBytes::from_static_str("PLAINTEXT"))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9092)
                .with_security_protocol(0),
        ])
        .with_features(vec![
            Feature::default()
                .with_name(StrBytes::from_static_str("metadata.version"))
                .with_min_supported_version(21)
                .with_max_supported_version(21),
            Feature::default()
                .with_name(StrBytes::from_static_str(
                    "eligible.leader.replicas.version",
                ))
                .with_min_supported_version(0)
                .with_max_supported_version(1),
        ])
}

#[test]
fn registration_gives_the_offset_of_the_record_as_epoch_and_starts_fenced() {
    let mut h = Harness::new();
    let expected_epoch = h.image.provenance.end_offset();
    let (code, epoch) = h.register(4, 1);
    assert_eq!((code, epoch), (0, expected_epoch));
    let b = &h.image.cluster.brokers[&4];
    assert!(b.fenced && b.epoch == epoch && b.listeners[0].port == 9092);
    // The same incarnation again (a lost response): same epoch, nothing written.
    let before = h.image.provenance;
    assert_eq!(h.register(4, 1), (0, epoch));
    assert_eq!(h.image.provenance, before);
}

#[test]
fn registration_errors_carry_kafka_codes() {
    let mut h = Harness::new();
    let other_cluster =
        registration(4, 1).with_cluster_id(StrBytes::from_static_str("AAAAAAAAAAAAAAAAAAAAAQ"));
    let resp = h.run(|ctx, hb| cluster_control::register_broker(ctx, hb, &other_cluster));
    assert_eq!(resp.error_code, ResponseError::InconsistentClusterId.code());

    let old = registration(4, 1).with_features(vec![
        Feature::default()
            .with_name(StrBytes::from_static_str("metadata.version"))
            .with_min_supported_version(1)
            .with_max_supported_version(7),
    ]);
    let resp = h.run(|ctx, hb| cluster_control::register_broker(ctx, hb, &old));
    assert_eq!(resp.error_code, ResponseError::UnsupportedVersion.code());
    let silent = registration(4, 1).with_features(vec![]);
    let resp = h.run(|ctx, hb| cluster_control::register_broker(ctx, hb, &silent));
    assert_eq!(
        resp.error_code,
        ResponseError::UnsupportedVersion.code(),
        "no metadata.version range means the minimum KRaft version only"
    );

    // A second incarnation while the first is alive is a duplicate; once its session has
    // expired, it replaces the first.
    assert_eq!(h.register(4, 1).0, 0);
    assert_eq!(
        h.register(4, 2).0,
        ResponseError::DuplicateBrokerRegistration.code()
    );
    h.now_ms += 9_000;
    let (code, epoch) = h.register(4, 2);
    assert_eq!(code, 0);
    assert_eq!(
        h.image.cluster.brokers[&4].incarnation_id,
        Uuid::from_u128(2)
    );
    assert_eq!(h.image.cluster.brokers[&4].epoch, epoch);
}

#[test]
fn heartbeats_unfence_a_caught_up_broker_and_controlled_shutdown_ends_in_shutdown_now() {
    let mut h = Harness::new();
    let (_, epoch) = h.register(4, 1);
    // Not caught up to its registration record: stays fenced.
    assert_eq!(
        h.heartbeat(4, epoch, epoch - 1, false, false),
        (0, false, true, false)
    );
    // Caught up but asking to stay fenced.
    assert_eq!(
        h.heartbeat(4, epoch, epoch, true, false),
        (0, true, true, false)
    );
    assert!(h.image.cluster.brokers[&4].fenced);
    // Caught up: unfenced (a record is written).
    assert_eq!(
        h.heartbeat(4, epoch, epoch, false, false),
        (0, true, false, false)
    );
    assert!(h.image.cluster.brokers[&4].is_active());
    // Wrong epoch / unknown broker.
    assert_eq!(
        h.heartbeat(4, epoch + 1, epoch, false, false).0,
        ResponseError::StaleBrokerEpoch.code()
    );
    assert_eq!(
        h.heartbeat(9, epoch, epoch, false, false).0,
        ResponseError::BrokerIdNotRegistered.code()
    );
    // Shutdown while leading nothing: shutdown now, fenced.
    let end = h.image.provenance.end_offset();
    assert_eq!(
        h.heartbeat(4, epoch, end, false, true),
        (0, true, true, true)
    );
    assert!(h.image.cluster.brokers[&4].fenced);
    // A broker that shut down cleanly may come back as a new incarnation at once.
    let (code, new_epoch) = h.register(4, 2);
    assert_eq!(code, 0);
    assert!(new_epoch > epoch);
}

#[test]
fn an_expired_session_fences_the_least_recently_seen_broker_one_at_a_time() {
    let mut h = Harness::new();
    let mut epochs = Vec::new();
    for id in [4, 5] {
        let (_, e) = h.register(id, id as u128);
        epochs.push(e);
    }
    let end = h.image.provenance.end_offset();
    for (id, e) in [4, 5].into_iter().zip(&epochs) {
        h.heartbeat(id, *e, end, false, false);
    }
    assert!(h.image.cluster.brokers.values().all(|b| b.is_active()));
    h.now_ms = 5_000;
    h.heartbeat(5, epochs[1], end, false, false);
    h.now_ms = 9_500;
    assert_eq!(h.fence_lost(), Some(LostBroker::SessionTimeout));
    assert!(
        h.image.cluster.brokers[&4].fenced,
        "4 was seen last at 0 ms"
    );
    assert!(!h.image.cluster.brokers[&5].fenced);
    assert_eq!(h.fence_lost(), None, "5 heartbeated at 5000 ms");
    h.now_ms = 14_000;
    assert_eq!(h.fence_lost(), Some(LostBroker::SessionTimeout));
    assert!(h.image.cluster.brokers[&5].fenced);
}

/// Brokers 4 and 5 registered and unfenced, seen at `now_ms`; their epochs.
fn two_unfenced_brokers(h: &mut Harness) -> (i64, i64) {
    let (_, e4) = h.register(4, 4);
    let (_, e5) = h.register(5, 5);
    let end = h.image.provenance.end_offset();
    h.heartbeat(4, e4, end, false, false);
    h.heartbeat(5, e5, end, false, false);
    assert!(h.image.cluster.brokers.values().all(|b| b.is_active()));
    (e4, e5)
}

#[test]
fn a_closed_heartbeat_connection_fences_after_the_grace_unless_the_broker_heartbeats_again() {
    // Each case: events at times (ms) after both brokers were unfenced at 0; the brokers
    // fenced by the end (and why), checked at every step by running the timer.
    #[derive(Debug, Clone, Copy)]
    enum E {
        /// The connection carrying broker `id`'s heartbeats closed (with its current epoch, or
        /// with an older one).
        Closed(i32, bool),
        Heartbeat(i32),
        /// The controller's timer runs.
        Tick,
    }
    use E::*;
    type Case = (
        &'static str,
        Option<u64>,
        Vec<(u64, E)>,
        Vec<(i32, LostBroker)>,
    );
    let cases: Vec<Case> = vec![
        (
            "a killed broker is fenced once the grace has passed",
            Some(500),
            vec![(100, Closed(4, true)), (599, Tick), (600, Tick)],
            vec![(4, LostBroker::Disconnected)],
        ),
        (
            "a heartbeat on a new connection within the grace cancels the fence",
            Some(500),
            vec![
                (100, Closed(4, true)),
                (150, Heartbeat(4)),
                (700, Tick),
                (5000, Tick),
            ],
            vec![],
        ),
        (
            "a heartbeat after the fence does not undo it (the broker unfences as usual)",
            Some(500),
            vec![
                (100, Closed(4, true)),
                (600, Tick),
                (650, Heartbeat(5)),
                (700, Tick),
            ],
            vec![(4, LostBroker::Disconnected)],
        ),
        (
            "a second close does not postpone the fence",
            Some(500),
            vec![(100, Closed(4, true)), (400, Closed(4, true)), (600, Tick)],
            vec![(4, LostBroker::Disconnected)],
        ),
        (
            "a close for an older registration of the broker is ignored",
            Some(500),
            vec![(100, Closed(4, false)), (5000, Tick)],
            vec![],
        ),
        (
            "0 disables it: only the session timeout fences",
            None,
            vec![
                (100, Closed(4, true)),
                (5000, Tick),
                (9000, Tick),
                (9001, Heartbeat(5)),
            ],
            vec![(4, LostBroker::SessionTimeout)],
        ),
        (
            "two dead brokers are fenced one per timer run, earliest close first",
            Some(500),
            vec![
                (200, Closed(5, true)),
                (300, Closed(4, true)),
                (800, Tick),
                (801, Tick),
            ],
            vec![(5, LostBroker::Disconnected), (4, LostBroker::Disconnected)],
        ),
    ];
    for (name, grace, events, want) in cases {
        let mut h = Harness::new();
        h.settings.disconnect_fence_grace = grace.map(Duration::from_millis);
        let (e4, e5) = two_unfenced_brokers(&mut h);
        let epoch = |id| if id == 4 { e4 } else { e5 };
        let mut fenced = Vec::new();
        for (at, e) in events {
            h.now_ms = at;
            match e {
                Closed(id, current) => {
                    h.connection_closed(id, if current { epoch(id) } else { epoch(id) - 1 })
                }
                Heartbeat(id) => {
                    let end = h.image.provenance.end_offset();
                    h.heartbeat(id, epoch(id), end, false, false);
                }
                Tick => {}
            }
            if let Some(why) = h.fence_lost() {
                let id = *[4, 5]
                    .iter()
                    .find(|b| {
                        h.image.cluster.brokers[b].fenced && !fenced.iter().any(|(f, _)| f == *b)
                    })
                    .expect("a newly fenced broker");
                fenced.push((id, why));
            }
        }
        assert_eq!(fenced, want, "{name}");
    }
}

#[test]
fn a_broker_fenced_after_its_connection_closed_may_register_a_new_incarnation_at_once() {
    let mut h = Harness::new();
    let (e4, _) = two_unfenced_brokers(&mut h);
    h.now_ms = 100;
    h.connection_closed(4, e4);
    h.now_ms = 600;
    assert_eq!(h.fence_lost(), Some(LostBroker::Disconnected));
    // Its process is gone: the restarted one registers without waiting for the session
    // timeout.
    h.now_ms = 700;
    assert_eq!(h.register(4, 44).0, 0);
    // A broker that asked to be fenced keeps its session: another incarnation is refused.
    let e5 = h.image.cluster.brokers[&5].epoch;
    let end = h.image.provenance.end_offset();
    h.heartbeat(5, e5, end, true, false);
    assert_eq!(
        h.register(5, 55).0,
        ResponseError::DuplicateBrokerRegistration.code()
    );
}

#[test]
fn unregistering_removes_the_broker() {
    let mut h = Harness::new();
    h.register(4, 1);
    let resp = h.run(|ctx, hb| {
        cluster_control::unregister_broker(
            ctx,
            hb,
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(4)),
        )
    });
    assert_eq!(resp.error_code, 0);
    assert!(!h.image.cluster.brokers.contains_key(&4));
    let resp = h.run(|ctx, hb| {
        cluster_control::unregister_broker(
            ctx,
            hb,
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(4)),
        )
    });
    assert_eq!(resp.error_code, ResponseError::BrokerIdNotRegistered.code());
}

#[test]
fn producer_id_blocks_are_handed_out_in_order_to_current_brokers() {
    let mut h = Harness::new();
    let (_, epoch) = h.register(4, 1);
    let req = AllocateProducerIdsRequest::default()
        .with_broker_id(BrokerId(4))
        .with_broker_epoch(epoch);
    let a = h.run(|ctx, _| producer_id_control::allocate(ctx, &req));
    let b = h.run(|ctx, _| producer_id_control::allocate(ctx, &req));
    assert_eq!((a.producer_id_start.0, a.producer_id_len), (0, 1000));
    assert_eq!((b.producer_id_start.0, b.producer_id_len), (1000, 1000));
    let stale = req.clone().with_broker_epoch(epoch - 1);
    let c = h.run(|ctx, _| producer_id_control::allocate(ctx, &stale));
    assert_eq!(c.error_code, ResponseError::StaleBrokerEpoch.code());
    assert_eq!(h.image.producer_ids.next_producer_id, 2000);
}

fn alter(
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(
                    ops.iter()
                        .map(|(k, op, v)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(StrBytes::from_string(k.to_string()))
                                .with_config_operation(*op)
                                .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
                        })
                        .collect(),
                ),
        ])
}

#[test]
fn incremental_alter_configs_sets_appends_subtracts_deletes_and_validates() {
    let mut h = Harness::new();
    h.image = apply(
        &h.image,
        &[ApiMessageAndVersion::latest(MetadataRecord::Topic(
            TopicRecord {
                name: "orders".into(),
                topic_id: Uuid::from_u128(7),
                ..Default::default()
            },
        ))],
    );
    let topic = ConfigResource::topic("orders");
    let run = |h: &mut Harness, req: IncrementalAlterConfigsRequest| {
        let resp = h.run(|ctx, _| config_control::incremental_alter_configs(ctx, &req));
        resp.responses[0].error_code
    };
    assert_eq!(
        run(
            &mut h,
            alter(2, "orders", &[("retention.ms", 0, Some("1000"))], false)
        ),
        0
    );
    assert_eq!(h.image.configs.value(&topic, "retention.ms"), Some("1000"));
    assert_eq!(
        run(
            &mut h,
            alter(
                2,
                "orders",
                &[("cleanup.policy", 2, Some("compact"))],
                false
            )
        ),
        0
    );
    assert_eq!(
        run(
            &mut h,
            alter(2, "orders", &[("cleanup.policy", 2, Some("delete"))], false)
        ),
        0
    );
    assert_eq!(
        h.image.configs.value(&topic, "cleanup.policy"),
        Some("compact,delete")
    );
    assert_eq!(
        run(
            &mut h,
            alter(
                2,
                "orders",
                &[("cleanup.policy", 3, Some("compact"))],
                false
            )
        ),
        0
    );
    assert_eq!(
        h.image.configs.value(&topic, "cleanup.policy"),
        Some("delete")
    );
    assert_eq!(
        run(
            &mut h,
            alter(2, "orders", &[("retention.ms", 1, None)], false)
        ),
        0
    );
    assert_eq!(h.image.configs.value(&topic, "retention.ms"), None);
    // validate_only writes nothing.
    assert_eq!(
        run(
            &mut h,
            alter(2, "orders", &[("retention.ms", 0, Some("5"))], true)
        ),
        0
    );
    assert_eq!(h.image.configs.value(&topic, "retention.ms"), None);
    let cases: &[(IncrementalAlterConfigsRequest, ResponseError)] = &[
        (
            alter(2, "nope", &[("retention.ms", 0, Some("1"))], false),
            ResponseError::UnknownTopicOrPartition,
        ),
        (
            alter(2, "orders", &[("retention.ms", 0, Some("soon"))], false),
            ResponseError::InvalidConfig,
        ),
        (
            alter(2, "orders", &[("no.such.config", 0, Some("1"))], false),
            ResponseError::InvalidConfig,
        ),
        (
            alter(2, "orders", &[("retention.ms", 2, Some("1"))], false),
            ResponseError::InvalidConfig,
        ),
        (
            alter(
                2,
                "orders",
                &[("retention.ms", 0, Some("1")), ("retention.ms", 1, None)],
                false,
            ),
            ResponseError::InvalidRequest,
        ),
        (
            alter(4, "x", &[("log.retention.ms", 0, Some("1"))], false),
            ResponseError::InvalidRequest,
        ),
        (
            alter(4, "", &[("not.a.key", 0, Some("1"))], false),
            ResponseError::InvalidConfig,
        ),
        (
            alter(4, "", &[("process.roles", 0, Some("broker"))], false),
            ResponseError::InvalidRequest,
        ),
        (
            alter(4, "", &[("log.retention.ms", 0, Some("-7"))], false),
            ResponseError::InvalidConfig,
        ),
        (
            alter(9, "x", &[("a", 0, Some("1"))], false),
            ResponseError::InvalidRequest,
        ),
    ];
    for (req, want) in cases {
        assert_eq!(run(&mut h, req.clone()), want.code(), "{req:?}");
    }
    assert_eq!(
        run(
            &mut h,
            alter(4, "", &[("log.retention.ms", 0, Some("60000"))], false)
        ),
        0
    );
    assert_eq!(
        h.image
            .configs
            .value(&ConfigResource::broker(None), "log.retention.ms"),
        Some("60000")
    );
}

mod topics {
    use super::*;
    use crate::controller::replication_control;
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic,
    };
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    use kafka_protocol::messages::{
        CreateTopicsRequest, DeleteTopicsRequest, ElectLeadersRequest, TopicName,
    };

    fn topic(name: &str, p: i32, rf: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.into())))
            .with_num_partitions(p)
            .with_replication_factor(rf)
    }

    fn create(h: &mut Harness, topics: Vec<CreatableTopic>, validate_only: bool) -> Vec<i16> {
        let r = CreateTopicsRequest::default()
            .with_topics(topics)
            .with_validate_only(validate_only);
        let resp = h.run(|ctx, _| replication_control::create_topics(ctx, &r, 7));
        resp.topics.iter().map(|t| t.error_code).collect()
    }

    #[test]
    fn create_topics_places_replicas_on_active_brokers_and_reports_errors_per_topic() {
        let mut h = Harness::new();
        active(&mut h, &[1, 2, 3]);
        let codes = create(
            &mut h,
            vec![
                topic("orders", 6, 3),
                topic("bad name", 1, 1),
                topic("wide", 1, 4),
                topic("dup", 1, 1),
                topic("dup", 1, 1),
            ],
            false,
        );
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::InvalidTopicException.code(),
                ResponseError::InvalidReplicationFactor.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
            ]
        );
        let t = h.image.topics.get_by_name("orders").unwrap();
        assert_eq!(t.partitions.len(), 6);
        for p in t.partitions.values() {
            assert_eq!(p.replicas.len(), 3);
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
        }
        assert_eq!(
            create(&mut h, vec![topic("orders", 1, 1)], false),
            vec![ResponseError::TopicAlreadyExists.code()]
        );
        // validate_only answers without writing.
        assert_eq!(create(&mut h, vec![topic("later", 2, 2)], true), vec![0]);
        assert!(h.image.topics.get_by_name("later").is_none());
        // A manual assignment is used as given.
        let manual = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("manual")))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![
                CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(3), BrokerId(1)]),
            ]);
        assert_eq!(create(&mut h, vec![manual], false), vec![0]);
        let p = &h.image.topics.get_by_name("manual").unwrap().partitions[&0];
        assert_eq!((p.replicas.clone(), p.leader), (vec![3, 1], 3));
    }

    #[test]
    fn fencing_the_leader_elects_from_the_isr_and_the_last_member_stays() {
        let mut h = Harness::new();
        let epochs = active(&mut h, &[1, 2]);
        let manual = |name: &str, replicas: Vec<i32>| {
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.into())))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(replicas.into_iter().map(BrokerId).collect()),
                ])
        };
        assert_eq!(
            create(
                &mut h,
                vec![manual("two", vec![1, 2]), manual("one", vec![1])],
                false
            ),
            vec![0, 0]
        );
        // Broker 1 asks to be fenced: its leaderships move, it leaves ISRs.
        let end = h.image.provenance.end_offset();
        h.heartbeat(1, epochs[0], end, true, false);
        let two = &h.image.topics.get_by_name("two").unwrap().partitions[&0];
        assert_eq!(
            (two.leader, two.isr.clone(), two.leader_epoch),
            (2, vec![2], 1)
        );
        let one = &h.image.topics.get_by_name("one").unwrap().partitions[&0];
        assert_eq!(
            (one.leader, one.isr.clone()),
            (-1, vec![1]),
            "the ISR is never emptied"
        );
        // Unfenced again: the leaderless partition gets its leader back.
        let end = h.image.provenance.end_offset();
        h.heartbeat(1, epochs[0], end, false, false);
        let one = &h.image.topics.get_by_name("one").unwrap().partitions[&0];
        assert_eq!((one.leader, one.isr.clone()), (1, vec![1]));
    }

    #[test]
    fn unclean_election_only_where_the_topic_allows_it() {
        let mut h = Harness::new();
        let epochs = active(&mut h, &[1, 2]);
        for name in ["strict", "lenient"] {
            let t = CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.into())))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
                ]);
            assert_eq!(create(&mut h, vec![t], false), vec![0]);
        }
        let lenient = h.image.topics.get_by_name("lenient").unwrap().id;
        let strict = h.image.topics.get_by_name("strict").unwrap().id;
        h.image = apply(
            &h.image,
            &[
                // Broker 2 fell out of both ISRs.
                ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(
                    PartitionChangeRecord {
                        partition_id: 0,
                        topic_id: lenient,
                        isr: Some(vec![1]),
                        ..Default::default()
                    },
                )),
                ApiMessageAndVersion::latest(MetadataRecord::PartitionChange(
                    PartitionChangeRecord {
                        partition_id: 0,
                        topic_id: strict,
                        isr: Some(vec![1]),
                        ..Default::default()
                    },
                )),
                ApiMessageAndVersion::latest(MetadataRecord::Config(ConfigRecord {
                    resource_type: 2,
                    resource_name: "lenient".into(),
                    name: "unclean.leader.election.enable".into(),
                    value: Some("true".into()),
                    ..Default::default()
                })),
            ],
        );
        let end = h.image.provenance.end_offset();
        h.heartbeat(1, epochs[0], end, true, false);
        let s = &h.image.topics.get_by_name("strict").unwrap().partitions[&0];
        assert_eq!((s.leader, s.isr.clone()), (-1, vec![1]));
        let l = &h.image.topics.get_by_name("lenient").unwrap().partitions[&0];
        assert_eq!((l.leader, l.isr.clone()), (2, vec![2]));
        assert_eq!(
            l.leader_recovery_state,
            crate::metadata::partition_registration::LeaderRecoveryState::Recovering
        );
    }

    #[test]
    fn preferred_election_and_delete_topics() {
        let mut h = Harness::new();
        let epochs = active(&mut h, &[1, 2]);
        let t = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![
                CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
            ]);
        create(&mut h, vec![t], false);
        let end = h.image.provenance.end_offset();
        h.heartbeat(1, epochs[0], end, true, false);
        let end = h.image.provenance.end_offset();
        h.heartbeat(1, epochs[0], end, false, false);
        let elect = |h: &mut Harness| {
            let r = ElectLeadersRequest::default()
                .with_election_type(0)
                .with_topic_partitions(Some(vec![
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_static_str("t")))
                        .with_partitions(vec![0]),
                ]));
            let resp = h.run(|ctx, _| replication_control::elect_leaders(ctx, &r, 2));
            resp.replica_election_results[0].partition_result[0].error_code
        };
        // Broker 1 is back but not in the ISR yet: not electable.
        assert_eq!(
            elect(&mut h),
            ResponseError::PreferredLeaderNotAvailable.code()
        );
        let id = h.image.topics.get_by_name("t").unwrap().id;
        h.image = apply(
            &h.image,
            &[ApiMessageAndVersion::latest(
                MetadataRecord::PartitionChange(PartitionChangeRecord {
                    partition_id: 0,
                    topic_id: id,
                    isr: Some(vec![2, 1]),
                    ..Default::default()
                }),
            )],
        );
        assert_eq!(elect(&mut h), 0);
        assert_eq!(
            h.image.topics.get_by_name("t").unwrap().partitions[&0].leader,
            1
        );
        assert_eq!(elect(&mut h), ResponseError::ElectionNotNeeded.code());

        let del = |h: &mut Harness, names: &[&str]| {
            let r = DeleteTopicsRequest::default().with_topics(
                names
                    .iter()
                    .map(|n| {
                        DeleteTopicState::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
                    })
                    .collect(),
            );
            let resp = h.run(|ctx, _| replication_control::delete_topics(ctx, &r, 6));
            resp.responses
                .iter()
                .map(|r| r.error_code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            del(&mut h, &["t", "nope"]),
            vec![0, ResponseError::UnknownTopicOrPartition.code()]
        );
        assert!(h.image.topics.by_id.is_empty());
    }
}
