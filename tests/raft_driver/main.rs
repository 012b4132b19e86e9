//! The raft driver over real TCP on loopback: three in-process voters (in-memory logs) elect a
//! leader through the controller listener's Kafka-protocol RPCs, commit appended records, answer
//! DescribeQuorum as `kraftd metadata-quorum` expects, and hand leadership over on graceful
//! shutdown.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kraftd::cli::metadata_quorum;
use kraftd::clock::Clock;
use kraftd::config::{HostPort, Listener};
use kraftd::network::{
    BoundListener, ConnectionQuotas, ConnectionSettings, RouteTable, RoutedService, Service,
};
use kraftd::observability::Metrics;
use kraftd::raft::SnapshotId;
use kraftd::raft::{MemLog, RaftConfig, RaftCore, StateKind};
use kraftd::raft_io::driver::{self, DriverSettings, RaftHandle};
use kraftd::raft_io::endpoint::{ControllerNode, RaftEndpoint};
use kraftd::raft_io::quorum_state_store::QuorumStateStore;
use kraftd::shutdown::Shutdown;
use kraftd::types::{NodeId, Offset};
use rand::SeedableRng;

const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";

struct Voter {
    id: NodeId,
    handle: RaftHandle,
    metrics: Metrics,
    listener_shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

async fn start_voters(n: i32) -> (Vec<Voter>, BTreeMap<NodeId, String>) {
    let ports: Vec<u16> = (0..n).map(|_| common::free_port()).collect();
    let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
    let peers: BTreeMap<NodeId, String> = ids
        .iter()
        .zip(&ports)
        .map(|(id, p)| (*id, format!("127.0.0.1:{p}")))
        .collect();
    let controllers: Vec<ControllerNode> = ids
        .iter()
        .zip(&ports)
        .map(|(id, p)| ControllerNode {
            id: *id,
            listener: "CONTROLLER".into(),
            host: "127.0.0.1".into(),
            port: *p,
        })
        .collect();
    let clock = Clock::new();
    let mut voters = Vec::new();
    for (id, port) in ids.iter().zip(&ports) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RaftConfig::new(*id, CLUSTER, ids.clone());
        let core = RaftCore::new(
            cfg,
            MemLog::new(),
            None,
            rand_chacha::ChaCha8Rng::seed_from_u64(id.0 as u64),
            clock.now(),
        )
        .unwrap();
        let store = QuorumStateStore::new(dir.path(), ids.clone());
        let settings = DriverSettings {
            peers: peers.clone(),
            request_timeout: Duration::from_millis(500),
            client_id: format!("raft-{}", id.0),
            append_linger: Duration::from_millis(5),
            commit_listener: None,
        };
        let (handle, _thread) = driver::spawn(
            core,
            store,
            settings,
            clock,
            tokio::runtime::Handle::current(),
        );
        let service: std::sync::Arc<dyn Service> = std::sync::Arc::new(RoutedService {
            context: RaftEndpoint {
                handle: handle.clone(),
                cluster_id: CLUSTER.into(),
                controllers: controllers.clone(),
            },
            routes: RouteTable::new(kraftd::raft_io::routes::routes()),
        });
        let listener = BoundListener::bind(
            &Listener {
                name: "CONTROLLER".into(),
                address: HostPort {
                    host: "127.0.0.1".into(),
                    port: *port,
                },
            },
            kraftd::config::SecurityProtocol::Plaintext,
            service,
        )
        .await
        .unwrap();
        let listener_shutdown = Shutdown::new();
        let metrics = Metrics::new();
        tokio::spawn(listener.serve(
            std::sync::Arc::new(ConnectionQuotas::unlimited()),
            ConnectionSettings {
                max_request_bytes: 100 << 20,
                max_idle: Duration::from_secs(600),
            },
            metrics.clone(),
            listener_shutdown.signal(),
        ));
        tokio::spawn(kraftd::raft_io::metrics::run(
            handle.clone(),
            metrics.clone(),
            clock,
            listener_shutdown.signal(),
        ));
        voters.push(Voter {
            id: *id,
            handle,
            metrics,
            listener_shutdown,
            _dir: dir,
        });
    }
    (voters, peers)
}

