//! How many connections the listeners accept and how long an idle one may stay open.

use std::time::Duration;

/// `max.connections`, `max.connections.per.ip` and `connections.max.idle.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once across the broker's listeners; at the limit, accepting waits
    /// until one closes (as Kafka's acceptor does). Controller listeners are not counted.
    pub max_total: u32,
    /// Connections open at once from one IP address; one more is closed at once.
    pub max_per_ip: u32,
    /// A connection with no request for this long is closed.
    pub max_idle: Duration,
}

impl Default for ConnectionLimits {
    /// Kafka's defaults: no count limit, ten idle minutes.
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_total: i32::MAX as u32,
            max_per_ip: i32::MAX as u32,
            max_idle: Duration::from_secs(600),
        }
    }
}
