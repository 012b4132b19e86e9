//! The controller listener's service: the KRaft RPCs (`raft_io::routes`), the quorum
//! controller's APIs (`api`) and Envelope (`envelope`), in one route table; a closed
//! connection that carried a broker's heartbeats is reported to the controller
//! (`heartbeat_sessions`, ADR 0012).

use kafka_protocol::messages::ApiKey;

use super::api::{self, ControllerContext, FORWARDABLE};
use super::envelope;
use crate::network::{Handled, RouteTable, Service, Session};
use crate::protocol::api_versions::{ApiRange, ApiTable};
use crate::protocol::request::RequestHead;
use crate::raft_io::routes as quorum_routes;

/// The controller listener's whole table: KRaft RPCs, controller APIs and Envelope.
pub fn routes() -> RouteTable<ControllerContext> {
    let mut all = quorum_routes::routes::<ControllerContext>();
    all.extend(api::controller_routes());
    all.push(envelope::ROUTE);
    RouteTable::new(all)
}

/// The versions of every API a broker forwards (the forwardable controller APIs and
/// DescribeQuorum): brokers advertise exactly these.
pub fn forwarded_ranges() -> Vec<ApiRange> {
    let table = routes();
    FORWARDABLE
        .iter()
        .chain(std::iter::once(&ApiKey::DescribeQuorum))
        .filter_map(|k| table.get(*k).map(|r| r.range))
        .collect()
}

/// The controller listener's service: [`routes`] over a [`ControllerContext`]; a closed
/// connection that carried a broker's latest heartbeat is reported to the quorum controller.
pub struct ControllerService {
    context: ControllerContext,
    routes: RouteTable<ControllerContext>,
}

impl ControllerService {
    pub fn new(context: ControllerContext) -> ControllerService {
        ControllerService {
            context,
            routes: routes(),
        }
    }
}

impl Service for ControllerService {
    fn apis(&self) -> &ApiTable {
        self.routes.apis()
    }

    fn handle<'a>(&'a self, session: &'a mut Session, request: RequestHead) -> Handled<'a> {
        self.routes.dispatch(&self.context, session, request)
    }

    fn session_closed(&self, session: &Session) {
        if let Some((broker, epoch)) = self.context.heartbeat_sessions.closed(session.id) {
            tracing::debug!(broker, epoch, peer = %session.peer, "a broker's heartbeat connection closed");
            self.context
                .controller
                .heartbeat_connection_closed(broker, epoch);
        }
    }
}
