//! Real `kraftd` processes on loopback forming a KRaft quorum: three dedicated controllers elect
//! a leader, `kraftd metadata-quorum describe` shows it, `kill -9` of the leader moves
//! leadership to a voter that commits its epoch, and the killed node rejoins as a follower.
//! The failover time (kill → new leader committed) is measured over `KRAFTD_FAILOVER_TRIALS`
//! trials (default 50) and printed as p50/p99/max; graceful SIGTERM hand-overs likewise.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kraftd::network::client::KafkaConnection;

const START: Duration = Duration::from_secs(30);

/// The tests of this file run one at a time: each measures quorum timings (failover, no
/// election under CPU load) that a second cluster starting, failing over or fsyncing beside it
/// would distort.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Three controllers (ids 1-3), started and healthy.
fn controllers() -> Cluster {
    Cluster::builder()
        .controllers(3)
        .extra("kraftd.shutdown.timeout.ms=10000\n")
        .start(START)
}

/// (leader id, epoch, high watermark) as a node answering DescribeQuorum reports it; only the
/// leader answers without error.
async fn describe(conn: &mut Option<KafkaConnection>, addr: &str) -> Option<(i32, i32, i64)> {
    if conn.is_none() {
        *conn = KafkaConnection::connect(addr, "cluster-test", Duration::from_millis(200))
            .await
            .ok();
    }
    let c = conn.as_mut()?;
    let req = DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    match c.send(&req, 2, Duration::from_millis(500)).await {
        Ok(r) => {
            let p = r.topics.first()?.partitions.first()?;
            (p.error_code == 0).then_some((p.leader_id.0, p.leader_epoch, p.high_watermark))
        }
        Err(_) => {
            *conn = None;
            None
        }
    }
}

