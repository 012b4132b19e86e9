//! The workload behind the fault tests: one idempotent acks=all producer (librdkafka) writing
//! unique values round-robin to every partition of a topic at a steady pace, and one checker
//! consumer reading every partition in sessions (a new consumer instance, assigned where the
//! previous one stopped, whenever the test asks). Everything lands in a [`History`]; after
//! [`Workload::finish`] stops both, a final session reads every partition from the beginning
//! up to its high watermark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::bindings::{rd_kafka_message_status, rd_kafka_msg_status_t};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::checker::{History, Outcome, Produce, Read, Session};
use super::client_config;

/// How long the producer may wait for its last outcomes, and the final read for the end.
const DRAIN: Duration = Duration::from_secs(60);

/// The history being written, and per partition the (sent, acked) instants of every
/// acknowledgement in arrival order (what availability is measured from).
struct Recorder {
    started: Instant,
    history: History,
    acks: BTreeMap<i32, Vec<(Instant, Instant)>>,
    consumer_errors: Vec<String>,
}

type Shared = Arc<Mutex<Recorder>>;

fn lock(s: &Shared) -> MutexGuard<'_, Recorder> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Delivery reports land in the history entry whose index is the opaque.
struct Reports(Shared);

impl ClientContext for Reports {
    /// librdkafka's log lines, printed with the time since the workload started when
    /// `KRAFTD_REPLICATION_RDKAFKA_DEBUG` names debug contexts (e.g. `metadata,msg,broker`);
    /// dropped otherwise.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        if std::env::var_os(RDKAFKA_DEBUG).is_some() {
            let at = lock(&self.0).started.elapsed();
            eprintln!("[{at:>12.3?}] rdkafka {level:?} {fac}: {log_message}");
        }
    }
}

/// Environment variable: librdkafka `debug` contexts for the workload's producer.
const RDKAFKA_DEBUG: &str = "KRAFTD_REPLICATION_RDKAFKA_DEBUG";

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let now = Instant::now();
        let outcome = match result {
            Ok(m) => Outcome::Acked(m.offset()),
            Err((e, m)) => {
                // SAFETY: the message is valid for the duration of the callback.
                let status = unsafe { rd_kafka_message_status(m.ptr()) };
                if status == rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                    && refused_before_append(e)
                {
                    Outcome::Failed(e.to_string())
                } else {
                    Outcome::Unknown(e.to_string())
                }
            }
        };
        let mut r = lock(&self.0);
        let acked = matches!(outcome, Outcome::Acked(_));
        let p = &mut r.history.produces[index];
        p.outcome = outcome;
        p.completed = Some(now);
        let (partition, sent) = (p.partition, p.sent);
        if acked {
            r.acks.entry(partition).or_default().push((sent, now));
        }
    }
}

/// Whether a produce error is one a leader gives before it appends anything. librdkafka also
/// reports "not persisted" for a record whose last attempt got NOT_LEADER_OR_FOLLOWER, or that
/// timed out in its queue after such an attempt; but a leader that appended a batch and lost
/// its leadership while acks=all waited answers NOT_LEADER_OR_FOLLOWER too (as Kafka's does),
/// and the batch may live on in the new leader's log. Such outcomes are unknown, not failed.
fn refused_before_append(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e,
        KafkaError::MessageProduction(
            C::MessageSizeTooLarge
                | C::InvalidRecord
                | C::InvalidMessage
                | C::NotEnoughReplicas
                | C::TopicAuthorizationFailed
                | C::InvalidRequiredAcks
        )
    )
}

/// A running workload; see the module documentation.
pub struct Workload {
    shared: Shared,
    stop: Arc<AtomicBool>,
    rotate: Arc<AtomicBool>,
    producer: Option<JoinHandle<()>>,
    consumer: Option<JoinHandle<()>>,
    bootstrap: String,
    topic: String,
    partitions: i32,
}

