//! Processes and loopback plumbing: the `kraftd` binary, free ports, polling with deadlines, a
//! tiny HTTP client, reading a `/metrics` exposition, and `kraftd` child processes that are
//! killed on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `kraftd` binary built for this test run.
pub fn kraftd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kraftd")
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
pub fn wait_for<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_for_or(timeout, || format!("waiting for {what}"), f)
}

/// Like [`wait_for`], with the panic message built only on timeout (e.g. to include logs).
pub fn wait_for_or<T>(
    timeout: Duration,
    describe: impl FnOnce() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} {}", describe());
        }
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

/// The values of the series named `name` whose labels include every pair in `labels`, in the
/// order of the text exposition `body` (`[]` matches every series of that name).
pub fn metric_values(body: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (series_labels, value) = match rest.strip_prefix('{') {
                Some(inner) => split_labels(inner)?,
                None => (Vec::new(), rest.strip_prefix(' ')?),
            };
            let matches = labels
                .iter()
                .all(|(k, v)| series_labels.iter().any(|(sk, sv)| sk == k && sv == v));
            matches.then(|| value.split_whitespace().next()?.parse().ok())?
        })
        .collect()
}

/// Splits `k="v",k2="v2"} rest` into its label pairs (values unescaped) and `rest`.
fn split_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    loop {
        s = s.trim_start_matches(',');
        if let Some(rest) = s.strip_prefix('}') {
            return Some((pairs, rest));
        }
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        pairs.push((key.trim().to_string(), value));
        s = &rest[end + 1..];
    }
}

/// The address and ports of one node: on loopback with free ports, or on its own address in a
/// network namespace (see `netns`) with fixed ones.
#[derive(Debug, Clone, Copy)]
pub struct NodePorts {
    pub host: Ipv4Addr,
    pub broker: u16,
    pub controller: u16,
    pub http: u16,
}

impl NodePorts {
    /// Free loopback ports.
    pub fn allocate() -> NodePorts {
        NodePorts {
            host: Ipv4Addr::LOCALHOST,
            broker: free_port(),
            controller: free_port(),
            http: free_port(),
        }
    }

    /// Kafka's usual ports on `host`, an address nothing else listens on.
    pub fn on_host(host: Ipv4Addr) -> NodePorts {
        NodePorts {
            host,
            broker: 9092,
            controller: 9093,
            http: 9100,
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.http))
    }

    pub fn broker_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.broker))
    }

    pub fn controller_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.controller))
    }
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

/// Runs `cmd` with `input` on its standard input; its output (stdout and stderr captured).
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to the child's stdin");
    child.wait_with_output().expect("child output")
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
        Kraftd::spawn_in(None, args, log, envs)
    }

    /// [`Self::spawn`] inside the network namespace bound at `netns` (a file under
    /// `/var/run/netns`), when given.
    pub fn spawn_in(
        netns: Option<&Path>,
        args: &[&str],
        log: PathBuf,
        envs: &[(&str, &str)],
    ) -> Kraftd {
        let out = std::fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let mut cmd = Command::new(kraftd_bin());
        // The test command's own KRAFTD_* settings are not server configuration.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KRAFTD_")) {
            cmd.env_remove(k);
        }
        if let Some(path) = netns {
            use std::os::fd::{AsRawFd, OwnedFd};
            use std::os::unix::process::CommandExt;
            let ns: OwnedFd = std::fs::File::open(path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
                .into();
            // SAFETY: setns(2) is async-signal-safe; the descriptor lives in the closure,
            // which the child runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
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
