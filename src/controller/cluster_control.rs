//! Broker and controller registrations and the broker lifecycle: BrokerRegistration,
//! BrokerHeartbeat (fencing, unfencing, controlled shutdown), UnregisterBroker, session
//! expiry, ControllerRegistration.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, ControllerRegistrationRequest, ControllerRegistrationResponse,
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::controller::broker_heartbeat::{
    BrokerHeartbeatManager, BrokerLifecycleState, HeartbeatRequest,
};
use crate::controller::context::{Context, ControllerResult};
use crate::controller::replication_control::{
    elect_for_leaderless, remove_broker_from_partitions, remove_uncleanly_restarted_broker,
};
use crate::metadata::cluster_image::BrokerRegistration;
use crate::metadata::features_image::METADATA_VERSION;
use crate::metadata::image::MetadataImage;
use crate::metadata::records::{
    ApiMessageAndVersion, BrokerEndpoint, BrokerFeature, BrokerRegistrationChangeRecord,
    ControllerEndpoint, ControllerFeature, MetadataRecord, RegisterBrokerRecord,
    RegisterControllerRecord, UnregisterBrokerRecord,
};

/// `metadata.version` a node is assumed to support when it does not say (3.0-IV1).
const MINIMUM_KRAFT_VERSION: i16 = 1;

/// Checks that every finalized feature is inside the node's supported range.
fn check_features(image: &MetadataImage, supported: &[(String, i16, i16)]) -> Result<(), String> {
    for (name, level) in &image.features.finalized {
        let range = supported
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, lo, hi)| (*lo, *hi))
            .or_else(|| {
                (name == METADATA_VERSION).then_some((MINIMUM_KRAFT_VERSION, MINIMUM_KRAFT_VERSION))
            });
        match range {
            Some((lo, hi)) if (lo..=hi).contains(level) => {}
            Some((lo, hi)) => {
                return Err(format!(
                    "Unable to register because the node does not support finalized version {level} of {name}. The supported range is {lo}-{hi}."
                ));
            }
            None => {
                return Err(format!(
                    "Unable to register because the node does not support finalized version {level} of {name}. The node does not support {name}."
                ));
            }
        }
    }
    Ok(())
}

pub fn register_broker(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    r: &BrokerRegistrationRequest,
) -> ControllerResult<BrokerRegistrationResponse> {
    let image = ctx.image;
    let id = r.broker_id.0;
    let fail = |e: ResponseError| {
        ControllerResult::answer(BrokerRegistrationResponse::default().with_error_code(e.code()))
    };
    if r.cluster_id.as_str() != ctx.settings.cluster_id {
        tracing::warn!(broker = id, cluster_id = %r.cluster_id, "registration from another cluster refused");
        return fail(ResponseError::InconsistentClusterId);
    }
    if let Some(existing) = image.cluster.brokers.get(&id) {
        if existing.incarnation_id == r.incarnation_id {
            // The same process registering again (a lost response): keep its epoch.
            return ControllerResult::answer(
                BrokerRegistrationResponse::default().with_broker_epoch(existing.epoch),
            );
        }
        // This controller's own node id re-registering is this process restarted (a second
        // process could not hold the same storage), so no other incarnation is alive.
        let own_restart = id == ctx.settings.node_id;
        if !own_restart
            && heartbeats.is_session_alive(
                id,
                ctx.now_ms,
                ctx.settings.session_timeout.as_millis() as u64,
            )
        {
            tracing::warn!(
                broker = id,
                "registration refused: another incarnation of this broker is alive"
            );
            return fail(ResponseError::DuplicateBrokerRegistration);
        }
    }
    let supported: Vec<(String, i16, i16)> = r
        .features
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                f.min_supported_version,
                f.max_supported_version,
            )
        })
        .collect();
    if let Err(msg) = check_features(image, &supported) {
        tracing::warn!(broker = id, %msg, "broker registration refused");
        return fail(ResponseError::UnsupportedVersion);
    }
    let epoch = ctx.next_offset;
    let record = registration_record(r, epoch, &supported);
    heartbeats.register(id, epoch, ctx.now_ms);
    tracing::info!(broker = id, epoch, "registering broker");
    // A new incarnation replaces the old one: its replicas leave ISRs until it catches up.
    // One that does not carry the previous registration's epoch restarted without a clean
    // shutdown and may miss records below the high watermark: it leaves ELRs too (KIP-966).
    let mut records = Vec::new();
    match image.cluster.brokers.get(&id) {
        Some(old) if r.previous_broker_epoch != old.epoch => {
            tracing::info!(
                broker = id,
                previous_epoch = old.epoch,
                "the broker restarted without a clean shutdown"
            );
            records.extend(remove_uncleanly_restarted_broker(ctx, id));
        }
        Some(old) if old.is_active() => records.extend(remove_broker_from_partitions(ctx, id)),
        _ => {}
    }
    records.push(ApiMessageAndVersion::latest(
        MetadataRecord::RegisterBroker(record),
    ));
    ControllerResult::new(
        records,
        BrokerRegistrationResponse::default().with_broker_epoch(epoch),
    )
}

