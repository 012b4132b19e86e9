//! InitProducerId (API 22) for idempotent producers: a fresh producer id with epoch 0 from the
//! controller-allocated block. Transactional producers are refused (transactions are not
//! served yet).

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::BrokerContext;

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
