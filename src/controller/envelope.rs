//! Envelope (KIP-590) on the controller listener: a broker forwards a client's admin request
//! unchanged, with the client's principal and address; the controller serves the inner
//! request as that client and returns the inner response's bytes.
//!
//! Only the controller service routes Envelope, so only controller listeners accept it; a
//! client listener refuses it like any API it does not serve.

use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, EnvelopeRequest, EnvelopeResponse};

use super::api::{ControllerContext, FORWARDABLE, controller_routes};
use crate::network::{Handled, Route, RouteTable, Session};
use crate::protocol::envelope::{address, principal};
use crate::protocol::request::{self, Parsed, RequestError, RequestHead};
use crate::protocol::response::respond;
use crate::raft_io::routes as quorum_routes;

/// Envelope v0.
pub const ROUTE: Route<ControllerContext> = Route::new(ApiKey::Envelope, 0, 0, serve);

/// What may travel inside an Envelope: the forwardable controller APIs and DescribeQuorum.
fn inner_routes() -> &'static RouteTable<ControllerContext> {
    static TABLE: OnceLock<RouteTable<ControllerContext>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = controller_routes();
        all.extend(quorum_routes::routes::<ControllerContext>());
        let all = RouteTable::new(all);
        let keys = FORWARDABLE
            .iter()
            .chain(std::iter::once(&ApiKey::DescribeQuorum));
        RouteTable::new(keys.filter_map(|k| all.get(*k).copied()).collect())
    })
}

fn serve<'a>(
    ctx: &'a ControllerContext,
    session: &'a mut Session,
    head: RequestHead,
) -> Handled<'a> {
    Box::pin(async move {
        let envelope: EnvelopeRequest = request::decode_body(&head)?;
        // A standby controller sends the broker on to the active one (it retries).
        if ctx.controller.active_epoch().is_none() {
            let response =
                EnvelopeResponse::default().with_error_code(ResponseError::NotController.code());
            return respond(&head, &response, ResponseError::NotController.code());
        }
        let (response, code) = match unwrap(ctx, session, envelope).await {
            Ok((data, code)) => (
                EnvelopeResponse::default().with_response_data(Some(data)),
                code,
            ),
            Err(e) => {
                tracing::warn!(
                    peer = %session.peer,
                    error = %e,
                    "refusing a malformed Envelope"
                );
                let code = ResponseError::InvalidRequest.code();
                (EnvelopeResponse::default().with_error_code(code), code)
            }
        };
        respond(&head, &response, code)
    })
}

/// Serves the inner request as the forwarding broker's client; returns the inner response
/// (header and body, without the size) and its error code.
async fn unwrap(
    ctx: &ControllerContext,
    broker: &Session,
    envelope: EnvelopeRequest,
) -> Result<(Bytes, i16), RequestError> {
    let table = inner_routes();
    let inner = match request::parse(envelope.request_data, table.apis())? {
        Parsed::Request(head) if head.api_key != ApiKey::ApiVersions => head,
        _ => {
            return Err(RequestError::Malformed {
                api: ApiKey::Envelope,
                version: 0,
                reason: "the inner request is not a forwardable API".into(),
            });
        }
    };
    let mut client = broker.clone();
    client.principal = principal(envelope.request_principal.as_ref())?;
    client.peer = SocketAddr::new(address(&envelope.client_host_address)?, 0);
    client.client_id = inner.header.client_id.as_ref().map(|c| c.to_string());
    let response = table.dispatch(ctx, &mut client, inner).await?;
    Ok((response.frame.slice(4..), response.error_code))
}
