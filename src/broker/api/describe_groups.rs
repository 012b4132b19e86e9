//! DescribeGroups (API 15): state, protocol and members of classic groups.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::BrokerContext;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// DescribeGroups v0–v5 (v6 answers unknown groups with GROUP_ID_NOT_FOUND; not served).
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DescribeGroups, 0, 5, serve);

/// Authorized operations are not computed (no ACLs yet): Kafka's "omitted" value.
const OPERATIONS_OMITTED: i32 = i32::MIN;

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DescribeGroupsRequest = request::decode_body(&head)?;
        let mut groups = Vec::new();
        for id in &r.groups {
            let group = id.0.to_string();
            let g = group.clone();
            let described = ctx
                .groups
                .call(&group, move |shard, _, _| shard.describe(&g))
                .await;
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(OPERATIONS_OMITTED);
            groups.push(match described {
                Ok(Some(d)) => base
                    .with_group_state(StrBytes::from_static_str(d.state.name()))
                    .with_protocol_type(StrBytes::from_string(d.protocol_type))
                    .with_protocol_data(StrBytes::from_string(d.protocol))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|(id, instance, client_id, host, metadata, assignment)| {
                                DescribedGroupMember::default()
                                    .with_member_id(StrBytes::from_string(id))
                                    .with_group_instance_id(instance.map(StrBytes::from_string))
                                    .with_client_id(StrBytes::from_string(client_id))
                                    .with_client_host(StrBytes::from_string(host))
                                    .with_member_metadata(metadata)
                                    .with_member_assignment(assignment)
                            })
                            .collect(),
                    ),
                // An unknown group is described as Dead, without an error (as Kafka does
                // before v6).
                Ok(None) => base.with_group_state(StrBytes::from_static_str("Dead")),
                Err(e) => base
                    .with_error_code(e.code())
                    .with_group_state(StrBytes::from_static_str("")),
            });
        }
        let code = groups
            .iter()
            .map(|g| g.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0);
        let resp = DescribeGroupsResponse::default().with_groups(groups);
        respond(&head, &resp, code)
    })
}
