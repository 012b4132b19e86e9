//! Live check of the consumer-group operator kit: a group stops consuming, records arrive,
//! the coordinator's lag metric reads exactly their number and the lag alerts fire in a real
//! Prometheus running the shipped rules (`for:` rendered in seconds); the group drains the
//! backlog, the lag returns to 0 and the alerts resolve.

use std::path::Path;
use std::time::Duration;

use super::common::*;
use super::{START, groups};

/// Records produced while the group is stopped.
const BACKLOG: u64 = 500;

/// Lag of `group` in offsets over every broker (`None` while no broker exports it).
fn lag(c: &Cluster, group: &str, metric: &str) -> Option<f64> {
    let values: Vec<f64> = c
        .nodes()
        .filter(|n| n.role.is_broker())
        .filter_map(|n| n.metric_sum(metric, &[("consumergroup", group)]))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn firing(prom: &Prometheus, alert: &str, group: &str) -> bool {
    prom.query(&format!(
        "ALERTS{{alertname=\"{alert}\", alertstate=\"firing\", consumergroup=\"{group}\"}}"
    ))
    .is_ok_and(|r| !r.is_empty())
}

#[test]
fn lag_metrics_and_alerts_follow_a_stopped_group() {
    let Some(python) = python() else { return };
    let c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra("default.replication.factor=3\nmin.insync.replicas=2\nkraftd.group.lag.interval.ms=500\n")
        .start(START);
    let rules_dir = c.root().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let rules = render_rules_for_tests(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/kraftd-groups.rules.yml"),
        &rules_dir,
    );
    let prom_dir = c.root().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let targets: Vec<_> = c.nodes().map(Node::http_addr).collect();
    let prom = Prometheus::start(&prom_dir, &targets, &[rules]);
    let b = c.bootstrap();
    let (topic, group) = ("lagging", "live");
    // The group consumes and commits everything, then stops (no members left).
    groups(
        &python,
        &[
            "split",
            "--bootstrap",
            &b,
            "--topic",
            topic,
            "--group",
            group,
            "--count",
            "100",
            "--rf",
            "3",
        ],
        &c,
    );
    wait_for(START, "lag 0 once everything is committed", || {
        (lag(&c, group, "kafka_consumergroup_lag")? == 0.0).then_some(())
    });
    // Records appended ten minutes ago by their producer's clock, nobody consuming them.
    let count = BACKLOG.to_string();
    groups(
        &python,
        &[
            "produce-old",
            "--bootstrap",
            &b,
            "--topic",
            topic,
            "--count",
            &count,
            "--age-seconds",
            "600",
        ],
        &c,
    );
    wait_for(START, "the lag metric to read the backlog", || {
        (lag(&c, group, "kafka_consumergroup_lag")? == BACKLOG as f64).then_some(())
    });
    let seconds = lag(&c, group, "kafka_consumergroup_lag_seconds").unwrap_or(0.0);
    assert!(
        (600.0..700.0).contains(&seconds),
        "lag in seconds {seconds}, records are 600 s old"
    );
    for alert in ["KafkaConsumerGroupLagHigh", "KafkaConsumerGroupStalled"] {
        wait_for(Duration::from_secs(60), alert, || {
            firing(&prom, alert, group).then_some(())
        });
    }
    // The group resumes and catches up: lag 0, alerts resolved.
    groups(
        &python,
        &[
            "drain",
            "--bootstrap",
            &b,
            "--topic",
            topic,
            "--group",
            group,
            "--count",
            &count,
        ],
        &c,
    );
    wait_for(START, "lag back to 0", || {
        (lag(&c, group, "kafka_consumergroup_lag")? == 0.0).then_some(())
    });
    for alert in ["KafkaConsumerGroupLagHigh", "KafkaConsumerGroupStalled"] {
        wait_for(
            Duration::from_secs(60),
            &format!("{alert} resolved"),
            || (!firing(&prom, alert, group)).then_some(()),
        );
    }
}
