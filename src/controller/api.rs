//! The quorum controller's APIs on the controller listener: a request is decoded, handed to
//! the controller task and its answer encoded (NOT_CONTROLLER in the request's shape on a
//! standby controller).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

use crate::controller::heartbeat_sessions::HeartbeatSessions;
use crate::controller::quorum_controller::ControllerHandle;
use crate::controller::request::ControllerRequest;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{RequestError, RequestHead};
use crate::protocol::response::EncodedResponse;
use crate::raft_io::endpoint::RaftEndpoint;
use crate::raft_io::routes::QuorumContext;

/// What the controller listener's handlers reach: the raft driver, the controller task and
/// which connection carries each broker's heartbeats.
#[derive(Clone)]
pub struct ControllerContext {
    pub raft: RaftEndpoint,
    pub controller: ControllerHandle,
    pub heartbeat_sessions: Arc<HeartbeatSessions>,
}

impl ControllerContext {
    pub fn new(raft: RaftEndpoint, controller: ControllerHandle) -> ControllerContext {
        ControllerContext {
            raft,
            controller,
            heartbeat_sessions: Arc::default(),
        }
    }
}

impl QuorumContext for ControllerContext {
    fn raft(&self) -> &RaftEndpoint {
        &self.raft
    }
}

/// The quorum controller's own APIs, with the versions implemented. Brokers forward the
/// client-facing ones ([`FORWARDABLE`]) and advertise exactly these versions.
pub fn controller_routes() -> Vec<Route<ControllerContext>> {
    let r = |key, min, max| Route::new(key, min, max, serve);
    vec![
        r(ApiKey::CreateTopics, 2, 7),
        r(ApiKey::DeleteTopics, 1, 6),
        r(ApiKey::AlterConfigs, 0, 2),
        r(ApiKey::CreatePartitions, 0, 3),
        r(ApiKey::ElectLeaders, 0, 2),
        r(ApiKey::IncrementalAlterConfigs, 0, 1),
        r(ApiKey::AlterPartition, 2, 3),
        r(ApiKey::BrokerRegistration, 0, 4),
        Route::new(ApiKey::BrokerHeartbeat, 0, 1, serve_heartbeat),
        r(ApiKey::UnregisterBroker, 0, 0),
        r(ApiKey::AllocateProducerIds, 0, 0),
        r(ApiKey::ControllerRegistration, 0, 0),
        r(ApiKey::UpdateFeatures, 0, 1),
    ]
}

/// The controller APIs that clients send to brokers, which forward them here.
pub const FORWARDABLE: &[ApiKey] = &[
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::UpdateFeatures,
];

fn serve<'a>(ctx: &'a ControllerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(handle(&ctx.controller, head))
}

/// BrokerHeartbeat: as [`serve`], after noting that this connection carries the broker's
/// heartbeats.
fn serve_heartbeat<'a>(
    ctx: &'a ControllerContext,
    session: &'a mut Session,
    head: RequestHead,
) -> Handled<'a> {
    Box::pin(async move {
        let request = ControllerRequest::decode(&head)?;
        if let ControllerRequest::BrokerHeartbeat(r) = &request {
            ctx.heartbeat_sessions
                .heartbeat(session.id, r.broker_id.0, r.broker_epoch);
        }
        answer(&ctx.controller, request, &head).await
    })
}

/// Serves one controller API request: NOT_CONTROLLER in the request's shape when this node is
/// not the active controller.
pub async fn handle(
    controller: &ControllerHandle,
    head: RequestHead,
) -> Result<EncodedResponse, RequestError> {
    let request = ControllerRequest::decode(&head)?;
    answer(controller, request, &head).await
}

async fn answer(
    controller: &ControllerHandle,
    request: ControllerRequest,
    head: &RequestHead,
) -> Result<EncodedResponse, RequestError> {
    let response = match controller.call(request.clone()).await {
        Ok(r) => r,
        Err(_) => request.error_response(ResponseError::NotController),
    };
    response.encode(head)
}
