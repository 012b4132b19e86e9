//! Broker liveness as the active controller sees it, and the broker lifecycle state machine
//! driven by heartbeats (fenced → unfenced → controlled shutdown → shutdown now). Time is an
//! input (milliseconds on the controller's monotonic clock), so every decision is replayable.
//! This state is not in the metadata log: a new active controller starts every session afresh.

use std::collections::BTreeMap;

use crate::metadata::image::MetadataImage;

/// Where a broker is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerLifecycleState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutdownNow,
}

/// The heartbeat fields the state machine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub want_fence: bool,
    pub want_shut_down: bool,
    pub current_metadata_offset: i64,
}

/// The heartbeat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    last_contact_ms: u64,
    /// The metadata offset the broker last reported.
    metadata_offset: i64,
    /// Fenced in this controller's view (sessions of fenced brokers do not expire).
    fenced: bool,
    /// Offset of the last record written when it entered controlled shutdown.
    controlled_shutdown_offset: Option<i64>,
    /// The broker shut down, or was fenced before this controller saw it heartbeat.
    ended: bool,
    /// When the connection that carried its heartbeats closed: fence it at this time unless
    /// it heartbeats again first.
    disconnect_fence_at_ms: Option<u64>,
}

impl Session {
    fn new(last_contact_ms: u64, metadata_offset: i64, fenced: bool, ended: bool) -> Session {
        Session {
            last_contact_ms,
            metadata_offset,
            fenced,
            controlled_shutdown_offset: None,
            ended,
            disconnect_fence_at_ms: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BrokerHeartbeatManager {
    sessions: BTreeMap<i32, Session>,
}

impl BrokerHeartbeatManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new active controller gives every registered broker a fresh session.
    pub fn reset(&mut self, image: &MetadataImage, now_ms: u64) {
        self.sessions = image
            .cluster
            .brokers
            .values()
            .map(|b| (b.id, Session::new(now_ms, -1, b.fenced, b.fenced)))
            .collect();
    }

    /// Every session that has not ended counts as heard from at `now_ms` (after this
    /// controller itself stalled); scheduled disconnect fences stay.
    pub fn refresh(&mut self, now_ms: u64) {
        for s in self.sessions.values_mut().filter(|s| !s.ended) {
            s.last_contact_ms = s.last_contact_ms.max(now_ms);
        }
    }

    /// Whether `broker` holds a live session: heartbeated within `timeout_ms` and not shut
    /// down. A registration that was already fenced when this controller became active has
    /// no session until it heartbeats again.
    pub fn is_session_alive(&self, broker: i32, now_ms: u64, timeout_ms: u64) -> bool {
        self.sessions
            .get(&broker)
            .is_some_and(|s| !s.ended && now_ms.saturating_sub(s.last_contact_ms) < timeout_ms)
    }

    /// A (new incarnation of a) broker registered; it starts fenced.
    pub fn register(&mut self, broker: i32, _registration_offset: i64, now_ms: u64) {
        self.sessions
            .insert(broker, Session::new(now_ms, -1, true, false));
    }

    pub fn remove(&mut self, broker: i32) {
        self.sessions.remove(&broker);
    }

    /// A heartbeat arrived (on any connection): a fence scheduled by a closed connection is
    /// called off.
    pub fn touch(&mut self, broker: i32, now_ms: u64, metadata_offset: i64) {
        let s = self.sessions.entry(broker).or_insert(Session::new(
            now_ms,
            metadata_offset,
            true,
            false,
        ));
        s.last_contact_ms = now_ms;
        s.ended = false;
        s.metadata_offset = s.metadata_offset.max(metadata_offset);
        s.disconnect_fence_at_ms = None;
    }

    /// The connection that carried `broker`'s latest heartbeat closed at `now_ms`: unless it
    /// heartbeats again, it is fenced `grace_ms` later. Returns whether a fence was scheduled
    /// (not for a broker that is fenced, shut down or unknown to this controller). A fence
    /// already scheduled keeps its earlier time.
    pub fn connection_closed(&mut self, broker: i32, now_ms: u64, grace_ms: u64) -> bool {
        match self.sessions.get_mut(&broker) {
            Some(s) if !s.fenced && !s.ended => {
                let at = now_ms.saturating_add(grace_ms);
                s.disconnect_fence_at_ms = Some(s.disconnect_fence_at_ms.map_or(at, |t| t.min(at)));
                true
            }
            _ => false,
        }
    }

    /// One broker of `unfenced` whose connection closed at least the grace ago without a
    /// heartbeat since, the earliest due first.
    pub fn next_disconnected_broker(&self, now_ms: u64, unfenced: &[i32]) -> Option<i32> {
        unfenced
            .iter()
            .filter_map(|b| self.sessions.get(b).map(|s| (s, *b)))
            .filter(|(s, _)| !s.fenced)
            .filter_map(|(s, b)| s.disconnect_fence_at_ms.map(|at| (at, b)))
            .filter(|(at, _)| *at <= now_ms)
            .min()
            .map(|(_, b)| b)
    }

    /// The lowest metadata offset reported by `brokers` (i64::MAX when none): every one of
    /// them has seen the log up to it.
    pub fn lowest_active_offset(&self, brokers: impl Iterator<Item = i32>) -> i64 {
        brokers
            .map(|b| self.sessions.get(&b).map_or(-1, |s| s.metadata_offset))
            .min()
            .unwrap_or(i64::MAX)
    }

    pub fn set_controlled_shutdown_offset(&mut self, broker: i32, offset: i64) {
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.controlled_shutdown_offset = Some(offset);
        }
    }

    /// The broker's process is gone (its heartbeat connection closed and it did not come
    /// back): fenced, and its session no longer stops a new incarnation from registering.
    pub fn mark_gone(&mut self, broker: i32) {
        self.mark_fenced(broker);
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.ended = true;
        }
    }

