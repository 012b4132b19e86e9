//! SyncGroup (API 14): the leader hands out the generation's assignment; every member gets
//! its own once it is written to `__consumer_offsets`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::{Reply, SyncRequest};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// SyncGroup v0–v5.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::SyncGroup, 0, 5, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: SyncGroupRequest = request::decode_body(&head)?;
        let sync = SyncRequest {
            group_id: r.group_id.0.to_string(),
            generation: r.generation_id,
            member_id: r.member_id.to_string(),
            instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
            protocol_type: r.protocol_type.as_ref().map(|p| p.to_string()),
            protocol: r.protocol_name.as_ref().map(|p| p.to_string()),
            assignments: r
                .assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                .collect(),
        };
        let group = sync.group_id.clone();
        let answer = ctx
            .groups
            .request(&group, move |shard, now, reply, out| {
                shard.sync(now, sync, reply, out)
            })
            .await;
        let resp = match answer {
            Ok(Reply::Sync {
                error,
                protocol_type,
                protocol,
                assignment,
            }) => SyncGroupResponse::default()
                .with_error_code(error.map_or(0, |e| e.code()))
                .with_protocol_type(
                    protocol_type
                        .filter(|_| head.api_version >= 5)
                        .map(StrBytes::from_string),
                )
                .with_protocol_name(
                    protocol
                        .filter(|_| head.api_version >= 5)
                        .map(StrBytes::from_string),
                )
                .with_assignment(assignment),
            Ok(_) => SyncGroupResponse::default()
                .with_error_code(ResponseError::UnknownServerError.code()),
            Err(e) => SyncGroupResponse::default().with_error_code(e.code()),
        };
        let code = resp.error_code;
        respond(&head, &resp, code)
    })
}
