//! librdkafka, through the `rdkafka` crate, against real `kraftd` processes started here.
//!
//! One controller and three brokers whose topics have replication factor 3 and
//! `min.insync.replicas=2`: idempotent acks=all producers with every compression codec this librdkafka was
//! built with, keyed messages with headers and explicit timestamps over several partitions;
//! a consumer with a manual assignment (no group: consumer groups are not served yet) reads
//! everything back byte-exact, in order per partition, without duplicates; watermarks and
//! offsets-for-times agree with what was written; the admin client creates, describes and
//! deletes a topic; a produce to an unknown topic with auto-creation off fails.
//!
//! Three brokers: an RF=1 topic whose partitions are led by different brokers; a producer and
//! a consumer each bootstrapped from a single broker reach every leader through Metadata.
//!
//! Fetch sessions (KIP-227): librdkafka never asks for one (it sends session epoch -1), so a
//! librdkafka consumer of 50 partitions leaves none; kraftd's own `FetchSessionHandler` then
//! reads the same partitions through an incremental session.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    OwnedResourceSpecifier, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const START: Duration = Duration::from_secs(30);
/// How long one client operation (a metadata request, an admin call) may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long producing or consuming a whole test's messages may take.
const BULK_TIMEOUT: Duration = Duration::from_secs(120);

/// A message as produced, and as it must come back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

/// (partition, offset) → message.
type Placed = BTreeMap<(i32, i64), Msg>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// One controller and three brokers (ids 2-4) without topic auto-creation, whose topics
/// default to replication factor 3 and `min.insync.replicas=2`, ready for clients.
fn replicated_cluster() -> Cluster {
    Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra(
            "auto.create.topics.enable=false\ndefault.replication.factor=3\nmin.insync.replicas=2\n",
        )
        .start(START)
}

/// One combined node without topic auto-creation: protocol-level checks that talk to the one
/// broker that leads everything.
fn single_node() -> Cluster {
    Cluster::builder()
        .combined(1)
        .extra("auto.create.topics.enable=false\n")
        .start(START)
}

/// Three controllers and three brokers, every broker ready.
fn three_brokers() -> Cluster {
    Cluster::builder()
        .controllers(3)
        .brokers(3)
        .session_timeout_ms(3000)
        .start(START)
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "kraftd-rdkafka-test");
    c
}

/// An idempotent acks=all producer compressing with `codec`.
fn producer(bootstrap: &str, codec: &str) -> FutureProducer {
    client_config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", codec)
        .set("linger.ms", "5")
        .set("batch.num.messages", "200")
        .set("message.timeout.ms", "60000")
        .create()
        .unwrap_or_else(|e| panic!("producer with {codec}: {e}"))
}

/// A consumer with partitions assigned by hand, reading from explicit offsets and committing
/// nothing. librdkafka's `assign` refuses to work without a `group.id`, but with a manual
/// assignment, explicit start offsets and commits off the group is never joined.
fn consumer(bootstrap: &str) -> BaseConsumer {
    client_config(bootstrap)
        .set("group.id", "kraftd-rdkafka-test")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer")
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap).create().expect("admin client")
}

fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(CLIENT_TIMEOUT))
        .operation_timeout(Some(CLIENT_TIMEOUT))
}

/// Creates `name` with replication factor 3 through the admin client and waits until its
/// metadata shows a leader for every partition.
fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    create_topic_with(bootstrap, name, partitions, 3)
}

/// [`create_topic`] with replication factor `rf`.
fn create_topic_with(bootstrap: &str, name: &str, partitions: i32, rf: i32) {
    let admin = admin(bootstrap);
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    let results = runtime()
        .block_on(admin.create_topics([&topic], &admin_options()))
        .expect("CreateTopics request");
    assert_eq!(results, vec![Ok(name.to_string())], "CreateTopics {name}");
    wait_for_leaders(&admin, name, partitions, START);
}

