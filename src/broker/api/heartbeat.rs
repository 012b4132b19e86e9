//! Heartbeat (API 12): a classic group member stays alive; REBALANCE_IN_PROGRESS tells it
//! to rejoin.

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};

use super::BrokerContext;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// Heartbeat v0–v4.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::Heartbeat, 0, 4, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: HeartbeatRequest = request::decode_body(&head)?;
        let group = r.group_id.0.to_string();
        let member = r.member_id.to_string();
        let instance = r.group_instance_id.as_ref().map(|i| i.to_string());
        let generation = r.generation_id;
        let g = group.clone();
        let error = ctx
            .groups
            .call(&group, move |shard, now, _| {
                shard.heartbeat(now, &g, generation, &member, instance.as_deref())
            })
            .await
            .unwrap_or_else(Some);
        let code = error.map_or(0, |e| e.code());
        let resp = HeartbeatResponse::default().with_error_code(code);
        respond(&head, &resp, code)
    })
}
