//! The broker listener's service: the broker's own client APIs (one route per file in
//! `api/`, one line each in [`ROUTES`]) and the admin APIs it forwards to the active
//! controller in Envelopes, at the versions the controller serves.

use std::time::Duration;

use super::api::{self, BrokerContext};
use super::control_plane::forwarding;
use crate::network::{Handled, Route, RouteTable, Service, Session};
use crate::protocol::api_versions::{ApiRange, ApiTable};
use crate::protocol::request::RequestHead;

/// The broker's own APIs, one line each. Adding an API is its file plus one line here.
const ROUTES: &[Route<BrokerContext>] = &[
    api::metadata::ROUTE,
    api::produce::ROUTE,
    api::fetch::ROUTE,
    api::list_offsets::ROUTE,
    api::init_producer_id::ROUTE,
    api::offset_for_leader_epoch::ROUTE,
    api::delete_records::ROUTE,
    api::describe_log_dirs::ROUTE,
    api::describe_topic_partitions::ROUTE,
    api::describe_configs::ROUTE,
    api::describe_cluster::ROUTE,
    api::find_coordinator::ROUTE,
    api::join_group::ROUTE,
    api::sync_group::ROUTE,
    api::heartbeat::ROUTE,
    api::leave_group::ROUTE,
    api::offset_commit::ROUTE,
    api::offset_fetch::ROUTE,
    api::offset_delete::ROUTE,
    api::list_groups::ROUTE,
    api::describe_groups::ROUTE,
    api::delete_groups::ROUTE,
];

/// How long a request waits for the broker's first metadata image.
const METADATA_READY_WAIT: Duration = Duration::from_secs(30);

/// The broker listener's service: its own APIs, and the admin APIs it forwards to the active
/// controller with the versions the controller serves (`forwarded`).
pub struct BrokerService {
    context: BrokerContext,
    routes: RouteTable<BrokerContext>,
}

/// The broker's own routes and a forwarding route for each of `forwarded`.
fn routes(forwarded: &[ApiRange]) -> RouteTable<BrokerContext> {
    let mut routes = ROUTES.to_vec();
    routes.extend(forwarded.iter().map(|r| forwarding::route(*r)));
    RouteTable::new(routes)
}

/// What a broker listener that forwards `forwarded` serves and advertises in ApiVersions
/// (without building a broker).
pub fn apis(forwarded: &[ApiRange]) -> ApiTable {
    routes(forwarded).apis().clone()
}

impl BrokerService {
    pub fn new(context: BrokerContext, forwarded: &[ApiRange]) -> BrokerService {
        BrokerService {
            context,
            routes: routes(forwarded),
        }
    }
}

impl Service for BrokerService {
    fn apis(&self) -> &ApiTable {
        self.routes.apis()
    }

    fn handle<'a>(&'a self, session: &'a mut Session, request: RequestHead) -> Handled<'a> {
        // A broker answers clients only from an image that has caught up with the metadata
        // log (as Kafka enables request processing only after its initial catch-up): an
        // empty image would tell them that their topics do not exist.
        if self.context.cache.is_ready() {
            return self.routes.dispatch(&self.context, session, request);
        }
        Box::pin(async move {
            self.context.cache.wait_ready(METADATA_READY_WAIT).await;
            self.routes.dispatch(&self.context, session, request).await
        })
    }
}
