//! Binding listeners and accepting connections.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::connection;
use super::dispatch::Dispatcher;
use crate::config::Listener;
use crate::observability::Metrics;
use crate::shutdown::ShutdownSignal;

/// A bound listener, ready to accept.
#[derive(Debug)]
pub struct BoundListener {
    pub name: String,
    pub tcp: TcpListener,
    pub dispatcher: Dispatcher,
}

impl BoundListener {
    /// Binds `listener` (an empty host binds every interface).
    pub async fn bind(
        listener: &Listener,
        dispatcher: Dispatcher,
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
            tcp,
            dispatcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts connections until shutdown; each connection runs in its own task.
    pub async fn serve(
        self,
        max_request_bytes: u32,
        metrics: Metrics,
        mut shutdown: ShutdownSignal,
    ) {
        metrics
            .network_connections
            .with_label_values(&[&self.name])
            .set(0);
        for api in self.dispatcher.apis().apis() {
            metrics
                .network_requests
                .with_label_values(&[connection::api_name(api.key).as_str()])
                .inc_by(0);
        }
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.wait() => return,
                accepted = self.tcp.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(listener = %self.name, error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(connection::serve(
                stream,
                peer,
                self.name.clone(),
                self.dispatcher.clone(),
                max_request_bytes,
                metrics.clone(),
                shutdown.clone(),
            ));
        }
    }
}
