//! Consumer groups with real clients against real `kraftd` processes: confluent-kafka
//! (librdkafka), kafka-python, aiokafka and KafkaJS members split a topic's partitions, a third member's join
//! rebalances without losing a record, committed offsets survive the consumers and a
//! `kill -9` of the coordinator's broker, a static member rejoins without a rebalance,
//! `kcat -G` consumes as a group, and the AdminClient lists, describes and deletes groups;
//! the lag metrics and alerts follow a stopped group (`live`).
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod cli;
#[path = "../common/mod.rs"]
mod common;
mod live;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

pub(crate) const START: Duration = Duration::from_secs(30);

/// Runs `tests/groups/groups.py` with `args`; its output must start with "ok".
pub(crate) fn groups(python: &Path, args: &[&str], c: &Cluster) -> String {
    let (ok, out, err) = run_python(python, "../groups/groups.py", args);
    assert!(
        ok && out.starts_with("ok"),
        "groups.py {args:?}: {out}\n{err}\n{}",
        logs(c)
    );
    println!("{args:?}: {}", out.trim());
    out
}

fn logs(c: &Cluster) -> String {
    c.nodes()
        .map(|n| format!("--- node {}\n{}", n.id, tail(&n.log_text(), 60)))
        .collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `kcat -G` (Debian's librdkafka 2.0) reads `count` records of `topic` as a member of `group`.
fn kcat_group(c: &Cluster, group: &str, topic: &str, count: usize) {
    let b = c.bootstrap();
    let n = count.to_string();
    let (ok, out, err) = kcat(
        &[
            "-b",
            &b,
            "-G",
            group,
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-c",
            &n,
        ],
        "",
        Duration::from_secs(60),
    );
    assert!(
        ok && out.lines().count() == count,
        "kcat -G: {err}\n{}",
        logs(c)
    );
}

/// The broker coordinating `group` (the one exporting its member count).
fn coordinator(c: &Cluster, group: &str) -> i32 {
    c.nodes()
        .filter(|n| n.role.is_broker())
        .find(|n| {
            n.metric("kafka_group_members", &[("consumergroup", group)])
                .is_some()
        })
        .map(|n| n.id)
        .unwrap_or_else(|| panic!("no broker coordinates {group}\n{}", logs(c)))
}

/// Rebalances of `group` so far, summed over every broker.
fn rebalances(c: &Cluster, group: &str) -> f64 {
    c.nodes()
        .filter(|n| n.role.is_broker())
        .filter_map(|n| n.metric_sum("kafka_group_rebalances_total", &[("consumergroup", group)]))
        .sum()
}

#[test]
fn classic_groups_on_one_node_with_every_client() {
    let Some(python) = python() else { return };
    let c = Cluster::builder().combined(1).start(START);
    let b = c.bootstrap();
    groups(
        &python,
        &["split", "--bootstrap", &b, "--topic", "cf", "--group", "cf"],
        &c,
    );
    groups(
        &python,
        &[
            "split",
            "--bootstrap",
            &b,
            "--topic",
            "kp",
            "--group",
            "kp",
            "--client",
            "kafka-python",
        ],
        &c,
    );
    // aiokafka (old, non-flexible API versions: JoinGroup v5, OffsetCommit v3, ...).
    groups(
        &python,
        &["aio", "--bootstrap", &b, "--topic", "aio", "--group", "aio"],
        &c,
    );
    // KafkaJS.
    if let Some(modules) = kafkajs() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/groups/kafkajs.js");
        let out = std::process::Command::new("node")
            .arg(&script)
            .args([b.as_str(), "kjs", "kjs", "300", "6"])
            .env("NODE_PATH", &modules)
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("ok"),
            "kafkajs.js: {stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            logs(&c)
        );
        println!("kafkajs: {}", stdout.trim());
    }
    // kcat -G (Debian's librdkafka 2.0): a balanced consumer reads the topic as a group.
    kcat_group(&c, "kc", "cf", 900);
    // A static member that restarts within its session timeout rejoins without a rebalance.
    groups(
        &python,
        &[
            "static",
            "--bootstrap",
            &b,
            "--topic",
            "st",
            "--group",
            "st",
        ],
        &c,
    );
    // The counter is exported after the step that started the rebalance; the static
    // member's return adds none.
    wait_for(START, "the static group's rebalance counted", || {
        (rebalances(&c, "st") >= 1.0).then_some(())
    });
    assert_eq!(rebalances(&c, "st"), 1.0, "{}", logs(&c));
    let out = groups(
        &python,
        &["admin", "--bootstrap", &b, "--group", "cf", "--delete"],
        &c,
    );
    assert!(
        out.contains("kc") && out.contains("kp") && out.contains("state=EMPTY"),
        "{out}"
    );
}

#[test]
fn committed_offsets_survive_a_kill_of_the_coordinators_broker() {
    let Some(python) = python() else { return };
    let mut c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra("default.replication.factor=3\nmin.insync.replicas=2\n")
        .start(START);
    let b = c.bootstrap();
    groups(
        &python,
        &[
            "split",
            "--bootstrap",
            &b,
            "--topic",
            "orders",
            "--group",
            "g",
            "--rf",
            "3",
        ],
        &c,
    );
    kcat_group(&c, "kc3", "orders", 900);
    let victim = coordinator(&c, "g");
    c.node_mut(victim).kill();
    let killed = Instant::now();
    // The new leader of the group's offsets partition loads it and serves the same offsets.
    let bootstrap: String = c
        .nodes()
        .filter(|n| n.role.is_broker() && n.id != victim)
        .map(|n| n.addr())
        .collect::<Vec<_>>()
        .join(",");
    groups(
        &python,
        &[
            "committed",
            "--bootstrap",
            &bootstrap,
            "--topic",
            "orders",
            "--group",
            "g",
            "--count",
            "900",
        ],
        &c,
    );
    println!(
        "coordinator failover: kill -9 of broker {victim} -> committed offsets served in {:.2} s",
        killed.elapsed().as_secs_f64()
    );
    c.node_mut(victim).start(START);
    c.wait_brokers_ready(START);
    groups(
        &python,
        &[
            "committed",
            "--bootstrap",
            &b,
            "--topic",
            "orders",
            "--group",
            "g",
            "--count",
            "900",
        ],
        &c,
    );
}
