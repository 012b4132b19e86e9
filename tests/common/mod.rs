//! Helpers shared by the integration test binaries: free loopback ports, polling with
//! deadlines, a tiny HTTP client, and `kraftd` child processes that are killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `kraftd` binary built for this test run.
pub fn kraftd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kraftd")
}

/// A loopback port that is free now and that nothing else in this process was given. Ports
/// come from below the kernel's ephemeral range (32768+), so outgoing connections of other
/// processes never take them between this call and the server's bind; a per-process counter
/// starting at a pid-derived offset keeps parallel tests and test binaries apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(2_654_435_761)) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

/// Polls `f` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Like [`wait_for`] inside an async test: polls every 20 ms without blocking the runtime.
pub async fn wait_for_async<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET path` over HTTP/1.0; returns the status code and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Loopback ports of one node.
#[derive(Debug, Clone, Copy)]
pub struct NodePorts {
    pub broker: u16,
    pub controller: u16,
    pub http: u16,
}

impl NodePorts {
    pub fn allocate() -> NodePorts {
        NodePorts {
            broker: free_port(),
            controller: free_port(),
            http: free_port(),
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }

    pub fn broker_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.broker))
    }

    pub fn controller_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.controller))
    }
}

/// A combined single-node configuration on loopback with its data under `dir`.
pub fn combined_config(dir: &Path, node_id: i32, ports: NodePorts) -> String {
    format!(
        "process.roles=broker,controller\n\
         node.id={node_id}\n\
         controller.quorum.voters={node_id}@127.0.0.1:{c}\n\
         listeners=PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{b}\n\
         controller.listener.names=CONTROLLER\n\
         log.dirs={logs}\n\
         metadata.log.dir={meta}\n\
         kraftd.http.listener=127.0.0.1:{h}\n\
         kraftd.shutdown.timeout.ms=5000\n",
        b = ports.broker,
        c = ports.controller,
        h = ports.http,
        logs = dir.join("logs").display(),
        meta = dir.join("metadata").display(),
    )
}

/// Runs `kraftd args…` to completion; returns (status, stdout, stderr).
pub fn run_kraftd(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(kraftd_bin())
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run kraftd");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `text` to `dir/server.properties` and returns the path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("server.properties");
    std::fs::write(&p, text).expect("write config");
    p
}

/// A running `kraftd` process; killed (SIGKILL) on drop if still running.
pub struct Kraftd {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Kraftd {
    /// Spawns `kraftd args…` with stderr and stdout captured to `log`.
    pub fn spawn(args: &[&str], log: PathBuf, envs: &[(&str, &str)]) -> Kraftd {
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let mut cmd = Command::new(kraftd_bin());
        // The test command's own KRAFTD_* settings are not server configuration.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KRAFTD_")) {
            cmd.env_remove(k);
        }
        let child = cmd
            .args(args)
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn kraftd");
        Kraftd {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.pid());
    }

    /// Waits for the process to exit within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let status = wait_for(timeout, "kraftd to exit", || {
            child.try_wait().expect("try_wait")
        });
        self.child = None;
        status
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// Waits until `/healthz` answers 200.
    pub fn wait_healthy(&mut self, http: SocketAddr, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http_get(http, "/healthz") {
                return;
            }
            assert!(
                self.is_running(),
                "kraftd exited early:\n{}",
                self.log_text()
            );
            assert!(
                Instant::now() < deadline,
                "kraftd not healthy after {timeout:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kraftd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The path of a tool the test command installs, or a panic that says how to get it.
pub fn require_tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` is not installed; ./scripts/test installs it"))
}

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
    use std::io::Write as _;
    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
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

/// Runs `tests/clients/<script>` with the venv's Python; returns (success, stdout, stderr).
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(python)
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

/// One process of a [`ProcessCluster`]: its id, listener port (broker or controller), HTTP
/// port and configuration. The process is killed when the node is dropped.
pub struct ClusterNode {
    pub id: i32,
    pub port: u16,
    pub http: u16,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub process: Option<Kraftd>,
}

