//! Sends the ISR changes partition leaders propose to the active controller in AlterPartition
//! requests (v3: each ISR member with its broker epoch), batching whatever is queued, as
//! Kafka's `AlterPartitionManager`. A committed change is applied to the partition at once
//! (the metadata image brings the same partition epoch later); a refused one is dropped and
//! proposed again by the leader's next check. A request that cannot reach the controller is
//! retried until the partition stops leading in that epoch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId};
use tokio::sync::mpsc;

use crate::broker::control_plane::controller_channel::ControllerChannel;
use crate::broker::control_plane::metadata_cache::MetadataCache;
use crate::broker::data_plane::partition_state::IsrChangeKind;
use crate::broker::data_plane::replica_manager::IsrProposal;
use crate::clock::Clock;
use crate::observability::metrics::ReplicationMetrics;
use crate::shutdown::ShutdownSignal;

const ALTER_PARTITION_VERSION: i16 = 3;
/// Pause before resending after the controller could not be reached.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

pub struct AlterPartitionSender {
    pub node_id: i32,
    pub channel: Arc<ControllerChannel>,
    pub cache: MetadataCache,
    pub metrics: ReplicationMetrics,
    pub clock: Clock,
}

impl AlterPartitionSender {
    pub async fn run(
        self,
        mut proposals: mpsc::UnboundedReceiver<IsrProposal>,
        mut shutdown: ShutdownSignal,
    ) {
        loop {
            let first = tokio::select! {
                p = proposals.recv() => p,
                _ = shutdown.wait() => return,
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while let Ok(p) = proposals.try_recv() {
                batch.push(p);
            }
            // A newer proposal for a partition replaces an older one.
            let mut latest: BTreeMap<(String, i32), IsrProposal> = BTreeMap::new();
            for p in batch {
                latest.insert((p.partition.topic.clone(), p.partition.index), p);
            }
            let batch: Vec<IsrProposal> = latest.into_values().collect();
            tokio::select! {
                _ = self.send_until_answered(batch) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    async fn send_until_answered(&self, mut batch: Vec<IsrProposal>) {
        loop {
            // Proposals of a leadership that has since ended are moot.
            batch.retain(|p| p.partition.leader_epoch() == p.change.leader_epoch);
            if batch.is_empty() {
                return;
            }
            let Some(epoch) = self.own_epoch() else {
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            };
            let request = self.request(&batch, epoch);
            match self.channel.send(&request, ALTER_PARTITION_VERSION).await {
                Ok(resp) if resp.error_code == 0 => {
                    self.apply(&batch, resp);
                    return;
                }
                Ok(resp) => {
                    tracing::warn!(
                        error = resp.error_code,
                        "AlterPartition refused as a whole; retrying"
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "AlterPartition did not reach the controller; retrying");
                }
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }

    /// This broker's epoch as the metadata registers it.
    fn own_epoch(&self) -> Option<i64> {
        self.cache
            .image()
            .cluster
            .brokers
            .get(&self.node_id)
            .map(|b| b.epoch)
    }

    fn request(&self, batch: &[IsrProposal], broker_epoch: i64) -> AlterPartitionRequest {
        let image = self.cache.image();
        let epoch_of = |b: i32| image.cluster.brokers.get(&b).map_or(-1, |r| r.epoch);
        let mut topics: BTreeMap<uuid::Uuid, Vec<PartitionData>> = BTreeMap::new();
        for p in batch {
            let isr = p
                .change
                .new_isr
                .iter()
                .map(|b| {
                    BrokerState::default()
                        .with_broker_id(BrokerId(*b))
                        .with_broker_epoch(epoch_of(*b))
                })
                .collect();
            topics.entry(p.partition.topic_id).or_default().push(
                PartitionData::default()
                    .with_partition_index(p.partition.index)
                    .with_leader_epoch(p.change.leader_epoch)
                    .with_partition_epoch(p.change.partition_epoch)
                    .with_new_isr_with_epochs(isr)
                    .with_leader_recovery_state(0),
            );
        }
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(self.node_id))
            .with_broker_epoch(broker_epoch)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(id, partitions)| {
                        TopicData::default()
                            .with_topic_id(id)
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
    }

    fn apply(&self, batch: &[IsrProposal], resp: kafka_protocol::messages::AlterPartitionResponse) {
        let now = self.clock.wall_ms();
        for p in batch {
            let answer = resp
                .topics
                .iter()
                .filter(|t| t.topic_id == p.partition.topic_id)
                .flat_map(|t| t.partitions.iter())
                .find(|d| d.partition_index == p.partition.index);
            let Some(d) = answer else {
                self.metrics.failed_isr_updates.inc();
                p.partition.isr_answered(p.change.leader_epoch, None, now);
                continue;
            };
            if d.error_code == 0 {
                let isr: Vec<i32> = d.isr.iter().map(|b| b.0).collect();
                tracing::info!(topic = %p.partition.topic, partition = p.partition.index, ?isr, partition_epoch = d.partition_epoch, "ISR change committed");
                match p.change.kind {
                    IsrChangeKind::Shrink => self.metrics.isr_shrinks.inc(),
                    IsrChangeKind::Expand => self.metrics.isr_expands.inc(),
                }
                p.partition
                    .isr_answered(d.leader_epoch, Some((isr, d.partition_epoch)), now);
            } else {
                let e = ResponseError::try_from_code(d.error_code);
                tracing::info!(topic = %p.partition.topic, partition = p.partition.index, error = ?e, "ISR change refused by the controller");
                self.metrics.failed_isr_updates.inc();
                p.partition.isr_answered(p.change.leader_epoch, None, now);
            }
        }
    }
}
