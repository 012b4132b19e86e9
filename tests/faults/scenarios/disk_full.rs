//! A full disk: broker 4's log directory lives on a 64 MiB filesystem, which a filler file
//! takes to the last byte. The broker must stop serving what it cannot write (Kafka takes the
//! directory offline and, with no directory left, stops the broker) and leadership must move;
//! the heal frees the space and restarts the broker.

use std::io::Write;
use std::time::Duration;

use crate::scenario::{Fault, Scenario};

/// The broker whose log directory is small.
const VICTIM: i32 = 4;

pub const SCENARIO: Scenario =
    Scenario::new("disk-full", "fill broker 4's log directory filesystem", run)
        .expecting(&["KafkaUnderReplicatedPartitions"])
        .with_small_disk(VICTIM, 64);

fn run(f: &mut Fault<'_>) {
    for _ in 0..f.rounds() {
        let filler = f.h.net.filesystem(0).join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0xA5u8; 1 << 20];
        let mut written = 0usize;
        while file
            .write_all(&chunk)
            .and_then(|()| file.sync_data())
            .is_ok()
        {
            written += chunk.len();
        }
        // The last bytes, below a whole chunk.
        while file.write_all(&chunk[..4096]).is_ok() {
            written += 4096;
        }
        drop(file);
        f.note(format!(
            "filled broker {VICTIM}'s log directory filesystem ({} MiB filler)",
            written >> 20
        ));
        let d = f.fault_time();
        f.hold(d);
        std::fs::remove_file(&filler).expect("remove filler");
        let node = f.h.cluster.node_mut(VICTIM);
        if node.is_running() {
            let status = node.stop(libc::SIGTERM, Duration::from_secs(30));
            f.note(format!(
                "freed the space; broker {VICTIM} stopped ({status})"
            ));
        } else {
            let status = node.wait_exit(Duration::from_secs(1));
            f.note(format!(
                "freed the space; broker {VICTIM} had exited ({status})"
            ));
        }
        f.h.cluster.node_mut(VICTIM).start(crate::START);
        f.note(format!("restarted broker {VICTIM}"));
    }
}
