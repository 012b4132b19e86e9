//! Real clients against a real `kraftd` cluster of one controller and three brokers whose topics
//! have replication factor 3 and `min.insync.replicas=2`: kcat (librdkafka) produces with each acks level
//! and each compression codec and reads everything back byte-exact, ListOffsets earliest /
//! latest / by time, and auto-creation on and off; kafka-python 3 consumes 50 partitions
//! through one incremental fetch session (KIP-227).
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(30);

/// One controller and three brokers (ids 2-4) with `extra` configuration, started and ready;
/// topics default to replication factor 3 and `min.insync.replicas=2`.
fn start(extra: &str) -> Cluster {
    Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra(&format!(
            "default.replication.factor=3\nmin.insync.replicas=2\n{extra}"
        ))
        .start(START)
}

/// Every broker's log, for failure messages.
fn broker_logs(c: &Cluster) -> String {
    c.brokers
        .iter()
        .map(|b| format!("--- broker {}\n{}", b.id, b.log_text()))
        .collect()
}

/// kcat with optional input, killed if it runs past a minute.
fn kcat(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    common::kcat(args, stdin.unwrap_or(""), Duration::from_secs(60))
}

#[test]
fn kcat_round_trips_every_codec_and_acks_level_byte_exact() {
    let c = start("");
    let b = c.bootstrap();
    let mut expected = Vec::new();
    let cases = [
        ("none", "1"),
        ("gzip", "all"),
        ("snappy", "1"),
        ("lz4", "all"),
        ("zstd", "0"),
    ];
    for (i, (codec, acks)) in cases.iter().enumerate() {
        let lines: Vec<String> = (0..20)
            .map(|j| format!("key-{i}-{j}\tvalue {codec} {j} ✓ {}", "x".repeat(j * 7)))
            .collect();
        let input = lines.join("\n") + "\n";
        let (ok, _, err) = kcat(
            &[
                "-b",
                &b,
                "-P",
                "-t",
                "codecs",
                "-K",
                "\t",
                "-z",
                codec,
                "-X",
                &format!("acks={acks}"),
                "-X",
                "linger.ms=5",
            ],
            Some(&input),
        );
        assert!(
            ok,
            "produce with {codec} acks={acks}: {err}\n{}",
            broker_logs(&c)
        );
        expected.extend(lines);
    }
    // acks=0 is fire-and-forget: wait until everything is visible.
    let got = wait_for(START, "every record readable", || {
        let (ok, out, _) = kcat(
            &[
                "-b",
                &b,
                "-C",
                "-t",
                "codecs",
                "-o",
                "beginning",
                "-e",
                "-f",
                "%k\t%s\n",
            ],
            None,
        );
        let lines: Vec<String> = out.lines().map(str::to_string).collect();
        (ok && lines.len() == expected.len()).then_some(lines)
    });
    assert_eq!(got, expected, "records come back byte-exact and in order");
    // ListOffsets: earliest, latest, and by time (a time before everything → offset 0).
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:-1"], None);
    assert!(
        out.contains(&format!("offset {}", expected.len())),
        "{out}{err}"
    );
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:-2"], None);
    assert!(out.contains("offset 0"), "{out}{err}");
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:1000"], None);
    assert!(out.contains("offset 0"), "{out}{err}");
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:99999999999999"], None);
    assert!(
        out.contains("offset -1"),
        "a time after everything has no offset: {out}{err}"
    );
    // The partition's leader counts what it accepted.
    let body = c
        .brokers
        .iter()
        .filter_map(|n| n.metrics())
        .find(|body| body.contains("kafka_server_topic_messages_in_total{topic=\"codecs\"}"))
        .expect("the leader of codecs reports its messages");
    promtool_check_metrics(&body).unwrap();
}

#[test]
fn auto_creation_follows_the_broker_setting() {
    let c = start("auto.create.topics.enable=false\n");
    let b = c.bootstrap();
    let (ok, _, err) = kcat(
        &[
            "-b",
            &b,
            "-P",
            "-t",
            "nope",
            "-X",
            "message.timeout.ms=3000",
        ],
        Some("x\n"),
    );
    assert!(!ok || err.contains("Unknown topic"), "{err}");
    let (_, out, _) = kcat(&["-b", &b, "-L"], None);
    assert!(!out.contains("\"nope\""), "{out}");
}

#[test]
fn python_clients_round_trip_every_codec_and_acks_level() {
    let Some(python) = python() else { return };
    let c = start("");
    let b = c.bootstrap();
    let (ok, out, err) = run_python(
        &python,
        "roundtrip.py",
        &["--bootstrap", &b, "--topic", "rt"],
    );
    assert!(
        ok && out.starts_with("ok "),
        "{out}\n{err}\n{}",
        broker_logs(&c)
    );
}

