//! Turns the raft core's status into the `kafka_raft_*` metrics. Runs as a task that wakes on
//! every status change and once a second (ages grow even when nothing happens).

use std::time::Duration;

use super::driver::{DriverStatus, RaftHandle};
use crate::clock::Clock;
use crate::observability::Metrics;
use crate::observability::metrics::{RAFT_STATES, RaftMetrics};
use crate::raft::{RaftCounters, RaftStatus};
use crate::shutdown::ShutdownSignal;
use crate::types::MonoTime;

/// Keeps the previous counters so cumulative core counters become Prometheus counters.
pub struct RaftMetricsUpdater {
    m: RaftMetrics,
    last: RaftCounters,
    last_election: Option<Duration>,
    last_dropped: u64,
    /// Label sets of the per-replica gauges currently exported.
    replicas: Vec<(String, &'static str)>,
}

impl RaftMetricsUpdater {
    pub fn new(m: RaftMetrics) -> Self {
        RaftMetricsUpdater {
            m,
            last: RaftCounters::default(),
            last_election: None,
            last_dropped: 0,
            replicas: Vec::new(),
        }
    }

    pub fn update(&mut self, status: &DriverStatus, now: MonoTime) {
        let s = &status.raft;
        let m = &self.m;
        let current = s.metric_state();
        for state in RAFT_STATES {
            m.state
                .with_label_values(&[state])
                .set(i64::from(*state == current));
        }
        m.leader_id.set(s.leader_id.map_or(-1, |l| i64::from(l.0)));
        m.leader_known.set(i64::from(s.leader_id.is_some()));
        m.epoch.set(i64::from(s.epoch.0));
        m.high_watermark.set(s.high_watermark.map_or(-1, |o| o.0));
        m.log_start_offset.set(s.log_start_offset.0);
        m.log_end_offset.set(s.log_end_offset.0);
        m.voters.set(s.voters.len() as i64);
        m.is_voter.set(i64::from(s.is_voter));
        for l in &status.commit_latencies {
            m.commit_latency.observe(l.as_secs_f64());
        }
        if s.last_election_duration != self.last_election {
            if let Some(d) = s.last_election_duration {
                m.election_duration.observe(d.as_secs_f64());
            }
            self.last_election = s.last_election_duration;
        }
        self.update_counters(status);
        self.update_followers(s, current, now);
    }

    /// Cumulative core counters become increments of the Prometheus counters.
    fn update_counters(&mut self, status: &DriverStatus) {
        let m = &self.m;
        let c = status.raft.counters;
        let delta = |new: u64, old: u64| new.saturating_sub(old);
        m.elections.inc_by(delta(c.elections, self.last.elections));
        m.fetch_timeouts
            .inc_by(delta(c.fetch_timeouts, self.last.fetch_timeouts));
        m.election_timeouts
            .inc_by(delta(c.election_timeouts, self.last.election_timeouts));
        m.check_quorum_resignations.inc_by(delta(
            c.check_quorum_resignations,
            self.last.check_quorum_resignations,
        ));
        m.append_records
            .inc_by(delta(c.appended_records, self.last.appended_records));
        m.fetch_records
            .inc_by(delta(c.fetched_records, self.last.fetched_records));
        m.snapshots_installed
            .inc_by(delta(c.snapshots_installed, self.last.snapshots_installed));
        self.last = c;
        m.peer_queue_depth.set(status.peer_queue_depth as i64);
        m.peer_requests_dropped.inc_by(
            status
                .peer_requests_dropped
                .saturating_sub(self.last_dropped),
        );
        self.last_dropped = status.peer_requests_dropped;
    }

    /// Follower lag and catch-up age, exported by the leader only.
    fn update_followers(&mut self, s: &RaftStatus, current: &str, now: MonoTime) {
        let m = &self.m;
        // Follower lag exists only on the leader; elsewhere the series disappear. Stale label
        // sets are removed individually so a scrape never sees a half-updated set.
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        let mut max_lag = 0i64;
        let mut max_age = 0f64;
        if current == "leader" {
            for r in s.replicas.iter().filter(|r| r.replica_id != s.node_id) {
                let kind = if r.is_voter { "voter" } else { "observer" };
                let id = r.replica_id.0.to_string();
                seen.push((id.clone(), kind));
                let lag = r.lag.unwrap_or(s.log_end_offset.0);
                m.follower_lag.with_label_values(&[&id, kind]).set(lag);
                let age = r
                    .last_caught_up_time
                    .map(|t| now.since(t).as_secs_f64())
                    .unwrap_or(f64::INFINITY);
                if age.is_finite() {
                    m.follower_last_caught_up_age
                        .with_label_values(&[&id, kind])
                        .set(age);
                }
                if r.is_voter {
                    max_lag = max_lag.max(lag);
                    max_age = max_age.max(if age.is_finite() { age } else { 0.0 });
                }
            }
        }
        for (id, kind) in &self.replicas {
            if !seen.contains(&(id.clone(), kind)) {
                let _ = m.follower_lag.remove_label_values(&[id.as_str(), *kind]);
                let _ = m
                    .follower_last_caught_up_age
                    .remove_label_values(&[id.as_str(), *kind]);
            }
        }
        self.replicas = seen;
        m.max_follower_lag.set(max_lag);
        m.max_follower_lag_seconds.set(max_age);
    }
}

/// Exports the raft metrics and updates them from `handle` until shutdown.
pub async fn run(handle: RaftHandle, metrics: Metrics, clock: Clock, mut shutdown: ShutdownSignal) {
    let mut updater = RaftMetricsUpdater::new(metrics.raft.clone());
    updater.update(&handle.status().borrow().clone(), clock.now());
    metrics.raft_group.enable();
    let mut status = handle.status();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            changed = status.changed() => if changed.is_err() { return },
            _ = tick.tick() => {}
        }
        let s = status.borrow_and_update().clone();
        updater.update(&s, clock.now());
    }
}
