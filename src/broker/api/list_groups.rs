//! ListGroups (API 16): the groups this broker coordinates (clients ask every broker), with
//! their state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::group::classic_group::GroupState;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// ListGroups v0–v5.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::ListGroups, 0, 5, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: ListGroupsRequest = request::decode_body(&head)?;
        let states: Vec<String> = r.states_filter.iter().map(|s| s.to_string()).collect();
        let types: Vec<String> = r.types_filter.iter().map(|s| s.to_lowercase()).collect();
        let mut groups = Vec::new();
        let mut error = 0;
        for listed in ctx.groups.each(|shard| shard.listings()).await {
            let listings = match listed {
                Ok(l) => l,
                Err(e) => {
                    error = e.code();
                    continue;
                }
            };
            for l in listings {
                let state_ok = states.is_empty()
                    || states.iter().any(|s| GroupState::parse(s) == Some(l.state));
                let type_ok = types.is_empty() || types.iter().any(|t| t == "classic");
                if state_ok && type_ok {
                    groups.push(
                        ListedGroup::default()
                            .with_group_id(GroupId(StrBytes::from_string(l.group_id)))
                            .with_protocol_type(StrBytes::from_string(l.protocol_type))
                            .with_group_state(StrBytes::from_static_str(l.state.name()))
                            .with_group_type(StrBytes::from_static_str("classic")),
                    );
                }
            }
        }
        let resp = ListGroupsResponse::default()
            .with_error_code(error)
            .with_groups(groups);
        respond(&head, &resp, error)
    })
}