#[test]
fn python_admin_oversize_and_timestamp_lookups() {
    let Some(python) = python() else { return };
    let c = start("");
    let b = c.bootstrap();
    for (cmd, topic) in [("admin", "adm"), ("oversize", "big"), ("times", "ts")] {
        let (ok, out, err) = run_python(
            &python,
            "suite.py",
            &[cmd, "--bootstrap", &b, "--topic", topic],
        );
        assert!(
            ok && out.starts_with("ok"),
            "{cmd}: {out}\n{err}\n{}",
            broker_logs(&c)
        );
    }
}

#[test]
fn kafka_python_consumes_fifty_partitions_through_one_incremental_fetch_session() {
    let Some(python) = python() else { return };
    let Some(kafka_python3) = kafka_python3() else {
        return;
    };
    let c = start("");
    let b = c.bootstrap();
    let (ok, out, err) = run_python_with(
        &python,
        "fetch_sessions.py",
        &[
            "--bootstrap",
            &b,
            "--topic",
            "sessions",
            "--partitions",
            "50",
        ],
        Some(&kafka_python3),
    );
    assert!(
        ok && out.starts_with("ok records=1015 "),
        "{out}\n{err}\n{}",
        broker_logs(&c)
    );
    println!("{}", out.trim());
    // The leaders hold the consumer's sessions (one per broker it fetches from) with all 50
    // partitions between them, and evicted nothing.
    let metric = |name: &str| -> f64 {
        c.brokers
            .iter()
            .map(|b| b.metric(name, &[]).unwrap_or(0.0))
            .sum()
    };
    assert!(
        metric("kafka_server_fetch_session_cache_sessions") >= 1.0,
        "{}",
        broker_logs(&c)
    );
    assert!(metric("kafka_server_fetch_session_cache_partitions") >= 50.0);
    assert_eq!(metric("kafka_server_fetch_session_evictions_total"), 0.0);
}

/// Messages the brokers have accepted so far as leaders (from their metrics).
fn messages_in(c: &Cluster, topic: &str) -> u64 {
    c.brokers
        .iter()
        .filter_map(|n| n.metric("kafka_server_topic_messages_in_total", &[("topic", topic)]))
        .sum::<f64>() as u64
}