impl Workload {
    /// Starts producing `rate` records per second to `topic` (partitions `0..partitions`) and
    /// consuming them.
    pub fn start(bootstrap: &str, topic: &str, partitions: i32, rate: u32) -> Workload {
        let shared = Shared::new(Mutex::new(Recorder {
            started: Instant::now(),
            history: History::default(),
            acks: BTreeMap::new(),
            consumer_errors: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let rotate = Arc::new(AtomicBool::new(false));
        let producer = {
            let (shared, stop) = (shared.clone(), stop.clone());
            let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
            std::thread::spawn(move || {
                produce_loop(&shared, &stop, &bootstrap, &topic, partitions, rate)
            })
        };
        let consumer = {
            let (shared, stop, rotate) = (shared.clone(), stop.clone(), rotate.clone());
            let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
            std::thread::spawn(move || {
                consume_loop(&shared, &stop, &rotate, &bootstrap, &topic, partitions)
            })
        };
        Workload {
            shared,
            stop,
            rotate,
            producer: Some(producer),
            consumer: Some(consumer),
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            partitions,
        }
    }

    /// The checker consumer starts a new session where the current one stopped.
    pub fn rotate_consumer(&self) {
        self.rotate.store(true, Ordering::SeqCst);
    }

    /// When the first acknowledgement of a record sent to `partition` after `t` arrived.
    pub fn first_ack_after(&self, partition: i32, t: Instant) -> Option<Instant> {
        let r = lock(&self.shared);
        let acks = r.acks.get(&partition)?;
        // Acknowledgements of one partition arrive in send order (idempotence).
        let i = acks.partition_point(|(sent, _)| *sent <= t);
        acks.get(i).map(|(_, acked)| *acked)
    }

    /// When every partition had acknowledged a record sent after `t` (the last of the first
    /// acknowledgements), if they all have.
    pub fn all_acked_after(&self, t: Instant) -> Option<Instant> {
        (0..self.partitions)
            .map(|p| self.first_ack_after(p, t))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// `t` as time since the workload started (the clock of the librdkafka debug lines).
    pub fn since_start(&self, t: Instant) -> Duration {
        t.saturating_duration_since(lock(&self.shared).started)
    }

    /// (sent, acknowledged, records read) so far.
    pub fn progress(&self) -> (usize, usize, usize) {
        let r = lock(&self.shared);
        let acked = r.acks.values().map(Vec::len).sum();
        (r.history.produces.len(), acked, r.history.reads.len())
    }

    /// Stops producing (waiting up to a minute for the outstanding outcomes) and consuming,
    /// reads every partition from the beginning to its high watermark as the final session,
    /// and returns the history.
    pub fn finish(mut self) -> History {
        self.stop.store(true, Ordering::SeqCst);
        for t in [self.producer.take(), self.consumer.take()]
            .into_iter()
            .flatten()
        {
            t.join().expect("workload thread");
        }
        final_read(&self.shared, &self.bootstrap, &self.topic, self.partitions);
        let r = lock(&self.shared);
        if !r.consumer_errors.is_empty() {
            eprintln!(
                "checker consumer errors: {} (first: {:?})",
                r.consumer_errors.len(),
                &r.consumer_errors[..r.consumer_errors.len().min(3)]
            );
        }
        r.history.clone()
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        // On a panic, the threads stop by themselves.
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn produce_loop(
    shared: &Shared,
    stop: &AtomicBool,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rate: u32,
) {
    let mut config = client_config(bootstrap);
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "60000");
    if let Ok(contexts) = std::env::var(RDKAFKA_DEBUG) {
        config
            .set("debug", contexts)
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
    }
    let p: ThreadedProducer<Reports> = config
        .create_with_context(Reports(shared.clone()))
        .expect("producer");
    let interval = Duration::from_secs(1) / rate.max(1);
    let started = Instant::now();
    let mut seq: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let due = started + interval * seq as u32;
        let now = Instant::now();
        if due > now {
            // Pacing, not waiting for a condition.
            std::thread::sleep(due - now);
        }
        let partition = (seq % partitions as u64) as i32;
        let (key, value) = (format!("k{seq}"), format!("v{seq}"));
        let index = {
            let mut r = lock(shared);
            r.history.produces.push(Produce {
                producer: 0,
                seq,
                key: key.clone(),
                value: value.clone(),
                partition,
                sent: Instant::now(),
                outcome: Outcome::Pending,
                completed: None,
            });
            r.history.produces.len() - 1
        };
        let mut record = BaseRecord::with_opaque_to(topic, index)
            .key(&key)
            .payload(&value)
            .partition(partition);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    std::thread::sleep(Duration::from_millis(1));
                    record = r;
                }
                Err((e, _)) => {
                    let mut r = lock(shared);
                    let entry = &mut r.history.produces[index];
                    entry.outcome = Outcome::Failed(format!("not enqueued: {e}"));
                    entry.completed = Some(Instant::now());
                    break;
                }
            }
        }
        seq += 1;
    }
    // Outstanding records get their outcome or stay pending (unknown).
    let _ = p.flush(DRAIN);
}

fn consumer(bootstrap: &str, starts: &BTreeMap<i32, i64>, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = client_config(bootstrap)
        .set("group.id", "kraftd-replication-checker")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        // A position that vanished from the log shows up as a re-read (non-monotonic).
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in starts {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))
            .expect("partition offset");
    }
    c.assign(&tpl).expect("assign");
    c
}

