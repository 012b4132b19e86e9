//! `kraftd consumer-groups` against one controller and three brokers (RF=3): a group of two
//! confluent-kafka members consumes part of a topic and commits; `--list` and
//! `--describe --offsets/--members/--state` agree with the AdminClient and with the true lag;
//! `--reset-offsets` and `--delete` are refused while the members are active; after they
//! leave, dry runs print the expected offsets, `--to-earliest --execute` makes a new member
//! re-read from the start, and `--delete` removes the group.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use super::START;
use crate::common::*;

const WAIT: Duration = Duration::from_secs(60);
const TOPIC: &str = "orders";
const GROUP: &str = "g";
/// What tests/groups/cli.py writes to each partition, and where its newer records start.
const PER_PARTITION: i64 = 100;
const OLD: i64 = 60;
/// Offsets the members commit: partition 0 up to 30, partition 1 up to 50, none on 2.
const LIMITS: [i64; 3] = [30, 50, 0];

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/groups/cli.py")
}

fn python_ok(python: &Path, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.starts_with("ok"),
        "cli.py {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The members' process: killed when the test ends, however it ends.
struct Members {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Members {
    fn start(python: &Path, bootstrap: &str) -> Members {
        let limits = LIMITS.map(|l| l.to_string()).join(",");
        let mut child = Command::new(python)
            .arg(script())
            .args([
                "members",
                "--bootstrap",
                bootstrap,
                "--topic",
                TOPIC,
                "--group",
                GROUP,
                "--limits",
                &limits,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the members");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Members {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    fn line(&self, what: &str) -> String {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the members printed no {what} within {WAIT:?}"));
        assert!(!line.starts_with("FAIL"), "{line}");
        line
    }

    /// Asks the members to leave the group and waits until they have.
    fn leave(&mut self) {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(b"leave\n").unwrap();
        drop(stdin);
        assert_eq!(self.line("confirmation of leaving"), "left");
        wait_for(WAIT, "the members' process to exit", || {
            self.child.try_wait().unwrap()
        });
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `kraftd consumer-groups --bootstrap-server <b> <args>`: (success, stdout, stderr).
fn groups_cli(bootstrap: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["consumer-groups", "--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let (status, out, err) = run_kraftd(&all);
    (status.success(), out, err)
}

fn groups_ok(bootstrap: &str, args: &[&str]) -> String {
    let (ok, out, err) = groups_cli(bootstrap, args);
    assert!(ok, "consumer-groups {args:?} failed:\n{out}\n{err}");
    println!("$ kraftd consumer-groups {}\n{out}{err}", args.join(" "));
    out
}

/// The rows of the tables in `out` (header lines and blank lines left out), split on spaces.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("GROUP "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Partition → NEW-OFFSET printed by a `--reset-offsets` run.
fn new_offsets(out: &str) -> BTreeMap<i64, i64> {
    rows(out)
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 4, "{out}");
            assert_eq!((r[0].as_str(), r[1].as_str()), (GROUP, TOPIC), "{out}");
            (r[2].parse().unwrap(), r[3].parse().unwrap())
        })
        .collect()
}

/// Partition → (CURRENT-OFFSET, LOG-END-OFFSET, LAG) of `--describe --offsets`.
fn described_offsets(bootstrap: &str) -> BTreeMap<i64, (String, String, String)> {
    let out = groups_ok(bootstrap, &["--describe", "--group", GROUP, "--offsets"]);
    rows(&out)
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), 9, "{out}");
            (
                r[2].parse().unwrap(),
                (r[3].clone(), r[4].clone(), r[5].clone()),
            )
        })
        .collect()
}

/// Kafka's state names (`Stable`) against the AdminClient's enum names (`STABLE`).
fn same_state(a: &str, b: &str) -> bool {
    a.replace('_', "").eq_ignore_ascii_case(&b.replace('_', ""))
}

