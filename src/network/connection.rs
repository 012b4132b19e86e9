//! One connection: read a frame, hand it to the listener's service, write the response, in
//! order, until the peer closes, a request is malformed, the connection idles out, or shutdown;
//! then the service hears that the session closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::Instrument;

use super::service::Service;
use super::session::Session;
use crate::observability::Metrics;
use crate::protocol::api_versions;
use crate::protocol::error_code;
use crate::protocol::frame::{FrameError, read_frame};
use crate::protocol::request::{self, Parsed, RequestError, RequestHead};
use crate::protocol::response::{EncodedResponse, encode};
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

/// What every connection of a listener shares.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// `socket.request.max.bytes`.
    pub max_request_bytes: u32,
    /// `connections.max.idle.ms`.
    pub max_idle: Duration,
}

/// Serves one connection over any byte stream (TCP today, TLS later).
pub async fn serve<T: AsyncRead + AsyncWrite + Unpin>(
    mut stream: T,
    mut session: Session,
    service: Arc<dyn Service>,
    settings: ConnectionSettings,
    metrics: Metrics,
    mut shutdown: ShutdownSignal,
) {
    let listener = session.listener.clone();
    let gauge = metrics.network_connections.with_label_values(&[&listener]);
    gauge.inc();
    let result = async {
        let idle = tokio::time::sleep(settings.max_idle);
        tokio::pin!(idle);
        loop {
            let frame = tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                _ = &mut idle => {
                    metrics.network_idle_closed.with_label_values(&[&listener]).inc();
                    tracing::debug!(peer = %session.peer, %listener, "closing an idle connection");
                    return Ok(());
                }
                frame = read_frame(&mut stream, settings.max_request_bytes) => match frame? {
                    Some(f) => f,
                    None => return Ok(()),
                },
            };
            let response = serve_frame(frame, &mut session, service.as_ref(), &metrics).await?;
            if !response.frame.is_empty() {
                stream
                    .write_all(&response.frame)
                    .await
                    .map_err(ConnectionError::Write)?;
            }
            idle.as_mut()
                .reset(tokio::time::Instant::now() + settings.max_idle);
        }
    }
    .await;
    gauge.dec();
    service.session_closed(&session);
    report_end(result, &session, &metrics);
}

/// Parses and answers one frame.
async fn serve_frame(
    frame: bytes::Bytes,
    session: &mut Session,
    service: &dyn Service,
    metrics: &Metrics,
) -> Result<EncodedResponse, RequestError> {
    let started = crate::clock::instant_now();
    let head = match request::parse(frame, service.apis())? {
        Parsed::ApiVersionsTooNew { correlation_id } => {
            record(
                metrics,
                "ApiVersions",
                started,
                error_code::UNSUPPORTED_VERSION,
            );
            return api_versions_too_new(service, correlation_id);
        }
        Parsed::Request(head) => head,
    };
    let name = api_name(head.api_key);
    if let Some(id) = &head.header.client_id
        && session.client_id.as_deref() != Some(id.as_str())
    {
        session.client_id = Some(id.to_string());
    }
    let span = tracing::info_span!(
        "request",
        api = name,
        version = head.api_version,
        correlation_id = head.header.correlation_id,
        client_id = session.client_id.as_deref().unwrap_or(""),
        listener = %session.listener,
    );
    let response = if head.api_key == ApiKey::ApiVersions {
        api_versions(service, session, &head)?
    } else {
        service.handle(session, head).instrument(span).await?
    };
    record(metrics, &name, started, response.error_code);
    Ok(response)
}

/// ApiVersions, answered from the service's table; v3+ names the client's software.
fn api_versions(
    service: &dyn Service,
    session: &mut Session,
    head: &RequestHead,
) -> Result<EncodedResponse, RequestError> {
    let request: ApiVersionsRequest = request::decode_body(head)?;
    if head.api_version >= 3 {
        session.client_software = Some((
            request.client_software_name.to_string(),
            request.client_software_version.to_string(),
        ));
    }
    let response = api_versions::response(service.apis());
    encode(
        head.header.correlation_id,
        ApiKey::ApiVersions,
        head.api_version,
        &response,
        0,
    )
}

/// The KIP-511 answer for an ApiVersions request newer than we know.
fn api_versions_too_new(
    service: &dyn Service,
    correlation_id: i32,
) -> Result<EncodedResponse, RequestError> {
    let response = api_versions::unsupported_version_response(service.apis());
    encode(
        correlation_id,
        ApiKey::ApiVersions,
        0,
        &response,
        error_code::UNSUPPORTED_VERSION,
    )
}

fn report_end(result: Result<(), ConnectionError>, session: &Session, metrics: &Metrics) {
    let (peer, listener) = (session.peer, &session.listener);
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
                .with_label_values(&[listener, reason])
                .inc();
            tracing::warn!(
                %peer,
                %listener,
                client_id = session.client_id.as_deref().unwrap_or(""),
                error = %e,
                "closing connection after a bad request"
            );
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
pub fn api_name(key: ApiKey) -> String {
    format!("{key:?}")
}
