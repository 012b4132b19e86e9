//! The consumer of `kraftd perf consume` and `end-to-end`: one pipelined connection per
//! partition leader with one full Fetch in flight each (as a Kafka consumer keeps), reading
//! every partition from a start offset until enough records arrived.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::latency::LatencyReport;
use super::pipeline::{Inbound, Pipeline};
use super::{MB, PerfError};
use crate::cli::args::PerfConsumeArgs;
use crate::log::batch::{HEADER_SIZE, LOG_OVERHEAD};
use crate::protocol::error_code;

/// Bytes at the start of an end-to-end value: its due time, nanoseconds since the run began.
pub const DUE_TIME_BYTES: usize = 8;

/// How long the broker may hold a fetch waiting for data.
const MAX_WAIT_MS: i32 = 500;

/// End-to-end mode: start from these offsets and measure latency against `origin`.
pub struct Tail {
    pub origin: Instant,
    pub start_offsets: BTreeMap<i32, i64>,
}

#[derive(Debug)]
pub struct ConsumeReport {
    pub records: u64,
    pub bytes: u64,
    pub fetches: u64,
    pub elapsed: Duration,
    pub end_to_end: Option<LatencyReport>,
}

impl ConsumeReport {
    pub fn format(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "consume: {} records ({:.2} MB of record batches) in {secs:.2} s: {:.1} records/s, \
             {:.2} MB/s, {} fetches\n",
            self.records,
            self.bytes as f64 / MB,
            self.records as f64 / secs,
            self.bytes as f64 / MB / secs,
            self.fetches
        )
    }
}

/// Discovers the cluster and reads every partition from its log start offset.
pub async fn run(args: &PerfConsumeArgs) -> Result<ConsumeReport, PerfError> {
    let cluster = Cluster::discover(&args.target).await?;
    run_with(args, cluster, None).await
}

struct Connection {
    pipe: Pipeline,
    /// (partition, next offset to fetch)
    partitions: Vec<(i32, i64)>,
    in_flight: Option<i32>,
}

impl Connection {
    async fn fetch(
        &mut self,
        topic: &TopicName,
        version: i16,
        args: &PerfConsumeArgs,
    ) -> Result<(), PerfError> {
        let partitions = self
            .partitions
            .iter()
            .map(|&(partition, offset)| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(args.partition_max_bytes)
            })
            .collect();
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(args.fetch_max_bytes)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic.clone())
                    .with_partitions(partitions),
            ]);
        self.in_flight = Some(self.pipe.send(&request, version).await?);
        Ok(())
    }
}

/// What one partition's records of a fetch response held.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scanned {
    records: u64,
    bytes: u64,
    next_offset: Option<i64>,
}

fn read_varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut z = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        z |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// The due time carried by each record value of an uncompressed batch's `records` section,
/// for records at `from_delta` and later.
fn due_times(records: &[u8], from_delta: i64, mut each: impl FnMut(u64)) {
    let mut pos = 0;
    while pos < records.len() {
        let Some(len) = read_varint(records, &mut pos) else {
            return;
        };
        let end = pos + len.max(0) as usize;
        let mut p = pos + 1; // attributes
        let parsed = (|| {
            read_varint(records, &mut p)?; // timestamp delta
            let delta = read_varint(records, &mut p)?;
            let key = read_varint(records, &mut p)?;
            p += key.max(0) as usize;
            let value = read_varint(records, &mut p)?;
            let bytes = records.get(p..p + value.max(0) as usize)?;
            Some((delta, bytes))
        })();
        if let Some((delta, value)) = parsed
            && delta >= from_delta
            && value.len() >= DUE_TIME_BYTES
        {
            each(u64::from_be_bytes(
                value[..DUE_TIME_BYTES].try_into().expect("8 bytes"),
            ));
        }
        pos = end;
    }
}

