//! Which connection carries which broker's heartbeats, so that the controller hears when a
//! broker's heartbeat connection closes (ADR 0012): the controller service records each
//! BrokerHeartbeat's session and looks up the broker when a session closes.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Which connection (session id) carried each broker's latest BrokerHeartbeat, and with
/// which broker epoch.
#[derive(Debug, Default)]
pub struct HeartbeatSessions {
    by_broker: Mutex<BTreeMap<i32, (u64, i64)>>,
}

impl HeartbeatSessions {
    /// A BrokerHeartbeat of `broker` at `epoch` arrived on `session`, before the controller
    /// sees it: a close of the broker's previous connection noticed from now on is not its
    /// heartbeat connection's any more.
    pub fn heartbeat(&self, session: u64, broker: i32, epoch: i64) {
        self.lock().insert(broker, (session, epoch));
    }

    /// `session` closed: the broker (and epoch) whose latest heartbeat it carried, if any.
    pub fn closed(&self, session: u64) -> Option<(i32, i64)> {
        let mut map = self.lock();
        let (&broker, &(_, epoch)) = map.iter().find(|(_, (s, _))| *s == session)?;
        map.remove(&broker);
        Some((broker, epoch))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, (u64, i64)>> {
        // The map stays consistent whatever a panicking holder did: each update is one insert
        // or remove.
        self.by_broker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::HeartbeatSessions;

    #[test]
    fn only_the_connection_of_the_latest_heartbeat_reports_its_broker() {
        let s = HeartbeatSessions::default();
        s.heartbeat(1, 4, 100);
        s.heartbeat(2, 5, 200);
        assert_eq!(s.closed(3), None, "a connection that carried no heartbeat");
        // Broker 4 reconnected: its new connection carried a heartbeat before the old one's
        // close was noticed.
        s.heartbeat(7, 4, 100);
        assert_eq!(s.closed(1), None);
        assert_eq!(s.closed(7), Some((4, 100)));
        assert_eq!(s.closed(7), None, "reported once");
        assert_eq!(s.closed(2), Some((5, 200)));
    }
}
