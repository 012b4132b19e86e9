//! No request, however malformed, stops or wedges the server: hostile counts and sizes,
//! random bodies for every advertised API and version on every listener, and thousands of
//! idle connections. After each API the server must still answer on a healthy connection,
//! and its memory must stay bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use rand::{Rng, SeedableRng};

use super::{api_versions_request, connect, read_api_versions_v0, start_node};

/// The request header of `key` v`version`, in the layout that version prescribes.
fn header(key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&key.to_be_bytes());
    h.extend_from_slice(&version.to_be_bytes());
    h.extend_from_slice(&correlation_id.to_be_bytes());
    let header_version = ApiKey::try_from(key)
        .map(|k| k.request_header_version(version))
        .unwrap_or(1);
    if header_version >= 1 {
        h.extend_from_slice(&7i16.to_be_bytes());
        h.extend_from_slice(b"hostile");
    }
    if header_version >= 2 {
        h.push(0); // no tagged fields
    }
    h
}

fn frame(mut body: Vec<u8>) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.append(&mut body);
    f
}

/// Bodies that claim far more than they carry, and random ones.
fn hostile_bodies(rng: &mut impl Rng) -> Vec<Vec<u8>> {
    let mut bodies = vec![
        // An int32 count or length of 2^31-1, again and again (arrays, strings, bytes).
        [0x7f, 0xff, 0xff, 0xff].repeat(4),
        // ~1.6 billion: the Metadata topic count that once reserved ~100 GB.
        [0x60, 0x00, 0x00, 0x00].repeat(3),
        // An unsigned varint of 2^32-1 (compact arrays, compact strings, tagged fields).
        [0xff, 0xff, 0xff, 0xff, 0x0f].repeat(3),
        // Nothing at all.
        Vec::new(),
    ];
    for _ in 0..3 {
        let len = rng.random_range(1..96);
        bodies.push((0..len).map(|_| rng.random()).collect());
    }
    bodies
}

/// The server still answers ApiVersions on `healthy`.
fn assert_serving(healthy: &mut TcpStream, correlation_id: i32, what: &str) {
    healthy
        .write_all(&api_versions_request(0, correlation_id))
        .unwrap_or_else(|e| panic!("after {what}: {e}"));
    let (corr, error, _) = read_api_versions_v0(healthy);
    assert_eq!((corr, error), (correlation_id, 0), "after {what}");
}

/// Sends every frame on its own connection, then waits (up to a shared deadline) for each to
/// be answered or closed. A request the server is still serving at the deadline (a Fetch
/// long-poll) is fine: it must not stop the others.
fn send_all(addr: SocketAddr, frames: &[Vec<u8>]) {
    let mut open = Vec::new();
    for f in frames {
        let mut s = TcpStream::connect(addr).expect("connect");
        // A server that already closed may reset the rest of a write.
        let _ = s.write_all(f);
        open.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for mut s in open {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    }
}

fn rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The server's memory after the barrage stays far below what one hostile count would have
/// reserved (and the process would have aborted long before).
const RSS_LIMIT: u64 = 512 << 20;

#[test]
fn no_request_stops_or_wedges_the_server() {
    let mut c = start_node();
    let node = c.node_mut(1);
    let ports = node.ports;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6b72_6166_7464);
    let mut corr = 1000;
    for addr in [ports.broker_addr(), ports.controller_addr()] {
        let mut healthy = connect(addr);
        healthy.write_all(&api_versions_request(0, 1)).unwrap();
        let (_, error, apis) = read_api_versions_v0(&mut healthy);
        assert_eq!(error, 0);
        assert!(apis.len() > 5, "{apis:?}");
        let mut sent = 0;
        for (key, min, max) in apis {
            let mut frames = Vec::new();
            for version in min..=max {
                for body in hostile_bodies(&mut rng) {
                    let mut f = header(key, version, 77);
                    f.extend_from_slice(&body);
                    frames.push(frame(f));
                }
                // The header alone, cut short.
                let h = header(key, version, 78);
                frames.push(frame(h[..h.len() - 1].to_vec()));
            }
            sent += frames.len();
            send_all(addr, &frames);
            assert!(node.is_running(), "the server stopped after API {key}");
            corr += 1;
            assert_serving(&mut healthy, corr, &format!("API {key} on {addr}"));
        }
        assert!(sent > 100, "only {sent} frames sent to {addr}");
    }
    let rss = rss_bytes(node.pid());
    assert!(rss < RSS_LIMIT, "RSS {rss} bytes after the barrage");

    // Thousands of idle connections, some holding half a frame.
    let mut idle = Vec::new();
    for i in 0..2000 {
        let mut s = TcpStream::connect(ports.broker_addr()).expect("connect an idle client");
        if i % 4 == 0 {
            // Claims 100 MB (at socket.request.max.bytes) and sends ten bytes of it.
            s.write_all(&104_857_600i32.to_be_bytes()).unwrap();
            s.write_all(&[0; 10]).unwrap();
        }
        idle.push(s);
    }
    let mut healthy = connect(ports.broker_addr());
    assert_serving(&mut healthy, 1, "2000 idle connections");
    let rss = rss_bytes(node.pid());
    assert!(
        rss < RSS_LIMIT,
        "RSS {rss} bytes with 2000 idle connections"
    );
    drop(idle);
    assert_serving(&mut healthy, 2, "closing the idle connections");
    assert!(node.is_running());
    let log = node.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn connection_limits_refuse_and_idle_out() {
    let mut c = super::Cluster::builder()
        .combined(1)
        .extra("max.connections.per.ip=3\nconnections.max.idle.ms=1500\n")
        .build();
    let node = c.node_mut(1);
    let ports = node.ports;
    node.start(super::START);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(ports.broker_addr())).collect();
    // The server counts a connection once it accepts it: the fourth is closed on arrival.
    super::wait_for(Duration::from_secs(10), "a refused connection", || {
        let mut s = connect(ports.broker_addr());
        s.write_all(&api_versions_request(0, 9)).ok()?;
        let mut buf = [0u8; 4];
        match s.read(&mut buf) {
            Ok(0) => Some(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(()),
            _ => None,
        }
    });
    // The controller listener is not limited: the quorum must reach its voters.
    let mut controller = connect(ports.controller_addr());
    assert_serving(
        &mut controller,
        3,
        "the per-ip limit on the broker listener",
    );
    // Idle connections are closed after connections.max.idle.ms; then the address has room.
    for mut s in held {
        let mut buf = [0u8; 4];
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "an idle connection stays open"
        );
    }
    super::wait_for(Duration::from_secs(10), "room after idle closes", || {
        let mut s = connect(ports.broker_addr());
        s.write_all(&api_versions_request(0, 10)).ok()?;
        let mut size = [0u8; 4];
        s.read_exact(&mut size).ok()?;
        let mut rest = vec![0u8; i32::from_be_bytes(size) as usize];
        s.read_exact(&mut rest).ok()?;
        (rest[..4] == 10i32.to_be_bytes()).then_some(())
    });
    let (_, metrics) = super::http_get(ports.http_addr(), "/metrics").unwrap();
    assert!(
        metrics.contains(
            "kafka_network_connections_rejected_total{listener=\"PLAINTEXT\",reason=\"per_ip_limit\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("kafka_network_idle_connections_closed_total{listener=\"PLAINTEXT\"}"),
        "{metrics}"
    );
    assert!(node.is_running());
}
