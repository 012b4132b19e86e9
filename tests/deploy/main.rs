//! The deployment kit: systemd units verify cleanly and stay hardened.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::{kraftd_bin, require_tool};

const UNITS: &[&str] = &["kraftd@.service", "kraftd-format@.service"];

/// Copies a template unit into `dir` as an instance, pointing ExecStart at the built binary
/// (verify checks that the executable exists).
fn instance(dir: &Path, template: &str) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/systemd")
        .join(template);
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace("/usr/local/bin/kraftd", kraftd_bin());
    let path = dir.join(template.replace("@.", "@node1."));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn units_pass_systemd_analyze_verify_without_output() {
    let analyze = require_tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = UNITS.iter().map(|u| instance(dir.path(), u)).collect();
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .args(&paths)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify exits 0 on misspelled settings, so any output is a failure.
    assert!(
        out.status.success() && printed.trim().is_empty(),
        "systemd-analyze verify:\n{printed}"
    );
}

#[test]
fn units_have_an_exposure_of_at_most_2() {
    let analyze = require_tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    for unit in UNITS {
        let path = instance(dir.path(), unit);
        let out = Command::new(&analyze)
            .args(["security", "--offline=yes"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let score: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for").nth(1))
            .and_then(|rest| rest.split(':').nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no exposure score for {unit}:\n{text}"));
        assert!(score <= 2.0, "{unit}: exposure {score} > 2.0\n{text}");
    }
}

#[test]
fn units_never_format_storage_automatically() {
    let service = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/kraftd@.service"),
    )
    .unwrap();
    let directives: String = service
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !directives.contains("storage format"),
        "kraftd@.service must not format"
    );
    assert!(service.contains("Type=notify"));
    let format = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/kraftd-format@.service"),
    )
    .unwrap();
    assert!(
        !format.contains("[Install]"),
        "the format unit must not be enabled at boot"
    );
    assert!(!format.contains("--ignore-formatted") && !format.contains(" -g "));
}
