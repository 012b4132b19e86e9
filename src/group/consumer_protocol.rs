//! The embedded "consumer" protocol of classic groups: what members put in JoinGroup's
//! protocol metadata (their subscription) and what the leader hands out in SyncGroup (their
//! assignment). The coordinator reads these only to report on groups; it never changes them.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::Decodable;

/// The newest layout this server reads; newer versions start with the same fields.
const NEWEST: i16 = 3;

/// The topics of a consumer's subscription metadata, or `None` if it is not one.
pub fn subscription(metadata: &Bytes) -> Option<Vec<String>> {
    let mut b = metadata.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16().clamp(0, NEWEST);
    let s = ConsumerProtocolSubscription::decode(&mut b, version).ok()?;
    Some(s.topics.iter().map(|t| t.to_string()).collect())
}

/// The partitions of a consumer's assignment, or `None` if it is not one.
pub fn assignment(assignment: &Bytes) -> Option<Vec<(String, Vec<i32>)>> {
    let mut b = assignment.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16().clamp(0, NEWEST);
    let a = ConsumerProtocolAssignment::decode(&mut b, version).ok()?;
    Some(
        a.assigned_partitions
            .iter()
            .map(|tp| (tp.topic.0.to_string(), tp.partitions.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn subscriptions_and_assignments_are_read_at_any_version() {
        let sub = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("orders")]);
        for version in [0i16, 1, 3] {
            let mut b = BytesMut::new();
            b.put_i16(version);
            sub.encode(&mut b, version).unwrap();
            assert_eq!(subscription(&b.freeze()), Some(vec!["orders".to_string()]));
        }
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            kafka_protocol::messages::consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut b = BytesMut::new();
        b.put_i16(1);
        a.encode(&mut b, 1).unwrap();
        assert_eq!(
            assignment(&b.freeze()),
            Some(vec![("orders".to_string(), vec![0, 2])])
        );
        assert_eq!(subscription(&Bytes::from_static(b"\x00")), None);
        assert_eq!(assignment(&Bytes::new()), None);
    }
}