/// The compression codecs this build of librdkafka supports (always includes `none`).
fn built_codecs() -> Vec<&'static str> {
    let native = ClientConfig::new()
        .create_native_config()
        .expect("native config");
    let features = native.get("builtin.features").expect("builtin.features");
    let features: BTreeSet<&str> = features.split(',').map(str::trim).collect();
    let mut codecs = vec!["none"];
    codecs.extend(
        ["gzip", "snappy", "lz4", "zstd"]
            .into_iter()
            .filter(|c| features.contains(c)),
    );
    codecs
}

fn headers_of(headers: Option<&impl Headers>) -> Vec<(String, Option<Vec<u8>>)> {
    headers
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

fn owned_headers(headers: &[(String, Option<Vec<u8>>)]) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: value.as_ref(),
        });
    }
    Some(owned)
}

/// Produces `msgs` in order through `producer` (to `partition` when given, else by key) and
/// returns where each one landed, checking every delivery report.
fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    msgs: &[(Option<i32>, Msg)],
) -> Vec<(i32, i64)> {
    let rt = runtime();
    let mut pending = Vec::with_capacity(msgs.len());
    let deadline = Instant::now() + BULK_TIMEOUT;
    for (partition, m) in msgs {
        let mut record = FutureRecord::to(topic)
            .key(&m.key)
            .payload(&m.value)
            .timestamp(m.timestamp);
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        if let Some(h) = owned_headers(&m.headers) {
            record = record.headers(h);
        }
        // Enqueue without waiting; if the local queue is full, serve delivery reports until
        // there is room.
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    assert!(Instant::now() < deadline, "producer queue stayed full");
                    producer.poll(Duration::from_millis(50));
                    record = r;
                }
                Err((e, _)) => panic!("enqueue to {topic}: {e}"),
            }
        }
    }
    producer
        .flush(BULK_TIMEOUT)
        .unwrap_or_else(|e| panic!("flush to {topic}: {e}"));
    rt.block_on(async {
        let mut placed = Vec::with_capacity(pending.len());
        for (i, delivery) in pending.into_iter().enumerate() {
            let report = delivery.await.expect("delivery future canceled");
            let d =
                report.unwrap_or_else(|(e, _)| panic!("message {i} to {topic} not delivered: {e}"));
            assert!(d.offset >= 0, "message {i}: offset {}", d.offset);
            assert_eq!(
                d.timestamp,
                Timestamp::CreateTime(msgs[i].1.timestamp),
                "message {i}: timestamp in the delivery report"
            );
            if let Some(p) = msgs[i].0 {
                assert_eq!(d.partition, p, "message {i} delivered to its partition");
            }
            placed.push((d.partition, d.offset));
        }
        placed
    })
}

/// Reads every partition of `topic` from the beginning with a manual assignment until
/// `expected` messages arrived; returns them by (partition, offset), checking that each
/// partition's offsets arrive strictly increasing and that nothing arrives twice.
fn consume_all(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Placed {
    let consumer = consumer(bootstrap);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("assignment offset");
    }
    consumer.assign(&tpl).expect("assign");
    let mut got = Placed::new();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + BULK_TIMEOUT;
    while got.len() < expected {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {expected} messages of {topic} in {BULK_TIMEOUT:?}",
            got.len()
        );
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = result.unwrap_or_else(|e| panic!("consume {topic}: {e}"));
        assert_eq!(m.topic(), topic);
        let (p, o) = (m.partition(), m.offset());
        if let Some(prev) = last.insert(p, o) {
            assert!(o > prev, "partition {p}: offset {o} after {prev}");
        }
        let Timestamp::CreateTime(timestamp) = m.timestamp() else {
            panic!("partition {p} offset {o}: timestamp {:?}", m.timestamp());
        };
        let msg = Msg {
            key: m.key().expect("a key").to_vec(),
            value: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: headers_of(m.headers()),
            timestamp,
        };
        assert!(
            got.insert((p, o), msg).is_none(),
            "partition {p} offset {o} twice"
        );
    }
    // Nothing beyond what was produced shows up.
    let extra_deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < extra_deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            panic!(
                "unexpected extra message at partition {} offset {}",
                m.partition(),
                m.offset()
            );
        }
    }
    got
}