/// The RegisterBrokerRecord of a broker registering at `epoch` with its `supported` features.
fn registration_record(
    r: &BrokerRegistrationRequest,
    epoch: i64,
    supported: &[(String, i16, i16)],
) -> RegisterBrokerRecord {
    RegisterBrokerRecord {
        broker_id: r.broker_id.0,
        incarnation_id: r.incarnation_id,
        broker_epoch: epoch,
        end_points: r
            .listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
                ..Default::default()
            })
            .collect(),
        features: supported
            .iter()
            .map(|(name, lo, hi)| BrokerFeature {
                name: name.clone(),
                min_supported_version: *lo,
                max_supported_version: *hi,
                ..Default::default()
            })
            .collect(),
        rack: r
            .rack
            .as_ref()
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty()),
        fenced: true,
        in_controlled_shutdown: false,
        log_dirs: r.log_dirs.clone(),
        ..Default::default()
    }
}

fn fence_record(id: i32, epoch: i64) -> ApiMessageAndVersion {
    ApiMessageAndVersion::latest(MetadataRecord::BrokerRegistrationChange(
        BrokerRegistrationChangeRecord {
            broker_id: id,
            broker_epoch: epoch,
            fenced: 1,
            ..Default::default()
        },
    ))
}

/// Fences `id`: its replicas leave ISRs and its leaderships move, then the registration
/// changes.
pub fn fence_broker_records(ctx: &Context<'_>, id: i32) -> Vec<ApiMessageAndVersion> {
    let Some(b) = ctx.image.cluster.brokers.get(&id) else {
        return Vec::new();
    };
    let mut records = remove_broker_from_partitions(ctx, id);
    records.push(fence_record(id, b.epoch));
    records
}

pub fn broker_heartbeat(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    r: &BrokerHeartbeatRequest,
) -> ControllerResult<BrokerHeartbeatResponse> {
    let image = ctx.image;
    let id = r.broker_id.0;
    let Some(reg) = image.cluster.brokers.get(&id) else {
        return ControllerResult::answer(
            BrokerHeartbeatResponse::default()
                .with_error_code(ResponseError::BrokerIdNotRegistered.code()),
        );
    };
    if reg.epoch != r.broker_epoch {
        return ControllerResult::answer(
            BrokerHeartbeatResponse::default()
                .with_error_code(ResponseError::StaleBrokerEpoch.code()),
        );
    }
    heartbeats.touch(id, ctx.now_ms, r.current_metadata_offset);
    let current = if reg.fenced {
        BrokerLifecycleState::Fenced
    } else if reg.in_controlled_shutdown {
        BrokerLifecycleState::ControlledShutdown
    } else {
        BrokerLifecycleState::Unfenced
    };
    let leads = image.topics.partitions().any(|(_, _, p)| p.leader == id);
    let lowest_active_offset = heartbeats.lowest_active_offset(
        image
            .cluster
            .brokers
            .values()
            .filter(|b| b.is_active() && b.id != id)
            .map(|b| b.id),
    );
    let (next, reply) = heartbeats.next_state(
        id,
        current,
        &HeartbeatRequest {
            want_fence: r.want_fence,
            want_shut_down: r.want_shut_down,
            current_metadata_offset: r.current_metadata_offset,
        },
        reg.epoch,
        leads,
        lowest_active_offset,
    );
    let records = transition_records(ctx, heartbeats, reg, current, next);
    ControllerResult::new(
        records,
        BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shut_down),
    )
}