/// Counts the records at or after `fetch_offset` in a partition's fetched bytes (skipping
/// control batches and a trailing partial batch), and feeds end-to-end latencies to `due`.
fn scan(records: &[u8], fetch_offset: i64, mut due: impl FnMut(u64)) -> Scanned {
    let mut s = Scanned::default();
    let mut pos = 0usize;
    while records.len() - pos >= HEADER_SIZE {
        let b = &records[pos..];
        let length = i32::from_be_bytes(b[8..12].try_into().expect("4 bytes"));
        let total = LOG_OVERHEAD + length.max(0) as usize;
        if length < 0 || total < HEADER_SIZE || total > b.len() {
            break;
        }
        let base = i64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        let last_delta = i32::from_be_bytes(b[23..27].try_into().expect("4 bytes"));
        let attributes = i16::from_be_bytes([b[21], b[22]]);
        let last = base + last_delta as i64;
        if last >= fetch_offset {
            let control = attributes & 0x20 != 0;
            let compressed = attributes & 0x07 != 0;
            if !control {
                let first = base.max(fetch_offset);
                s.records += (last - first + 1) as u64;
                if !compressed {
                    due_times(&b[HEADER_SIZE..total], first - base, &mut due);
                }
            }
            s.next_offset = Some(last + 1);
        }
        s.bytes += total as u64;
        pos += total;
    }
    s
}

/// One connection per partition leader, each with its partitions and their start offsets.
async fn connect_leaders(
    cluster: &Cluster,
    start_offsets: &BTreeMap<i32, i64>,
    tx: mpsc::UnboundedSender<Inbound>,
) -> Result<Vec<Connection>, PerfError> {
    let mut conns: Vec<Connection> = Vec::new();
    for addr in cluster.leader_addresses() {
        let pipe = Pipeline::connect(&addr, conns.len(), tx.clone()).await?;
        let partitions = cluster
            .partitions
            .iter()
            .filter(|p| p.leader == addr)
            .map(|p| {
                (
                    p.partition,
                    start_offsets.get(&p.partition).copied().unwrap_or(0),
                )
            })
            .collect();
        conns.push(Connection {
            pipe,
            partitions,
            in_flight: None,
        });
    }
    Ok(conns)
}

/// What one Fetch response carried.
struct Absorbed {
    records: u64,
    bytes: u64,
    /// Some partition's next offset moved.
    progressed: bool,
}

/// Takes in the records of `response` (received `at`) for `conn`'s partitions: advances their
/// offsets and, with `origin`, times each record against its due time.
fn absorb(
    response: &FetchResponse,
    conn: &mut Connection,
    origin: Option<Instant>,
    mut latency: Option<&mut LatencyReport>,
    at: Instant,
) -> Result<Absorbed, PerfError> {
    if response.error_code != 0 {
        return Err(PerfError::Kafka {
            what: "Fetch".into(),
            error: error_code::name(response.error_code).to_string(),
        });
    }
    let mut got = Absorbed {
        records: 0,
        bytes: 0,
        progressed: false,
    };
    for p in response.responses.iter().flat_map(|t| &t.partitions) {
        if p.error_code != 0 {
            return Err(PerfError::Kafka {
                what: format!("Fetch of partition {}", p.partition_index),
                error: error_code::name(p.error_code).to_string(),
            });
        }
        let Some(slot) = conn
            .partitions
            .iter_mut()
            .find(|(partition, _)| *partition == p.partition_index)
        else {
            continue;
        };
        let data = p.records.as_deref().unwrap_or_default();
        let scanned = scan(data, slot.1, |nanos| {
            if let (Some(origin), Some(h)) = (origin, latency.as_deref_mut()) {
                let due = origin + Duration::from_nanos(nanos);
                h.record(at.saturating_duration_since(due));
            }
        });
        if let Some(next) = scanned.next_offset {
            slot.1 = next;
            got.progressed = true;
        }
        got.records += scanned.records;
        got.bytes += scanned.bytes;
    }
    Ok(got)
}