/// A value of `len` bytes that is partly compressible and partly not, different per `seed`.
fn value_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|i| {
            if i % 3 == 0 {
                b'a' + (i % 26) as u8
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

#[test]
fn idempotent_producers_with_every_codec_round_trip_byte_exact_through_a_replicated_cluster() {
    let cluster = replicated_cluster();
    let b = cluster.bootstrap();
    let topic = "rdkafka-codecs";
    let partitions = 4;
    create_topic(&b, topic, partitions);

    let codecs = built_codecs();
    for want in ["gzip", "snappy", "lz4", "zstd"] {
        assert!(codecs.contains(&want), "librdkafka built without {want}");
    }
    let per_codec = 800;
    let base_ts = now_ms() - 3_600_000;
    let mut sent: Vec<Msg> = Vec::new();
    let mut placed: Vec<(i32, i64)> = Vec::new();
    for (c, codec) in codecs.iter().enumerate() {
        let msgs: Vec<(Option<i32>, Msg)> = (0..per_codec)
            .map(|j| {
                let n = (c * per_codec + j) as u64;
                let mut headers = vec![("codec".to_string(), Some(codec.as_bytes().to_vec()))];
                if j % 3 == 0 {
                    headers.push(("seq".to_string(), Some(n.to_be_bytes().to_vec())));
                }
                if j % 5 == 0 {
                    headers.push(("null-valued".to_string(), None));
                }
                if j % 7 == 0 {
                    headers.push(("binary".to_string(), Some(value_bytes(n + 1, 40))));
                }
                let m = Msg {
                    key: format!("key-{}", j % 29).into_bytes(),
                    value: value_bytes(n, 1 + (n as usize * 37) % 3000),
                    headers,
                    timestamp: base_ts + n as i64,
                };
                (None, m)
            })
            .collect();
        let p = producer(&b, codec);
        placed.extend(produce_all(&p, topic, &msgs));
        sent.extend(msgs.into_iter().map(|(_, m)| m));
    }
    let total = sent.len();

    // Every delivery report names a distinct (partition, offset); each partition's offsets are
    // 0..n with no gap, and every partition got messages.
    let mut expected = Placed::new();
    for (m, at) in sent.iter().zip(&placed) {
        assert!(
            expected.insert(*at, m.clone()).is_none(),
            "two messages reported at {at:?}"
        );
    }
    let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in expected.keys() {
        let n = counts.entry(*p).or_default();
        assert_eq!(*o, *n, "partition {p}: offsets dense from 0");
        *n += 1;
    }
    println!("{total} messages with codecs {codecs:?}; per partition {counts:?}");
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (0..partitions).collect::<Vec<_>>(),
        "keys spread over every partition: {counts:?}"
    );
    // A key always maps to one partition, and per partition the produce order is the offset
    // order (messages were numbered by timestamp in the order they were produced).
    let mut key_partition: BTreeMap<&[u8], i32> = BTreeMap::new();
    for ((p, _), m) in &expected {
        let first = *key_partition.entry(&m.key).or_insert(*p);
        assert_eq!(first, *p, "key {:?} in two partitions", m.key);
    }
    for p in 0..partitions {
        let ts: Vec<i64> = expected
            .range((p, 0)..(p, i64::MAX))
            .map(|(_, m)| m.timestamp)
            .collect();
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: offsets follow the produce order"
        );
    }

    // A consumer with a manual assignment reads back everything byte-exact.
    let got = consume_all(&b, topic, partitions, total);
    assert_eq!(got.len(), total);
    for (at, want) in &expected {
        let have = got.get(at).unwrap_or_else(|| panic!("{at:?} not consumed"));
        assert_eq!(have, want, "message at {at:?}");
    }

    // Watermarks are 0 and the per-partition counts.
    let c = consumer(&b);
    for (p, n) in &counts {
        let marks = c
            .fetch_watermarks(topic, *p, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("watermarks of partition {p}: {e}"));
        assert_eq!(marks, (0, *n), "watermarks of partition {p}");
    }

    // offsets_for_times: the first offset whose timestamp is at or after the one asked.
    let lookup = |query: &[(i32, i64)]| -> BTreeMap<i32, Offset> {
        let mut tpl = TopicPartitionList::new();
        for (p, ts) in query {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*ts))
                .unwrap();
        }
        let answer = c
            .offsets_for_times(tpl, CLIENT_TIMEOUT)
            .expect("offsets_for_times");
        answer
            .elements_for_topic(topic)
            .iter()
            .map(|e| {
                assert!(
                    e.error().is_ok(),
                    "partition {}: {:?}",
                    e.partition(),
                    e.error()
                );
                (e.partition(), e.offset())
            })
            .collect()
    };
    for p in 0..partitions {
        let in_p: Vec<(i64, i64)> = expected
            .range((p, 0)..(p, i64::MAX))
            .map(|((_, o), m)| (*o, m.timestamp))
            .collect();
        let (mid_offset, mid_ts) = in_p[in_p.len() / 2];
        let (_, last_ts) = *in_p.last().unwrap();
        let (_, before_mid_ts) = in_p[in_p.len() / 2 - 1];
        let cases = [
            (base_ts - 1_000, Offset::Offset(0)),
            (mid_ts, Offset::Offset(mid_offset)),
            // Between two messages' timestamps: the later one.
            (before_mid_ts + 1, Offset::Offset(mid_offset)),
            (last_ts + 1, Offset::End),
        ];
        for (ts, want) in cases {
            let got = lookup(&[(p, ts)]);
            assert_eq!(
                got.get(&p),
                Some(&want),
                "partition {p}: offset for time {ts} (messages from {base_ts})"
            );
        }
    }
}

