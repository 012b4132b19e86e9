//! Partition replication on real `kraftd` processes on loopback: one controller and three
//! brokers, topics with replication factor 3 and `min.insync.replicas=2`, librdkafka (through
//! the `rdkafka` crate) as the client. Followers replicate, acks=all waits for the ISR, the ISR
//! shrinks when a follower stops and expands when it catches up again.
//!
//! Nothing acknowledged is lost under broker faults (`faults.rs`): an idempotent acks=all
//! producer and a checker consumer (`../history/workload.rs`) run while partition leaders are killed
//! (`kill -9`) and restarted, followers are killed and restarted, and brokers are restarted
//! one at a time (SIGTERM); a final read of every partition from the beginning, then the
//! history checker (`../history/checker.rs`, unit-tested on synthetic histories) must find no anomaly.
//! The leader kills also measure partition-leader failover (kill → first acknowledged produce
//! to that partition) and print p50/p99/max.
//!
//! Environment:
//! - `KRAFTD_REPLICATION_TRIALS`: runs of each fault (default 20); raise it for soak runs,
//!   e.g. `KRAFTD_REPLICATION_TRIALS=200 cargo test --test replication -- --nocapture`;
//! - `KRAFTD_REPLICATION_SESSION_TIMEOUT_MS`: `broker.session.timeout.ms` of the fault
//!   clusters (default 3000, heartbeats every 500 ms); `default` keeps the shipped defaults.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;
mod recreate;
mod topics_cli;

#[path = "../history/mod.rs"]
mod history;
use history::{checker, workload};

mod faults;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const START: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(60);

/// One controller (id 1) and three brokers (ids 2-4) whose topics default to RF=3, min ISR 2.
fn replicated_cluster(extra: &str) -> Cluster {
    Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra(&format!(
            "default.replication.factor=3\nmin.insync.replicas=2\nreplica.lag.time.max.ms=3000\n{extra}"
        ))
        .start(START)
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "kraftd-replication-test");
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Creates `name` with `partitions` partitions and replication factor 3, and waits until every
/// partition has a leader; returns partition → leader.
fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> BTreeMap<i32, i32> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(bootstrap).create().expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(3));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime()
        .block_on(admin.create_topics([&topic], &opts))
        .expect("CreateTopics");
    assert_eq!(results, vec![Ok(name.to_string())]);
    wait_for_leaders(&admin, name, partitions, WAIT)
}

/// One delivery report: the value, and its (partition, offset) or the error.
type Delivery = (String, Result<(i32, i64), String>);

/// Delivery reports of an idempotent acks=all producer.
#[derive(Default, Clone)]
struct Acks(Arc<Mutex<Vec<Delivery>>>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let entry = match result {
            Ok(m) => (
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
                Ok((m.partition(), m.offset())),
            ),
            Err((e, m)) => (
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
                Err(e.to_string()),
            ),
        };
        self.0.lock().unwrap().push(entry);
    }
}

fn producer(bootstrap: &str, acks: &Acks) -> ThreadedProducer<Acks> {
    client_config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "60000")
        .create_with_context(acks.clone())
        .expect("producer")
}

/// Sends `values` to `topic` partition 0 and waits for every delivery report.
fn produce(p: &ThreadedProducer<Acks>, acks: &Acks, topic: &str, values: &[String]) {
    let before = acks.0.lock().unwrap().len();
    for v in values {
        let mut record = BaseRecord::to(topic).payload(v).key("k").partition(0);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    std::thread::sleep(Duration::from_millis(5));
                    record = r;
                }
            }
        }
    }
    p.flush(WAIT).expect("flush");
    wait_for(WAIT, "every delivery report", || {
        (acks.0.lock().unwrap().len() >= before + values.len()).then_some(())
    });
}

