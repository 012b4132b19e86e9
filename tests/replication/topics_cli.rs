//! `kraftd topics --describe` partition reports on a replicated cluster: a stopped broker's
//! partitions show up in `--under-replicated-partitions`, in `--under-min-isr-partitions` where
//! the topic's effective `min.insync.replicas` is no longer met and in
//! `--at-min-isr-partitions` where it is just met; once the broker is back and its replicas
//! have caught up, the reports are back to what they were.

use std::collections::BTreeSet;

use super::{START, WAIT, replicated_cluster};
use crate::common::*;

/// (topic, partition) pairs a `kraftd topics --describe` report prints.
fn report(bootstrap: &str, flag: &str) -> BTreeSet<(String, i32)> {
    let (status, out, err) = run_kraftd(&[
        "topics",
        "--bootstrap-server",
        bootstrap,
        "--describe",
        flag,
    ]);
    assert!(status.success(), "topics --describe {flag}: {out}{err}");
    out.lines()
        .map(|line| {
            let field = |name: &str| {
                line.split('\t')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or_else(|| panic!("{flag}: no {name} in {line:?}"))
                    .to_string()
            };
            (field("Topic: "), field("Partition: ").parse().unwrap())
        })
        .collect()
}

fn all(topic: &str, partitions: i32) -> BTreeSet<(String, i32)> {
    (0..partitions).map(|p| (topic.to_string(), p)).collect()
}

/// What `--under-replicated-partitions`, `--under-min-isr-partitions`,
/// `--at-min-isr-partitions` and `--unavailable-partitions` print, in that order.
fn reports(bootstrap: &str) -> [BTreeSet<(String, i32)>; 4] {
    [
        "--under-replicated-partitions",
        "--under-min-isr-partitions",
        "--at-min-isr-partitions",
        "--unavailable-partitions",
    ]
    .map(|flag| report(bootstrap, flag))
}

#[test]
fn describe_reports_list_the_partitions_a_stopped_broker_leaves_short() {
    let mut c = replicated_cluster("");
    // Create and describe through the broker that stays up.
    let survivor = c.brokers[0].addr();
    let stopped = c.brokers[2].id;
    // "relaxed" keeps the brokers' min.insync.replicas=2; "strict" asks for all 3 replicas.
    for (topic, extra) in [("relaxed", None), ("strict", Some("min.insync.replicas=3"))] {
        let mut args = vec![
            "topics",
            "--bootstrap-server",
            &survivor,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
        ];
        if let Some(config) = extra {
            args.extend(["--config", config]);
        }
        let (status, out, err) = run_kraftd(&args);
        assert!(status.success(), "create {topic}: {out}{err}");
    }
    // Both topics are there, created with full ISRs: nothing is short, and "strict" is exactly
    // at its minimum of 3.
    let none = BTreeSet::new;
    let healthy = [none(), none(), all("strict", 3), none()];
    wait_for(WAIT, "both topics with full ISRs in the reports", || {
        let (_, described, _) =
            run_kraftd(&["topics", "--bootstrap-server", &survivor, "--describe"]);
        let partitions = described.matches("\tPartition: ").count();
        (partitions == 6 && reports(&survivor) == healthy).then_some(())
    });

    // One broker of three stops: every partition has a replica there. ISR 2: under "strict"'s
    // own min.insync.replicas=3, exactly at the brokers' 2 for "relaxed". Leaders moved to the
    // live brokers: nothing is unavailable.
    c.node_mut(stopped).kill();
    let both: BTreeSet<_> = all("relaxed", 3)
        .union(&all("strict", 3))
        .cloned()
        .collect();
    let degraded = [both, all("strict", 3), all("relaxed", 3), none()];
    let seen = wait_for_or(
        WAIT,
        || {
            let (_, described, _) =
                run_kraftd(&["topics", "--bootstrap-server", &survivor, "--describe"]);
            format!("waiting for the stopped broker's partitions in the reports:\n{described}")
        },
        || {
            let r = reports(&survivor);
            (r[0].len() == 6).then_some(r)
        },
    );
    assert_eq!(seen, degraded);

    // Back, caught up and in every ISR again.
    c.node_mut(stopped).start(START);
    wait_for(WAIT, "the reports as before the stop", || {
        (reports(&survivor) == healthy).then_some(())
    });
}