#[test]
fn admin_client_creates_describes_and_deletes_a_topic() {
    let cluster = replicated_cluster();
    let b = cluster.bootstrap();
    let admin = admin(&b);
    let rt = runtime();
    let opts = admin_options();

    let topic = NewTopic::new("rdkafka-admin", 3, TopicReplication::Fixed(3))
        .set("retention.ms", "7200000")
        .set("cleanup.policy", "compact");
    let results = rt
        .block_on(admin.create_topics([&topic], &opts))
        .expect("CreateTopics request");
    assert_eq!(results, vec![Ok("rdkafka-admin".to_string())]);
    let leaders = wait_for_leaders(&admin, "rdkafka-admin", 3, START);
    assert!(leaders.values().all(|l| (2..=4).contains(l)), "{leaders:?}");
    let size_series = "kafka_log_size_bytes{topic=\"rdkafka-admin\"}";
    wait_for(
        START,
        "the topic's log size reported by every replica",
        || {
            cluster
                .brokers
                .iter()
                .all(|b| b.metrics().is_some_and(|m| m.contains(size_series)))
                .then_some(())
        },
    );

    // Creating it again is refused with TOPIC_ALREADY_EXISTS.
    let again = rt
        .block_on(admin.create_topics([&topic], &opts))
        .expect("CreateTopics request");
    assert_eq!(
        again,
        vec![Err((
            "rdkafka-admin".to_string(),
            RDKafkaErrorCode::TopicAlreadyExists
        ))]
    );

    // DescribeConfigs: the two set values come from the topic, the rest are defaults.
    let described = rt
        .block_on(admin.describe_configs(
            [
                &ResourceSpecifier::Topic("rdkafka-admin"),
                &ResourceSpecifier::Broker(2),
            ],
            &opts,
        ))
        .expect("DescribeConfigs request");
    assert_eq!(described.len(), 2);
    let topic_configs = described[0].as_ref().expect("topic configs");
    assert_eq!(
        topic_configs.specifier,
        OwnedResourceSpecifier::Topic("rdkafka-admin".to_string())
    );
    for (name, value) in [("retention.ms", "7200000"), ("cleanup.policy", "compact")] {
        let e = topic_configs
            .get(name)
            .unwrap_or_else(|| panic!("{name} described: {:?}", topic_configs.entries));
        assert_eq!(e.value.as_deref(), Some(value), "{name}");
        assert_eq!(e.source, ConfigSource::DynamicTopic, "{name}");
        assert!(!e.is_default, "{name}");
    }
    let segment = topic_configs
        .get("segment.bytes")
        .expect("segment.bytes described");
    assert!(
        segment.value.as_deref().and_then(|v| v.parse::<i64>().ok()) > Some(0),
        "{segment:?}"
    );
    assert_ne!(segment.source, ConfigSource::DynamicTopic, "{segment:?}");
    let broker_configs = described[1].as_ref().expect("broker configs");
    assert_eq!(broker_configs.specifier, OwnedResourceSpecifier::Broker(2));
    let auto_create = broker_configs
        .get("auto.create.topics.enable")
        .unwrap_or_else(|| panic!("broker configs: {:?}", broker_configs.entries));
    assert_eq!(auto_create.value.as_deref(), Some("false"));
    assert_eq!(auto_create.source, ConfigSource::StaticBroker);

    // Deleting it removes it from the metadata.
    let deleted = rt
        .block_on(admin.delete_topics(&["rdkafka-admin"], &opts))
        .expect("DeleteTopics request");
    assert_eq!(deleted, vec![Ok("rdkafka-admin".to_string())]);
    wait_for(START, "the deleted topic gone from the metadata", || {
        let md = admin
            .inner()
            .fetch_metadata(Some("rdkafka-admin"), Duration::from_secs(5))
            .ok()?;
        let t = md.topics().iter().find(|t| t.name() == "rdkafka-admin")?;
        (t.error().map(RDKafkaErrorCode::from) == Some(RDKafkaErrorCode::UnknownTopicOrPartition))
            .then_some(())
    });
    // ... and its per-topic series from /metrics, as Kafka drops a deleted topic's metrics.
    wait_for(START, "the deleted topic's series gone", || {
        cluster
            .brokers
            .iter()
            .all(|b| {
                b.metrics()
                    .is_some_and(|m| !m.contains("topic=\"rdkafka-admin\""))
            })
            .then_some(())
    });
    let again = rt
        .block_on(admin.delete_topics(&["rdkafka-admin"], &opts))
        .expect("DeleteTopics request");
    assert_eq!(
        again,
        vec![Err((
            "rdkafka-admin".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
}

#[test]
fn producing_to_an_unknown_topic_with_auto_creation_off_fails_with_unknown_topic() {
    let cluster = replicated_cluster();
    let b = cluster.bootstrap();
    let producer: FutureProducer = client_config(&b)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "20000")
        // How long librdkafka waits for a topic missing from the metadata to appear before
        // failing its messages.
        .set("topic.metadata.propagation.max.ms", "1000")
        .create()
        .expect("producer");
    let started = Instant::now();
    let report = runtime().block_on(
        producer.send(
            FutureRecord::to("rdkafka-no-such-topic")
                .key("k")
                .payload("v"),
            Duration::from_secs(5),
        ),
    );
    let (err, _) = report.expect_err("a produce to a missing topic must fail");
    assert_eq!(
        err,
        KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition),
        "the broker's UNKNOWN_TOPIC_OR_PARTITION fails the message"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failed by the metadata answer, not the message timeout: {:?}",
        started.elapsed()
    );
    // And the broker did not create it.
    let md = producer
        .client()
        .fetch_metadata(Some("rdkafka-no-such-topic"), CLIENT_TIMEOUT)
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == "rdkafka-no-such-topic")
        .expect("topic in the answer");
    assert_eq!(
        t.error().map(RDKafkaErrorCode::from),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
    assert!(t.partitions().is_empty());
}

#[test]
fn rdkafka_follows_rf1_partition_leaders_across_three_brokers() {
    let cluster = three_brokers();
    let topic = "rdkafka-spread";
    let partitions = 6;
    // Bootstrapped from one broker only: everything else is learned from Metadata.
    let first = cluster.brokers[0].addr();
    let second = cluster.brokers[1].addr();
    create_topic(&first, topic, partitions);
    let leaders = wait_for_leaders(&admin(&second), topic, partitions, START);
    let distinct: BTreeSet<i32> = leaders.values().copied().collect();
    assert_eq!(
        distinct,
        cluster.brokers.iter().map(|b| b.id).collect(),
        "RF=1 partitions led by every broker: {leaders:?}"
    );

    println!("partition leaders of {topic}: {leaders:?}");
    let per_partition = 150;
    let base_ts = now_ms() - 60_000;
    let msgs: Vec<(Option<i32>, Msg)> = (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |j| (p, j)))
        .map(|(p, j)| {
            let n = (p * per_partition + j) as u64;
            let m = Msg {
                key: format!("p{p}-k{}", j % 5).into_bytes(),
                value: value_bytes(n, 10 + (n as usize * 13) % 500),
                headers: vec![("partition".to_string(), Some(vec![p as u8]))],
                timestamp: base_ts + n as i64,
            };
            (Some(p), m)
        })
        .collect();
    let producer = producer(&first, "lz4");
    let placed = produce_all(&producer, topic, &msgs);
    let mut expected = Placed::new();
    for ((_, m), at) in msgs.iter().zip(&placed) {
        assert!(expected.insert(*at, m.clone()).is_none(), "{at:?} twice");
    }
    for p in 0..partitions {
        let offsets: Vec<i64> = expected
            .range((p, 0)..(p, i64::MAX))
            .map(|((_, o), _)| *o)
            .collect();
        assert_eq!(
            offsets,
            (0..per_partition as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }

    // Each leader stored exactly its partitions' messages: the producer went to every leader.
    for b in &cluster.brokers {
        let led = leaders.values().filter(|l| **l == b.id).count() as f64;
        let want = led * per_partition as f64;
        wait_for(START, &format!("broker {} messages-in", b.id), || {
            let have = b.metric_sum("kafka_server_topic_messages_in_total", &[("topic", topic)])?;
            (have == want).then_some(())
        });
    }

    // A consumer bootstrapped from another broker fetches every partition from its leader.
    let got = consume_all(&second, topic, partitions, expected.len());
    assert_eq!(got, expected, "every partition read back byte-exact");
    let c = consumer(&cluster.brokers[2].addr());
    for p in 0..partitions {
        let marks = c
            .fetch_watermarks(topic, p, CLIENT_TIMEOUT)
            .unwrap_or_else(|e| panic!("watermarks of partition {p}: {e}"));
        assert_eq!(marks, (0, per_partition as i64), "partition {p}");
    }
}

/// Sum of `kafka_network_requests_total{request="<api>"}` over `nodes`.
fn requests_served(nodes: &[Node], api: &str) -> f64 {
    nodes
        .iter()
        .filter_map(|n| n.metric_sum("kafka_network_requests_total", &[("request", api)]))
        .sum()
}

#[test]
fn admin_requests_reach_the_controller_inside_envelopes() {
    use kafka_protocol::messages::ElectLeadersRequest;
    let cluster = three_brokers();
    let bootstrap = cluster.brokers[0].addr();
    let admin = admin(&bootstrap);
    let opts = admin_options();
    let rt = runtime();
    let before = requests_served(&cluster.controllers, "Envelope");

    let topic = NewTopic::new("enveloped", 2, TopicReplication::Fixed(1));
    let created = rt.block_on(admin.create_topics([&topic], &opts)).unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let grown = rt
        .block_on(admin.create_partitions([&NewPartitions::new("enveloped", 3)], &opts))
        .unwrap();
    assert!(grown.iter().all(|r| r.is_ok()), "{grown:?}");
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("enveloped")).set("retention.ms", "3600000");
    let altered = rt.block_on(admin.alter_configs([&alter], &opts)).unwrap();
    assert!(altered.iter().all(|r| r.is_ok()), "{altered:?}");
    // ElectLeaders (preferred, every partition) through the typed client, as the Java admin
    // client's electLeaders sends it.
    let elected = rt.block_on(async {
        let mut conn = kraftd::network::client::KafkaConnection::connect(
            &bootstrap,
            "envelope-test",
            CLIENT_TIMEOUT,
        )
        .await
        .expect("connect");
        let request = ElectLeadersRequest::default()
            .with_election_type(0)
            .with_timeout_ms(10_000);
        conn.send(&request, 2, CLIENT_TIMEOUT)
            .await
            .expect("ElectLeaders")
    });
    assert_eq!(elected.error_code, 0, "{elected:?}");
    let deleted = rt
        .block_on(admin.delete_topics(&["enveloped"], &opts))
        .unwrap();
    assert!(deleted.iter().all(|r| r.is_ok()), "{deleted:?}");

    // Five admin requests, each one Envelope on the active controller; the controllers never
    // saw the client APIs themselves.
    let enveloped = requests_served(&cluster.controllers, "Envelope") - before;
    assert!(
        enveloped >= 5.0,
        "{enveloped} Envelope requests reached the controllers"
    );
    for api in [
        "CreateTopics",
        "CreatePartitions",
        "AlterConfigs",
        "ElectLeaders",
        "DeleteTopics",
    ] {
        assert_eq!(
            requests_served(&cluster.controllers, api),
            0.0,
            "{api} reached a controller bare"
        );
        assert!(
            requests_served(&cluster.brokers, api) >= 1.0,
            "{api} on the brokers"
        );
    }
}

/// (records, next fetch offset) of a fetched record set: Kafka v2 batches back to back, each
/// with its base offset at byte 0, its length at 8, its last offset delta at 23 and its record
/// count at 57.
fn batches(records: &[u8], fetch_offset: i64) -> (i64, i64) {
    let be_i32 = |at: usize| i32::from_be_bytes(records[at..at + 4].try_into().unwrap());
    let (mut count, mut next, mut pos) = (0i64, fetch_offset, 0usize);
    while pos + 61 <= records.len() {
        let base = i64::from_be_bytes(records[pos..pos + 8].try_into().unwrap());
        let len = be_i32(pos + 8) as usize;
        if pos + 12 + len > records.len() {
            break;
        }
        next = base + be_i32(pos + 23) as i64 + 1;
        count += be_i32(pos + 57) as i64;
        pos += 12 + len;
    }
    (count, next)
}

/// Bytes of `m` encoded at Fetch v16.
fn encoded_len<M: kafka_protocol::protocol::Encodable>(m: &M) -> usize {
    let mut buf = bytes::BytesMut::new();
    m.encode(&mut buf, 16).expect("encode");
    buf.len()
}

/// Fetch sessions (KIP-227) next to librdkafka's full fetches: librdkafka reads 50 partitions
/// without a session (it sends epoch -1), then kraftd's own `FetchSessionHandler` (the one the
/// replica fetcher uses) reads them through an incremental session at Fetch v16: after the
/// full fetch each request names only the partitions that moved, each response only the
/// partitions with records, and every record arrives.
#[test]
fn librdkafka_fetches_without_a_session_and_the_session_handler_incrementally() {
    use kafka_protocol::messages::{FetchRequest, MetadataRequest, metadata_request};
    use kraftd::broker::data_plane::fetch_session_handler::{FetchSessionHandler, PartitionFetch};
    use kraftd::types::TopicPartition;

    let cluster = single_node();
    let b = cluster.bootstrap();
    let node = cluster.node(1);
    let topic = "rdkafka-sessions";
    let partitions = 50;
    let per_partition = 20;
    create_topic_with(&b, topic, partitions, 1);
    let wave = |n: i32, parts: &[i32]| -> Vec<(Option<i32>, Msg)> {
        parts
            .iter()
            .flat_map(|p| (0..n).map(move |j| (*p, j)))
            .map(|(p, j)| {
                let m = Msg {
                    key: format!("p{p}").into_bytes(),
                    value: value_bytes((p * 1000 + j) as u64, 100),
                    headers: Vec::new(),
                    timestamp: now_ms(),
                };
                (Some(p), m)
            })
            .collect()
    };
    let all: Vec<i32> = (0..partitions).collect();
    let producer = producer(&b, "none");
    produce_all(&producer, topic, &wave(per_partition, &all));
    let total = (partitions * per_partition) as usize;

    let got = consume_all(&b, topic, partitions, total);
    assert_eq!(got.len(), total);
    let metric = |name: &str| node.metric(name, &[]).unwrap_or(-1.0);
    assert_eq!(
        metric("kafka_server_fetch_session_cache_sessions"),
        0.0,
        "librdkafka asks for no session"
    );

    let rt = runtime();
    let mut conn = rt
        .block_on(kraftd::network::client::KafkaConnection::connect(
            &b,
            "fetch-session-test",
            CLIENT_TIMEOUT,
        ))
        .expect("connect");
    let md = rt
        .block_on(conn.send(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(
                    kafka_protocol::protocol::StrBytes::from_static_str(topic).into(),
                )),
            ])),
            12,
            CLIENT_TIMEOUT,
        ))
        .expect("Metadata");
    let topic_id = md.topics[0].topic_id;
    assert!(!topic_id.is_nil());
    let mut wanted: BTreeMap<TopicPartition, PartitionFetch> = all
        .iter()
        .map(|p| {
            let f = PartitionFetch {
                topic_id,
                fetch_offset: 0,
                current_leader_epoch: -1,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
            };
            (TopicPartition::new(topic, *p), f)
        })
        .collect();
    let mut handler = FetchSessionHandler::new(1);
    // Encoded Fetch v16 request and response bytes of each round.
    let mut sizes: Vec<(usize, usize)> = Vec::new();
    let mut received: BTreeMap<i32, i64> = BTreeMap::new();
    // One round: (partitions sent, partitions answered, records received), and the session
    // id afterwards.
    let mut round = |wanted: &mut BTreeMap<TopicPartition, PartitionFetch>| {
        let parts = handler.build(wanted);
        let sent = parts.partition_count();
        let request = parts.apply_to(
            FetchRequest::default()
                .with_max_wait_ms(100)
                .with_min_bytes(1)
                .with_max_bytes(50 << 20),
        );
        let resp = rt
            .block_on(conn.send(&request, 16, CLIENT_TIMEOUT))
            .expect("Fetch v16");
        assert!(handler.handle_response(&resp), "{resp:?}");
        sizes.push((encoded_len(&request), encoded_len(&resp)));
        let answered = handler.answered(&resp);
        let mut records = 0;
        for (tp, d) in &answered {
            assert_eq!(d.error_code, 0, "{tp}");
            let w = wanted.get_mut(tp).unwrap();
            let (n, next) = batches(d.records.as_deref().unwrap_or_default(), w.fetch_offset);
            w.fetch_offset = next;
            *received.entry(tp.partition).or_default() += n;
            records += n;
        }
        ((sent, answered.len(), records), handler.session_id())
    };
    // The full fetch: every partition sent and answered, every record.
    let (counts, session) = round(&mut wanted);
    assert_eq!(counts, (50, 50, total as i64));
    assert!(session > 0);
    // Every position moved: all 50 sent, none has anything new (the long poll times out).
    assert_eq!(round(&mut wanted), ((50, 0, 0), session));
    // Nothing moved: an empty request and an empty answer.
    assert_eq!(round(&mut wanted), ((0, 0, 0), session));
    // Records on three partitions: only those answered.
    produce_all(&producer, topic, &wave(5, &[3, 17, 49]));
    let mut late = (0usize, 0i64);
    let deadline = Instant::now() + BULK_TIMEOUT;
    while late.1 < 15 {
        assert!(Instant::now() < deadline, "late records: {late:?}");
        let ((sent, answered, records), id) = round(&mut wanted);
        assert!(
            sent <= 3 && answered <= 3,
            "{sent} sent, {answered} answered"
        );
        assert_eq!(id, session, "one session throughout");
        late = (late.0 + answered, late.1 + records);
    }
    assert!(received.values().sum::<i64>() == total as i64 + 15);
    for (p, n) in &received {
        let want = per_partition as i64 + if [3, 17, 49].contains(p) { 5 } else { 0 };
        assert_eq!(*n, want, "partition {p}");
    }
    assert_eq!(metric("kafka_server_fetch_session_cache_sessions"), 1.0);
    assert_eq!(metric("kafka_server_fetch_session_cache_partitions"), 50.0);
    println!(
        "session {} at epoch {}: {} records over 50 partitions; Fetch v16 (request, response) bytes by round: {sizes:?}",
        handler.session_id(),
        handler.epoch(),
        received.values().sum::<i64>()
    );
    // The full request names 50 partitions; the one after it, with nothing moved, none.
    assert!(sizes[2].0 * 10 < sizes[0].0, "{sizes:?}");
}
