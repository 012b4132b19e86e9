//! Table tests for configuration loading and every validation rule.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::types::NodeId;

fn load_text(text: &str) -> Result<LoadedConfig, ConfigErrors> {
    from_text(text, Path::new("server.properties"), &[])
}

const COMBINED: &str = "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
controller.listener.names=CONTROLLER
log.dirs=/tmp/kraftd-test
";

#[test]
fn seed_single_combined_node_starts_with_inferred_controller_listener() {
    // Seed 004 as written: no controller.listener.names.
    let loaded = load_text(
        "process.roles=controller,broker\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\nlog.dirs=/tmp/kafka-logs\n",
    )
    .unwrap();
    let c = &loaded.config;
    assert!(c.roles.broker && c.roles.controller);
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER"]);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("controller.listener.names=CONTROLLER")),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(c.broker_listeners().len(), 1);
    assert_eq!(c.controller_listeners()[0].address.port, 9093);
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
}

#[test]
fn seed_combined_node_of_three() {
    let loaded = load_text(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093,2@host2:9093,3@host3:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\nadvertised.listeners=PLAINTEXT://localhost:9092\nlog.dirs=/var/kafka/data\n",
    )
    .unwrap();
    assert_eq!(loaded.config.voters.len(), 3);
    assert_eq!(
        loaded.config.advertised_listeners[0].to_string(),
        "PLAINTEXT://localhost:9092"
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn seed_dedicated_controller_and_broker_of_two_voters_warn() {
    let controller = load_text(
        "process.roles=controller\nnode.id=3001\ncontroller.quorum.voters=3001@node-1:9093,3002@node-2:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlog.dirs=/var/lib/kafka/controller\n",
    )
    .unwrap();
    assert!(
        controller
            .warnings
            .iter()
            .any(|w| w.contains("tolerates no failure")),
        "{:?}",
        controller.warnings
    );
    let broker = load_text(
        "process.roles=broker\nnode.id=1001\ncontroller.quorum.voters=3001@node-1:9093,3002@node-2:9093\nlisteners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://node-1:9092\ncontroller.listener.names=CONTROLLER\nlog.dirs=/var/lib/kafka/data\n",
    )
    .unwrap();
    assert_eq!(broker.config.node_id, NodeId(1001));
    assert_eq!(
        broker.config.metadata_log_dir,
        Path::new("/var/lib/kafka/data")
    );
}

#[test]
fn defaults_are_kafkas() {
    let c = load_text(COMBINED).unwrap().config;
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert!(c.auto_create_topics_enable);
    assert_eq!(c.log.segment_bytes, 1 << 30);
    assert_eq!(c.log.retention, Some(Duration::from_secs(168 * 3600)));
    assert_eq!(c.log.retention_bytes, None);
    assert_eq!(c.log.roll, Duration::from_secs(168 * 3600));
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(
        c.metadata.max_idle_interval,
        Some(Duration::from_millis(500))
    );
    assert_eq!(c.broker_session_timeout, Duration::from_millis(9000));
    assert_eq!(c.broker_disconnect_fence, Some(Duration::from_millis(300)));
    assert!(c.auto_leader_rebalance);
    assert_eq!(c.leader_imbalance_percentage, 10);
    assert_eq!(c.leader_imbalance_check_interval, Duration::from_secs(300));
    assert_eq!(c.http_listener.port(), 9464);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.otlp_endpoint, None);
}

#[test]
fn retention_precedence_ms_over_minutes_over_hours() {
    let c = load_text(&format!(
        "{COMBINED}log.retention.hours=1\nlog.retention.minutes=2\n"
    ))
    .unwrap()
    .config;
    assert_eq!(c.log.retention, Some(Duration::from_secs(120)));
    let c = load_text(&format!(
        "{COMBINED}log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=-1\n"
    ))
    .unwrap()
    .config;
    assert_eq!(c.log.retention, None);
    let c = load_text(&format!("{COMBINED}log.roll.ms=5000\n"))
        .unwrap()
        .config;
    assert_eq!(c.log.roll, Duration::from_secs(5));
}

#[test]
fn overrides_and_env_win_over_file() {
    let c = from_text(
        COMBINED,
        Path::new("server.properties"),
        &["num.partitions=7".into()],
    )
    .unwrap()
    .config;
    assert_eq!(c.num_partitions, 7);
    let raw = sources::merge(
        Some(&properties::PropertiesFile::from_text(COMBINED, Path::new("s")).unwrap()),
        vec![("KRAFTD_NUM_PARTITIONS".to_string(), "4".to_string())],
        &[],
    )
    .unwrap();
    assert_eq!(
        ServerConfig::from_raw(&raw).unwrap().config.num_partitions,
        4
    );
}

#[test]
fn unknown_keys_are_warnings() {
    let loaded = load_text(&format!("{COMBINED}num.io.threads=8\n")).unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("num.io.threads") && w.contains("server.properties:7")),
        "{:?}",
        loaded.warnings
    );
}