/// Polls the live controllers until one is leader of an epoch above `after_epoch` and has
/// committed it (its high watermark is known); returns (leader, epoch).
async fn committed_leader(live: &[&Node], after_epoch: i32, timeout: Duration) -> (i32, i32) {
    let deadline = Instant::now() + timeout;
    let mut conns: Vec<Option<KafkaConnection>> = live.iter().map(|_| None).collect();
    loop {
        for (c, conn) in live.iter().zip(conns.iter_mut()) {
            if let Some((leader, epoch, hw)) = describe(conn, &c.addr()).await
                && leader == c.id
                && epoch > after_epoch
                && hw >= 0
            {
                return (leader, epoch);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no committed leader above epoch {after_epoch} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().unwrap()
    )
}

/// Waits until controller `c` reports itself a follower in the current quorum.
fn wait_follower(c: &Node) {
    wait_for(START, "the restarted controller to follow", || {
        (c.metric("kafka_raft_state", &[("state", "follower")])? == 1.0).then_some(())
    });
}

#[test]
fn three_controllers_elect_fail_over_and_rejoin() {
    let _one = one_cluster_at_a_time();
    let mut c = controllers();
    let cs = &mut c.controllers;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bootstrap: Vec<String> = cs.iter().map(Node::addr).collect();
    let bootstrap = bootstrap.join(",");

    let (leader, epoch) = rt.block_on(committed_leader(&cs.iter().collect::<Vec<_>>(), 0, START));

    // The CLI shows the quorum, following the leader hint from any controller.
    let (status, out, err) = run_kraftd(&[
        "metadata-quorum",
        "--bootstrap-controller",
        &bootstrap,
        "describe",
        "--status",
    ]);
    assert!(status.success(), "{err}");
    assert!(
        out.contains(&format!("LeaderId:               {leader}")),
        "{out}"
    );
    assert!(out.contains("CurrentVoters:          [1,2,3]"), "{out}");
    let (status, out, err) = run_kraftd(&[
        "metadata-quorum",
        "--bootstrap-controller",
        &cs[0].addr(),
        "describe",
        "--replication",
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(
        out.lines().filter(|l| l.ends_with("Leader")).count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.ends_with("Follower")).count(),
        2,
        "{out}"
    );

    let trials: usize = std::env::var("KRAFTD_FAILOVER_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut leader = leader;
    let mut epoch = epoch;
    let mut kills = Vec::new();
    for _ in 0..trials {
        let victim = cs.iter().position(|c| c.id == leader).unwrap();
        let started = Instant::now();
        cs[victim].kill();
        let live: Vec<&Node> = cs.iter().filter(|c| c.is_started()).collect();
        let (new_leader, new_epoch) = rt.block_on(committed_leader(&live, epoch, START));
        kills.push(started.elapsed());
        assert_ne!(new_leader, leader);
        cs[victim].start(START);
        wait_follower(&cs[victim]);
        leader = new_leader;
        epoch = new_epoch;
    }
    let mut handovers = Vec::new();
    for _ in 0..trials.min(10) {
        let victim = cs.iter().position(|c| c.id == leader).unwrap();
        let started = Instant::now();
        let live: Vec<&Node> = cs.iter().filter(|c| c.id != leader).collect();
        cs[victim].signal(libc::SIGTERM);
        let (new_leader, new_epoch) = rt.block_on(committed_leader(&live, epoch, START));
        handovers.push(started.elapsed());
        cs[victim].terminate(Duration::from_secs(20));
        cs[victim].start(START);
        wait_follower(&cs[victim]);
        leader = new_leader;
        epoch = new_epoch;
    }
    let report = format!(
        "{}\n{}",
        summary("kill -9 of the leader -> new leader committed", kills),
        summary("SIGTERM of the leader -> new leader committed", handovers)
    );
    eprintln!("{report}");
    if let Ok(path) = std::env::var("KRAFTD_FAILOVER_REPORT") {
        std::fs::write(path, format!("{report}\n")).unwrap();
    }
}

/// Sum of a counter over a node's `/metrics`.
fn counter(c: &Node, name: &str) -> f64 {
    c.metric_sum(name, &[]).unwrap_or(0.0)
}

/// With both cores saturated by busy threads, a healthy quorum holds its leader: no election
/// after the first. Runs `KRAFTD_SOAK_SECONDS` (default 20; the documented soak is 600).
#[test]
fn no_spurious_elections_while_both_cores_are_busy() {
    let _one = one_cluster_at_a_time();
    let c = controllers();
    let cs = &c.controllers;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_, epoch) = rt.block_on(committed_leader(&cs.iter().collect::<Vec<_>>(), 0, START));
    let elections_before: f64 = cs
        .iter()
        .map(|c| counter(c, "kafka_raft_elections_total"))
        .sum();
    let seconds: u64 = std::env::var("KRAFTD_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut epochs_seen = vec![epoch];
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let (_, e) = rt.block_on(committed_leader(&cs.iter().collect::<Vec<_>>(), 0, START));
        if !epochs_seen.contains(&e) {
            epochs_seen.push(e);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in burners {
        b.join().unwrap();
    }
    let elections_after: f64 = cs
        .iter()
        .map(|c| counter(c, "kafka_raft_elections_total"))
        .sum();
    eprintln!(
        "{seconds}s under load: epochs seen {epochs_seen:?}, elections {elections_before} -> {elections_after}"
    );
    assert_eq!(
        epochs_seen,
        vec![epoch],
        "the leader changed under CPU load"
    );
    assert_eq!(
        elections_after, elections_before,
        "spurious elections under CPU load"
    );
}

#[test]
fn follower_lag_metrics_move_when_a_follower_stops_and_recover() {
    let _one = one_cluster_at_a_time();
    let mut c = controllers();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let live: Vec<&Node> = c.controllers.iter().collect();
    let (leader, _) = rt.block_on(committed_leader(&live, 0, START));

    // Every node's exposition passes promtool.
    for n in &c.controllers {
        let body = n.metrics().unwrap();
        promtool_check_metrics(&body).unwrap_or_else(|e| panic!("node {}: {e}", n.id));
    }

    // A broker-only node observes the quorum: it fetches the metadata log, never votes, and the
    // leader reports it as an observer.
    c.add_broker(101).start(START);
    let broker = c.node(101);
    let l = c.controllers.iter().find(|n| n.id == leader).unwrap();
    let f = c.controllers.iter().find(|n| n.id != leader).unwrap();
    wait_for(START, "the broker to observe the quorum", || {
        (broker.metric("kafka_raft_state", &[("state", "observer")])? == 1.0
            && broker.metric("kafka_raft_is_voter", &[])? == 0.0)
            .then_some(())
    });
    wait_for(START, "the leader to report its observer", || {
        let lag = l.metric(
            "kafka_raft_follower_lag",
            &[("kind", "observer"), ("replica_id", "101")],
        )?;
        (lag >= 0.0).then_some(())
    });
    wait_for(START, "the broker to be ready", || {
        broker.ready().then_some(())
    });

    let follower = f.id.to_string();
    let age = || {
        l.metric(
            "kafka_raft_follower_last_caught_up_age_seconds",
            &[("kind", "voter"), ("replica_id", &follower)],
        )
    };
    let max_lag = || l.metric("kafka_raft_max_follower_lag_seconds", &[]);
    wait_for(START, "the follower to be caught up", || {
        (age()? < 1.0).then_some(())
    });
    f.signal(libc::SIGSTOP);
    wait_for(START, "the stopped follower's lag age to grow", || {
        (age()? > 2.0).then_some(())
    });
    assert!(max_lag().is_some_and(|lag| lag > 2.0));
    f.signal(libc::SIGCONT);
    wait_for(START, "the follower to catch up again", || {
        (age()? < 1.0).then_some(())
    });
    wait_for(START, "max follower lag to recover", || {
        (max_lag()? < 1.0).then_some(())
    });
}