/// The idempotent producer keeps writing while the leader of its partition restarts
/// (`signal`), so leadership moves to a follower and back; afterwards every acknowledged record
/// is present exactly once and in order.
fn idempotent_producer_survives_a_restart(signal: i32) {
    let Some(python) = python() else { return };
    let mut c = start("");
    let b = c.bootstrap();
    let stop = c.root().join("stop");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/suite.py");
    // KRAFTD_CLIENT_MESSAGES=N: exactly N records of 1 KiB, the broker restarted half way
    // (the million-message run of docs/performance.md); by default a few seconds' worth.
    let total: u64 = std::env::var("KRAFTD_CLIENT_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let first_half = if total > 0 { total / 2 } else { 2000 };
    let total_s = total.to_string();
    let mut args = vec![
        "produce",
        "--bootstrap",
        &b,
        "--topic",
        "idem",
        "--stop",
        stop.to_str().unwrap(),
    ];
    if total > 0 {
        args.extend(["--total", &total_s, "--value-size", "1024"]);
    }
    let started = std::time::Instant::now();
    let producer = std::process::Command::new(&python)
        .arg(&script)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct KillOnDrop(Option<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(c) = &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut producer = KillOnDrop(Some(producer));
    wait_for(Duration::from_secs(3600), "the producer under way", || {
        (messages_in(&c, "idem") >= first_half).then_some(())
    });
    let leader = c
        .brokers
        .iter()
        .find(|n| n.metric("kafka_server_leader_partitions", &[]) == Some(1.0))
        .expect("a leader of idem")
        .id;
    let node = c.node_mut(leader);
    node.stop(signal, Duration::from_secs(30));
    node.start(START);
    node.wait_ready(START);
    // Counters restart with the process: count from here.
    let after = messages_in(&c, "idem");
    if total == 0 {
        wait_for(START, "the producer writing again", || {
            (messages_in(&c, "idem") >= after + 2000).then_some(())
        });
        std::fs::write(&stop, b"").unwrap();
    }
    let out = producer.0.take().unwrap().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "producer: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        broker_logs(&c)
    );
    let acked: u64 = stdout.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(acked >= 4000, "{stdout}");
    if total > 0 {
        assert_eq!(acked, total, "{stdout}");
    }
    let (ok, vout, verr) = run_python(
        &python,
        "suite.py",
        &[
            "verify",
            "--bootstrap",
            &b,
            "--topic",
            "idem",
            "--count",
            &acked.to_string(),
        ],
    );
    assert!(ok, "verify: {vout}\n{verr}");
    println!(
        "signal {signal}: {acked} acknowledged records, all present once and in order ({}) in {:?}",
        vout.trim(),
        started.elapsed()
    );
}

#[test]
fn idempotent_producer_loses_and_duplicates_nothing_across_a_sigterm_restart() {
    idempotent_producer_survives_a_restart(libc::SIGTERM);
}

#[test]
fn idempotent_producer_loses_and_duplicates_nothing_across_a_sigkill_restart() {
    idempotent_producer_survives_a_restart(libc::SIGKILL);
}

/// `kraftd perf`, the load generator: produce (idempotent, several partitions), consume from
/// the log start and end-to-end report what the broker really stored and served.
#[test]
fn perf_load_generator_produces_consumes_and_times_end_to_end() {
    let c = start("");
    let b = c.bootstrap();
    let perf = |args: &[&str]| {
        let mut all = vec!["perf"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--bootstrap-server", &b]);
        let (status, out, err) = run_kraftd(&all);
        assert!(status.success(), "{args:?}: {out}{err}");
        out
    };
    let out = perf(&[
        "produce",
        "--topic",
        "load",
        "--partitions",
        "3",
        "--num-records",
        "20000",
        "--acks",
        "all",
        "--idempotent",
    ]);
    assert!(
        out.contains("produce: 20000 records of 1024 bytes acknowledged (acks=all, unpaced)"),
        "{out}"
    );
    assert!(out.contains("ack latency ms: p50 "), "{out}");
    assert!(out.contains("(20000 samples)"), "{out}");
    assert_eq!(messages_in(&c, "load"), 20000);
    let (_, described, _) = run_kraftd(&["topics", "--bootstrap-server", &b, "--describe"]);
    assert!(described.contains("PartitionCount: 3"), "{described}");

    let out = perf(&["consume", "--topic", "load", "--num-records", "20000"]);
    assert!(out.starts_with("consume: 20000 records ("), "{out}");

    let out = perf(&[
        "end-to-end",
        "--topic",
        "e2e",
        "--num-records",
        "300",
        "--throughput",
        "1000",
        "--acks",
        "1",
    ]);
    assert!(out.contains("(acks=1, paced at 1000 records/s)"), "{out}");
    assert!(out.contains("consume: 300 records"), "{out}");
    assert!(out.contains("end-to-end latency ms: p50 "), "{out}");
    assert!(out.contains("(300 samples)"), "{out}");

    // A broker that refuses the records makes the run fail and says why.
    let (status, _, err) = run_kraftd(&[
        "perf",
        "produce",
        "--bootstrap-server",
        &b,
        "--topic",
        "load",
        "--num-records",
        "10",
        "--record-size",
        "2000000",
    ]);
    assert!(!status.success());
    assert!(err.contains("MESSAGE_TOO_LARGE"), "{err}");
}

/// A follower's Fetch (replica id set) whose last fetched epoch disagrees with the leader's
/// log gets the diverging epoch and no records; a consistent one gets records.
#[test]
fn follower_fetch_with_a_diverging_epoch_is_told_where_to_truncate() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    let c = start("");
    let b = c.bootstrap();
    let (status, out, err) = run_kraftd(&[
        "perf",
        "produce",
        "--bootstrap-server",
        &b,
        "--topic",
        "diverge",
        "--num-records",
        "100",
        "--acks",
        "1",
    ]);
    assert!(status.success(), "{out}{err}");
    let fetch_from = |addr: &str, last_fetched_epoch: i32, fetch_offset: i64| {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(7))
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_static_str("diverge")))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(-1)
                            .with_fetch_offset(fetch_offset)
                            .with_last_fetched_epoch(last_fetched_epoch)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = kraftd::network::client::KafkaConnection::connect(
                addr,
                "follower-test",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            let r = c.send(&request, 12, Duration::from_secs(5)).await.unwrap();
            r.responses[0].partitions[0].clone()
        })
    };
    // The partition's leader answers; once the followers have the 100 records it reports them
    // committed.
    let addrs: Vec<String> = c
        .brokers
        .iter()
        .map(|n| n.broker_addr().to_string())
        .collect();
    let leader = wait_for(START, "the leader with every record committed", || {
        addrs
            .iter()
            .find(|a| {
                let p = fetch_from(a, 0, 0);
                p.error_code == 0 && p.high_watermark == 100
            })
            .cloned()
    });
    let fetch = |epoch, offset| fetch_from(&leader, epoch, offset);
    // The log holds epoch 0 up to offset 100.
    let p = fetch(0, 50);
    assert_eq!(p.error_code, 0);
    assert_eq!(p.diverging_epoch.epoch, -1, "{p:?}");
    assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
    for (epoch, offset) in [(3, 100), (0, 150)] {
        let p = fetch(epoch, offset);
        assert_eq!(p.error_code, 0);
        assert_eq!(
            (p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
            (0, 100),
            "last fetched epoch {epoch} at {offset}"
        );
        assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
        assert_eq!(p.high_watermark, 100);
    }
}
