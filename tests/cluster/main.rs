//! Real `kraftd` processes on loopback forming a KRaft quorum: three dedicated controllers elect
//! a leader, `kraftd metadata-quorum describe` shows it, `kill -9` of the leader moves
//! leadership to a voter that commits its epoch, and the killed node rejoins as a follower.
//! The failover time (kill → new leader committed) is measured over `KRAFTD_FAILOVER_TRIALS`
//! trials (default 50) and printed as p50/p99/max; graceful SIGTERM hand-overs likewise.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kraftd::network::client::KafkaConnection;

const START: Duration = Duration::from_secs(30);

struct Controller {
    id: i32,
    controller: u16,
    http: u16,
    config: PathBuf,
    dir: PathBuf,
    process: Option<Kraftd>,
    starts: u32,
}

impl Controller {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.controller)
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = self.dir.join(format!("kraftd-{}.log", self.starts));
        let mut p = Kraftd::spawn(&["server", "-c", self.config.to_str().unwrap()], log, &[]);
        p.wait_healthy(
            std::net::SocketAddr::from(([127, 0, 0, 1], self.http)),
            START,
        );
        self.process = Some(p);
    }

    fn kill(&mut self, signal: i32) {
        let mut p = self.process.take().expect("running");
        p.signal(signal);
        let status = p.wait_exit(Duration::from_secs(20));
        if signal == libc::SIGTERM {
            assert!(
                status.success(),
                "controller {} exit {status:?}:\n{}",
                self.id,
                p.log_text()
            );
        }
    }
}

fn controllers(root: &Path, n: i32) -> Vec<Controller> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{}@127.0.0.1:{c}", i + 1))
        .collect();
    let (_, id, _) = run_kraftd(&["storage", "random-uuid"]);
    let mut out = Vec::new();
    for (i, (c, h)) in ports.iter().enumerate() {
        let dir = root.join(format!("c{}", i + 1));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "process.roles=controller\nnode.id={}\ncontroller.quorum.voters={}\nlisteners=CONTROLLER://127.0.0.1:{c}\ncontroller.listener.names=CONTROLLER\nlog.dirs={}\nkraftd.http.listener=127.0.0.1:{h}\nkraftd.shutdown.timeout.ms=10000\n",
            i + 1,
            voters.join(","),
            dir.join("metadata").display()
        );
        let config = write_config(&dir, &text);
        let (status, out_, err) = run_kraftd(&[
            "storage",
            "format",
            "-t",
            id.trim(),
            "-c",
            config.to_str().unwrap(),
        ]);
        assert!(status.success(), "{out_}{err}");
        out.push(Controller {
            id: i as i32 + 1,
            controller: *c,
            http: *h,
            config,
            dir,
            process: None,
            starts: 0,
        });
    }
    for c in &mut out {
        c.start();
    }
    out
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
async fn committed_leader(live: &[&Controller], after_epoch: i32, timeout: Duration) -> (i32, i32) {
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
fn wait_follower(c: &Controller) {
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], c.http));
    wait_for(START, "the restarted controller to follow", || {
        let (_, body) = http_get(http, "/metrics").ok()?;
        body.contains("kafka_raft_state{state=\"follower\"} 1")
            .then_some(())
    });
}

#[test]
fn three_controllers_elect_fail_over_and_rejoin() {
    let root = tempfile::tempdir().unwrap();
    let mut cs = controllers(root.path(), 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bootstrap: Vec<String> = cs.iter().map(Controller::addr).collect();
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
        cs[victim].kill(libc::SIGKILL);
        let live: Vec<&Controller> = cs.iter().filter(|c| c.process.is_some()).collect();
        let (new_leader, new_epoch) = rt.block_on(committed_leader(&live, epoch, START));
        kills.push(started.elapsed());
        assert_ne!(new_leader, leader);
        cs[victim].start();
        wait_follower(&cs[victim]);
        leader = new_leader;
        epoch = new_epoch;
    }
    let mut handovers = Vec::new();
    for _ in 0..trials.min(10) {
        let victim = cs.iter().position(|c| c.id == leader).unwrap();
        let started = Instant::now();
        let live: Vec<&Controller> = cs.iter().filter(|c| c.id != leader).collect();
        cs[victim].process.as_ref().unwrap().signal(libc::SIGTERM);
        let (new_leader, new_epoch) = rt.block_on(committed_leader(&live, epoch, START));
        handovers.push(started.elapsed());
        cs[victim].kill(libc::SIGTERM);
        cs[victim].start();
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
fn counter(c: &Controller, name: &str) -> f64 {
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], c.http));
    let (_, body) = http_get(http, "/metrics").unwrap_or_default();
    body.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .sum()
}

