//! The controller listener's service: the KRaft RPCs (`raft_io::routes`), the quorum
//! controller's APIs (`api`) and Envelope (`envelope`), in one route table; and which
//! connection carries which broker's heartbeats, so that the controller hears when a broker's
//! heartbeat connection closes (ADR 0012).

use std::collections::BTreeMap;
use std::sync::Mutex;

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

/// Which connection (session id) carried each broker's latest BrokerHeartbeat, and with
/// which broker epoch.
#[derive(Debug, Default)]
pub struct HeartbeatSessions {
    by_broker: Mutex<BTreeMap<i32, (u64, i64)>>,
}

impl HeartbeatSessions {
    /// A BrokerHeartbeat of `broker` at `epoch` arrived on `session`, before the controller
    /// sees it: a close of the broker's previous connection noticed from now on is not its
    /// heartbeat connection's any more.
    pub fn heartbeat(&self, session: u64, broker: i32, epoch: i64) {
        self.lock().insert(broker, (session, epoch));
    }

    /// `session` closed: the broker (and epoch) whose latest heartbeat it carried, if any.
    pub fn closed(&self, session: u64) -> Option<(i32, i64)> {
        let mut map = self.lock();
        let (&broker, &(_, epoch)) = map.iter().find(|(_, (s, _))| *s == session)?;
        map.remove(&broker);
        Some((broker, epoch))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, (u64, i64)>> {
        // The map stays consistent whatever a panicking holder did: each update is one insert
        // or remove.
        self.by_broker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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

#[cfg(test)]
mod tests {
    use super::HeartbeatSessions;

    #[test]
    fn only_the_connection_of_the_latest_heartbeat_reports_its_broker() {
        let s = HeartbeatSessions::default();
        s.heartbeat(1, 4, 100);
        s.heartbeat(2, 5, 200);
        assert_eq!(s.closed(3), None, "a connection that carried no heartbeat");
        // Broker 4 reconnected: its new connection carried a heartbeat before the old one's
        // close was noticed.
        s.heartbeat(7, 4, 100);
        assert_eq!(s.closed(1), None);
        assert_eq!(s.closed(7), Some((4, 100)));
        assert_eq!(s.closed(7), None, "reported once");
        assert_eq!(s.closed(2), Some((5, 200)));
    }
}