impl ClusterNode {
    /// `127.0.0.1:port` of the node's listener.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(http_get(self.http_addr(), "/readyz"), Ok((200, _)))
    }

    pub fn log_text(&self) -> String {
        self.process
            .as_ref()
            .map(Kraftd::log_text)
            .unwrap_or_default()
    }
}

/// Three controllers (ids 1–3) and three brokers (ids 4–6) as separate `kraftd` processes on
/// loopback, formatted with one cluster id under a temporary directory. Dropping it kills
/// every process (brokers first) and removes the directory.
pub struct ProcessCluster {
    pub brokers: Vec<ClusterNode>,
    pub controllers: Vec<ClusterNode>,
    pub root: tempfile::TempDir,
}

impl ProcessCluster {
    /// Formats and starts the six nodes with `extra` appended to every configuration, and
    /// waits until every broker is ready (registered and unfenced).
    pub fn start(extra: &str, timeout: Duration) -> ProcessCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let controller_ports: Vec<(u16, u16)> =
            (0..3).map(|_| (free_port(), free_port())).collect();
        let voters = controller_ports
            .iter()
            .enumerate()
            .map(|(i, (port, _))| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let (_, cluster_id, _) = run_kraftd(&["storage", "random-uuid"]);
        let cluster_id = cluster_id.trim().to_string();
        let make = |id: i32, controller: bool, port: u16, http: u16| {
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("node dir");
            let (roles, listener) = if controller {
                ("controller", "CONTROLLER")
            } else {
                ("broker", "PLAINTEXT")
            };
            let text = format!(
                "process.roles={roles}\n\
                 node.id={id}\n\
                 controller.quorum.voters={voters}\n\
                 listeners={listener}://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\n\
                 log.dirs={data}\n\
                 kraftd.http.listener=127.0.0.1:{http}\n\
                 kraftd.shutdown.timeout.ms=5000\n\
                 broker.session.timeout.ms=3000\n\
                 broker.heartbeat.interval.ms=500\n\
                 {extra}",
                data = dir.join("data").display(),
            );
            let config = write_config(&dir, &text);
            let (status, out, err) = run_kraftd(&[
                "storage",
                "format",
                "-t",
                &cluster_id,
                "-c",
                config.to_str().expect("utf-8 path"),
            ]);
            assert!(status.success(), "format node {id}: {out}{err}");
            ClusterNode {
                id,
                port,
                http,
                config,
                dir,
                process: None,
            }
        };
        let controllers: Vec<ClusterNode> = controller_ports
            .iter()
            .enumerate()
            .map(|(i, (port, http))| make(i as i32 + 1, true, *port, *http))
            .collect();
        let brokers: Vec<ClusterNode> = (0..3)
            .map(|i| make(i + 4, false, free_port(), free_port()))
            .collect();
        let mut cluster = ProcessCluster {
            brokers,
            controllers,
            root,
        };
        for node in cluster
            .controllers
            .iter_mut()
            .chain(cluster.brokers.iter_mut())
        {
            let log = node.dir.join("kraftd.log");
            let mut process =
                Kraftd::spawn(&["server", "-c", node.config.to_str().unwrap()], log, &[]);
            process.wait_healthy(node.http_addr(), timeout);
            node.process = Some(process);
        }
        let deadline = Instant::now() + timeout;
        while !cluster.brokers.iter().all(ClusterNode::ready) {
            assert!(
                Instant::now() < deadline,
                "brokers not ready after {timeout:?}:\n{}",
                cluster
                    .brokers
                    .iter()
                    .map(|b| format!("--- broker {}\n{}", b.id, b.log_text()))
                    .collect::<String>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster
    }

    /// The brokers' listener addresses, comma-separated (a `bootstrap.servers` value).
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(ClusterNode::addr)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        // Brokers first, so none of them spends its last moments retrying a dead quorum.
        for node in self.brokers.iter_mut().chain(self.controllers.iter_mut()) {
            drop(node.process.take());
        }
    }
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
