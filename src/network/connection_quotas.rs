//! `max.connections` and `max.connections.per.ip`: how many connections the broker listeners
//! hold at once, in all and from one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ConnectionLimits;

/// Open connections per address.
type PerIp = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The connection counts shared by the listeners that enforce the limits.
#[derive(Debug)]
pub struct ConnectionQuotas {
    limits: ConnectionLimits,
    total: Arc<Semaphore>,
    per_ip: PerIp,
}

/// A connection's place in the counts, given back when it is dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    _total: Option<OwnedSemaphorePermit>,
    ip: Option<(IpAddr, PerIp)>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some((ip, counts)) = self.ip.take() {
            let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = counts.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&ip);
                }
            }
        }
    }
}

impl ConnectionQuotas {
    pub fn new(limits: ConnectionLimits) -> ConnectionQuotas {
        ConnectionQuotas {
            limits,
            total: Arc::new(Semaphore::new(
                (limits.max_total as usize).min(Semaphore::MAX_PERMITS),
            )),
            per_ip: Arc::default(),
        }
    }

    /// No limit at all (controller listeners: the quorum must always reach its voters).
    pub fn unlimited() -> ConnectionQuotas {
        ConnectionQuotas::new(ConnectionLimits {
            max_total: u32::MAX,
            max_per_ip: u32::MAX,
            ..ConnectionLimits::default()
        })
    }

    /// Waits for room under `max.connections` (the caller stops accepting meanwhile).
    pub async fn reserve(&self) -> OwnedSemaphorePermit {
        self.total
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Counts a new connection from `ip` under a reserved place; `None` when `ip` already
    /// holds `max.connections.per.ip` connections.
    pub fn admit(&self, ip: IpAddr, reserved: OwnedSemaphorePermit) -> Option<ConnectionSlot> {
        if self.limits.max_per_ip == u32::MAX {
            return Some(ConnectionSlot {
                _total: Some(reserved),
                ip: None,
            });
        }
        let mut counts = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.limits.max_per_ip {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            _total: Some(reserved),
            ip: Some((ip, self.per_ip.clone())),
        })
    }

    /// Connections open from `ip` (for tests and logs).
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let counts = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(total: u32, per_ip: u32) -> ConnectionLimits {
        ConnectionLimits {
            max_total: total,
            max_per_ip: per_ip,
            max_idle: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn per_ip_limit_refuses_and_a_closed_connection_frees_its_place() {
        let q = ConnectionQuotas::new(limits(100, 2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = q.admit(a, q.reserve().await).unwrap();
        let _second = q.admit(a, q.reserve().await).unwrap();
        assert!(q.admit(a, q.reserve().await).is_none());
        assert!(q.admit(b, q.reserve().await).is_some());
        drop(first);
        assert_eq!(q.open_from(a), 1);
        assert!(q.admit(a, q.reserve().await).is_some());
    }

    #[tokio::test]
    async fn the_total_limit_waits_for_a_free_place() {
        let q = ConnectionQuotas::new(limits(1, 10));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let held = q.admit(ip, q.reserve().await).unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), q.reserve()).await;
        assert!(waiting.is_err(), "a second place while the first is held");
        drop(held);
        let got = tokio::time::timeout(Duration::from_secs(5), q.reserve()).await;
        assert!(got.is_ok());
    }
}
