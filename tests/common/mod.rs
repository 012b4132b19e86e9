//! Helpers shared by the integration test binaries, by concern:
//! - `process`: the `kraftd` binary and child processes, free loopback ports, polling with
//!   deadlines, a tiny HTTP client and `/metrics` parsing;
//! - `cluster`: [`Cluster::builder`], the one way tests lay out, format and start nodes;
//! - `netns`: network namespaces per node, link cuts, netem and small filesystems;
//! - `prometheus`: a Prometheus server, promtool and the test-only rendering of alert rules;
//! - `clients`: the venv's Python clients and kcat.
// Each test binary uses only part of these helpers (and of the re-exports below).
#![allow(dead_code, unused_imports)]

mod clients;
mod cluster;
mod netns;
mod process;
mod prometheus;

pub use clients::*;
pub use cluster::*;
pub use netns::*;
pub use process::*;
pub use prometheus::*;
