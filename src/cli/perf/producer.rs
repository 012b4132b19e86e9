//! The open-loop producer of `kraftd perf produce` and `end-to-end`.
//!
//! Records go round-robin over the topic's partitions into per-partition batches of up to
//! `--batch-size` bytes. Each leader gets one pipelined connection with up to
//! `--max-in-flight` Produce requests, each carrying at most one batch per partition (as Kafka
//! requires). A batch is sent as soon as its connection has room (linger 0), so batches grow
//! only while the window is full — the same back-pressure a real client applies.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::latency::LatencyReport;
use super::pacer::Pacer;
use super::pipeline::{Inbound, Pipeline};
use super::{MB, PerfError};
use crate::cli::args::PerfProduceArgs;
use crate::log::batch::{ProducerFields, encode_records_into};
use crate::protocol::error_code;

/// Bytes a record adds to its batch beyond its value (length, attributes, deltas, key,
/// headers: at most this many for the sizes a batch can hold).
const RECORD_OVERHEAD: usize = 16;

#[derive(Debug)]
pub struct ProduceReport {
    pub records: u64,
    pub record_size: usize,
    pub acks: i16,
    pub throughput: f64,
    pub elapsed: Duration,
    pub latency: LatencyReport,
    /// Records the broker refused, by error name.
    pub errors: BTreeMap<String, u64>,
    pub requests: u64,
}

impl ProduceReport {
    pub fn acknowledged(&self) -> u64 {
        self.records - self.errors.values().sum::<u64>()
    }

    pub fn format(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let acked = self.acknowledged();
        let pace = if self.throughput > 0.0 {
            format!("paced at {} records/s", self.throughput)
        } else {
            "unpaced".to_string()
        };
        let acks = if self.acks == -1 {
            "all".to_string()
        } else {
            self.acks.to_string()
        };
        let mut out = format!(
            "produce: {acked} records of {} bytes acknowledged (acks={acks}, {pace}) in {secs:.2} s: \
             {:.1} records/s, {:.2} MB/s, {} requests\n",
            self.record_size,
            acked as f64 / secs,
            (acked as f64 * self.record_size as f64) / MB / secs,
            self.requests,
        );
        let what = if self.acks == 0 {
            "send latency (acks=0: until written)"
        } else {
            "ack latency"
        };
        out.push_str(&self.latency.format(what));
        for (error, n) in &self.errors {
            out.push_str(&format!("failed: {n} records with {error}\n"));
        }
        out
    }
}

/// Discovers the cluster and produces.
pub async fn run(args: &PerfProduceArgs) -> Result<ProduceReport, PerfError> {
    let cluster = Cluster::discover(&args.target).await?;
    run_with(args, cluster, None).await
}

fn parse_acks(acks: &str) -> Result<i16, PerfError> {
    match acks {
        "all" | "-1" => Ok(-1),
        "1" => Ok(1),
        "0" => Ok(0),
        other => Err(PerfError::Arguments(format!(
            "--acks {other}: expected 0, 1, -1 or all"
        ))),
    }
}

/// Records waiting to be sent to one partition, by the moment each was due.
#[derive(Default)]
struct Batch {
    due: Vec<Instant>,
}

struct Partition {
    index: i32,
    queue: VecDeque<Batch>,
    next_sequence: i32,
}

struct InFlight {
    correlation_id: i32,
    batches: Vec<(i32, Vec<Instant>)>,
}

struct Connection {
    pipe: Pipeline,
    partitions: Vec<usize>,
    in_flight: VecDeque<InFlight>,
}