    /// The broker was fenced (its session expired, its connection closed or it asked to be).
    pub fn mark_fenced(&mut self, broker: i32) {
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.fenced = true;
            s.disconnect_fence_at_ms = None;
        }
    }

    /// Decides the next state from a heartbeat:
    /// - fenced: shut down now if it wants to; unfenced once it stops asking to be fenced and
    ///   has caught up to its registration record;
    /// - unfenced: fenced if it asks; on a shutdown request, controlled shutdown while it
    ///   still leads partitions, else shut down now;
    /// - controlled shutdown: shut down now once it leads nothing and every active broker has
    ///   seen the records that moved its leaderships.
    pub fn next_state(
        &mut self,
        broker: i32,
        current: BrokerLifecycleState,
        req: &HeartbeatRequest,
        registration_offset: i64,
        leads_partitions: bool,
        lowest_active_offset: i64,
    ) -> (BrokerLifecycleState, HeartbeatReply) {
        use BrokerLifecycleState as S;
        let caught_up = req.current_metadata_offset >= registration_offset;
        let next = match current {
            S::Fenced => {
                if req.want_shut_down {
                    S::ShutdownNow
                } else if !req.want_fence && caught_up {
                    S::Unfenced
                } else {
                    S::Fenced
                }
            }
            S::Unfenced => {
                if req.want_fence {
                    if req.want_shut_down {
                        S::ShutdownNow
                    } else {
                        S::Fenced
                    }
                } else if req.want_shut_down {
                    if leads_partitions {
                        S::ControlledShutdown
                    } else {
                        S::ShutdownNow
                    }
                } else {
                    S::Unfenced
                }
            }
            S::ControlledShutdown => {
                let moved_offset = self
                    .sessions
                    .get(&broker)
                    .and_then(|s| s.controlled_shutdown_offset)
                    .unwrap_or(-1);
                if leads_partitions || moved_offset > lowest_active_offset {
                    S::ControlledShutdown
                } else {
                    S::ShutdownNow
                }
            }
            S::ShutdownNow => S::ShutdownNow,
        };
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.fenced = matches!(next, S::Fenced | S::ShutdownNow);
            s.ended = next == S::ShutdownNow;
        }
        (
            next,
            HeartbeatReply {
                is_caught_up: caught_up,
                is_fenced: matches!(next, S::Fenced | S::ShutdownNow),
                should_shut_down: next == S::ShutdownNow,
            },
        )
    }

    /// One unfenced broker (of `unfenced`) whose session expired, least recently seen first.
    pub fn next_stale_broker(&self, now_ms: u64, timeout_ms: u64, unfenced: &[i32]) -> Option<i32> {
        unfenced
            .iter()
            .filter_map(|b| {
                self.sessions
                    .get(b)
                    .map(|s| (s.last_contact_ms, *b, s.fenced))
            })
            .filter(|(last, _, fenced)| !fenced && now_ms.saturating_sub(*last) >= timeout_ms)
            .min()
            .map(|(_, b, _)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::BrokerLifecycleState as S;
    use super::*;

    fn hb(want_fence: bool, want_shut_down: bool, offset: i64) -> HeartbeatRequest {
        HeartbeatRequest {
            want_fence,
            want_shut_down,
            current_metadata_offset: offset,
        }
    }

    fn manager_with(broker: i32) -> BrokerHeartbeatManager {
        let mut m = BrokerHeartbeatManager::new();
        m.register(broker, 10, 0);
        m
    }

    #[test]
    fn fenced_transitions() {
        let mut m = manager_with(1);
        let cases = [
            (hb(false, false, 9), S::Fenced, false),
            (hb(true, false, 50), S::Fenced, true),
            (hb(false, false, 10), S::Unfenced, true),
            (hb(false, true, 0), S::ShutdownNow, false),
        ];
        for (req, want, caught_up) in cases {
            let (next, reply) = m.next_state(1, S::Fenced, &req, 10, false, i64::MAX);
            assert_eq!(next, want, "{req:?}");
            assert_eq!(reply.is_caught_up, caught_up, "{req:?}");
            assert_eq!(reply.is_fenced, want != S::Unfenced);
            assert_eq!(reply.should_shut_down, want == S::ShutdownNow);
        }
    }

    #[test]
    fn unfenced_transitions() {
        let mut m = manager_with(1);
        let cases = [
            (hb(false, false, 20), false, S::Unfenced),
            (hb(true, false, 20), true, S::Fenced),
            (hb(true, true, 20), true, S::ShutdownNow),
            (hb(false, true, 20), true, S::ControlledShutdown),
            (hb(false, true, 20), false, S::ShutdownNow),
        ];
        for (req, leads, want) in cases {
            let (next, _) = m.next_state(1, S::Unfenced, &req, 10, leads, i64::MAX);
            assert_eq!(next, want, "{req:?} leads={leads}");
        }
    }

    #[test]
    fn controlled_shutdown_waits_for_leaderships_and_for_active_brokers_to_catch_up() {
        let mut m = manager_with(1);
        m.set_controlled_shutdown_offset(1, 40);
        let req = hb(false, true, 40);
        assert_eq!(
            m.next_state(1, S::ControlledShutdown, &req, 10, true, 100)
                .0,
            S::ControlledShutdown,
            "still leads"
        );
        assert_eq!(
            m.next_state(1, S::ControlledShutdown, &req, 10, false, 39)
                .0,
            S::ControlledShutdown,
            "a broker has not seen the moves"
        );
        let (next, reply) = m.next_state(1, S::ControlledShutdown, &req, 10, false, 40);
        assert_eq!(next, S::ShutdownNow);
        assert!(reply.should_shut_down);
    }

    #[test]
    fn session_expiry_picks_the_least_recently_seen_unfenced_broker() {
        let mut m = BrokerHeartbeatManager::new();
        for b in [1, 2, 3] {
            m.register(b, 0, 0);
        }
        for b in [1, 2, 3] {
            m.next_state(b, S::Fenced, &hb(false, false, 5), 0, false, i64::MAX);
        }
        m.touch(1, 1000, 5);
        m.touch(2, 500, 5);
        m.touch(3, 2000, 5);
        assert_eq!(m.next_stale_broker(9000, 9000, &[1, 2, 3]), None);
        assert_eq!(m.next_stale_broker(9500, 9000, &[1, 2, 3]), Some(2));
        m.mark_fenced(2);
        assert_eq!(m.next_stale_broker(10_500, 9000, &[1, 2, 3]), Some(1));
        assert!(m.is_session_alive(3, 10_500, 9000));
        assert_eq!(m.lowest_active_offset([1, 3].into_iter()), 5);
        assert_eq!(m.lowest_active_offset(std::iter::empty()), i64::MAX);
    }

    #[test]
    fn a_refresh_after_a_controller_stall_gives_every_live_session_a_fresh_start() {
        let mut m = BrokerHeartbeatManager::new();
        for b in [1, 2] {
            m.register(b, 0, 0);
            m.next_state(b, S::Fenced, &hb(false, false, 5), 0, false, i64::MAX);
            m.touch(b, 1000, 5);
        }
        // The controller was stopped from 1 s to 20 s: both sessions look expired.
        assert_eq!(m.next_stale_broker(20_000, 9000, &[1, 2]), Some(1));
        m.refresh(20_000);
        assert_eq!(m.next_stale_broker(20_000, 9000, &[1, 2]), None);
        assert!(m.is_session_alive(2, 28_999, 9000));
        // A broker silent for a session after the refresh is fenced as usual.
        assert_eq!(m.next_stale_broker(29_000, 9000, &[1, 2]), Some(1));
    }
}