/// One row per validation rule: the configuration, then fragments the message must contain.
#[test]
fn every_validation_rule_has_a_clear_message() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "missing process.roles",
            "node.id=1\ncontroller.quorum.voters=1@h:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "missing required key `process.roles`",
                "process.roles=broker,controller",
            ],
        ),
        (
            "bad role",
            "process.roles=brokr\nnode.id=1\ncontroller.quorum.voters=1@h:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`process.roles`",
                "\"brokr\"",
                "server.properties:1",
                "unknown role",
                "broker, controller or broker,controller",
            ],
        ),
        (
            "missing node.id",
            "process.roles=controller\ncontroller.quorum.voters=1@h:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &["missing required key `node.id`", "node.id=<n>"],
        ),
        (
            "node.id not a number",
            "process.roles=controller\nnode.id=one\ncontroller.quorum.voters=1@h:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`node.id`",
                "\"one\"",
                "server.properties:2",
                "[0, 2147483647]",
            ],
        ),
        (
            "missing voters",
            "process.roles=controller\nnode.id=1\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "missing required key `controller.quorum.voters`",
                "1@localhost:9093",
            ],
        ),
        (
            "controller not a voter",
            "process.roles=controller\nnode.id=4\ncontroller.quorum.voters=1@h:9093,2@h:9094,3@h:9095\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`controller.quorum.voters`",
                "server.properties:3",
                "node.id=4, which is not a voter",
                "add `4@<host>:<port>`",
            ],
        ),
        (
            "controller listener not in listeners",
            "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`listeners`",
                "server.properties:4",
                "controller listener CONTROLLER",
                "add `CONTROLLER://:<port>`",
            ],
        ),
        (
            "broker-only lists a controller listener",
            "process.roles=broker\nnode.id=2\ncontroller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`listeners`",
                "process.roles=broker",
                "CONTROLLER://:9093",
                "remove the controller listener",
            ],
        ),
        (
            "duplicate voter ids",
            "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@a:9093,1@b:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`controller.quorum.voters`",
                "voter id 1 appears twice",
                "1@a:9093",
                "1@b:9093",
            ],
        ),
        (
            "malformed voter",
            "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093,2-h:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "`controller.quorum.voters`",
                "\"2-h:9093\"",
                "expected id@host:port",
                "id@host:port entries",
            ],
        ),
        (
            "voter with bad port",
            "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@h:99999\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &["\"1@h:99999\"", "1..=65535"],
        ),
        (
            "controller.listener.names missing and not inferable",
            "process.roles=broker\nnode.id=2\ncontroller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT://:9092\n",
            &[
                "missing required key `controller.listener.names`",
                "add the line `controller.listener.names=CONTROLLER`",
            ],
        ),
        (
            "bad number",
            &format!("{COMBINED}num.partitions=many\n"),
            &[
                "`num.partitions`",
                "\"many\"",
                "server.properties:7",
                "not an integer",
                "[1, 2147483647]",
            ],
        ),
        (
            "number out of range",
            &format!("{COMBINED}num.partitions=0\n"),
            &["`num.partitions`", "\"0\"", "out of range"],
        ),
        (
            "bad duration",
            &format!("{COMBINED}controller.quorum.election.timeout.ms=1s\n"),
            &[
                "`controller.quorum.election.timeout.ms`",
                "\"1s\"",
                "not an integer",
            ],
        ),
        (
            "bad retention",
            &format!("{COMBINED}log.retention.hours=-5\n"),
            &["`log.retention.hours`", "\"-5\"", "-1 (forever)"],
        ),
        (
            "bad boolean",
            &format!("{COMBINED}auto.create.topics.enable=yes\n"),
            &["`auto.create.topics.enable`", "\"yes\"", "true or false"],
        ),
        (
            "bad http listener",
            &format!("{COMBINED}kraftd.http.listener=localhost\n"),
            &["`kraftd.http.listener`", "\"localhost\"", "0.0.0.0:9464"],
        ),
        (
            "bad log format",
            &format!("{COMBINED}kraftd.log.format=xml\n"),
            &["`kraftd.log.format`", "text or json"],
        ),
        (
            "bad otlp endpoint",
            &format!("{COMBINED}kraftd.otlp.endpoint=collector:4318\n"),
            &["`kraftd.otlp.endpoint`", "http://127.0.0.1:4318"],
        ),
        (
            "listener without protocol",
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093\nlisteners=CLIENT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &[
                "listener CLIENT has no security protocol",
                "CLIENT:PLAINTEXT",
            ],
        ),
        (
            "unsupported protocol",
            &format!(
                "{COMBINED}listener.security.protocol.map=PLAINTEXT:SSL,CONTROLLER:PLAINTEXT\n"
            ),
            &["PLAINTEXT:SSL", "does not serve yet"],
        ),
        (
            "malformed listener",
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &["`listeners`", "\"PLAINTEXT:9092\"", "NAME://host:port"],
        ),
        (
            "two listeners on one port",
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT://:9093,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
            &["share port 9093"],
        ),
        (
            "advertised controller listener",
            &format!("{COMBINED}advertised.listeners=PLAINTEXT://h:9092,CONTROLLER://h:9093\n"),
            &["`advertised.listeners`", "must not be advertised"],
        ),
        (
            "inter-broker listener unknown",
            &format!("{COMBINED}inter.broker.listener.name=INTERNAL\n"),
            &["`inter.broker.listener.name`", "not among the listeners"],
        ),
    ];
    for (name, text, fragments) in cases {
        let err = match load_text(text) {
            Ok(loaded) => panic!("{name}: expected an error, got {:?}", loaded.config),
            Err(e) => e.to_string(),
        };
        for f in *fragments {
            assert!(err.contains(f), "{name}: message lacks {f:?}:\n{err}");
        }
    }
}

