//! The server process as users meet it: storage commands, startup checks, the observability
//! endpoints, a real client's ApiVersions exchange, malformed input and graceful shutdown.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;
mod envelope;
mod hostile_requests;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::*;

const START: Duration = Duration::from_secs(20);

/// A formatted single combined node, started, healthy and ready.
fn start_node() -> Cluster {
    Cluster::builder().combined(1).start(START)
}

#[test]
fn random_uuid_prints_a_22_character_url_safe_id() {
    let (status, out, _) = run_kraftd(&["storage", "random-uuid"]);
    assert!(status.success());
    let id = out.trim();
    assert_eq!(id.len(), 22, "{id:?}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id}"
    );
}

#[test]
fn format_writes_meta_properties_everywhere_and_refuses_to_format_twice() {
    let c = Cluster::builder().combined(1).build();
    let (node, id) = (c.node(1), c.cluster_id());
    let config = &node.config;
    for sub in ["logs", "metadata"] {
        let meta = std::fs::read_to_string(node.dir.join(sub).join("meta.properties")).unwrap();
        for field in [
            "version=1".to_string(),
            format!("cluster.id={id}"),
            "node.id=1".into(),
            "directory.id=".into(),
        ] {
            assert!(
                meta.contains(&field),
                "{sub}/meta.properties lacks {field}:\n{meta}"
            );
        }
        assert!(node.dir.join(sub).join("bootstrap.checkpoint").is_file());
    }
    let (status, _, err) = format_storage(config, id);
    assert!(!status.success());
    assert!(
        err.contains("already formatted") && err.contains("--ignore-formatted"),
        "{err}"
    );
    let (status, out, _) = run_kraftd(&[
        "storage",
        "format",
        "-g",
        "-t",
        id,
        "-c",
        config.to_str().unwrap(),
    ]);
    assert!(status.success());
    assert!(out.contains("Skipped"), "{out}");
    let (status, out, _) = run_kraftd(&["storage", "info", "-c", config.to_str().unwrap()]);
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("cluster.id={id}")) && out.contains("metadata.version=21"),
        "{out}"
    );
}

#[test]
fn format_refuses_an_invalid_cluster_id() {
    let c = Cluster::builder().combined(1).unformatted().build();
    let (status, _, err) = format_storage(&c.node(1).config, "nope");
    assert!(!status.success());
    assert!(
        err.contains("invalid cluster id") && err.contains("random-uuid"),
        "{err}"
    );
}

#[test]
fn server_refuses_unformatted_foreign_or_misnumbered_storage() {
    let c = Cluster::builder().combined(1).unformatted().build();
    let node = c.node(1);
    let (dir, ports) = (&node.dir, node.ports);
    let cfg = node.config.to_str().unwrap();

    let (status, _, err) = run_kraftd(&["server", "-c", cfg]);
    assert!(!status.success());
    assert!(
        err.contains("not formatted") && err.contains("kraftd storage format"),
        "{err}"
    );

    node.format(c.cluster_id());
    // Re-format only the metadata dir for another cluster.
    std::fs::remove_dir_all(dir.join("metadata")).unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_id = random_cluster_id();
    let meta_only = write_config(
        other.path(),
        &combined_config(dir, 1, ports).replace(
            &format!("log.dirs={}", dir.join("logs").display()),
            &format!("log.dirs={}", dir.join("metadata").display()),
        ),
    );
    let (status, _, err) = format_storage(&meta_only, &other_id);
    assert!(status.success(), "{err}");
    let (status, _, err) = run_kraftd(&["server", "-c", cfg]);
    assert!(!status.success());
    assert!(
        err.contains("invalid cluster.id") && err.contains(&other_id),
        "{err}"
    );

    let renumbered = write_config(other.path(), &combined_config(dir, 2, ports));
    let (status, _, err) = run_kraftd(&["server", "-c", renumbered.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains("stored node id 1") && err.contains("node.id=2"),
        "{err}"
    );
}

#[test]
fn invalid_configuration_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "process.roles=controller\nnode.id=1\n");
    let (status, _, err) = run_kraftd(&["server", "-c", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("controller.quorum.voters"), "{err}");
    let (status, _, err) = run_kraftd(&["server", "-c", "/nonexistent/server.properties"]);
    assert!(!status.success());
    assert!(err.contains("/nonexistent/server.properties"), "{err}");
}

