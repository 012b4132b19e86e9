//! Real network faults between `kraftd` nodes: every node runs in its own network namespace,
//! joined to a bridge in the test's namespace by a veth pair, with its own address in a /24
//! that the test process (clients, Prometheus) reaches through the bridge. Links are cut with
//! nftables rules inside a node's namespace (both ways, one way, or everything but loopback),
//! degraded (a slow link: `tc netem` delay where the kernel has netem, else a `tbf` rate limit
//! whose queue delays packets; random loss with an nftables `numgen` rule), and a broker's log
//! directory can live on a small loop-mounted filesystem to run it out of space.
//!
//! Needs root (namespaces, nftables, mounts); [`Network::create`] says so plainly otherwise.
//! Everything is removed on drop, also when the test panics; namespaces, bridges and mounts
//! left by a killed test process (whose pid is gone) are removed by the next
//! [`Network::create`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::process::{require_tool, run_with_stdin};

/// The prefix of every namespace, bridge and veth name this module creates.
const PREFIX: &str = "kft";

/// Runs `program args…`; panics with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    try_run(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `program args…`; its stdout, or an error with the command and its stderr.
fn try_run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `nft -f -` with `script` inside namespace `ns`.
fn nft(ns: &str, script: &str) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, "nft", "-f", "-"]);
    let out = run_with_stdin(cmd, script.as_bytes());
    assert!(
        out.status.success(),
        "nft in {ns} failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The owner pid encoded in a name made by [`Network::create`] (`kft<pid in hex>x<n>…`;
/// interface names have at most 15 characters).
fn owner(name: &str) -> Option<u32> {
    let (pid, _) = name.strip_prefix(PREFIX)?.split_once('x')?;
    u32::from_str_radix(pid, 16).ok()
}

/// Removes the namespaces (and the processes still running in them), bridges and loop mounts
/// of test processes that no longer run.
fn remove_stale() {
    let namespaces = try_run("ip", &["netns", "list"]).unwrap_or_default();
    for ns in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if owner(ns).is_some_and(|pid| !alive(pid)) {
            // Processes a killed test left running inside go first.
            let pids = try_run("ip", &["netns", "pids", ns]).unwrap_or_default();
            for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) on a pid listed in a namespace this module created.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = try_run("ip", &["netns", "delete", ns]);
        }
    }
    let links = try_run("ip", &["-o", "link", "show"]).unwrap_or_default();
    for link in links.lines().filter_map(|l| l.split(": ").nth(1)) {
        let name = link.split('@').next().unwrap_or(link);
        if owner(name).is_some_and(|pid| !alive(pid)) {
            let _ = try_run("ip", &["link", "delete", name]);
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for target in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        let stale = Path::new(target)
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(owner)
            .is_some_and(|pid| !alive(pid));
        if stale {
            let _ = try_run("umount", &["-l", target]);
        }
    }
}

/// A link fault between two nodes, or of one node, currently in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// No packets between `a` and `b`, either way.
    Both(i32, i32),
    /// No packets from `from` to `to` (the reverse direction still flows).
    OneWay { from: i32, to: i32 },
    /// Node `id` exchanges packets with nothing but itself.
    Isolated(i32),
    /// Node `id` drops this percentage of the packets it sends, at random.
    Lossy(i32, u32),
    /// No packets between node `id` and the host (the clients, Prometheus); its links to the
    /// other nodes stay.
    FromHost(i32),
}

/// One node's place in the network.
#[derive(Debug, Clone)]
struct Place {
    ns: String,
    ip: Ipv4Addr,
    /// The veth end inside the namespace.
    dev: &'static str,
}

/// Network namespaces for the nodes of one cluster; see the module documentation.
pub struct Network {
    bridge: String,
    gateway: Ipv4Addr,
    places: BTreeMap<i32, Place>,
    cuts: Vec<Cut>,
    /// Loop-mounted filesystems (mount point, image file), unmounted on drop.
    mounts: Vec<(PathBuf, PathBuf)>,
}

