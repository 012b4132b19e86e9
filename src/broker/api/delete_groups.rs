//! DeleteGroups (API 42): removes empty groups and their committed offsets.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};

use super::BrokerContext;
use crate::group::shard::Reply;
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;

/// DeleteGroups v0–v2.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::DeleteGroups, 0, 2, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: DeleteGroupsRequest = request::decode_body(&head)?;
        let mut results = Vec::new();
        for id in &r.groups_names {
            let group = id.0.to_string();
            let g = vec![group.clone()];
            let answer = ctx
                .groups
                .request(&group, move |shard, now, reply, out| {
                    shard.delete_groups(now, &g, reply, out)
                })
                .await;
            let error = match answer {
                Ok(Reply::DeleteGroups(r)) => r.into_iter().next().and_then(|(_, e)| e),
                Ok(_) => Some(ResponseError::UnknownServerError),
                Err(e) => Some(e),
            };
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(error.map_or(0, |e| e.code())),
            );
        }
        let code = results
            .iter()
            .map(|r| r.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0);
        let resp = DeleteGroupsResponse::default().with_results(results);
        respond(&head, &resp, code)
    })
}
