//! Three controllers and three brokers as real processes on loopback: brokers register and
//! become ready, topics created through a broker (forwarded to the active controller) show the
//! same leaders and ISR on every broker, `kill -9` of a broker fences it (its heartbeat
//! connection closed; `fencing`) and moves its leaderships, SIGTERM of a broker performs a controlled shutdown,
//! killing the active controller moves control without losing committed metadata, and a
//! controller restarted after snapshots loads its snapshot.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kraftd::network::client::KafkaConnection;

mod features;
mod fencing;
mod rebalance;

const START: Duration = Duration::from_secs(30);
/// `broker.session.timeout.ms` in these tests.
const SESSION_TIMEOUT_MS: u64 = 3000;

/// Three controllers (ids 1-3) and three brokers (4-6) with `extra` configuration, the
/// brokers' processes with `broker_env`; every broker ready.
fn cluster(extra: &str, broker_env: &[(&str, &str)]) -> Cluster {
    let mut b = Cluster::builder()
        .controllers(3)
        .brokers(3)
        .session_timeout_ms(SESSION_TIMEOUT_MS)
        .extra("kraftd.shutdown.timeout.ms=15000\n")
        .extra(extra);
    for (k, v) in broker_env {
        b = b.broker_env(k, v);
    }
    b.start(START)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn metadata(addr: &str) -> Option<MetadataResponse> {
    let mut c = KafkaConnection::connect(addr, "test", Duration::from_secs(2))
        .await
        .ok()?;
    c.send(
        &MetadataRequest::default().with_topics(None),
        12,
        Duration::from_secs(5),
    )
    .await
    .ok()
}

/// (partition → (leader, replicas, isr)) of `topic` as the broker at `addr` reports it.
type Layout = BTreeMap<i32, (i32, Vec<i32>, Vec<i32>)>;

fn layout(addr: &str, topic: &str) -> Option<Layout> {
    let m = block_on(metadata(addr))?;
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))?;
    Some(
        t.partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    (
                        p.leader_id.0,
                        p.replica_nodes.iter().map(|b| b.0).collect(),
                        p.isr_nodes.iter().map(|b| b.0).collect(),
                    ),
                )
            })
            .collect(),
    )
}

fn create_topic(addr: &str, name: &str, partitions: i32, rf: i16) {
    let resp = block_on(async {
        let mut c = KafkaConnection::connect(addr, "test", Duration::from_secs(2))
            .await
            .unwrap();
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_string())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(rf),
            ]);
        c.send(&req, 7, Duration::from_secs(35)).await.unwrap()
    });
    let t = &resp.topics[0];
    assert_eq!(
        t.error_code, 0,
        "CreateTopics {name}: {:?}",
        t.error_message
    );
    assert_eq!(t.num_partitions, partitions);
}

/// Waits until every listed broker reports the same layout for `topic`, and returns it.
fn agreed_layout(
    brokers: &[&Node],
    topic: &str,
    timeout: Duration,
    accept: impl Fn(&Layout) -> bool,
) -> Layout {
    wait_for(timeout, &format!("brokers to agree on {topic}"), || {
        let layouts: Vec<Layout> = brokers
            .iter()
            .map(|b| layout(&b.addr(), topic))
            .collect::<Option<_>>()?;
        let first = layouts[0].clone();
        (layouts.iter().all(|l| *l == first) && accept(&first)).then_some(first)
    })
}

/// `kill -9` of a broker that leads a partition of `layout`: its index and when it was killed.
fn kill_a_leader(c: &mut Cluster, layout: &Layout) -> (usize, Instant) {
    let idx = c
        .brokers
        .iter()
        .position(|b| layout.values().any(|(l, _, _)| *l == b.id))
        .expect("a broker leads a partition");
    let killed_at = Instant::now();
    c.brokers[idx].kill();
    (idx, killed_at)
}

fn active_controller(c: &Cluster) -> usize {
    wait_for(START, "an active controller", || {
        c.controllers.iter().position(|n| {
            n.is_started() && n.metric("kafka_controller_active_controllers", &[]) == Some(1.0)
        })
    })
}

