//! The controller listener's service: the KRaft RPCs (`raft_io::routes`), the quorum
//! controller's APIs (`api`) and Envelope (`envelope`), in one route table.

use kafka_protocol::messages::ApiKey;

use super::api::{self, ControllerContext, FORWARDABLE};
use super::envelope;
use crate::network::RouteTable;
use crate::protocol::api_versions::ApiRange;
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
