//! The KRaft RPCs a controller listener serves, one route each with its versions: Vote,
//! BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot between voters, DescribeQuorum
//! and DescribeCluster (KIP-919) for tools. Generic over the listener's context, so the
//! controller's service adds them to its own routes.

use kafka_protocol::messages::{
    ApiKey, BeginQuorumEpochRequest, DescribeClusterRequest, DescribeQuorumRequest,
    EndQuorumEpochRequest, FetchRequest, FetchSnapshotRequest, VoteRequest,
};

use super::endpoint::{EndpointError, RaftEndpoint};
use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestError, RequestHead};
use crate::protocol::response::{ErrorCodeOf, encode};

/// A listener context that reaches the raft driver.
pub trait QuorumContext: Send + Sync + 'static {
    fn raft(&self) -> &RaftEndpoint;
}

impl QuorumContext for RaftEndpoint {
    fn raft(&self) -> &RaftEndpoint {
        self
    }
}

/// Every KRaft route.
pub fn routes<C: QuorumContext>() -> Vec<Route<C>> {
    vec![
        Route::new(ApiKey::Vote, 0, 2, vote::<C>),
        Route::new(ApiKey::BeginQuorumEpoch, 0, 1, begin_quorum_epoch::<C>),
        Route::new(ApiKey::EndQuorumEpoch, 0, 1, end_quorum_epoch::<C>),
        Route::new(ApiKey::Fetch, 12, 18, fetch::<C>),
        Route::new(ApiKey::FetchSnapshot, 0, 1, fetch_snapshot::<C>),
        Route::new(ApiKey::DescribeQuorum, 0, 2, describe_quorum::<C>),
        Route::new(ApiKey::DescribeCluster, 0, 1, describe_cluster::<C>),
    ]
}

/// A request the driver could not serve closes the connection with this reason.
fn failed(head: &RequestHead) -> impl FnOnce(EndpointError) -> RequestError {
    let (api, version) = (head.api_key, head.api_version);
    move |e| RequestError::Malformed {
        api,
        version,
        reason: e.to_string(),
    }
}

/// Encodes `response` to `head`, reporting its top-level or partition error.
fn answer<M>(
    head: &RequestHead,
    response: &M,
) -> Result<crate::protocol::EncodedResponse, RequestError>
where
    M: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion + ErrorCodeOf,
{
    let code = response.error_code_of();
    encode(
        head.header.correlation_id,
        head.api_key,
        head.api_version,
        response,
        code,
    )
}

/// A KRaft route handler: decodes `$request`, calls the raft endpoint with it (`$raft`,
/// `$r`, `$version` name the endpoint, the request and its version in `$call`) and answers.
macro_rules! handler {
    ($name:ident, $request:ty, |$raft:ident, $r:ident, $version:ident| $call:expr) => {
        fn $name<'a, C: QuorumContext>(
            ctx: &'a C,
            _: &'a mut Session,
            head: RequestHead,
        ) -> Handled<'a> {
            Box::pin(async move {
                let $r: $request = request::decode_body(&head)?;
                let ($raft, $version) = (ctx.raft(), head.api_version);
                let _ = $version;
                let response = $call.await.map_err(failed(&head))?;
                answer(&head, &response)
            })
        }
    };
}

handler!(vote, VoteRequest, |raft, r, v| raft.vote(&r));
handler!(begin_quorum_epoch, BeginQuorumEpochRequest, |raft, r, v| {
    raft.begin_quorum_epoch(&r)
});
handler!(end_quorum_epoch, EndQuorumEpochRequest, |raft, r, v| raft
    .end_quorum_epoch(&r));
handler!(fetch, FetchRequest, |raft, r, v| raft
    .fetch(&r, crate::clock::Clock::new().wall_ms()));
handler!(fetch_snapshot, FetchSnapshotRequest, |raft, r, v| raft
    .fetch_snapshot(&r));
handler!(describe_quorum, DescribeQuorumRequest, |raft, r, v| raft
    .describe_quorum(&r, v));
handler!(
    describe_cluster,
    DescribeClusterRequest,
    |raft, r, v| async { Ok::<_, EndpointError>(raft.describe_cluster(&r).await) }
);