/// With both cores saturated by busy threads, a healthy quorum holds its leader: no election
/// after the first. Runs `KRAFTD_SOAK_SECONDS` (default 20; the documented soak is 600).
#[test]
fn no_spurious_elections_while_both_cores_are_busy() {
    let root = tempfile::tempdir().unwrap();
    let cs = controllers(root.path(), 3);
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

/// A labelled gauge's value in a node's `/metrics` (NaN when absent).
fn gauge(c: &Controller, series: &str) -> f64 {
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], c.http));
    let (_, body) = http_get(http, "/metrics").unwrap_or_default();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn follower_lag_metrics_move_when_a_follower_stops_and_recover() {
    let root = tempfile::tempdir().unwrap();
    let cs = controllers(root.path(), 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (leader, _) = rt.block_on(committed_leader(&cs.iter().collect::<Vec<_>>(), 0, START));
    let l = cs.iter().find(|c| c.id == leader).unwrap();
    let f = cs.iter().find(|c| c.id != leader).unwrap();

    // Every node's exposition passes promtool.
    for c in &cs {
        let http = std::net::SocketAddr::from(([127, 0, 0, 1], c.http));
        let (_, body) = http_get(http, "/metrics").unwrap();
        promtool_check_metrics(&body).unwrap_or_else(|e| panic!("node {}: {e}", c.id));
    }

    // A broker-only node observes the quorum: it fetches the metadata log, never votes, and the
    // leader reports it as an observer.
    let bdir = root.path().join("b101");
    std::fs::create_dir_all(&bdir).unwrap();
    let (bport, bhttp) = (free_port(), free_port());
    let voters = std::fs::read_to_string(&cs[0].config)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("controller.quorum.voters="))
        .unwrap()
        .to_string();
    let bconfig = write_config(
        &bdir,
        &format!(
            "process.roles=broker\nnode.id=101\n{voters}\nlisteners=PLAINTEXT://127.0.0.1:{bport}\ncontroller.listener.names=CONTROLLER\nlog.dirs={}\nkraftd.http.listener=127.0.0.1:{bhttp}\n",
            bdir.join("data").display()
        ),
    );
    let meta = std::fs::read_to_string(cs[0].dir.join("metadata/meta.properties")).unwrap();
    let cluster_id = meta
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .unwrap()
        .to_string();
    let (status, out, err) = run_kraftd(&[
        "storage",
        "format",
        "-t",
        &cluster_id,
        "-c",
        bconfig.to_str().unwrap(),
    ]);
    assert!(status.success(), "{out}{err}");
    let mut broker = Kraftd::spawn(
        &["server", "-c", bconfig.to_str().unwrap()],
        bdir.join("kraftd.log"),
        &[],
    );
    let bhttp_addr = std::net::SocketAddr::from(([127, 0, 0, 1], bhttp));
    broker.wait_healthy(bhttp_addr, START);
    wait_for(START, "the broker to observe the quorum", || {
        let (_, body) = http_get(bhttp_addr, "/metrics").ok()?;
        (body.contains("kafka_raft_state{state=\"observer\"} 1")
            && body.contains("kafka_raft_is_voter 0"))
        .then_some(())
    });
    wait_for(START, "the leader to report its observer", || {
        (gauge(
            l,
            "kafka_raft_follower_lag{kind=\"observer\",replica_id=\"101\"}",
        ) >= 0.0)
            .then_some(())
    });
    wait_for(START, "the broker to be ready", || {
        matches!(http_get(bhttp_addr, "/readyz"), Ok((200, _))).then_some(())
    });

    let age = format!(
        "kafka_raft_follower_last_caught_up_age_seconds{{kind=\"voter\",replica_id=\"{}\"}}",
        f.id
    );
    wait_for(START, "the follower to be caught up", || {
        (gauge(l, &age) < 1.0).then_some(())
    });
    f.process.as_ref().unwrap().signal(libc::SIGSTOP);
    wait_for(START, "the stopped follower's lag age to grow", || {
        (gauge(l, &age) > 2.0).then_some(())
    });
    assert!(gauge(l, "kafka_raft_max_follower_lag_seconds") > 2.0);
    f.process.as_ref().unwrap().signal(libc::SIGCONT);
    wait_for(START, "the follower to catch up again", || {
        (gauge(l, &age) < 1.0).then_some(())
    });
    wait_for(START, "max follower lag to recover", || {
        (gauge(l, "kafka_raft_max_follower_lag_seconds") < 1.0).then_some(())
    });
}