#[test]
fn endpoints_metrics_and_graceful_shutdown() {
    let mut c = start_node();
    let node = c.node_mut(1);
    let ports = node.ports;
    let http = ports.http_addr();
    assert_eq!(http_get(http, "/healthz").unwrap().0, 200);
    wait_for(START, "/readyz 200", || {
        (http_get(http, "/readyz").ok()?.0 == 200).then_some(())
    });
    assert_eq!(http_get(http, "/nope").unwrap().0, 404);

    let (status, body) = http_get(http, "/metrics").unwrap();
    assert_eq!(status, 200);
    for name in [
        "kafka_node_info{",
        "kafka_build_info{",
        "process_resident_memory_bytes",
    ] {
        assert!(body.contains(name), "/metrics lacks {name}");
    }
    promtool_check_metrics(&body).unwrap_or_else(|e| panic!("promtool check metrics: {e}"));

    node.signal(libc::SIGTERM);
    // kraftd.shutdown.timeout.ms=5000 in the test config; allow process exit on top.
    let status = node.wait_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        node.log_text()
    );
    let log = node.log_text();
    assert!(
        log.contains("shutting down") && log.contains("shutdown complete"),
        "{log}"
    );
}

#[test]
fn a_second_server_cannot_use_a_locked_directory() {
    let c = start_node();
    let text = combined_config(&c.node(1).dir, 1, NodePorts::allocate());
    let other = tempfile::tempdir().unwrap();
    let config = write_config(other.path(), &text);
    let (status, _, err) = run_kraftd(&["server", "-c", config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(err.contains("locked by another process"), "{err}");
}

#[test]
fn kcat_gets_a_well_formed_api_versions_answer() {
    let c = start_node();
    let ports = c.node(1).ports;
    let kcat = require_tool("kcat");
    let out = Command::new(kcat)
        .args([
            "-b",
            &ports.broker_addr().to_string(),
            "-L",
            "-m",
            "2",
            "-d",
            "broker,protocol",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Received ApiVersionResponse"), "{log}");
    assert!(
        log.contains("APIVERSION_QUERY -> UP"),
        "kcat did not accept the answer:\n{log}"
    );
}

/// An ApiVersions request in the v0 layout (header v1: api key, version, correlation id, client id).
fn api_versions_request(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&4i16.to_be_bytes());
    body.extend_from_slice(b"test");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Reads one v0-layout ApiVersions response: (correlation id, error code, [(key, min, max)]).
fn read_api_versions_v0(s: &mut TcpStream) -> (i32, i16, Vec<(i16, i16, i16)>) {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut buf).unwrap();
    let i16_at = |i: usize| i16::from_be_bytes([buf[i], buf[i + 1]]);
    let corr = i32::from_be_bytes(buf[0..4].try_into().unwrap());
    let error = i16_at(4);
    let n = i32::from_be_bytes(buf[6..10].try_into().unwrap()) as usize;
    let apis = (0..n)
        .map(|k| (i16_at(10 + 6 * k), i16_at(12 + 6 * k), i16_at(14 + 6 * k)))
        .collect();
    (corr, error, apis)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// After `bytes`, the server closes the connection (read returns 0 or a reset).
fn assert_closed_after(addr: SocketAddr, bytes: &[u8], case: &str) {
    let mut s = connect(addr);
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{case}: expected the connection to close, got {n} bytes"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{case}: expected the connection to close, got {e}"),
    }
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let mut c = start_node();
    let node = c.node_mut(1);
    let ports = node.ports;
    for addr in [ports.broker_addr(), ports.controller_addr()] {
        // A healthy connection stays open across every bad one.
        let mut healthy = connect(addr);
        healthy.write_all(&api_versions_request(0, 1)).unwrap();
        assert_eq!(read_api_versions_v0(&mut healthy).1, 0);

        let mut unknown_key = api_versions_request(0, 2);
        unknown_key[4..6].copy_from_slice(&999i16.to_be_bytes());
        let mut unsupported_version = api_versions_request(0, 3);
        unsupported_version[6..8].copy_from_slice(&(-2i16).to_be_bytes());
        let mut unserved_api = api_versions_request(0, 4);
        unserved_api[4..6].copy_from_slice(&0i16.to_be_bytes()); // Produce is not served yet
        let mut truncated_header = Vec::from(10i32.to_be_bytes());
        truncated_header.extend_from_slice(&[0, 18, 0, 1, 0, 0, 0, 5, 0x7f, 0x7f]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "garbage bytes",
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            (
                "frame over socket.request.max.bytes",
                200_000_000i32.to_be_bytes().to_vec(),
            ),
            ("negative length", (-1i32).to_be_bytes().to_vec()),
            ("length below a header", 2i32.to_be_bytes().to_vec()),
            ("unknown API key", unknown_key),
            ("unsupported version", unsupported_version),
            ("API not served on this listener", unserved_api),
            ("truncated header", truncated_header),
        ];
        for (case, bytes) in &cases {
            assert_closed_after(addr, bytes, case);
        }

        healthy.write_all(&api_versions_request(0, 5)).unwrap();
        let (corr, error, apis) = read_api_versions_v0(&mut healthy);
        assert_eq!((corr, error), (5, 0));
        assert!(apis.contains(&(18, 0, 4)), "{apis:?}");

        // KIP-511: an ApiVersions version we do not know gets UNSUPPORTED_VERSION in v0 layout.
        let mut s = connect(addr);
        s.write_all(&api_versions_request(99, 6)).unwrap();
        let (corr, error, apis) = read_api_versions_v0(&mut s);
        assert_eq!((corr, error), (6, 35));
        assert_eq!(apis, vec![(18, 0, 4)]);
    }
    assert!(node.is_running());
    let log = node.log_text();
    assert!(
        log.contains("closing connection after a bad request"),
        "{log}"
    );
    let (_, metrics) = http_get(ports.http_addr(), "/metrics").unwrap();
    assert!(
        metrics.contains(
            "kafka_network_malformed_requests_total{listener=\"PLAINTEXT\",reason=\"too_large\"} 2"
        ),
        "{metrics}"
    );
}

#[test]
fn dev_mode_formats_once_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let ports = NodePorts::allocate();
    let data = dir.path().join("data");
    let overrides = [
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            ports.broker, ports.controller
        ),
        format!(
            "advertised.listeners=PLAINTEXT://127.0.0.1:{}",
            ports.broker
        ),
        format!("controller.quorum.voters=1@127.0.0.1:{}", ports.controller),
        format!("kraftd.http.listener=127.0.0.1:{}", ports.http),
    ];
    let mut args = vec![
        "dev".to_string(),
        "--data-dir".into(),
        data.display().to_string(),
    ];
    for o in &overrides {
        args.push("--override".into());
        args.push(o.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut node = Kraftd::spawn(&args, dir.path().join("dev1.log"), &[]);
    node.wait_healthy(ports.http_addr(), START);
    let log = wait_for(START, "the dev banner", || {
        let l = node.log_text();
        l.contains("kcat -b").then_some(l)
    });
    assert!(
        log.contains("Formatted") && log.contains(&format!("127.0.0.1:{}", ports.broker)),
        "{log}"
    );
    let meta1 = std::fs::read_to_string(data.join("metadata/meta.properties")).unwrap();
    node.signal(libc::SIGINT);
    assert!(node.wait_exit(Duration::from_secs(10)).success());

    let mut again = Kraftd::spawn(&args, dir.path().join("dev2.log"), &[]);
    again.wait_healthy(ports.http_addr(), START);
    assert!(
        !again.log_text().contains("Formatted"),
        "{}",
        again.log_text()
    );
    assert_eq!(
        meta1,
        std::fs::read_to_string(data.join("metadata/meta.properties")).unwrap()
    );
    again.signal(libc::SIGTERM);
    assert!(again.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn systemd_notify_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(START)).unwrap();
    let mut c = Cluster::builder()
        .combined(1)
        .env("NOTIFY_SOCKET", socket_path.to_str().unwrap())
        .build();
    let node = c.node_mut(1);
    let ports = node.ports;
    node.spawn();
    let mut buf = [0u8; 256];
    // Retry when a signal (e.g. another test's child exiting) interrupts the wait.
    let recv = |buf: &mut [u8]| loop {
        match socket.recv(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let n = recv(&mut buf).expect("READY=1 notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    // READY is sent only after the listeners are bound.
    assert!(TcpStream::connect(ports.broker_addr()).is_ok());
    node.signal(libc::SIGTERM);
    let n = recv(&mut buf).expect("STOPPING=1 notification");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    assert!(node.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn otlp_export_sends_request_spans_to_the_collector() {
    use std::net::TcpListener;
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let received = std::thread::spawn(move || {
        let (mut s, _) = collector.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        String::from_utf8_lossy(&head).into_owned()
    });

    let mut c = Cluster::builder()
        .combined(1)
        .extra(&format!("kraftd.otlp.endpoint={endpoint}\n"))
        .build();
    let node = c.node_mut(1);
    let ports = node.ports;
    node.start(START);
    let mut s = connect(ports.broker_addr());
    s.write_all(&api_versions_request(0, 1)).unwrap();
    assert_eq!(read_api_versions_v0(&mut s).1, 0);
    // Shutdown flushes the batch exporter.
    node.signal(libc::SIGTERM);
    assert!(
        node.wait_exit(Duration::from_secs(15)).success(),
        "{}",
        node.log_text()
    );
    let head = received.join().unwrap();
    assert!(head.starts_with("POST /v1/traces"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("application/x-protobuf"),
        "{head}"
    );
}

#[test]
fn typed_client_negotiates_every_api_versions_version() {
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::StrBytes;
    use kraftd::network::client::KafkaConnection;

    let c = start_node();
    let ports = c.node(1).ports;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for addr in [ports.broker_addr(), ports.controller_addr()] {
            let mut conn = KafkaConnection::connect(&addr.to_string(), "kraftd-test", START)
                .await
                .unwrap();
            for version in 0..=4 {
                let request = ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("kraftd-test"))
                    .with_client_software_version(StrBytes::from_static_str("1.0"));
                let response = conn.send(&request, version, START).await.unwrap();
                assert_eq!(response.error_code, 0, "v{version}");
                let api = response
                    .api_keys
                    .iter()
                    .find(|a| a.api_key == 18)
                    .expect("ApiVersions listed");
                assert_eq!((api.min_version, api.max_version), (0, 4));
                // Nothing beyond what is served is advertised (Debian's kcat rejects extra tags).
                assert!(
                    response.supported_features.is_empty()
                        && response.finalized_features.is_empty()
                );
            }
        }
    });
}

#[test]
fn metadata_quorum_cli_reports_an_unreachable_controller() {
    let port = free_port();
    let (status, _, err) = run_kraftd(&[
        "metadata-quorum",
        "--bootstrap-controller",
        &format!("127.0.0.1:{port}"),
        "--timeout-ms",
        "2000",
        "describe",
        "--status",
    ]);
    assert!(!status.success());
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
    let (status, _, err) = run_kraftd(&["metadata-quorum", "describe", "--status"]);
    assert!(!status.success());
    assert!(
        err.contains("--bootstrap-server") && err.contains("--bootstrap-controller"),
        "{err}"
    );
}

#[test]
fn a_voter_that_lost_its_metadata_log_refuses_to_start() {
    let mut c = start_node();
    let node = c.node_mut(1);
    node.signal(libc::SIGTERM);
    assert!(node.wait_exit(Duration::from_secs(10)).success());
    let meta = node.dir.join("metadata/__cluster_metadata-0");
    assert!(
        meta.join("quorum-state").is_file(),
        "format and the run leave quorum-state"
    );
    std::fs::remove_dir_all(&meta).unwrap();
    let (status, _, err) = run_kraftd(&["server", "-c", node.config.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        err.contains("lost its copy of the quorum's log") && err.contains("docs/raft.md"),
        "{err}"
    );
}