/// Produces `args.num_records` records to `cluster`'s topic. With `origin`, every value
/// starts with its due time in nanoseconds since `origin` (for the end-to-end consumer).
pub async fn run_with(
    args: &PerfProduceArgs,
    cluster: Cluster,
    origin: Option<Instant>,
) -> Result<ProduceReport, PerfError> {
    // Stays long: one event loop whose generate, send and receive phases (marked below)
    // share the run's counters, queues and buffers.
    let acks = parse_acks(&args.acks)?;
    if args.idempotent && acks != -1 {
        return Err(PerfError::Arguments(
            "an idempotent producer needs --acks all".into(),
        ));
    }
    if args.record_size == 0 || args.max_in_flight == 0 {
        return Err(PerfError::Arguments(
            "--record-size and --max-in-flight must be positive".into(),
        ));
    }
    let producer = if args.idempotent {
        let (producer_id, producer_epoch) = cluster.init_producer_id().await?;
        Some((producer_id, producer_epoch))
    } else {
        None
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Inbound>();
    let mut conns = Vec::new();
    for addr in cluster.leader_addresses() {
        let pipe = Pipeline::connect(&addr, conns.len(), tx.clone()).await?;
        conns.push(Connection {
            pipe,
            partitions: Vec::new(),
            in_flight: VecDeque::new(),
        });
    }
    drop(tx);
    let mut partitions = Vec::new();
    for p in &cluster.partitions {
        let conn = conns
            .iter()
            .position(|c| c.pipe.addr() == p.leader)
            .expect("a connection per leader");
        conns[conn].partitions.push(partitions.len());
        partitions.push(Partition {
            index: p.partition,
            queue: VecDeque::new(),
            next_sequence: 0,
        });
    }
    let version = cluster.versions.get(&cluster.bootstrap, ApiKey::Produce)?;
    let topic = TopicName(StrBytes::from_string(cluster.topic.clone()));
    let per_batch = (args.batch_size / (args.record_size + RECORD_OVERHEAD)).max(1);
    let fill: Vec<u8> = (0..args.record_size).map(|i| (i % 251) as u8).collect();
    let rate = (args.throughput > 0.0).then_some(args.throughput);
    let n = args.num_records;

    let mut latency = LatencyReport::default();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut generated = 0u64;
    let mut finished = 0u64;
    let mut requests = 0u64;
    let mut next_partition = 0usize;
    let mut values = Vec::new();
    let mut buf = BytesMut::new();
    let start = Instant::now();
    let due_at = |i: u64, rate: f64| start + Duration::from_secs_f64(i as f64 / rate);
    let mut pacer = match rate {
        Some(_) => Some(Pacer::new().map_err(PerfError::Pacer)?),
        None => None,
    };

    while finished < n {
        // Generate what is due (paced) or what the batches have room for (unpaced).
        let now = Instant::now();
        while generated < n {
            let p = &mut partitions[next_partition];
            let due = match rate {
                Some(rate) => {
                    let due = due_at(generated, rate);
                    if due > now {
                        break;
                    }
                    due
                }
                None => {
                    let full = |b: &Batch| b.due.len() >= per_batch;
                    if p.queue.len() > 1 || p.queue.front().is_some_and(full) {
                        break;
                    }
                    now
                }
            };
            match p.queue.back_mut() {
                Some(b) if b.due.len() < per_batch => b.due.push(due),
                _ => p.queue.push_back(Batch { due: vec![due] }),
            }
            generated += 1;
            next_partition = (next_partition + 1) % partitions.len();
        }

        // Send the first waiting batch of every partition on each connection with room.
        for conn in &mut conns {
            while acks == 0 || conn.in_flight.len() < args.max_in_flight {
                let mut data = Vec::new();
                let mut batches = Vec::new();
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                for &pi in &conn.partitions {
                    let p = &mut partitions[pi];
                    let Some(batch) = p.queue.pop_front() else {
                        continue;
                    };
                    let count = batch.due.len();
                    let fields = match producer {
                        Some((producer_id, producer_epoch)) => {
                            let base_sequence = p.next_sequence;
                            p.next_sequence = ((p.next_sequence as i64 + count as i64)
                                % (i32::MAX as i64 + 1))
                                as i32;
                            ProducerFields {
                                producer_id,
                                producer_epoch,
                                base_sequence,
                            }
                        }
                        None => ProducerFields::NONE,
                    };
                    values.clear();
                    for due in &batch.due {
                        values.extend_from_slice(&fill);
                        if let Some(origin) = origin {
                            let at = values.len() - fill.len();
                            let nanos = due.duration_since(origin).as_nanos() as u64;
                            values[at..at + 8].copy_from_slice(&nanos.to_be_bytes());
                        }
                    }
                    buf.clear();
                    encode_records_into(
                        &mut buf,
                        0,
                        -1,
                        fields,
                        values.chunks(fill.len()),
                        timestamp,
                    );
                    data.push(
                        PartitionProduceData::default()
                            .with_index(p.index)
                            .with_records(Some(buf.split().freeze())),
                    );
                    batches.push((p.index, batch.due));
                }
                if data.is_empty() {
                    break;
                }
                let request = ProduceRequest::default()
                    .with_acks(acks)
                    .with_timeout_ms(cluster.timeout.as_millis() as i32)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(topic.clone())
                            .with_partition_data(data),
                    ]);
                let correlation_id = conn.pipe.send(&request, version).await?;
                requests += 1;
                if acks == 0 {
                    let sent = Instant::now();
                    for (_, due) in batches {
                        for d in &due {
                            latency.record(sent - *d);
                        }
                        finished += due.len() as u64;
                    }
                } else {
                    conn.in_flight.push_back(InFlight {
                        correlation_id,
                        batches,
                    });
                }
            }
        }
        if finished >= n {
            break;
        }

        // Wait for a response, the next due record, or give up on a silent server.
        let pacing = generated < n && pacer.is_some();
        let waiting = conns.iter().any(|c| !c.in_flight.is_empty());
        tokio::select! {
            biased;
            inbound = rx.recv(), if waiting => {
                let Some(inbound) = inbound else {
                    return Err(PerfError::Protocol {
                        addr: cluster.bootstrap.clone(),
                        reason: "every connection closed".into(),
                    });
                };
                let conn = &mut conns[inbound.conn];
                let frame = inbound.frame?;
                let flight = conn.in_flight.pop_front().ok_or_else(|| PerfError::Protocol {
                    addr: conn.pipe.addr().to_string(),
                    reason: "a response to no request".into(),
                })?;
                let response: ProduceResponse =
                    conn.pipe.decode(ApiKey::Produce, version, flight.correlation_id, frame)?;
                let codes: BTreeMap<i32, i16> = response
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .map(|p| (p.index, p.error_code))
                    .collect();
                for (partition, due) in flight.batches {
                    let code = codes.get(&partition).copied().unwrap_or(-1);
                    if code == 0 {
                        for d in &due {
                            latency.record(inbound.at - *d);
                        }
                    } else {
                        *errors.entry(error_code::name(code).to_string()).or_default() +=
                            due.len() as u64;
                    }
                    finished += due.len() as u64;
                }
            }
            woke = async {
                let due = due_at(generated, rate.expect("paced"));
                pacer.as_mut().expect("paced").sleep_until(due).await
            }, if pacing => woke.map_err(PerfError::Pacer)?,
            _ = tokio::time::sleep(cluster.timeout), if waiting => {
                return Err(PerfError::Stalled(
                    cluster.timeout,
                    format!("{finished} of {n} records answered"),
                ));
            }
            // acks=0 and unpaced: nothing to wait for but the next batch.
            else => tokio::task::yield_now().await,
        }
    }
    Ok(ProduceReport {
        records: n,
        record_size: args.record_size,
        acks,
        throughput: args.throughput,
        elapsed: start.elapsed(),
        latency,
        errors,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_parse_as_kafka_spells_them() {
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert_eq!(parse_acks("-1").unwrap(), -1);
        assert_eq!(parse_acks("1").unwrap(), 1);
        assert_eq!(parse_acks("0").unwrap(), 0);
        assert!(parse_acks("2").is_err());
    }
}