#[test]
fn brokers_register_topics_replicate_to_every_image_and_brokers_fence_and_shut_down() {
    let mut c = cluster("", &[]);
    let b0 = c.brokers[0].addr();
    // Every node's exposition passes promtool's lint, role metrics included.
    for n in c.nodes() {
        let body = n.metrics().unwrap();
        promtool_check_metrics(&body).unwrap_or_else(|e| panic!("node {}: {e}", n.id));
        let want: &[&str] = if n.id <= 3 {
            &[
                "kafka_controller_metadata_lag",
                "kafka_controller_metadata_commit_latency_seconds_bucket",
                "kafka_controller_metadata_committed_records_total",
                "kafka_controller_metadata_snapshot_offset_lag",
            ]
        } else {
            &[
                "kafka_broker_metadata_lag",
                "kafka_broker_metadata_snapshot_offset_lag",
            ]
        };
        for m in want.iter().chain(&[
            "kafka_metadata_last_applied_offset",
            "kafka_metadata_version_info",
        ]) {
            assert!(body.contains(m), "node {} lacks {m}", n.id);
        }
    }
    // A real client's admin API creates the topic when the venv is there (./scripts/test).
    let created_by_client = python().map(|py| {
        let (ok, out, err) = run_python(
            &py,
            "admin_topics.py",
            &[
                "--bootstrap",
                &b0,
                "--topic",
                "orders",
                "--partitions",
                "6",
                "--replication-factor",
                "3",
            ],
        );
        assert!(ok, "confluent-kafka create_topics: {out}{err}");
        out
    });
    if created_by_client.is_none() {
        create_topic(&b0, "orders", 6, 3);
    }
    let all: Vec<&Node> = c.brokers.iter().collect();
    let before = agreed_layout(&all, "orders", START, |l| l.len() == 6);
    if let Some(json) = created_by_client {
        for (p, (leader, replicas, isr)) in &before {
            let want = format!(
                "\"{p}\": {{\"leader\": {leader}, \"replicas\": {replicas:?}, \"isrs\": {isr:?}}}"
            );
            assert!(json.contains(&want), "client view {json} lacks {want}");
        }
    }
    // `kraftd topics --describe` shows the same leaders and ISR.
    let (status, out, err) = run_kraftd(&[
        "topics",
        "--bootstrap-server",
        &c.brokers[2].addr(),
        "--describe",
        "--topic",
        "orders",
    ]);
    assert!(status.success(), "{out}{err}");
    for (p, (leader, replicas, isr)) in &before {
        let join = |v: &[i32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let want = format!(
            "Partition: {p}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
            join(replicas),
            join(isr)
        );
        assert!(out.contains(&want), "{out} lacks {want}");
    }
    for (p, (leader, replicas, isr)) in &before {
        assert_eq!(replicas.len(), 3, "partition {p}");
        assert_eq!(
            isr, replicas,
            "partition {p}: a new partition's ISR is its live replicas"
        );
        assert!(replicas.contains(leader));
    }
    let leaders: std::collections::BTreeSet<i32> = before.values().map(|(l, _, _)| *l).collect();
    assert!(leaders.len() > 1, "leaders spread over brokers: {before:?}");

    // kill -9 of a broker that leads partitions: fenced, its leaderships move, it leaves
    // every ISR.
    let (victim_idx, killed_at) = kill_a_leader(&mut c, &before);
    let victim = c.brokers[victim_idx].id;
    let survivors: Vec<&Node> = c.brokers.iter().filter(|b| b.id != victim).collect();
    let after = agreed_layout(
        &survivors,
        "orders",
        Duration::from_millis(SESSION_TIMEOUT_MS) + START,
        |l| {
            l.values()
                .all(|(leader, _, isr)| *leader != victim && !isr.contains(&victim))
        },
    );
    let fenced_after = killed_at.elapsed();
    println!("kill -9 of broker {victim}: fenced and leaderships moved after {fenced_after:?}");
    assert!(
        fenced_after < Duration::from_millis(SESSION_TIMEOUT_MS) + Duration::from_secs(5),
        "fencing took {fenced_after:?}"
    );
    for (p, (leader, _, isr)) in &after {
        assert!(isr.contains(leader), "partition {p}: leader in ISR");
    }
    // Its heartbeat connection closed with the process: fenced without waiting for the
    // session timeout (ADR 0012).
    let active = active_controller(&c);
    assert!(
        c.controllers[active]
            .metric("kafka_controller_broker_disconnect_fences_total", &[])
            .unwrap_or(0.0)
            >= 1.0
    );

    // The broker comes back and is unfenced again.
    c.brokers[victim_idx].start(START);
    wait_for(START, "the restarted broker ready", || {
        c.brokers[victim_idx].ready().then_some(())
    });

    // SIGTERM: controlled shutdown moves leaderships away before the process exits.
    let leaders_now = layout(&c.brokers[0].addr(), "orders").unwrap();
    let leading: Vec<usize> = (0..3)
        .filter(|i| leaders_now.values().any(|(l, _, _)| *l == c.brokers[*i].id))
        .collect();
    let idx = leading[0];
    let leaving = c.brokers[idx].id;
    let stopped = Instant::now();
    c.brokers[idx].terminate(Duration::from_secs(30));
    let shutdown_took = stopped.elapsed();
    let log = c.brokers[idx].log_text();
    assert!(
        log.contains("controlled shutdown completed=true"),
        "controlled shutdown in the log:\n{log}"
    );
    let others: Vec<&Node> = c.brokers.iter().filter(|b| b.id != leaving).collect();
    let moved = layout(&others[0].addr(), "orders").unwrap();
    assert!(
        moved.values().all(|(l, _, _)| *l != leaving),
        "leaderships moved before exit: {moved:?}"
    );
    println!("SIGTERM of broker {leaving}: controlled shutdown and exit in {shutdown_took:?}");
    c.brokers[idx].start(START);
    wait_for(START, "broker ready again", || {
        c.brokers[idx].ready().then_some(())
    });

    // kill -9 of the active controller: another takes over; committed metadata is intact and
    // new writes work.
    let active = active_controller(&c);
    let old = c.controllers[active].id;
    c.controllers[active].kill();
    let next = active_controller(&c);
    assert_ne!(c.controllers[next].id, old);
    create_topic(&c.brokers[0].addr(), "payments", 3, 3);
    let all: Vec<&Node> = c.brokers.iter().collect();
    agreed_layout(&all, "payments", START, |l| l.len() == 3);
    assert_eq!(layout(&c.brokers[1].addr(), "orders").unwrap().len(), 6);
    c.controllers[active].start(START);
    wait_for(START, "the restarted controller caught up", || {
        let lag = c.controllers[active].metric("kafka_controller_metadata_lag", &[])?;
        (lag <= 2.0).then_some(())
    });
}

#[test]
fn a_restarted_controller_loads_its_snapshot_and_snapshot_offset_lag_drops_after_each_snapshot() {
    // A snapshot every ~4 KiB of committed metadata; NoOps alone produce that in seconds.
    let mut c = cluster(
        "metadata.log.max.record.bytes.between.snapshots=4096\nmetadata.max.idle.interval.ms=100\n",
        &[],
    );
    let b0 = c.brokers[0].addr();
    for i in 0..5 {
        create_topic(&b0, &format!("t{i}"), 2, 2);
    }
    // The snapshot offset lag grows with the log and drops when a snapshot is written.
    let node = &c.controllers[0];
    let mut peak = 0.0f64;
    wait_for(START, "snapshot offset lag to grow and then drop", || {
        let lag = node.metric("kafka_controller_metadata_snapshot_offset_lag", &[])?;
        if lag > peak {
            peak = lag;
        }
        (peak >= 10.0 && lag < peak / 2.0).then_some(())
    });
    wait_for(START, "a snapshot written by every controller", || {
        c.controllers
            .iter()
            .all(|n| {
                n.metric("kafka_metadata_snapshots_generated_total", &[])
                    .unwrap_or(0.0)
                    >= 1.0
            })
            .then_some(())
    });
    let idx = 2;
    c.controllers[idx].restart(Duration::from_secs(30));
    let n = &c.controllers[idx];
    wait_for(START, "the restarted controller loaded a snapshot", || {
        (n.metric("kafka_metadata_snapshots_loaded_total", &[])? >= 1.0).then_some(())
    });
    assert!(
        n.logs()
            .contains("loading the metadata image from a snapshot")
    );
    wait_for(START, "and caught up", || {
        (n.metric("kafka_controller_metadata_lag", &[])? <= 2.0).then_some(())
    });
    assert_eq!(n.metric("kafka_metadata_load_errors_total", &[]), Some(0.0));
    assert_eq!(
        n.metric("kafka_metadata_apply_errors_total", &[]),
        Some(0.0)
    );
    assert_eq!(layout(&b0, "t4").map(|l| l.len()), Some(2));
}

#[test]
fn broker_metadata_lag_grows_while_a_broker_stops_applying_and_returns_to_zero() {
    let root = tempfile::tempdir().unwrap();
    let pause = root.path().join("pause");
    let pause_s = pause.to_str().unwrap().to_string();
    let c = cluster(
        "metadata.max.idle.interval.ms=100\n",
        &[(kraftd::metadata_io::listener::PAUSE_FILE_ENV, &pause_s)],
    );
    let b = &c.brokers[0];
    assert!(b.metric("kafka_broker_metadata_lag", &[]).unwrap() <= 2.0);
    std::fs::write(&pause, b"").unwrap();
    wait_for(START, "broker metadata lag to grow", || {
        (b.metric("kafka_broker_metadata_lag", &[])? >= 20.0).then_some(())
    });
    let lag_seconds = b
        .metric("kafka_metadata_last_applied_record_lag_seconds", &[])
        .unwrap();
    assert!(
        lag_seconds > 0.5,
        "record lag in seconds grows too: {lag_seconds}"
    );
    std::fs::remove_file(&pause).unwrap();
    wait_for(START, "broker metadata lag back to ~0", || {
        (b.metric("kafka_broker_metadata_lag", &[])? <= 2.0).then_some(())
    });
    wait_for(START, "record lag seconds back to ~0", || {
        (b.metric("kafka_metadata_last_applied_record_lag_seconds", &[])? < 1.5).then_some(())
    });
}

#[test]
fn real_clients_follow_partition_leaders_across_three_brokers() {
    let c = cluster("", &[]);
    let b0 = c.brokers[0].addr();
    let (status, out, err) = run_kraftd(&[
        "topics",
        "--bootstrap-server",
        &b0,
        "--create",
        "--topic",
        "spread",
        "--partitions",
        "6",
        "--replication-factor",
        "1",
    ]);
    assert!(status.success(), "{out}{err}");
    let all: Vec<&Node> = c.brokers.iter().collect();
    let l = agreed_layout(&all, "spread", START, |l| l.len() == 6);
    let leaders: std::collections::BTreeSet<i32> = l.values().map(|(x, _, _)| *x).collect();
    assert_eq!(
        leaders.len(),
        3,
        "RF=1 partitions spread over the brokers: {l:?}"
    );
    // kcat bootstrapped from one broker produces to and consumes from every leader.
    let kcat = require_tool("kcat");
    let input: String = (0..600).map(|i| format!("k{}\tv{i}\n", i % 17)).collect();
    let mut p = std::process::Command::new(&kcat)
        .args([
            "-b", &b0, "-P", "-t", "spread", "-K", "\t", "-X", "acks=all",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    p.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(p.wait().unwrap().success());
    let out = std::process::Command::new(&kcat)
        .args([
            "-b",
            &c.brokers[1].addr(),
            "-C",
            "-t",
            "spread",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%p %k %s\n",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 600, "{text}");
    let partitions: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(partitions.len() > 1, "keys spread over partitions");
    if let Some(py) = python() {
        let (ok, out, err) = run_python(
            &py,
            "suite.py",
            &[
                "spread",
                "--bootstrap",
                &b0,
                "--topic",
                "spread2",
                "--count",
                "3000",
            ],
        );
        assert!(ok, "{out}{err}");
    }
}
