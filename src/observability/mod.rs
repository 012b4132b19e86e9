//! Observability: the metric catalogue, the HTTP server for `/metrics`, `/healthz` and
//! `/readyz`, readiness tracking, and log/trace setup.

pub mod group_metrics;
pub mod http;
pub mod logging;
pub mod metadata_metrics;
pub mod metrics;
pub mod readiness;
pub mod registry;
pub mod replication_metrics;

pub use metrics::Metrics;
pub use readiness::Readiness;
