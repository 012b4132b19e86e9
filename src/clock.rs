//! The only place kraftd reads the clocks (enforced by clippy's `disallowed-methods`, see
//! `clippy.toml` and ADR 0011). Decisions are handed `now`; elapsed times for metrics and logs
//! start from [`instant_now`].
#![allow(clippy::disallowed_methods)]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::types::MonoTime;

/// The current instant, to measure how long something took (request durations, waits in
/// queues, log messages). Decisions that must replay in the simulator take [`MonoTime`].
pub fn instant_now() -> Instant {
    Instant::now()
}

/// Converts `Instant`s to [`MonoTime`] relative to the process start, and reads wall time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Monotonic time since this clock was created.
    pub fn now(&self) -> MonoTime {
        self.mono(Instant::now())
    }

    /// Converts an `Instant` (e.g. a tokio timer deadline) to [`MonoTime`].
    pub fn mono(&self, at: Instant) -> MonoTime {
        MonoTime(at.saturating_duration_since(self.origin).as_millis() as u64)
    }

    /// The `Instant` of a [`MonoTime`].
    pub fn instant(&self, at: MonoTime) -> Instant {
        self.origin + std::time::Duration::from_millis(at.0)
    }

    /// Milliseconds since the Unix epoch (record timestamps, file times).
    pub fn wall_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_and_instant_convert_both_ways() {
        let c = Clock::new();
        let t = MonoTime(1500);
        assert_eq!(c.mono(c.instant(t)), t);
        assert!(c.wall_ms() > 1_600_000_000_000);
    }
}
