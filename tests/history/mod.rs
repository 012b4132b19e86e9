//! The history checker and the workload that feeds it, shared by the replication tests and the
//! fault scenarios: `workload` records every produce with its outcome and every record each
//! consumer session read; `checker` finds the anomalies in such a history.

pub mod checker;
pub mod workload;

use rdkafka::config::ClientConfig;

/// The librdkafka settings every workload client starts from.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "kraftd-history-workload");
    c
}
