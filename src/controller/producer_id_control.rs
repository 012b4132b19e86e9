//! AllocateProducerIds: blocks of 1000 producer ids, in order, to brokers with a current epoch.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AllocateProducerIdsRequest, AllocateProducerIdsResponse};

use crate::controller::context::{Context, ControllerResult};
use crate::metadata::records::{ApiMessageAndVersion, MetadataRecord, ProducerIdsRecord};

/// Producer ids per block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const BLOCK_SIZE: i64 = 1000;

pub fn allocate(
    ctx: &Context<'_>,
    r: &AllocateProducerIdsRequest,
) -> ControllerResult<AllocateProducerIdsResponse> {
    let failed = |e: ResponseError| {
        ControllerResult::answer(AllocateProducerIdsResponse::default().with_error_code(e.code()))
    };
    let broker = r.broker_id.0;
    match ctx.image.cluster.brokers.get(&broker) {
        Some(b) if b.epoch == r.broker_epoch => {}
        _ => return failed(ResponseError::StaleBrokerEpoch),
    }
    let start = ctx.image.producer_ids.next_producer_id;
    let Some(next) = start.checked_add(BLOCK_SIZE) else {
        return failed(ResponseError::UnknownServerError);
    };
    ControllerResult::new(
        vec![ApiMessageAndVersion::latest(MetadataRecord::ProducerIds(
            ProducerIdsRecord {
                broker_id: broker,
                broker_epoch: r.broker_epoch,
                next_producer_id: next,
                ..Default::default()
            },
        ))],
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(kafka_protocol::messages::ProducerId(start))
            .with_producer_id_len(BLOCK_SIZE as i32),
    )
}
