//! InitProducerId (API 22) for idempotent producers: a fresh producer id with epoch 0 from the
//! controller-allocated block. Transactional producers are refused (transactions are not
//! served yet).

use crate::network::{Handled, Route, Session};
use crate::protocol::request::{self, RequestHead};
use crate::protocol::response::respond;
use kafka_protocol::messages::ApiKey;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::BrokerContext;

/// InitProducerId v0–v4.
pub const ROUTE: Route<BrokerContext> = Route::new(ApiKey::InitProducerId, 0, 4, serve);

fn serve<'a>(ctx: &'a BrokerContext, _: &'a mut Session, head: RequestHead) -> Handled<'a> {
    Box::pin(async move {
        let r: InitProducerIdRequest = request::decode_body(&head)?;
        let resp = handle(ctx, &r).await;
        respond(&head, &resp, resp.error_code)
    })
}

pub async fn handle(ctx: &BrokerContext, r: &InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if r.transactional_id.is_some() {
        return fail(ResponseError::TransactionalIdAuthorizationFailed);
    }
    match ctx.producer_ids.next(Duration::from_secs(10)).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => fail(e),
    }
}
