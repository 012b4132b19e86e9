//! The quorum controller's APIs on the controller listener: a request is decoded, handed to
//! the controller task and its answer encoded (NOT_CONTROLLER in the request's shape on a
//! standby controller).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

use crate::controller::quorum_controller::ControllerHandle;
use crate::controller::request::ControllerRequest;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{RequestError, RequestHead};
use crate::protocol::response::EncodedResponse;
use crate::raft_io::endpoint::RaftEndpoint;
use crate::raft_io::routes::QuorumContext;

/// What the controller listener's handlers reach: the raft driver and the controller task.
#[derive(Clone)]
pub struct ControllerContext {
    pub raft: RaftEndpoint,
    pub controller: ControllerHandle,
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
        r(ApiKey::BrokerHeartbeat, 0, 1),
        r(ApiKey::UnregisterBroker, 0, 0),
        r(ApiKey::AllocateProducerIds, 0, 0),
        r(ApiKey::ControllerRegistration, 0, 0),
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
];

fn serve<'a>(ctx: &'a ControllerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(handle(&ctx.controller, head))
}

/// Serves one controller API request: NOT_CONTROLLER in the request's shape when this node is
/// not the active controller.
pub async fn handle(
    controller: &ControllerHandle,
    head: RequestHead,
) -> Result<EncodedResponse, RequestError> {
    let request = ControllerRequest::decode(&head)?;
    let response = match controller.call(request.clone()).await {
        Ok(r) => r,
        Err(_) => request.error_response(ResponseError::NotController),
    };
    response.encode(&head)
}
