//! Real clients against a real `kraftd` node: kcat (librdkafka) produces with each acks level
//! and each compression codec and reads everything back byte-exact, ListOffsets earliest /
//! latest / by time, and auto-creation on and off.

#[path = "../common/mod.rs"]
mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(30);

fn start(extra: &str) -> (tempfile::TempDir, Kraftd, NodePorts) {
    let dir = tempfile::tempdir().unwrap();
    let ports = NodePorts::allocate();
    let text = format!("{}{extra}", combined_config(dir.path(), 1, ports));
    let config = write_config(dir.path(), &text);
    let (_, id, _) = run_kraftd(&["storage", "random-uuid"]);
    let (status, out, err) = run_kraftd(&[
        "storage",
        "format",
        "-t",
        id.trim(),
        "-c",
        config.to_str().unwrap(),
    ]);
    assert!(status.success(), "{out}{err}");
    let mut node = Kraftd::spawn(
        &["server", "-c", config.to_str().unwrap()],
        dir.path().join("kraftd.log"),
        &[],
    );
    node.wait_healthy(ports.http_addr(), START);
    wait_for(START, "the broker ready", || {
        matches!(http_get(ports.http_addr(), "/readyz"), Ok((200, _))).then_some(())
    });
    (dir, node, ports)
}

fn kcat(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(require_tool("kcat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kcat_round_trips_every_codec_and_acks_level_byte_exact() {
    let (_dir, node, ports) = start("");
    let b = ports.broker_addr().to_string();
    let mut expected = Vec::new();
    let cases = [
        ("none", "1"),
        ("gzip", "all"),
        ("snappy", "1"),
        ("lz4", "all"),
        ("zstd", "0"),
    ];
    for (i, (codec, acks)) in cases.iter().enumerate() {
        let lines: Vec<String> = (0..20)
            .map(|j| format!("key-{i}-{j}\tvalue {codec} {j} ✓ {}", "x".repeat(j * 7)))
            .collect();
        let input = lines.join("\n") + "\n";
        let (ok, _, err) = kcat(
            &[
                "-b",
                &b,
                "-P",
                "-t",
                "codecs",
                "-K",
                "\t",
                "-z",
                codec,
                "-X",
                &format!("acks={acks}"),
                "-X",
                "linger.ms=5",
            ],
            Some(&input),
        );
        assert!(
            ok,
            "produce with {codec} acks={acks}: {err}\n{}",
            node.log_text()
        );
        expected.extend(lines);
    }
    // acks=0 is fire-and-forget: wait until everything is visible.
    let got = wait_for(START, "every record readable", || {
        let (ok, out, _) = kcat(
            &[
                "-b",
                &b,
                "-C",
                "-t",
                "codecs",
                "-o",
                "beginning",
                "-e",
                "-f",
                "%k\t%s\n",
            ],
            None,
        );
        let lines: Vec<String> = out.lines().map(str::to_string).collect();
        (ok && lines.len() == expected.len()).then_some(lines)
    });
    assert_eq!(got, expected, "records come back byte-exact and in order");
    // ListOffsets: earliest, latest, and by time (a time before everything → offset 0).
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:-1"], None);
    assert!(
        out.contains(&format!("offset {}", expected.len())),
        "{out}{err}"
    );
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:-2"], None);
    assert!(out.contains("offset 0"), "{out}{err}");
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:1000"], None);
    assert!(out.contains("offset 0"), "{out}{err}");
    let (_, out, err) = kcat(&["-b", &b, "-Q", "-t", "codecs:0:99999999999999"], None);
    assert!(
        out.contains("offset -1"),
        "a time after everything has no offset: {out}{err}"
    );
    let (_, body) = http_get(ports.http_addr(), "/metrics").unwrap();
    assert!(body.contains("kafka_server_topic_messages_in_total{topic=\"codecs\"}"));
    promtool_check_metrics(&body).unwrap();
}

#[test]
fn auto_creation_follows_the_broker_setting() {
    let (_dir, _node, ports) = start("auto.create.topics.enable=false\n");
    let b = ports.broker_addr().to_string();
    let (ok, _, err) = kcat(
        &[
            "-b",
            &b,
            "-P",
            "-t",
            "nope",
            "-X",
            "message.timeout.ms=3000",
        ],
        Some("x\n"),
    );
    assert!(!ok || err.contains("Unknown topic"), "{err}");
    let (_, out, _) = kcat(&["-b", &b, "-L"], None);
    assert!(!out.contains("\"nope\""), "{out}");
}

#[test]
fn python_clients_round_trip_every_codec_and_acks_level() {
    let Some(python) = python() else { return };
    let (_dir, node, ports) = start("");
    let b = ports.broker_addr().to_string();
    let (ok, out, err) = run_python(
        &python,
        "roundtrip.py",
        &["--bootstrap", &b, "--topic", "rt"],
    );
    assert!(
        ok && out.starts_with("ok "),
        "{out}\n{err}\n{}",
        node.log_text()
    );
}
