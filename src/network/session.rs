//! What a connection knows about its peer, kept for as long as the connection lives.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::SecurityProtocol;

pub use crate::protocol::envelope::ANONYMOUS;

/// One connection's context, handed to every request it carries.
#[derive(Debug, Clone)]
pub struct Session {
    /// A number unique among this process's connections (for logs).
    pub id: u64,
    pub peer: SocketAddr,
    /// The listener the connection arrived on (`PLAINTEXT`, `CONTROLLER`, ...).
    pub listener: Arc<str>,
    pub security_protocol: SecurityProtocol,
    /// Who the peer is: `User:ANONYMOUS` on PLAINTEXT listeners.
    pub principal: String,
    /// The client id of the latest request.
    pub client_id: Option<String>,
    /// `client.software.name` / `client.software.version` from ApiVersions v3+ (KIP-511).
    pub client_software: Option<(String, String)>,
}

impl Session {
    pub fn new(
        id: u64,
        peer: SocketAddr,
        listener: Arc<str>,
        security_protocol: SecurityProtocol,
    ) -> Session {
        Session {
            id,
            peer,
            listener,
            security_protocol,
            principal: ANONYMOUS.to_string(),
            client_id: None,
            client_software: None,
        }
    }
}
