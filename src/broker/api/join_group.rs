//! JoinGroup (API 11): a member joins a classic group; the answer comes when the join phase
//! ends (MEMBER_ID_REQUIRED first for a new dynamic member on v4+).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::shard::{JoinOutcome, JoinRequest, Reply};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// JoinGroup v2–v9 (Kafka 4.0 removed v0–v1).
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::JoinGroup, 2, 9, serve);

fn serve<'a>(ctx: &'a BrokerContext, session: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: JoinGroupRequest = request::decode_body(&head)?;
        let client_id = head
            .header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let version = head.api_version;
        let join = JoinRequest {
            group_id: r.group_id.0.to_string(),
            member_id: r.member_id.to_string(),
            instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
            client_host: format!("/{}", session.peer.ip()),
            fresh_member_id: format!("{client_id}-{}", uuid::Uuid::new_v4()),
            client_id,
            session_timeout_ms: r.session_timeout_ms,
            rebalance_timeout_ms: if version >= 1 {
                r.rebalance_timeout_ms
            } else {
                r.session_timeout_ms
            },
            protocol_type: r.protocol_type.to_string(),
            protocols: r
                .protocols
                .iter()
                .map(|p| (p.name.to_string(), p.metadata.clone()))
                .collect(),
            require_known_member_id: version >= 4,
        };
        let member_id = join.member_id.clone();
        let group = join.group_id.clone();
        let outcome = match ctx
            .groups
            .request(&group, move |shard, now, reply, out| {
                shard.join(now, join, reply, out)
            })
            .await
        {
            Ok(Reply::Join(j)) => j,
            Ok(_) => JoinOutcome::failed(ResponseError::UnknownServerError, &member_id),
            Err(e) => JoinOutcome::failed(e, &member_id),
        };
        let resp = response(outcome, version);
        let code = resp.error_code;
        respond(&head, &resp, code)
    })
}

fn response(j: JoinOutcome, version: i16) -> JoinGroupResponse {
    let error = j.error.map_or(0, |e| e.code());
    JoinGroupResponse::default()
        .with_error_code(error)
        .with_generation_id(j.generation)
        .with_protocol_type(if version >= 7 {
            j.protocol_type.map(StrBytes::from_string)
        } else {
            None
        })
        .with_protocol_name(Some(StrBytes::from_string(j.protocol.unwrap_or_default())))
        .with_leader(StrBytes::from_string(j.leader))
        .with_skip_assignment(version >= 9 && j.skip_assignment)
        .with_member_id(StrBytes::from_string(j.member_id))
        .with_members(
            j.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_group_instance_id(
                            instance.filter(|_| version >= 5).map(StrBytes::from_string),
                        )
                        .with_metadata(metadata)
                })
                .collect(),
        )
}