impl Network {
    /// Creates one namespace per node id, each with the address `10.<a>.<b>.<10 + id>`, and the
    /// bridge (`10.<a>.<b>.1`, the test process's side) that joins them.
    pub fn create(ids: &[i32]) -> Network {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "the network fault harness needs root (network namespaces, nftables, mounts)"
        );
        for tool in ["ip", "nft", "tc"] {
            require_tool(tool);
        }
        remove_stale();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        // At most ten networks of one process at a time.
        let n = NEXT.fetch_add(1, Ordering::SeqCst) % 10;
        let tag = format!("{PREFIX}{pid:x}x{n}");
        // One /24 per network of this process: 10.<100 + pid % 100>.<n>.0/24.
        let (a, b) = (100 + (pid % 100) as u8, n as u8);
        let gateway = Ipv4Addr::new(10, a, b, 1);
        let bridge = format!("{tag}b");
        let mut net = Network {
            bridge: bridge.clone(),
            gateway,
            places: BTreeMap::new(),
            cuts: Vec::new(),
            mounts: Vec::new(),
        };
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        run(
            "ip",
            &["addr", "add", &format!("{gateway}/24"), "dev", &bridge],
        );
        run("ip", &["link", "set", &bridge, "up"]);
        for &id in ids {
            assert!((0..100).contains(&id), "node id {id} out of range");
            let ns = format!("{tag}n{id}");
            let host = format!("{tag}h{id}");
            let ip = Ipv4Addr::new(10, a, b, 10 + id as u8);
            run("ip", &["netns", "add", &ns]);
            net.places.insert(
                id,
                Place {
                    ns: ns.clone(),
                    ip,
                    dev: "eth0",
                },
            );
            run(
                "ip",
                &[
                    "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            );
            run("ip", &["link", "set", &host, "master", &bridge]);
            run("ip", &["link", "set", &host, "up"]);
            run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            run(
                "ip",
                &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            );
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            nft(
                &ns,
                "table inet faults {\n\
                   chain input { type filter hook input priority 0; policy accept; }\n\
                   chain output { type filter hook output priority 0; policy accept; }\n\
                 }\n",
            );
        }
        net
    }

    fn place(&self, id: i32) -> &Place {
        self.places
            .get(&id)
            .unwrap_or_else(|| panic!("node {id} has no namespace"))
    }

    /// Node `id`'s address.
    pub fn ip(&self, id: i32) -> Ipv4Addr {
        self.place(id).ip
    }

    /// The test process's address on the bridge (where clients and Prometheus come from).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// The bind-mounted namespace file of node `id`, for `setns(2)`.
    pub fn netns_path(&self, id: i32) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.place(id).ns)
    }

    /// Rewrites every namespace's rules from the cuts in force.
    fn apply(&self) {
        for (&id, place) in &self.places {
            let mut rules = String::from("flush table inet faults\n");
            let mut add = |chain: &str, rule: String| {
                rules.push_str(&format!("add rule inet faults {chain} {rule}\n"));
            };
            for cut in &self.cuts {
                match *cut {
                    Cut::Both(a, b) if a == id || b == id => {
                        let other = self.ip(if a == id { b } else { a });
                        add("input", format!("ip saddr {other} drop"));
                        add("output", format!("ip daddr {other} drop"));
                    }
                    Cut::OneWay { from, to } if from == id => {
                        add("output", format!("ip daddr {} drop", self.ip(to)));
                    }
                    Cut::OneWay { from, to } if to == id => {
                        add("input", format!("ip saddr {} drop", self.ip(from)));
                    }
                    Cut::Isolated(n) if n == id => {
                        add("input", "iifname != \"lo\" drop".to_string());
                        add("output", "oifname != \"lo\" drop".to_string());
                    }
                    Cut::FromHost(n) if n == id => {
                        let host = self.gateway();
                        add("input", format!("ip saddr {host} drop"));
                        add("output", format!("ip daddr {host} drop"));
                    }
                    Cut::Lossy(n, percent) if n == id => {
                        add(
                            "output",
                            format!("oifname != \"lo\" numgen random mod 100 < {percent} drop"),
                        );
                    }
                    _ => {}
                }
            }
            nft(&place.ns, &rules);
        }
    }

    /// No packets between nodes `a` and `b`, either way (each keeps its other links).
    pub fn cut(&mut self, a: i32, b: i32) {
        self.cuts.push(Cut::Both(a, b));
        self.apply();
    }

    /// No packets from `from` to `to`; `to` still reaches `from`.
    pub fn cut_one_way(&mut self, from: i32, to: i32) {
        self.cuts.push(Cut::OneWay { from, to });
        self.apply();
    }

    /// The host (clients, Prometheus) no longer reaches node `id`; the nodes still do.
    pub fn cut_from_host(&mut self, id: i32) {
        self.cuts.push(Cut::FromHost(id));
        self.apply();
    }

    /// Node `id` reaches nothing and nothing reaches it (clients included).
    pub fn isolate(&mut self, id: i32) {
        self.cuts.push(Cut::Isolated(id));
        self.apply();
    }

    /// Every link cut, as written in a report (`2x1`, `2->1`, `isolated 3`).
    pub fn describe_cuts(&self) -> String {
        self.cuts
            .iter()
            .map(|c| match c {
                Cut::Both(a, b) => format!("{a}x{b}"),
                Cut::OneWay { from, to } => format!("{from}->{to}"),
                Cut::Isolated(n) => format!("isolated {n}"),
                Cut::Lossy(n, p) => format!("{n} loses {p}%"),
                Cut::FromHost(n) => format!("host x{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Restores every link (slow and lossy ones included).
    pub fn heal(&mut self) {
        self.cuts.clear();
        self.apply();
        for id in self.places.keys().copied().collect::<Vec<_>>() {
            self.clear_shaping(id);
        }
    }

    /// Makes node `id`'s outgoing link slow and lossy: `delay_ms` of added delay (netem where
    /// the kernel has it; otherwise a `tbf` rate limit of `rate_kbit` whose queue holds packets
    /// up to `delay_ms`) and `loss_percent` of its packets dropped at random (nftables).
    /// Returns what was applied, for the report.
    pub fn degrade(&mut self, id: i32, delay_ms: u32, rate_kbit: u32, loss_percent: u32) -> String {
        let p = self.place(id).clone();
        let delay = format!("{delay_ms}ms");
        let netem = try_run(
            "tc",
            &[
                "-n", &p.ns, "qdisc", "replace", "dev", p.dev, "root", "netem", "delay", &delay,
            ],
        );
        let shaping = match netem {
            Ok(_) => format!("netem delay {delay}"),
            Err(_) => {
                let rate = format!("{rate_kbit}kbit");
                run(
                    "tc",
                    &[
                        "-n", &p.ns, "qdisc", "replace", "dev", p.dev, "root", "tbf", "rate",
                        &rate, "burst", "16kb", "latency", &delay,
                    ],
                );
                format!("tbf {rate} (queue up to {delay})")
            }
        };
        if loss_percent > 0 {
            self.cuts.push(Cut::Lossy(id, loss_percent));
            self.apply();
        }
        format!("{shaping}, {loss_percent}% loss")
    }

    /// Removes node `id`'s traffic shaping, if any.
    pub fn clear_shaping(&self, id: i32) {
        let p = self.place(id);
        let _ = try_run("tc", &["-n", &p.ns, "qdisc", "del", "dev", p.dev, "root"]);
    }

    /// Mounts a new ext4 filesystem of `mib` MiB (an image file under `image_dir`) at `at`,
    /// which must not exist yet; it is unmounted on drop.
    pub fn small_filesystem(&mut self, image_dir: &Path, at: &Path, mib: u32) {
        for tool in ["mkfs.ext4", "mount", "umount"] {
            require_tool(tool);
        }
        let tag = format!("{}fs{}", self.bridge, self.mounts.len());
        let image = image_dir.join(format!("{tag}.img"));
        let file = std::fs::File::create(&image).expect("create filesystem image");
        file.set_len(u64::from(mib) << 20).expect("size image");
        drop(file);
        let image_s = image.to_str().expect("utf-8 path");
        run("mkfs.ext4", &["-q", "-F", "-m", "0", image_s]);
        std::fs::create_dir_all(at).expect("mount point");
        // The mount point's name carries the owner pid, so a later run can clean it up.
        let point = at.join(&tag);
        std::fs::create_dir_all(&point).expect("mount point");
        run(
            "mount",
            &["-o", "loop", image_s, point.to_str().expect("utf-8 path")],
        );
        self.mounts.push((point, image));
    }

    /// The mount point of the `n`th filesystem from [`Self::small_filesystem`].
    pub fn filesystem(&self, n: usize) -> &Path {
        &self.mounts[n].0
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for (point, image) in self.mounts.drain(..) {
            let _ = try_run("umount", &["-l", point.to_str().unwrap_or_default()]);
            let _ = std::fs::remove_file(image);
        }
        for place in self.places.values() {
            let _ = try_run("ip", &["netns", "delete", &place.ns]);
        }
        let _ = try_run("ip", &["link", "delete", &self.bridge]);
    }
}
