//! A topic deleted and created again under the same name is usable as soon as Metadata lists
//! it: ListOffsets and Produce sent right then never get UNKNOWN_TOPIC_OR_PARTITION (a client
//! like librdkafka's `get_watermark_offsets` gives up on it), only retriable errors while
//! replicas are being created.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, DeleteTopicsRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kraftd::network::client::KafkaConnection;

const T: Duration = Duration::from_secs(10);

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One record batch (v2, uncompressed) with one record, as a client would send it.
fn batch() -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    kraftd::log::batch::encode_uncompressed(0, -1, [b"v".as_slice()], now)
}

/// Leaders of partition 0 of `topic` as `conn`'s broker lists them, once listed with a leader.
async fn listed_leader(conn: &mut KafkaConnection, topic: &str) -> Option<i32> {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let resp = conn.send(&req, 12, T).await.ok()?;
    let t = resp.topics.first()?;
    if t.error_code != 0 {
        return None;
    }
    let p = t.partitions.iter().find(|p| p.partition_index == 0)?;
    (p.leader_id.0 >= 0).then_some(p.leader_id.0)
}

#[test]
fn a_recreated_topic_never_answers_unknown_once_metadata_lists_it() {
    let c = super::replicated_cluster("auto.create.topics.enable=false\n");
    let addrs: Vec<String> = c
        .brokers
        .iter()
        .map(|b| b.broker_addr().to_string())
        .collect();
    let rt = super::runtime();
    rt.block_on(async {
        let mut conns = Vec::new();
        for a in &addrs {
            conns.push(
                KafkaConnection::connect(a, "recreate-test", T)
                    .await
                    .expect("connect"),
            );
        }
        let (mut unknown, mut retriable) = (0, 0);
        let rounds = 15;
        for round in 0..rounds {
            let topic = "recreated";
            let created = conns[0]
                .send(
                    &CreateTopicsRequest::default()
                        .with_topics(vec![
                            CreatableTopic::default()
                                .with_name(name(topic))
                                .with_num_partitions(1)
                                .with_replication_factor(3),
                        ])
                        .with_timeout_ms(30_000),
                    7,
                    Duration::from_secs(30),
                )
                .await
                .expect("CreateTopics");
            assert_eq!(created.topics[0].error_code, 0, "round {round}: create");
            // As soon as one broker lists it, ask that broker's listed leader.
            let deadline = Instant::now() + Duration::from_secs(30);
            let leader = loop {
                assert!(Instant::now() < deadline, "round {round}: never listed");
                if let Some(l) = listed_leader(&mut conns[round % 3], topic).await {
                    break l;
                }
            };
            let li = c
                .brokers
                .iter()
                .position(|b| b.id == leader)
                .expect("a broker");
            let offsets = conns[li]
                .send(
                    &ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![
                            ListOffsetsTopic::default()
                                .with_name(name(topic))
                                .with_partitions(vec![
                                    ListOffsetsPartition::default()
                                        .with_partition_index(0)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(-1),
                                ]),
                        ]),
                    7,
                    T,
                )
                .await
                .expect("ListOffsets");
            let produced = conns[li]
                .send(
                    &ProduceRequest::default()
                        .with_acks(1)
                        .with_timeout_ms(10_000)
                        .with_topic_data(vec![
                            TopicProduceData::default()
                                .with_name(name(topic))
                                .with_partition_data(vec![
                                    PartitionProduceData::default()
                                        .with_index(0)
                                        .with_records(Some(batch())),
                                ]),
                        ]),
                    9,
                    T,
                )
                .await
                .expect("Produce");
            for code in [
                offsets.topics[0].partitions[0].error_code,
                produced.responses[0].partition_responses[0].error_code,
            ] {
                match ResponseError::try_from_code(code) {
                    None => {}
                    Some(ResponseError::UnknownTopicOrPartition) => unknown += 1,
                    Some(e) if e.is_retriable() => retriable += 1,
                    Some(e) => panic!("round {round}: unexpected {e:?}"),
                }
            }
            let deleted = conns[0]
                .send(
                    &DeleteTopicsRequest::default()
                        .with_topics(vec![
                            DeleteTopicState::default().with_name(Some(name(topic))),
                        ])
                        .with_timeout_ms(30_000),
                    6,
                    Duration::from_secs(30),
                )
                .await
                .expect("DeleteTopics");
            assert_eq!(deleted.responses[0].error_code, 0, "round {round}: delete");
            // Wait until no broker lists it any more.
            let deadline = Instant::now() + Duration::from_secs(30);
            for conn in conns.iter_mut() {
                while listed_leader(conn, topic).await.is_some() {
                    assert!(Instant::now() < deadline, "round {round}: still listed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        eprintln!(
            "{rounds} rounds: {unknown} UNKNOWN_TOPIC_OR_PARTITION, {retriable} retriable errors"
        );
        assert_eq!(
            unknown, 0,
            "UNKNOWN_TOPIC_OR_PARTITION after Metadata listed the topic"
        );
    });
}
