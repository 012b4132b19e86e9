//! LeaveGroup (API 13): members leave a classic group (v3+: several at once, by member id
//! or `group.instance.id`); the others rebalance.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::Reply;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// LeaveGroup v0–v5.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::LeaveGroup, 0, 5, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: LeaveGroupRequest = request::decode_body(&head)?;
        let version = head.api_version;
        let members: Vec<(String, Option<String>)> = if version >= 3 {
            r.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|i| i.to_string()),
                    )
                })
                .collect()
        } else {
            vec![(r.member_id.to_string(), None)]
        };
        let group = r.group_id.0.to_string();
        let g = group.clone();
        let answer = ctx
            .groups
            .request(&group, move |shard, now, reply, out| {
                shard.leave(now, &g, &members, reply, out)
            })
            .await;
        let resp = match answer {
            Ok(Reply::Leave { error, members }) => {
                let top = if version >= 3 {
                    // Per-member errors; the top level fails only for the group itself.
                    error.filter(|e| {
                        members.is_empty() || *e == ResponseError::CoordinatorNotAvailable
                    })
                } else {
                    error
                };
                LeaveGroupResponse::default()
                    .with_error_code(top.map_or(0, |e| e.code()))
                    .with_members(if version >= 3 {
                        members
                            .into_iter()
                            .map(|((id, instance), e)| {
                                MemberResponse::default()
                                    .with_member_id(StrBytes::from_string(id))
                                    .with_group_instance_id(instance.map(StrBytes::from_string))
                                    .with_error_code(e.map_or(0, |e| e.code()))
                            })
                            .collect()
                    } else {
                        Vec::new()
                    })
            }
            Ok(_) => LeaveGroupResponse::default()
                .with_error_code(ResponseError::UnknownServerError.code()),
            Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        };
        let code = resp.error_code;
        respond(&head, &resp, code)
    })
}
