//! One client connection: read a frame, dispatch, write the response, in order.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::Instrument;

use super::dispatch::Dispatcher;
use crate::observability::Metrics;
use crate::protocol::error_code;
use crate::protocol::frame::{FrameError, read_frame};
use crate::protocol::request::{self, Parsed, RequestError};
use crate::shutdown::ShutdownSignal;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("write failed: {0}")]
    Write(std::io::Error),
}

/// Serves one connection until the peer closes it, a request is malformed, or shutdown.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: String,
    dispatcher: Dispatcher,
    max_request_bytes: u32,
    metrics: Metrics,
    mut shutdown: ShutdownSignal,
) {
    let gauge = metrics.network_connections.with_label_values(&[&listener]);
    gauge.inc();
    let result = async {
        loop {
            let frame = tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                frame = read_frame(&mut stream, max_request_bytes) => match frame? {
                    Some(f) => f,
                    None => return Ok(()),
                },
            };
            let started = Instant::now();
            let response = match request::parse(frame, dispatcher.apis())? {
                Parsed::ApiVersionsTooNew { correlation_id } => {
                    record(
                        &metrics,
                        "ApiVersions",
                        started,
                        error_code::UNSUPPORTED_VERSION,
                    );
                    dispatcher.api_versions_too_new(correlation_id)?
                }
                Parsed::Request(head) => {
                    let name = api_name(head.api_key);
                    let span = tracing::info_span!(
                        "request",
                        api = name,
                        version = head.api_version,
                        correlation_id = head.header.correlation_id,
                        client_id = head.header.client_id.as_deref().unwrap_or(""),
                        listener = %listener,
                    );
                    let response = dispatcher.handle(&head).instrument(span).await?;
                    record(&metrics, &name, started, response.error_code);
                    response
                }
            };
            // An empty frame means no response (Produce with acks=0).
            if !response.frame.is_empty() {
                stream
                    .write_all(&response.frame)
                    .await
                    .map_err(ConnectionError::Write)?;
            }
        }
    }
    .await;
    gauge.dec();
    match result {
        Ok(()) => {}
        Err(ConnectionError::Frame(FrameError::Io(e))) => {
            tracing::debug!(%peer, %listener, error = %e, "connection reset");
        }
        Err(ConnectionError::Write(e)) => {
            tracing::debug!(%peer, %listener, error = %e, "connection closed while writing");
        }
        Err(e) => {
            let reason = match &e {
                ConnectionError::Frame(f) => f.reason(),
                ConnectionError::Request(r) => r.reason(),
                ConnectionError::Write(_) => "write",
            };
            metrics
                .network_malformed_requests
                .with_label_values(&[&listener, reason])
                .inc();
            tracing::warn!(%peer, %listener, error = %e, "closing connection after a bad request");
        }
    }
}

fn record(metrics: &Metrics, api: &str, started: Instant, error: i16) {
    metrics.network_requests.with_label_values(&[api]).inc();
    metrics
        .network_request_duration
        .with_label_values(&[api])
        .observe(started.elapsed().as_secs_f64());
    if error != error_code::NONE {
        metrics
            .network_request_errors
            .with_label_values(&[api, &error_code::name(error)])
            .inc();
    }
}

/// Kafka's name of an API, as used in the `request` label (e.g. `ApiVersions`,
/// `DescribeQuorum`): the codec's API key names are Kafka's.
pub fn api_name(key: kafka_protocol::messages::ApiKey) -> String {
    format!("{key:?}")
}