#[test]
fn env_override_origin_is_named_in_errors() {
    let raw = sources::merge(
        Some(&properties::PropertiesFile::from_text(COMBINED, Path::new("s")).unwrap()),
        vec![("KRAFTD_NODE_ID".to_string(), "x".to_string())],
        &[],
    )
    .unwrap();
    let err = ServerConfig::from_raw(&raw).unwrap_err().to_string();
    assert!(err.contains("environment variable KRAFTD_NODE_ID"), "{err}");
    let err = from_text(COMBINED, Path::new("s"), &["node.id=-3".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--override node.id=-3"), "{err}");
}

#[test]
fn several_problems_are_reported_together() {
    let err = load_text("listeners=PLAINTEXT://:9092\n").unwrap_err();
    assert!(err.0.len() >= 3, "{err}");
    assert!(err.to_string().contains("problems"), "{err}");
}

#[test]
fn docs_configuration_lists_every_key() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs/configuration.md exists");
    let table = keys::render_markdown_table();
    assert!(
        doc.contains(&table),
        "docs/configuration.md is out of date; its key table must be exactly:\n{table}"
    );
}

#[test]
fn every_example_config_in_deploy_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut checked = 0;
    for topology in std::fs::read_dir(&root).expect("deploy/examples exists") {
        for file in std::fs::read_dir(topology.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "properties") {
                let loaded = load(Some(&path), Vec::new(), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(loaded.config.roles.broker || loaded.config.roles.controller);
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "only {checked} example configs found");
}
