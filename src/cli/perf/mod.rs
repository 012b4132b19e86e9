//! `kraftd perf`: a load generator that speaks the Kafka protocol to any broker (kraftd or a
//! peer), so that both are measured with the same client in one run.
//!
//! - `produce`: open-loop. With `--throughput R` record *i* is due at `start + i/R`, and its
//!   latency is measured from that moment to its acknowledgement, so a server that stalls
//!   cannot flatter its figures by slowing the client down (coordinated omission). Without a
//!   rate, records are generated as fast as batches have room and latency runs from the
//!   moment a record entered its batch.
//! - `consume`: full fetches from the log start of every partition until `--num-records`.
//! - `end-to-end`: a paced producer and a tailing consumer in one process; every value
//!   carries its due time, so the consumer measures produce → fetch latency.
//!
//! Percentiles come from an HdrHistogram with microsecond resolution.
// The load generator measures client-side latency with the real clocks (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod cluster;
mod consumer;
mod latency;
mod pacer;
mod pipeline;
mod producer;

use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use crate::cli::args::{PerfCommand, PerfConsumeArgs, PerfProduceArgs};
use crate::network::client::ClientError;

pub use latency::LatencyReport;

/// Bytes in a megabyte as the reports count them (10^6).
const MB: f64 = 1_000_000.0;

#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("none of the bootstrap servers {0} answered")]
    Unreachable(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{addr} does not serve {api:?} in a version this tool speaks")]
    Unsupported { addr: String, api: ApiKey },
    #[error("{what}: {error}")]
    Kafka { what: String, error: String },
    #[error("partition {partition} of {topic} has no leader")]
    NoLeader { topic: String, partition: i32 },
    #[error("broker {0} is a partition leader but not in the Metadata response")]
    UnknownBroker(i32),
    #[error("invalid arguments: {0}")]
    Arguments(String),
    #[error("no progress for {0:?}: {1}")]
    Stalled(Duration, String),
    #[error("the broker refused records:\n{0}")]
    Refused(String),
    #[error("the pacing timer failed: {0}")]
    Pacer(std::io::Error),
    #[error("bad response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
}

/// Runs one `kraftd perf` subcommand and returns its report.
pub async fn run(command: &PerfCommand) -> Result<String, PerfError> {
    match command {
        PerfCommand::Produce(args) => {
            let report = producer::run(args).await?;
            if report.errors.is_empty() {
                Ok(report.format())
            } else {
                Err(PerfError::Refused(report.format()))
            }
        }
        PerfCommand::Consume(args) => {
            let report = consumer::run(args).await?;
            Ok(report.format())
        }
        PerfCommand::EndToEnd(args) => end_to_end(args).await,
    }
}

/// A paced producer and a consumer tailing the same partitions from their current end.
async fn end_to_end(args: &PerfProduceArgs) -> Result<String, PerfError> {
    if args.throughput <= 0.0 {
        return Err(PerfError::Arguments(
            "end-to-end needs a paced --throughput (records per second)".into(),
        ));
    }
    if args.record_size < consumer::DUE_TIME_BYTES {
        return Err(PerfError::Arguments(format!(
            "end-to-end needs --record-size of at least {} bytes (each value carries its due time)",
            consumer::DUE_TIME_BYTES
        )));
    }
    let cluster = cluster::Cluster::discover(&args.target).await?;
    let start_offsets = cluster.list_offsets(-1).await?;
    let origin = tokio::time::Instant::now();
    let consume_args = PerfConsumeArgs {
        target: args.target.clone(),
        num_records: args.num_records,
        partition_max_bytes: 1_048_576,
        fetch_max_bytes: 52_428_800,
    };
    let tail = consumer::Tail {
        origin,
        start_offsets,
    };
    let consume = consumer::run_with(&consume_args, cluster.clone(), Some(tail));
    let produce = producer::run_with(args, cluster, Some(origin));
    let (produced, consumed) = tokio::join!(produce, consume);
    let (produced, consumed) = (produced?, consumed?);
    if !produced.errors.is_empty() {
        return Err(PerfError::Refused(produced.format()));
    }
    let e2e = consumed
        .end_to_end
        .as_ref()
        .map(|h| h.format("end-to-end latency"))
        .unwrap_or_default();
    Ok(format!("{}{}{e2e}", produced.format(), consumed.format()))
}