/// Registers a new session starting at `starts` and returns its id.
fn new_session(shared: &Shared, starts: &BTreeMap<i32, i64>, final_read: bool) -> u32 {
    let mut r = lock(shared);
    let id = r.history.sessions.len() as u32;
    r.history.sessions.push(Session {
        id,
        start: starts.clone(),
        final_read,
    });
    id
}

/// Records one polled message (or error) of `session`; returns the next offset of its partition.
fn record(
    shared: &Shared,
    session: u32,
    polled: Option<Result<rdkafka::message::BorrowedMessage<'_>, KafkaError>>,
) -> Option<(i32, i64)> {
    match polled? {
        Ok(m) => {
            let read = Read {
                session,
                partition: m.partition(),
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            };
            lock(shared).history.reads.push(read);
            Some((m.partition(), m.offset() + 1))
        }
        Err(e) => {
            lock(shared)
                .consumer_errors
                .push(format!("session {session}: {e}"));
            None
        }
    }
}

fn consume_loop(
    shared: &Shared,
    stop: &AtomicBool,
    rotate: &AtomicBool,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) {
    let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    while !stop.load(Ordering::SeqCst) {
        let session = new_session(shared, &next, false);
        let c = consumer(bootstrap, &next, topic);
        while !stop.load(Ordering::SeqCst) && !rotate.swap(false, Ordering::SeqCst) {
            if let Some((p, o)) = record(shared, session, c.poll(Duration::from_millis(100))) {
                next.insert(p, o);
            }
        }
    }
}

fn final_read(shared: &Shared, bootstrap: &str, topic: &str, partitions: i32) {
    let starts: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let c = consumer(bootstrap, &starts, topic);
    let deadline = Instant::now() + DRAIN;
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let hw = loop {
            match c.fetch_watermarks(topic, p, Duration::from_secs(5)) {
                Ok((_, hw)) => break hw,
                Err(e) => {
                    assert!(Instant::now() < deadline, "watermarks of {p}: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        ends.insert(p, hw);
    }
    let session = new_session(shared, &starts, true);
    let mut next = starts;
    while next.iter().any(|(p, o)| *o < ends[p]) && Instant::now() < deadline {
        if let Some((p, o)) = record(shared, session, c.poll(Duration::from_millis(100))) {
            next.insert(p, o);
        }
    }
    eprintln!("final read: high watermarks {ends:?}, read up to {next:?}");
}
