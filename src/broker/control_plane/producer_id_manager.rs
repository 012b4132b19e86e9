//! Producer ids for idempotent producers: blocks of ids allocated by the active controller
//! (AllocateProducerIds with this broker's epoch), handed out one per InitProducerId.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AllocateProducerIdsRequest, BrokerId};
use tokio::sync::{Mutex, watch};

use crate::broker::control_plane::controller_channel::ControllerChannel;

pub struct ProducerIdManager {
    broker_id: i32,
    epoch: watch::Receiver<Option<i64>>,
    channel: Arc<ControllerChannel>,
    /// [next, end) of the current block.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn new(
        broker_id: i32,
        epoch: watch::Receiver<Option<i64>>,
        channel: Arc<ControllerChannel>,
    ) -> Self {
        ProducerIdManager {
            broker_id,
            epoch,
            channel,
            block: Mutex::new((0, 0)),
        }
    }

    /// The next producer id, fetching a new block when the current one is used up.
    pub async fn next(&self, timeout: Duration) -> Result<i64, ResponseError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            *block = tokio::time::timeout(timeout, self.allocate())
                .await
                .map_err(|_| ResponseError::CoordinatorLoadInProgress)??;
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }

    async fn allocate(&self) -> Result<(i64, i64), ResponseError> {
        loop {
            let Some(epoch) = *self.epoch.borrow() else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let req = AllocateProducerIdsRequest::default()
                .with_broker_id(BrokerId(self.broker_id))
                .with_broker_epoch(epoch);
            match self.channel.send(&req, 0).await {
                Ok(r) if r.error_code == 0 && r.producer_id_len > 0 => {
                    let start = r.producer_id_start.0;
                    tracing::info!(
                        start,
                        len = r.producer_id_len,
                        "producer id block allocated"
                    );
                    return Ok((start, start + i64::from(r.producer_id_len)));
                }
                Ok(r) => match ResponseError::try_from_code(r.error_code) {
                    Some(ResponseError::NotController) | Some(ResponseError::StaleBrokerEpoch) => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Some(e) => return Err(e),
                    None => return Err(ResponseError::UnknownServerError),
                },
                Err(e) => {
                    tracing::debug!(error = %e, "producer id allocation failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