/// Every value in partition 0 of `topic` from the beginning, up to `expected` records.
fn consume(bootstrap: &str, topic: &str, expected: usize) -> Vec<(i64, String)> {
    let c: BaseConsumer = client_config(bootstrap)
        .set("group.id", "kraftd-replication-test")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push((
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
            ));
        }
    }
    out
}

fn gauge(n: &Node, name: &str) -> f64 {
    n.metric(name, &[]).unwrap_or(-1.0)
}

#[test]
fn followers_replicate_and_the_isr_shrinks_and_expands() {
    let mut c = replicated_cluster("kraftd.replica.lag.per.partition.metrics=true\n");
    let bootstrap = c.bootstrap();
    let leader = create_topic(&bootstrap, "r3", 1)[&0];
    let acks = Acks::default();
    let p = producer(&bootstrap, &acks);
    let first: Vec<String> = (0..2000).map(|i| format!("v{i}")).collect();
    produce(&p, &acks, "r3", &first);
    let failed: Vec<_> = acks
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.1.is_err())
        .cloned()
        .collect();
    assert!(
        failed.is_empty(),
        "failed deliveries: {:?}",
        &failed[..failed.len().min(5)]
    );

    // Every broker holds the records: the followers' logs match the leader's size.
    let size = |n: &Node| {
        n.metric("kafka_log_size_bytes", &[("topic", "r3")])
            .unwrap_or(-1.0)
    };
    let leader_node = c.node(leader);
    wait_for(WAIT, "follower logs as large as the leader's", || {
        let l = size(leader_node);
        (l > 0.0 && c.brokers.iter().all(|b| size(b) == l)).then_some(())
    });
    assert_eq!(
        gauge(leader_node, "kafka_server_under_replicated_partitions"),
        0.0
    );
    // Followers export their per-partition lag (opt-in); the leader follows nothing.
    let lag = |n: &Node| {
        n.metric(
            "kafka_replica_partition_lag",
            &[("topic", "r3"), ("partition", "0")],
        )
    };
    for b in c.brokers.iter().filter(|b| b.id != leader) {
        wait_for(WAIT, "a follower's partition lag at 0", || {
            (lag(b) == Some(0.0)).then_some(())
        });
    }
    assert_eq!(lag(leader_node), None);
    // Each follower fetches through an incremental fetch session (KIP-227) on the leader.
    wait_for(WAIT, "the followers' fetch sessions on the leader", || {
        (gauge(leader_node, "kafka_server_fetch_session_cache_sessions") >= 2.0).then_some(())
    });

    // A follower stops: the ISR shrinks to two, acks=all still succeeds.
    let follower = c.brokers.iter().find(|b| b.id != leader).unwrap().id;
    let started = Instant::now();
    c.node_mut(follower).kill();
    wait_for(WAIT, "under-replicated on the leader", || {
        (gauge(c.node(leader), "kafka_server_under_replicated_partitions") == 1.0).then_some(())
    });
    eprintln!(
        "ISR shrank {:?} after the follower was killed",
        started.elapsed()
    );
    let second: Vec<String> = (2000..3000).map(|i| format!("v{i}")).collect();
    produce(&p, &acks, "r3", &second);
    assert!(acks.0.lock().unwrap().iter().all(|a| a.1.is_ok()));

    // It comes back, catches up and rejoins.
    c.node_mut(follower).start(START);
    wait_for(WAIT, "the follower back in the ISR", || {
        (gauge(c.node(leader), "kafka_server_under_replicated_partitions") == 0.0).then_some(())
    });
    let l = size(c.node(leader));
    wait_for(WAIT, "the restarted follower caught up", || {
        (size(c.node(follower)) == l).then_some(())
    });

    let read = consume(&bootstrap, "r3", 3000);
    let values: Vec<&str> = read.iter().map(|(_, v)| v.as_str()).collect();
    let expected: Vec<String> = (0..3000).map(|i| format!("v{i}")).collect();
    assert_eq!(
        values,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        read.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "offsets are contiguous"
    );
}