/// The records that move broker `reg` from lifecycle state `current` to `next`: unfence it
/// (and elect leaders where it can lead), fence it, or start its controlled shutdown.
fn transition_records(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    reg: &BrokerRegistration,
    current: BrokerLifecycleState,
    next: BrokerLifecycleState,
) -> Vec<ApiMessageAndVersion> {
    let id = reg.id;
    let mut records = Vec::new();
    match (current, next) {
        (BrokerLifecycleState::Fenced, BrokerLifecycleState::Unfenced) => {
            tracing::info!(
                broker = id,
                "unfencing broker: it caught up with the metadata log"
            );
            records.push(ApiMessageAndVersion::latest(
                MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                    broker_id: id,
                    broker_epoch: reg.epoch,
                    fenced: -1,
                    ..Default::default()
                }),
            ));
            records.extend(elect_for_leaderless(ctx, Some(id)));
        }
        (BrokerLifecycleState::Unfenced, BrokerLifecycleState::Fenced)
        | (BrokerLifecycleState::Unfenced, BrokerLifecycleState::ShutdownNow)
        | (BrokerLifecycleState::ControlledShutdown, BrokerLifecycleState::ShutdownNow)
        | (BrokerLifecycleState::ControlledShutdown, BrokerLifecycleState::Fenced) => {
            tracing::info!(broker = id, next = ?next, "fencing broker at its request");
            records.extend(fence_broker_records(ctx, id));
        }
        (BrokerLifecycleState::Unfenced, BrokerLifecycleState::ControlledShutdown) => {
            tracing::info!(
                broker = id,
                "broker entering controlled shutdown; moving its leaderships"
            );
            records.push(ApiMessageAndVersion::latest(
                MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
                    broker_id: id,
                    broker_epoch: reg.epoch,
                    in_controlled_shutdown: 1,
                    ..Default::default()
                }),
            ));
            records.extend(remove_broker_from_partitions(ctx, id));
            heartbeats
                .set_controlled_shutdown_offset(id, ctx.next_offset + records.len() as i64 - 1);
        }
        _ => {}
    }
    records
}

pub fn unregister_broker(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    r: &UnregisterBrokerRequest,
) -> ControllerResult<UnregisterBrokerResponse> {
    let image = ctx.image;
    let id = r.broker_id.0;
    let Some(reg) = image.cluster.brokers.get(&id) else {
        return ControllerResult::answer(
            UnregisterBrokerResponse::default()
                .with_error_code(ResponseError::BrokerIdNotRegistered.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "Broker ID {id} is not currently registered"
                )))),
        );
    };
    heartbeats.remove(id);
    let mut records = remove_broker_from_partitions(ctx, id);
    records.push(ApiMessageAndVersion::latest(
        MetadataRecord::UnregisterBroker(UnregisterBrokerRecord {
            broker_id: id,
            broker_epoch: reg.epoch,
            ..Default::default()
        }),
    ));
    ControllerResult::new(records, UnregisterBrokerResponse::default())
}

/// Why the active controller fenced a broker that did not ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostBroker {
    /// No heartbeat for `broker.session.timeout.ms`.
    SessionTimeout,
    /// The connection that carried its heartbeats closed and no heartbeat followed within
    /// `kraftd.broker.disconnect.fence.ms`.
    Disconnected,
}