/// Waits until every voter in `live` agrees on one leader among them; returns it.
async fn agreed_leader(live: &[&Voter], timeout: Duration) -> NodeId {
    let deadline = Instant::now() + timeout;
    loop {
        let statuses: Vec<_> = live
            .iter()
            .map(|v| v.handle.status().borrow().raft.clone())
            .collect();
        let leaders: Vec<_> = statuses
            .iter()
            .filter(|s| s.state == StateKind::Leader)
            .collect();
        if let [leader] = leaders.as_slice()
            && leader.epoch_committed
            && statuses
                .iter()
                .all(|s| s.leader_id == Some(leader.node_id) && s.epoch == leader.epoch)
        {
            return leader.node_id;
        }
        assert!(
            Instant::now() < deadline,
            "no agreed leader after {timeout:?}: {statuses:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of an unlabelled metric in a text exposition (NaN when absent).
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_commit_describe_and_hand_over() {
    let (voters, peers) = start_voters(3).await;
    let all: Vec<&Voter> = voters.iter().collect();
    let leader = agreed_leader(&all, Duration::from_secs(20)).await;
    let lv = voters.iter().find(|v| v.id == leader).unwrap();
    let epoch = lv.handle.status().borrow().raft.epoch;

    // Appends on the leader commit on every voter.
    let mut last = None;
    for i in 0..20 {
        let (_, l) = lv
            .handle
            .append(epoch, vec![Bytes::from(format!("record-{i}"))])
            .await
            .unwrap();
        last = Some(l);
    }
    let last = last.unwrap();
    for v in &voters {
        let mut committed = v.handle.committed();
        tokio::time::timeout(
            Duration::from_secs(10),
            committed.wait_for(|hw| hw.is_some_and(|hw| hw > last)),
        )
        .await
        .unwrap_or_else(|_| panic!("node {} did not commit offset {}", v.id.0, last.0))
        .unwrap();
    }
    // The leader exports its quorum view; followers say they follow.
    let text = |v: &Voter| String::from_utf8(v.metrics.render()).unwrap();
    let leader_metrics = common::wait_for_async(Duration::from_secs(5), || {
        let t = text(lv);
        (t.contains("kafka_raft_state{state=\"leader\"} 1")
            && t.contains("kafka_raft_follower_lag{kind=\"voter\"")
            && metric_value(&t, "kafka_raft_append_records_total") >= 20.0)
            .then_some(t)
    })
    .await;
    assert!(
        leader_metrics.contains("kafka_raft_leader_known 1"),
        "{leader_metrics}"
    );
    assert!(
        leader_metrics.contains("kafka_raft_voters 3"),
        "{leader_metrics}"
    );
    assert!(
        leader_metrics.contains("kafka_raft_commit_latency_seconds_count"),
        "{leader_metrics}"
    );
    // Concurrent appends during the linger share one batch; each caller gets its own offsets.
    let mut joins = Vec::new();
    for i in 0..10 {
        let h = lv.handle.clone();
        joins.push(tokio::spawn(async move {
            h.append(
                epoch,
                vec![Bytes::from(format!("a{i}")), Bytes::from(format!("b{i}"))],
            )
            .await
            .unwrap()
        }));
    }
    let mut ranges = Vec::new();
    for j in joins {
        ranges.push(j.await.unwrap());
    }
    ranges.sort();
    for w in ranges.windows(2) {
        assert_eq!(
            w[0].1.0 + 1,
            w[1].0.0,
            "contiguous, non-overlapping: {ranges:?}"
        );
    }
    assert!(ranges.iter().all(|(a, b)| b.0 - a.0 == 1), "{ranges:?}");

    // A follower refuses appends.
    let follower = voters.iter().find(|v| v.id != leader).unwrap();
    assert!(
        follower
            .handle
            .append(epoch, vec![Bytes::from_static(b"x")])
            .await
            .is_err()
    );

    // DescribeQuorum through any voter reaches the leader (NOT_LEADER hint followed).
    let view = metadata_quorum::describe(&peers[&follower.id], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(view.cluster_id, CLUSTER);
    assert_eq!(view.leader_id, leader.0);
    assert_eq!(view.voters.len(), 3);
    assert!(view.high_watermark > last.0);
    assert!(
        view.format_status()
            .contains(&format!("LeaderId:               {}", leader.0))
    );

    // The layer above freezes a snapshot at the committed end; cleaning moves the log start.
    let snap_end = Offset(last.0 + 1);
    assert!(
        lv.handle
            .create_snapshot(
                SnapshotId::new(snap_end, epoch),
                Bytes::from_static(b"state")
            )
            .await
    );
    assert!(lv.handle.clean_log().await);
    common::wait_for_async(Duration::from_secs(5), || {
        (lv.handle.status().borrow().raft.log_start_offset == snap_end).then_some(())
    })
    .await;

    // Graceful shutdown of the leader hands leadership to another voter quickly.
    let started = Instant::now();
    lv.handle.shutdown(Duration::from_secs(5)).await;
    lv.listener_shutdown.trigger();
    let rest: Vec<&Voter> = voters.iter().filter(|v| v.id != leader).collect();
    let new_leader = agreed_leader(&rest, Duration::from_secs(20)).await;
    assert_ne!(new_leader, leader);
    eprintln!("graceful hand-over took {:?}", started.elapsed());

    for v in &voters {
        v.handle.shutdown(Duration::from_secs(2)).await;
        v.listener_shutdown.trigger();
    }
}
