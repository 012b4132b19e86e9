//! Outbound RPCs to one peer: a task that owns the connection, sends the core's requests one
//! at a time as Kafka protocol messages, and reports responses. A failed request is dropped
//! (the core times it out and retries); the connection is re-established on the next request.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use super::wire;
use crate::network::client::{ClientError, KafkaConnection};
use crate::raft::messages as rm;
use crate::types::NodeId;

/// One request for a peer, with the core's correlation id.
pub struct PeerRequest {
    pub correlation_id: u64,
    pub request: rm::Request,
}

#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Wire(#[from] wire::WireError),
}

async fn exchange(
    conn: &mut KafkaConnection,
    request: &rm::Request,
    timeout: Duration,
) -> Result<rm::Response, PeerError> {
    Ok(match request {
        rm::Request::Vote(r) => rm::Response::Vote(wire::vote_response_in(
            &conn
                .send(&wire::vote_request_out(r), wire::VOTE_VERSION, timeout)
                .await?,
        )),
        rm::Request::BeginQuorumEpoch(r) => {
            rm::Response::BeginQuorumEpoch(wire::begin_response_in(
                &conn
                    .send(
                        &wire::begin_request_out(r),
                        wire::BEGIN_QUORUM_EPOCH_VERSION,
                        timeout,
                    )
                    .await?,
            ))
        }
        rm::Request::EndQuorumEpoch(r) => rm::Response::EndQuorumEpoch(wire::end_response_in(
            &conn
                .send(
                    &wire::end_request_out(r),
                    wire::END_QUORUM_EPOCH_VERSION,
                    timeout,
                )
                .await?,
        )),
        rm::Request::Fetch(r) => {
            let response = conn
                .send(
                    &wire::fetch_request_out(r),
                    wire::FETCH_VERSION,
                    timeout + r.max_wait,
                )
                .await?;
            rm::Response::Fetch(wire::fetch_response_in(&response)?)
        }
        rm::Request::FetchSnapshot(r) => {
            rm::Response::FetchSnapshot(wire::fetch_snapshot_response_in(
                &conn
                    .send(
                        &wire::fetch_snapshot_request_out(r),
                        wire::FETCH_SNAPSHOT_VERSION,
                        timeout,
                    )
                    .await?,
            ))
        }
    })
}

/// Serves requests for peer `id` at `addr` until the queue closes.
pub async fn peer_task<F, Fut>(
    id: NodeId,
    addr: String,
    client_id: String,
    timeout: Duration,
    mut requests: mpsc::Receiver<PeerRequest>,
    on_response: F,
) where
    F: Fn(NodeId, u64, rm::Response) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut conn: Option<KafkaConnection> = None;
    let mut last_error: Option<String> = None;
    while let Some(PeerRequest {
        correlation_id,
        request,
    }) = requests.recv().await
    {
        if conn.is_none() {
            match KafkaConnection::connect(&addr, &client_id, timeout).await {
                Ok(c) => {
                    if last_error.take().is_some() {
                        tracing::info!(peer = id.0, %addr, "connected to peer");
                    }
                    conn = Some(c);
                }
                Err(e) => {
                    let text = e.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(peer = id.0, %addr, error = %text, "cannot reach peer");
                        last_error = Some(text);
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        match exchange(c, &request, timeout).await {
            Ok(response) => on_response(id, correlation_id, response).await,
            Err(e) => {
                tracing::debug!(peer = id.0, %addr, request = request.name(), error = %e, "peer request failed");
                conn = None;
            }
        }
    }
}