/// Fences one unfenced broker the controller lost, if any: first one whose heartbeat
/// connection closed more than the grace ago (earliest first), else one whose session
/// expired (least recently seen first).
pub fn fence_lost_broker(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
) -> Option<(LostBroker, ControllerResult<()>)> {
    let timeout = ctx.settings.session_timeout.as_millis() as u64;
    let active: Vec<i32> = ctx
        .image
        .cluster
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| b.id)
        .collect();
    let (id, why) = if let Some(id) = heartbeats.next_disconnected_broker(ctx.now_ms, &active) {
        tracing::warn!(
            broker = id,
            "fencing broker because its heartbeat connection closed and it did not heartbeat again"
        );
        (id, LostBroker::Disconnected)
    } else {
        let id = heartbeats.next_stale_broker(ctx.now_ms, timeout, &active)?;
        tracing::warn!(
            broker = id,
            "fencing broker because its session has timed out"
        );
        (id, LostBroker::SessionTimeout)
    };
    match why {
        LostBroker::Disconnected => heartbeats.mark_gone(id),
        LostBroker::SessionTimeout => heartbeats.mark_fenced(id),
    }
    Some((
        why,
        ControllerResult::new(fence_broker_records(ctx, id), ()),
    ))
}

/// The connection that carried the heartbeats of broker `id` at `epoch` closed: schedule its
/// fence `kraftd.broker.disconnect.fence.ms` from now (nothing when that is 0, or when the
/// registration is another incarnation's, or already fenced). Writes nothing.
pub fn heartbeat_connection_closed(
    ctx: &Context<'_>,
    heartbeats: &mut BrokerHeartbeatManager,
    id: i32,
    epoch: i64,
) -> ControllerResult<()> {
    let Some(grace) = ctx.settings.disconnect_fence_grace else {
        return ControllerResult::answer(());
    };
    let current = ctx
        .image
        .cluster
        .brokers
        .get(&id)
        .is_some_and(|b| b.epoch == epoch && !b.fenced);
    if current && heartbeats.connection_closed(id, ctx.now_ms, grace.as_millis() as u64) {
        tracing::info!(
            broker = id,
            epoch,
            grace_ms = grace.as_millis() as u64,
            "the broker's heartbeat connection closed; fencing it unless it heartbeats again"
        );
    }
    ControllerResult::answer(())
}

pub fn register_controller(
    ctx: &Context<'_>,
    r: &ControllerRegistrationRequest,
) -> ControllerResult<ControllerRegistrationResponse> {
    let supported: Vec<(String, i16, i16)> = r
        .features
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                f.min_supported_version,
                f.max_supported_version,
            )
        })
        .collect();
    if let Err(msg) = check_features(ctx.image, &supported) {
        return ControllerResult::answer(
            ControllerRegistrationResponse::default()
                .with_error_code(ResponseError::UnsupportedVersion.code())
                .with_error_message(Some(StrBytes::from_string(msg))),
        );
    }
    let record = RegisterControllerRecord {
        controller_id: r.controller_id,
        incarnation_id: r.incarnation_id,
        zk_migration_ready: r.zk_migration_ready,
        end_points: r
            .listeners
            .iter()
            .map(|l| ControllerEndpoint {
                name: l.name.to_string(),
                host: l.host.to_string(),
                port: l.port,
                security_protocol: l.security_protocol,
                ..Default::default()
            })
            .collect(),
        features: supported
            .iter()
            .map(|(name, lo, hi)| ControllerFeature {
                name: name.clone(),
                min_supported_version: *lo,
                max_supported_version: *hi,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    ControllerResult::new(
        vec![ApiMessageAndVersion::latest(
            MetadataRecord::RegisterController(record),
        )],
        ControllerRegistrationResponse::default(),
    )
}
