//! The KRaft quorum keys: the voters and bootstrap servers (`controller.quorum.voters`,
//! `controller.quorum.bootstrap.servers`) and the quorum's timing (`controller.quorum.*.ms`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::endpoint::{HostPort, Voter, parse_host_port, parse_voter};
use super::reader::Reader;

/// KRaft quorum timing (`controller.quorum.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSettings {
    pub election_timeout: Duration,
    pub fetch_timeout: Duration,
    pub election_backoff_max: Duration,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub append_linger: Duration,
}

impl Reader<'_> {
    pub(super) fn voters(&mut self) -> Vec<Voter> {
        let Some((value, origin)) = self.explicit("controller.quorum.voters") else {
            self.missing(
                "controller.quorum.voters",
                "add `controller.quorum.voters=<id>@<host>:<port>,...` listing every controller, identical on every node (e.g. `controller.quorum.voters=1@localhost:9093`)".into(),
            );
            return Vec::new();
        };
        let voters = self.list_of("controller.quorum.voters", |s| {
            parse_voter(s).map_err(|e| (e, "id@host:port entries".to_string()))
        });
        let mut seen = BTreeMap::new();
        for v in &voters {
            if let Some(prev) = seen.insert(v.id, v) {
                self.invalid(
                    "controller.quorum.voters",
                    &value,
                    &origin,
                    &format!("voter id {} appears twice ({prev} and {v})", v.id),
                    "allowed: each voter id once",
                );
            }
        }
        voters
    }

    pub(super) fn bootstrap_servers(&mut self) -> Vec<HostPort> {
        self.list_of("controller.quorum.bootstrap.servers", |s| {
            parse_host_port(s).map_err(|e| (e, "host:port entries".to_string()))
        })
    }

    pub(super) fn quorum_settings(&mut self) -> QuorumSettings {
        QuorumSettings {
            election_timeout: self.ms_in("controller.quorum.election.timeout.ms", 1),
            fetch_timeout: self.ms_in("controller.quorum.fetch.timeout.ms", 1),
            election_backoff_max: self.ms_in("controller.quorum.election.backoff.max.ms", 0),
            request_timeout: self.ms_in("controller.quorum.request.timeout.ms", 1),
            retry_backoff: self.ms_in("controller.quorum.retry.backoff.ms", 0),
            append_linger: self.ms_in("controller.quorum.append.linger.ms", 0),
        }
    }
}