#[test]
fn consumer_groups_cli_agrees_with_the_admin_client() {
    let Some(python) = python() else { return };
    let c = Cluster::builder()
        .controllers(1)
        .brokers(3)
        .session_timeout_ms(3000)
        .extra("default.replication.factor=3\nmin.insync.replicas=2\n")
        .start(START);
    let b = c.bootstrap();
    python_ok(
        &python,
        &["produce", "--bootstrap", &b, "--topic", TOPIC, "--rf", "3"],
    );
    let mut members = Members::start(&python, &b);
    let view: serde_json::Value =
        serde_json::from_str(&members.line("AdminClient view")).expect("the members' JSON line");
    println!("AdminClient: {view}");

    // --list: the groups the AdminClient lists, with their states.
    let listed: Vec<String> = groups_ok(&b, &["--list"])
        .lines()
        .map(str::to_string)
        .collect();
    let admin_groups = view["groups"].as_object().unwrap();
    assert_eq!(
        listed,
        admin_groups.keys().cloned().collect::<Vec<_>>(),
        "--list"
    );
    let with_states = rows(&groups_ok(&b, &["--list", "--state"]));
    assert_eq!(with_states.len(), admin_groups.len(), "{with_states:?}");
    for r in &with_states {
        let admin_state = admin_groups[&r[0]].as_str().unwrap();
        assert!(same_state(&r[1], admin_state), "{r:?} vs {admin_state}");
    }
    assert!(
        !groups_ok(&b, &["--list", "--state", "empty"])
            .lines()
            .any(|g| g == GROUP)
    );
    assert!(
        groups_ok(&b, &["--list", "--state", "Stable,Empty"])
            .lines()
            .any(|l| l.split_whitespace().next() == Some(GROUP))
    );

    // --describe --offsets: committed offsets as the AdminClient reports them, the true lag
    // (produced minus committed), `-` where nothing is committed, and each partition's member.
    let admin_members = view["members"].as_array().unwrap();
    let owner = |p: i64| {
        admin_members
            .iter()
            .find(|m| {
                m["partitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_i64() == Some(p))
            })
            .unwrap_or_else(|| panic!("no member owns partition {p}: {view}"))
    };
    let out = groups_ok(&b, &["--describe", "--group", GROUP]);
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID"
        ],
        "{out}"
    );
    let table = rows(&out);
    assert_eq!(table.len(), 3, "{out}");
    for (p, r) in table.iter().enumerate() {
        let p = p as i64;
        let committed = view["committed"][format!("{TOPIC}:{p}")].as_i64();
        assert_eq!(
            committed,
            (LIMITS[p as usize] > 0).then_some(LIMITS[p as usize])
        );
        let m = owner(p);
        let expected = [
            GROUP.to_string(),
            TOPIC.to_string(),
            p.to_string(),
            committed.map_or("-".into(), |c| c.to_string()),
            PER_PARTITION.to_string(),
            committed.map_or("-".into(), |c| (PER_PARTITION - c).to_string()),
            m["consumer_id"].as_str().unwrap().to_string(),
            m["host"].as_str().unwrap().to_string(),
            m["client_id"].as_str().unwrap().to_string(),
        ];
        assert_eq!(r.as_slice(), expected.as_slice(), "{out}");
    }

    // --describe --members --verbose: one row per member, as the AdminClient describes them.
    let out = groups_ok(
        &b,
        &["--describe", "--group", GROUP, "--members", "--verbose"],
    );
    let mut table = rows(&out);
    table.sort();
    let mut expected: Vec<Vec<String>> = admin_members
        .iter()
        .map(|m| {
            let ps: Vec<String> = m["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect();
            vec![
                GROUP.to_string(),
                m["consumer_id"].as_str().unwrap().to_string(),
                m["host"].as_str().unwrap().to_string(),
                m["client_id"].as_str().unwrap().to_string(),
                ps.len().to_string(),
                format!("{TOPIC}({})", ps.join(",")),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(table, expected, "{out}");

    // --describe --state: coordinator, assignor, state and member count.
    let out = groups_ok(&b, &["--describe", "--group", GROUP, "--state"]);
    let r = &rows(&out)[0];
    assert_eq!(r[0], GROUP, "{out}");
    assert_eq!(r[2], format!("({})", view["coordinator"]), "{out}");
    assert_eq!(r[3], view["assignor"].as_str().unwrap(), "{out}");
    assert!(same_state(&r[4], view["state"].as_str().unwrap()), "{out}");
    assert_eq!(r[5], "2", "{out}");

    // While the members are active, resets and deletion are refused.
    let (ok, out, err) = groups_cli(
        &b,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            TOPIC,
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(!ok, "reset of an active group succeeded: {out}");
    assert!(
        err.contains(
            "Assignments can only be reset if the group 'g' is inactive, but the current state is Stable."
        ),
        "{err}"
    );
    let (ok, out, err) = groups_cli(&b, &["--delete", "--group", GROUP]);
    assert!(!ok, "deleting an active group succeeded: {out}");
    assert!(
        err.contains("* Group 'g' could not be deleted due to: NON_EMPTY_GROUP"),
        "{err}"
    );
    assert_eq!(described_offsets(&b)[&0].0, "30");

    // The members leave: the group is empty, its offsets stay.
    members.leave();
    wait_for(WAIT, "the group to be Empty", || {
        let out = groups_ok(&b, &["--describe", "--group", GROUP, "--state"]);
        rows(&out)
            .first()
            .is_some_and(|r| r.iter().any(|f| f == "Empty"))
            .then_some(())
    });
    let (ok, out, err) = groups_cli(&b, &["--describe", "--group", GROUP, "--members"]);
    assert!(ok && out.trim().is_empty(), "{out}{err}");
    assert!(
        err.contains("Consumer group 'g' has no active members."),
        "{err}"
    );
    let empty = rows(&groups_ok(&b, &["--list", "--state", "Empty"]));
    assert_eq!(empty, [[GROUP, "Empty"]]);
    let all = rows(&groups_ok(&b, &["--describe", "--all-groups", "--state"]));
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0][0].as_str(), all[0][3].as_str()), (GROUP, "Empty"));

    // Dry runs print the new offsets and change nothing.
    let reset = |extra: &[&str]| {
        let mut args = vec!["--reset-offsets", "--group", GROUP];
        args.extend_from_slice(extra);
        args.push("--dry-run");
        new_offsets(&groups_ok(&b, &args))
    };
    assert_eq!(
        reset(&["--topic", "orders:0,1", "--shift-by", "-10"]),
        BTreeMap::from([(0, 20), (1, 40)])
    );
    // Clamped to the log end.
    assert_eq!(
        reset(&["--all-topics", "--shift-by", "1000"]),
        BTreeMap::from([(0, PER_PARTITION), (1, PER_PARTITION)])
    );
    assert_eq!(
        reset(&["--topic", TOPIC, "--to-offset", "75"]),
        BTreeMap::from([(0, 75), (1, 75), (2, 75)])
    );
    // cli.py stamps the first OLD records of each partition T0 + i and the others
    // T0 + 1 h + i; half an hour after T0 (2023-11-14T22:43:20Z) falls between them.
    let newer = BTreeMap::from([(0, OLD), (1, OLD), (2, OLD)]);
    for at in ["2023-11-14T22:43:20.000Z", "2023-11-15T00:43:20.000+02:00"] {
        assert_eq!(
            reset(&["--topic", TOPIC, "--to-datetime", at]),
            newer,
            "{at}"
        );
    }
    assert_eq!(
        reset(&[
            "--topic",
            TOPIC,
            "--to-datetime",
            "2020-01-01T00:00:00.000Z"
        ]),
        BTreeMap::from([(0, 0), (1, 0), (2, 0)])
    );
    // Partition 2 has no committed offset to shift: the reset fails and commits nothing.
    let (ok, out, err) = groups_cli(
        &b,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            TOPIC,
            "--shift-by",
            "1",
            "--execute",
        ],
    );
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("cannot reset orders-2 of group 'g': no committed offset to shift"),
        "{err}"
    );
    // Without members, only the partitions with a committed offset are described.
    let current: Vec<(i64, String)> = described_offsets(&b)
        .into_iter()
        .map(|(p, (current, _, _))| (p, current))
        .collect();
    assert_eq!(
        current,
        [(0, "30".to_string()), (1, "50".to_string())],
        "a dry run changed the offsets"
    );

    // --to-earliest --execute commits the log start; a new member re-reads from there.
    let out = groups_ok(
        &b,
        &[
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            TOPIC,
            "--to-earliest",
            "--execute",
        ],
    );
    assert_eq!(
        new_offsets(&out),
        BTreeMap::from([(0, 0), (1, 0), (2, 0)]),
        "{out}"
    );
    let lag = PER_PARTITION.to_string();
    for (p, (current, end, l)) in described_offsets(&b) {
        assert_eq!(
            (current.as_str(), end.as_str(), l.as_str()),
            ("0", lag.as_str(), lag.as_str()),
            "partition {p}"
        );
    }
    let out = python_ok(
        &python,
        &[
            "reread",
            "--bootstrap",
            &b,
            "--topic",
            TOPIC,
            "--group",
            GROUP,
        ],
    );
    assert_eq!(out.trim(), r#"ok {"0": 0, "1": 0, "2": 0}"#);

    // --delete-offsets drops one partition's committed offset.
    let out = groups_ok(
        &b,
        &["--delete-offsets", "--group", GROUP, "--topic", "orders:0"],
    );
    assert!(
        out.starts_with("Request succeed for deleting offsets with topic orders:0 group g\n"),
        "{out}"
    );
    assert_eq!(
        rows(&out).last().unwrap(),
        &["orders", "0", "Successful"],
        "{out}"
    );
    let described = described_offsets(&b);
    assert_eq!(described.keys().copied().collect::<Vec<_>>(), [1, 2]);

    // --delete removes the empty group.
    let out = groups_ok(&b, &["--delete", "--group", GROUP]);
    assert_eq!(
        out,
        "Deletion of requested consumer groups ('g') was successful.\n"
    );
    assert!(!groups_ok(&b, &["--list"]).lines().any(|g| g == GROUP));
    let (ok, _, err) = groups_cli(&b, &["--describe", "--group", GROUP]);
    assert!(
        !ok && err.contains("Consumer group 'g' does not exist."),
        "{err}"
    );

    // Unreachable brokers and bad flag combinations fail with a message.
    let (ok, _, err) = groups_cli("127.0.0.1:1", &["--list"]);
    assert!(!ok && err.contains("cannot reach"), "{err}");
    let (ok, _, err) = groups_cli(&b, &["--describe", "--group", GROUP, "--to-latest"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}
