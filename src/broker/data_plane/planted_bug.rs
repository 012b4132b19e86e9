//! Bugs planted on purpose, so that the fault scenarios can prove their history checker finds
//! what such bugs do (`scripts/faults --planted-bug NAME`). A bug is active only in a process
//! started with `KRAFTD_TEST_PLANTED_BUG=<name>` (a test hook like the other `KRAFTD_TEST_*`
//! variables, never a configuration key); the server logs an error at start when one is.
//! Nothing else reads the variable, so a normal start has every check in place.

use std::sync::OnceLock;

/// The environment variable that names the planted bug of this process.
pub const PLANTED_BUG_ENV: &str = "KRAFTD_TEST_PLANTED_BUG";

/// A wrong behaviour the fault scenarios must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedBug {
    /// The leader answers an acks=all produce as soon as its own log holds the batch,
    /// without waiting for the high watermark to pass it: a leader cut off from its
    /// followers acknowledges writes that a new leader never had.
    AcksBeforeReplication,
    /// The leader's high watermark follows its own log end instead of the ISR's: consumers
    /// read records no follower holds, and acks=all is answered at once.
    HighWatermarkIgnoresFollowers,
    /// The group coordinator answers an offset commit as soon as its own log holds it,
    /// without waiting for the offsets partition's in-sync replicas: a coordinator cut off
    /// from its followers acknowledges commits that the next coordinator never had.
    CommitsBeforeReplication,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 3] = [
        PlantedBug::AcksBeforeReplication,
        PlantedBug::HighWatermarkIgnoresFollowers,
        PlantedBug::CommitsBeforeReplication,
    ];

    /// The name `KRAFTD_TEST_PLANTED_BUG` and `scripts/faults --planted-bug` take.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::AcksBeforeReplication => "acks-before-replication",
            PlantedBug::HighWatermarkIgnoresFollowers => "hwm-ignores-followers",
            PlantedBug::CommitsBeforeReplication => "commits-before-replication",
        }
    }

    /// What the bug does, in one line.
    pub fn description(self) -> &'static str {
        match self {
            PlantedBug::AcksBeforeReplication => {
                "the leader acknowledges acks=all writes before the high watermark passes them"
            }
            PlantedBug::HighWatermarkIgnoresFollowers => {
                "the leader's high watermark follows its own log end, not the ISR's"
            }
            PlantedBug::CommitsBeforeReplication => {
                "the group coordinator acknowledges offset commits before they are replicated"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this process was started with this bug planted.
    pub fn is_active(self) -> bool {
        planted() == Some(self)
    }
}

/// The bug named by the environment of this process, read once.
pub fn planted() -> Option<PlantedBug> {
    static PLANTED: OnceLock<Option<PlantedBug>> = OnceLock::new();
    *PLANTED.get_or_init(|| {
        let name = std::env::var(PLANTED_BUG_ENV).ok()?;
        let bug = PlantedBug::from_name(&name);
        match bug {
            Some(b) => tracing::error!(
                bug = b.name(),
                "a bug is planted in this process on purpose ({PLANTED_BUG_ENV}): {}; never run it with data that matters",
                b.description()
            ),
            None => tracing::error!(
                name,
                "{PLANTED_BUG_ENV} names no planted bug; running without one"
            ),
        }
        bug
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for b in PlantedBug::ALL {
            assert_eq!(PlantedBug::from_name(b.name()), Some(b));
        }
        assert_eq!(PlantedBug::from_name("no-such-bug"), None);
        assert_ne!(
            PlantedBug::ALL[0].name(),
            PlantedBug::ALL[1].name(),
            "names must differ"
        );
    }
}
