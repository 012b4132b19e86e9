//! A periodic task of the active controller on its millisecond clock: time is an input, so
//! the schedule is testable without waiting.

use std::time::Duration;

/// Due every `interval`, the first time one interval after it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periodic {
    interval_ms: u64,
    next_ms: u64,
}

impl Periodic {
    pub fn new(interval: Duration, now_ms: u64) -> Periodic {
        let interval_ms = (interval.as_millis() as u64).max(1);
        Periodic {
            interval_ms,
            next_ms: now_ms.saturating_add(interval_ms),
        }
    }

    /// Whether the task is due at `now_ms`; if so the next run is one interval from now (runs
    /// missed while the controller was busy are not made up).
    pub fn due(&mut self, now_ms: u64) -> bool {
        if now_ms < self.next_ms {
            return false;
        }
        self.next_ms = now_ms.saturating_add(self.interval_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_per_interval_from_creation_without_catching_up() {
        let mut p = Periodic::new(Duration::from_secs(1), 500);
        let runs: Vec<u64> = [0, 1499, 1500, 1501, 2499, 2500, 9000, 9999, 10_000]
            .into_iter()
            .filter(|&t| p.due(t))
            .collect();
        assert_eq!(runs, vec![1500, 2500, 9000, 10_000]);
    }
}
