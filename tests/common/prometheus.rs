//! Prometheus for live checks: a server on loopback, `promtool check metrics`, and the
//! test-only rendering of the shipped alert rules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::{free_port, http_get, require_tool, run_with_stdin, wait_for};

/// A Prometheus server on loopback for live checks; killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second with `rule_files` loaded, evaluating
    /// rules every second. `dir` holds its configuration and data.
    pub fn start(dir: &Path, targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("  - \"{}\"", r.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nrule_files:\n{}\nscrape_configs:\n  - job_name: kraftd\n    static_configs:\n      - targets: [{}]\n",
            rules.join("\n"),
            targets.join(", ")
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(require_tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            child: Some(child),
            addr,
            dir: dir.to_path_buf(),
        };
        wait_for(Duration::from_secs(30), "prometheus to be ready", || {
            matches!(http_get(addr, "/-/ready"), Ok((200, _))).then_some(())
        });
        p
    }

    /// Runs an instant query; returns the JSON `data.result` array, or the error text.
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        let (status, body) = http_get(self.addr, &path).map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status != 200 || v["status"] != "success" {
            return Err(format!("HTTP {status}: {}", v["error"]));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Names of alerts in the `firing` state.
    pub fn firing_alerts(&self) -> Vec<String> {
        let (_, body) = http_get(self.addr, "/api/v1/alerts").unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let mut names: Vec<String> = v["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Percent-encodes a query string value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Test-only rendering of the shipped alert rules: every `for:` and `keep_firing_for:` duration
/// in minutes becomes the same number of seconds, so live checks finish in seconds. Range
/// windows in expressions are untouched. The shipped files are never modified.
pub fn render_rules_for_tests(src: &Path, dest_dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(src).unwrap();
    let rendered: String = text
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            for key in ["for:", "keep_firing_for:"] {
                if let Some(value) = trimmed.strip_prefix(key) {
                    let value = value.trim();
                    if let Some(minutes) = value.strip_suffix('m') {
                        let indent = &line[..line.len() - trimmed.len()];
                        return format!("{indent}{key} {minutes}s\n");
                    }
                }
            }
            format!("{line}\n")
        })
        .collect();
    let dest = dest_dir.join(src.file_name().unwrap());
    std::fs::write(&dest, rendered).unwrap();
    dest
}

/// Runs `promtool check metrics` on an exposition; `Err` with promtool's output on any finding
/// (it prints nothing for a clean exposition).
pub fn promtool_check_metrics(body: &str) -> Result<(), String> {
    let mut cmd = Command::new(require_tool("promtool"));
    cmd.args(["check", "metrics"]);
    let out = run_with_stdin(cmd, body.as_bytes());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("exit {:?}: {text}", out.status))
    }
}
