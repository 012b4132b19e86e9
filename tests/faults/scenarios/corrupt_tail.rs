//! A corrupt segment tail: a partition leader is killed (`kill -9`), the end of its active
//! segment of that partition is torn (cut inside the last batch) and followed by garbage, and
//! it is restarted. Recovery must drop the bad tail and the broker catch up from the new
//! leader; what the other replicas acknowledged stays.

use std::io::Write;
use std::path::PathBuf;

use crate::harness::TOPIC;
use crate::scenario::{Fault, Scenario};

pub const SCENARIO: Scenario = Scenario::new(
    "corrupt-tail",
    "kill -9 a leader, tear and garble its segment tail, restart",
    run,
)
.expecting(&["KafkaUnderReplicatedPartitions"]);

/// The newest segment file of `TOPIC`-`p` under `data`.
fn active_segment(data: &std::path::Path, p: i32) -> PathBuf {
    let dir = data.join(format!("{TOPIC}-{p}"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let (p, leader) = f.some_leader();
        f.note(format!("kill -9 broker {leader} (leader of partition {p})"));
        f.h.cluster.node_mut(leader).kill();
        let segment = active_segment(&f.h.cluster.node(leader).dir.join("data"), p);
        let len = std::fs::metadata(&segment).expect("segment").len();
        let cut = (1 + f.rng.below(200)).min(len);
        let garbage: Vec<u8> = (0..256 + f.rng.below(4096))
            .map(|_| f.rng.next_u64() as u8)
            .collect();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open segment");
        file.set_len(len - cut).expect("tear the tail");
        drop(file);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .expect("open segment");
        file.write_all(&garbage).expect("garble the tail");
        drop(file);
        f.note(format!(
            "{}: cut {cut} of {len} bytes, appended {} bytes of garbage",
            segment.display(),
            garbage.len()
        ));
        let d = f.fault_time();
        f.hold(d);
        f.note(format!("restart broker {leader}"));
        f.h.cluster.node_mut(leader).start(crate::START);
    }
}
