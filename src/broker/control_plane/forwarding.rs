//! Admin requests a broker does not answer itself travel to the active controller inside an
//! Envelope (KIP-590): the client's request bytes unchanged, with its principal and address.
//! The broker neither decodes the request nor the response: the controller's answer goes back
//! to the client as it came. A standby controller answers NOT_CONTROLLER and the broker tries
//! the active one until the forwarding timeout.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, DescribeQuorumResponse, EnvelopeRequest, EnvelopeResponse};

use super::controller_channel::ControllerChannel;
use crate::broker::api::BrokerContext;
use crate::controller::request::ControllerRequest;
use crate::network::{Handled, Route, Session};
use crate::protocol::api_versions::ApiRange;
use crate::protocol::envelope::{serialize_address, serialize_principal};
use crate::protocol::request::{RequestError, RequestHead};
use crate::protocol::response::{EncodedResponse, respond};

/// How long a forwarded request may wait for an active controller (Kafka's
/// `request.timeout.ms` default for the forwarding channel).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts while no active controller answers.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// The route of a forwarded API, with the versions the controller serves.
pub fn route(range: ApiRange) -> Route<BrokerContext> {
    Route {
        range,
        handler: serve,
    }
}

fn serve<'a>(ctx: &'a BrokerContext, session: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(forward(&ctx.forward, session, head))
}

/// Forwards `head` to the active controller and returns its answer unchanged.
pub async fn forward(
    channel: &ControllerChannel,
    session: &Session,
    head: RequestHead,
) -> Result<EncodedResponse, RequestError> {
    let envelope = EnvelopeRequest::default()
        .with_request_data(head.raw.clone())
        .with_request_principal(Some(serialize_principal(&session.principal)))
        .with_client_host_address(serialize_address(session.peer.ip()));
    let deadline = tokio::time::Instant::now() + FORWARD_TIMEOUT;
    loop {
        match channel.send(&envelope, 0).await {
            Ok(r) if r.error_code == ResponseError::NotController.code() => {
                tracing::debug!("forwarded request reached a standby controller; retrying");
            }
            Ok(r) => return unwrap(&head, r),
            Err(e) => tracing::debug!(error = %e, "forwarding failed; retrying"),
        }
        if tokio::time::Instant::now() + RETRY_BACKOFF >= deadline {
            return timed_out(&head);
        }
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
}

/// The client's answer from the controller's Envelope response.
fn unwrap(head: &RequestHead, r: EnvelopeResponse) -> Result<EncodedResponse, RequestError> {
    match r.response_data {
        Some(data) if r.error_code == 0 => {
            let mut frame = bytes::BytesMut::with_capacity(data.len() + 4);
            frame.extend_from_slice(&(data.len() as i32).to_be_bytes());
            frame.extend_from_slice(&data);
            Ok(EncodedResponse {
                frame: frame.freeze(),
                error_code: 0,
            })
        }
        _ => {
            let error = ResponseError::try_from_code(r.error_code)
                .unwrap_or(ResponseError::UnknownServerError);
            tracing::warn!(api = ?head.api_key, %error, "the controller refused a forwarded request");
            error_answer(head, error)
        }
    }
}

fn timed_out(head: &RequestHead) -> Result<EncodedResponse, RequestError> {
    error_answer(head, ResponseError::RequestTimedOut)
}

/// `error` everywhere the request's shape allows (the only time the broker decodes a
/// forwarded request).
fn error_answer(head: &RequestHead, error: ResponseError) -> Result<EncodedResponse, RequestError> {
    if head.api_key == ApiKey::DescribeQuorum {
        let response = DescribeQuorumResponse::default().with_error_code(error.code());
        return respond(head, &response, error.code());
    }
    ControllerRequest::decode(head)?
        .error_response(error)
        .encode(head)
}