/// Reads `args.num_records` records: from the log start of every partition, or with `tail`
/// from its offsets, timing each record against its due time.
pub async fn run_with(
    args: &PerfConsumeArgs,
    cluster: Cluster,
    tail: Option<Tail>,
) -> Result<ConsumeReport, PerfError> {
    let (start_offsets, origin) = match tail {
        Some(t) => (t.start_offsets, Some(t.origin)),
        None => (cluster.list_offsets(-2).await?, None),
    };
    let spoken = cluster.versions.get(&cluster.bootstrap, ApiKey::Fetch)?;
    let version = args
        .target
        .max_fetch_version
        .map_or(spoken, |v| v.min(spoken));
    let topic = TopicName(StrBytes::from_string(cluster.topic.clone()));
    let (tx, mut rx) = mpsc::unbounded_channel::<Inbound>();
    let mut conns = connect_leaders(&cluster, &start_offsets, tx).await?;
    let start = Instant::now();
    for c in &mut conns {
        c.fetch(&topic, version, args).await?;
    }
    let mut latency = origin.map(|_| LatencyReport::default());
    let (mut records, mut bytes, mut fetches) = (0u64, 0u64, 0u64);
    let mut last_progress = Instant::now();
    while records < args.num_records {
        let stall = cluster.timeout.saturating_sub(last_progress.elapsed());
        let inbound = tokio::select! {
            inbound = rx.recv() => inbound,
            _ = tokio::time::sleep(stall) => {
                return Err(PerfError::Stalled(
                    cluster.timeout,
                    format!("{records} of {} records read", args.num_records),
                ));
            }
        };
        let Some(inbound) = inbound else {
            return Err(PerfError::Protocol {
                addr: cluster.bootstrap.clone(),
                reason: "every connection closed".into(),
            });
        };
        let conn = &mut conns[inbound.conn];
        let correlation_id = conn.in_flight.take().ok_or_else(|| PerfError::Protocol {
            addr: conn.pipe.addr().to_string(),
            reason: "a response to no request".into(),
        })?;
        let response: FetchResponse =
            conn.pipe
                .decode(ApiKey::Fetch, version, correlation_id, inbound.frame?)?;
        fetches += 1;
        let got = absorb(&response, conn, origin, latency.as_mut(), inbound.at)?;
        if got.progressed {
            last_progress = Instant::now();
        }
        records += got.records;
        bytes += got.bytes;
        if records < args.num_records {
            conn.fetch(&topic, version, args).await?;
        }
    }
    Ok(ConsumeReport {
        records,
        bytes,
        fetches,
        elapsed: start.elapsed(),
        end_to_end: latency,
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::log::batch::{ProducerFields, encode_records_into};

    fn batch(base: i64, values: &[Vec<u8>]) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_records_into(
            &mut b,
            base,
            0,
            ProducerFields::NONE,
            values.iter().map(Vec::as_slice),
            1,
        );
        b.to_vec()
    }

    fn value(nanos: u64) -> Vec<u8> {
        let mut v = nanos.to_be_bytes().to_vec();
        v.extend_from_slice(&[7; 100]);
        v
    }

    #[test]
    fn scan_counts_records_from_the_fetch_offset_and_reads_due_times() {
        let mut data = batch(0, &[value(10), value(20), value(30)]);
        data.extend(batch(3, &[value(40)]));
        let whole = data.len() as u64;
        data.extend(&batch(4, &[value(50)])[..70]); // a partial trailing batch
        let mut due = Vec::new();
        let s = scan(&data, 1, |n| due.push(n));
        assert_eq!(
            s,
            Scanned {
                records: 3,
                bytes: whole,
                next_offset: Some(4)
            }
        );
        assert_eq!(due, vec![20, 30, 40]);
        assert_eq!(scan(&data[..30], 0, |_| {}), Scanned::default());
    }

    #[test]
    fn varints_decode_zigzag() {
        let mut pos = 0;
        let bytes = [0x00, 0x01, 0x02, 0xfe, 0x01];
        let got: Vec<i64> = (0..4)
            .map(|_| read_varint(&bytes, &mut pos).unwrap())
            .collect();
        assert_eq!(got, vec![0, -1, 1, 127]);
        assert_eq!(read_varint(&[0x80], &mut 0), None);
    }
}
