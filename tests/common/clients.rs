//! Real Kafka clients run by the tests: the venv's Python clients and kcat.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::require_tool;

/// The Python of the venv with the real Kafka clients (`KRAFTD_PYTHON`, set by
/// `./scripts/test`), or `None` with the reason printed when it is missing.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("KRAFTD_PYTHON").map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        _ => {
            let default = std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/kraftd/venv/bin/python"))
                .filter(|p| p.is_file());
            if default.is_none() {
                eprintln!(
                    "skipping the Python client checks: run ./scripts/test (it creates the venv and sets KRAFTD_PYTHON)"
                );
            }
            default
        }
    }
}

/// The directory holding kafka-python 3 (the Python client with incremental fetch sessions),
/// installed beside the venv by `./scripts/test` (`KRAFTD_KAFKA_PYTHON3`), or `None` with the
/// reason printed when it is missing.
pub fn kafka_python3() -> Option<PathBuf> {
    let dir = std::env::var_os("KRAFTD_KAFKA_PYTHON3")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kraftd/kafka-python-3"))
        })
        .filter(|d| d.join("kafka").is_dir());
    if dir.is_none() {
        eprintln!(
            "skipping the kafka-python 3 checks: run ./scripts/test (it installs kafka-python 3 and sets KRAFTD_KAFKA_PYTHON3)"
        );
    }
    dir
}

/// The `node_modules` directory holding kafkajs, installed by `./scripts/test`
/// (`KRAFTD_NODE_MODULES`), or `None` with the reason printed when it (or Node.js) is missing.
pub fn kafkajs() -> Option<PathBuf> {
    let dir = std::env::var_os("KRAFTD_NODE_MODULES")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/kraftd/node/node_modules"))
        })
        .filter(|d| d.join("kafkajs").is_dir());
    if dir.is_none() {
        eprintln!(
            "skipping the KafkaJS checks: run ./scripts/test (it installs kafkajs and sets KRAFTD_NODE_MODULES)"
        );
    }
    dir
}

/// Runs `tests/clients/<script>` with the venv's Python; returns (success, stdout, stderr).
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    run_python_with(python, script, args, None)
}

/// [`run_python`] with `pythonpath` searched first for modules.
pub fn run_python_with(
    python: &Path,
    script: &str,
    args: &[&str],
    pythonpath: Option<&Path>,
) -> (bool, String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut command = Command::new(python);
    if let Some(dir) = pythonpath {
        command.env("PYTHONPATH", dir);
    }
    let out = command
        .arg(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs kcat with `stdin`, killing it if it has not finished within `timeout`; returns
/// (success, stdout, stderr).
pub fn kcat(args: &[&str], stdin: &str, timeout: Duration) -> (bool, String, String) {
    let mut child = Command::new(require_tool("kcat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    // Drain the pipes on threads so that a chatty kcat never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, mut err) = (out.join().unwrap(), err.join().unwrap());
    if status.is_none() {
        err.push_str(&format!("\n(kcat killed after {timeout:?})"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

/// Waits (up to `timeout`) until the Metadata of `topic` names a leader for each of its
/// `partitions`, and returns partition → leader.
pub fn wait_for_leaders(
    admin: &rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> std::collections::BTreeMap<i32, i32> {
    super::process::wait_for(
        timeout,
        &format!("leaders for every partition of {topic}"),
        || {
            let md = admin
                .inner()
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .ok()?;
            let t = md.topics().iter().find(|t| t.name() == topic)?;
            if t.error().is_some() || t.partitions().len() != partitions as usize {
                return None;
            }
            let leaders: std::collections::BTreeMap<i32, i32> = t
                .partitions()
                .iter()
                .map(|p| (p.id(), p.leader()))
                .collect();
            leaders.values().all(|l| *l >= 0).then_some(leaders)
        },
    )
}
