//! Log engine throughput: appends of batched 1 KiB records (page cache, and fsync per append as
//! with `kraftd.log.flush.before.ack`), and sequential reads. Compare with the disk's raw
//! sequential write speed measured in the same run (see docs/performance.md).
//!
//! `cargo bench --bench log`
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kraftd::log::batch::encode_uncompressed;
use kraftd::log::{Log, LogConfig};

fn batch(count: i32, value_len: usize) -> Bytes {
    let value = vec![b'x'; value_len];
    encode_uncompressed(0, 0, (0..count).map(|_| value.as_slice()), 0)
}

fn bench_dir() -> tempfile::TempDir {
    // Benchmarks write to the same disk as the dd reference (set KRAFTD_BENCH_DIR to choose).
    match std::env::var("KRAFTD_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    }
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_append");
    g.measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    for records in [16, 256] {
        let b = batch(records, 1024);
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("page_cache", format!("{}KiB", b.len() / 1024)),
            &b,
            |bench, b| {
                let dir = bench_dir();
                let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
                bench.iter(|| log.append_as_leader(b.clone(), 1, 0, false).unwrap());
            },
        );
        g.bench_with_input(
            BenchmarkId::new("fsync_each", format!("{}KiB", b.len() / 1024)),
            &b,
            |bench, b| {
                let dir = bench_dir();
                let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
                bench.iter(|| {
                    log.append_as_leader(b.clone(), 1, 0, false).unwrap();
                    log.flush().unwrap();
                });
            },
        );
    }
    // Like `dd … conv=fdatasync`: a large sequential write made durable by one flush.
    let b = batch(256, 1024);
    let per_iter = 256usize;
    g.throughput(Throughput::Bytes((b.len() * per_iter) as u64));
    g.bench_function("bulk_then_flush_64MiB", |bench| {
        let dir = bench_dir();
        let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
        bench.iter(|| {
            for _ in 0..per_iter {
                log.append_as_leader(b.clone(), 1, 0, false).unwrap();
            }
            log.flush().unwrap();
        });
    });
    g.finish();
}

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_read");
    g.measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    let dir = bench_dir();
    let (mut log, _) = Log::open(dir.path(), LogConfig::default(), 0).unwrap();
    let b = batch(64, 1024);
    for _ in 0..2000 {
        log.append_as_leader(b.clone(), 1, 0, false).unwrap();
    }
    let end = log.log_end_offset();
    let chunk = 1 << 20;
    g.throughput(Throughput::Bytes(chunk as u64));
    let mut offset = 0;
    g.bench_function("sequential_1MiB", |bench| {
        bench.iter(|| {
            let got = log.read(offset, chunk, end, true).unwrap().unwrap();
            let n = kraftd::log::RecordBatch::split_all(got).unwrap();
            offset = n.last().unwrap().next_offset();
            if offset >= end {
                offset = 0;
            }
        })
    });
    g.finish();
}

criterion_group!(benches, appends, reads);
criterion_main!(benches);
