//! Binding listeners and accepting connections: each connection runs in a task the listener
//! owns, counted against the connection limits and joined at shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::connection::{self, ConnectionSettings};
use super::connection_quotas::ConnectionQuotas;
use super::service::Service;
use super::session::Session;
use crate::config::{Listener, SecurityProtocol};
use crate::observability::Metrics;
use crate::shutdown::ShutdownSignal;

/// Numbers connections across every listener of the process.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// A bound listener, ready to accept.
pub struct BoundListener {
    pub name: String,
    pub security_protocol: SecurityProtocol,
    pub tcp: TcpListener,
    pub service: Arc<dyn Service>,
}

impl std::fmt::Debug for BoundListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundListener")
            .field("name", &self.name)
            .field("tcp", &self.tcp)
            .finish()
    }
}

impl BoundListener {
    /// Binds `listener` (an empty host binds every interface).
    pub async fn bind(
        listener: &Listener,
        security_protocol: SecurityProtocol,
        service: Arc<dyn Service>,
    ) -> std::io::Result<BoundListener> {
        let host = if listener.address.host.is_empty() {
            "0.0.0.0"
        } else {
            listener.address.host.as_str()
        };
        let tcp = TcpListener::bind((host, listener.address.port))
            .await
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind listener {listener}: {e}"))
            })?;
        Ok(BoundListener {
            name: listener.name.clone(),
            security_protocol,
            tcp,
            service,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts connections until shutdown, then waits for the open ones to finish the
    /// request they are serving and close.
    pub async fn serve(
        self,
        quotas: Arc<ConnectionQuotas>,
        settings: ConnectionSettings,
        metrics: Metrics,
        mut shutdown: ShutdownSignal,
    ) {
        let name: Arc<str> = Arc::from(self.name.as_str());
        metrics
            .network_connections
            .with_label_values(&[&name])
            .set(0);
        for api in self.service.apis().apis() {
            metrics
                .network_requests
                .with_label_values(&[connection::api_name(api.key).as_str()])
                .inc_by(0);
        }
        let mut connections = JoinSet::new();
        loop {
            let reserved = tokio::select! {
                _ = shutdown.wait() => break,
                Some(_) = connections.join_next() => continue,
                reserved = quotas.reserve() => reserved,
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.wait() => break,
                Some(_) = connections.join_next() => continue,
                accepted = self.tcp.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(listener = %name, error = %e, "accept failed");
                        // Out of descriptors or memory: give closing connections a moment.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = quotas.admit(peer.ip(), reserved) else {
                metrics
                    .network_connections_rejected
                    .with_label_values(&[&name, "per_ip_limit"])
                    .inc();
                tracing::debug!(%peer, listener = %name, "max.connections.per.ip reached");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let session = Session::new(
                NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
                peer,
                name.clone(),
                self.security_protocol,
            );
            let service = self.service.clone();
            let (metrics, shutdown) = (metrics.clone(), shutdown.clone());
            connections.spawn(async move {
                connection::serve(stream, session, service, settings, metrics, shutdown).await;
                drop(slot);
            });
        }
        drop(self.tcp);
        while connections.join_next().await.is_some() {}
    }
}
