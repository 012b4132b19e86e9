//! DescribeCluster (API 60) on a broker listener: the brokers of the image with their fenced
//! state (v2), on the request's listener.

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;

/// DescribeCluster v0–v2.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DescribeCluster, 0, 2, serve);

fn serve<'a>(ctx: &'a BrokerContext, session: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DescribeClusterRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &session.listener, &r);
        respond(&head, &resp, resp.error_code)
    })
}

pub fn handle(
    ctx: &BrokerContext,
    listener: &str,
    r: &DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.cache.image();
    let brokers: Vec<DescribeClusterBroker> = image
        .cluster
        .brokers
        .values()
        .filter(|b| r.include_fenced_brokers || !b.fenced)
        .filter_map(|b| {
            let e = super::endpoint(b, listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.id))
                    .with_host(StrBytes::from_string(e.host.clone()))
                    .with_port(i32::from(e.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string))
                    .with_is_fenced(b.fenced),
            )
        })
        .collect();
    let controller_id = brokers
        .iter()
        .find(|b| !b.is_fenced)
        .map_or(-1, |b| b.broker_id.0);
    DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(StrBytes::from_string(ctx.cluster_id.clone()))
        .with_controller_id(BrokerId(controller_id))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(i32::MIN)
}
