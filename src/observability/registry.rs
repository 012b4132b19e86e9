//! The metric registry: the builder every metric group registers through, the catalogue of
//! definitions it keeps, and the shared histogram buckets. Groups (`metrics.rs`,
//! `metadata_metrics.rs`) depend on this file and never on each other's.

use std::sync::Arc;

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// The kind of a metric as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One entry of the metrics catalogue.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub name: String,
    pub kind: MetricKind,
    pub labels: Vec<String>,
    pub help: String,
}

/// Latency buckets for request handling, in seconds (100 µs … 10 s).
pub(super) const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Registers metrics and records their definitions as it goes.
pub(super) struct Builder {
    pub(super) registry: Registry,
    defs: Vec<MetricDef>,
    /// When set, collectors are kept here instead of being registered: a role's metrics are
    /// exported only once the role runs (see [`MetricGroup`]).
    deferred: Option<Collectors>,
}

type Collectors = Vec<Box<dyn prometheus::core::Collector>>;

/// Metrics of one role, registered when the role starts so that a process never exports
/// gauges of a role it does not run (a stale `kafka_raft_leader_known 0` would page).
#[derive(Clone)]
pub struct MetricGroup {
    registry: Registry,
    collectors: Arc<std::sync::Mutex<Option<Collectors>>>,
}

impl MetricGroup {
    /// Starts exporting the group's metrics (idempotent).
    pub fn enable(&self) {
        let mut guard = self.collectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(collectors) = guard.take() {
            for c in collectors {
                self.registry
                    .register(c)
                    .expect("group metrics are unique and valid");
            }
        }
    }
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            registry: Registry::new(),
            defs: Vec::new(),
            deferred: None,
        }
    }

    /// The definitions recorded so far (the catalogue).
    pub(super) fn into_defs(self) -> Vec<MetricDef> {
        self.defs
    }

    pub(super) fn record(&mut self, name: &str, kind: MetricKind, labels: &[&str], help: &str) {
        self.defs.push(MetricDef {
            name: name.to_string(),
            kind,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            help: help.to_string(),
        });
    }

    pub(super) fn register(&mut self, c: impl prometheus::core::Collector + 'static) {
        match &mut self.deferred {
            Some(pending) => pending.push(Box::new(c)),
            None => self
                .registry
                .register(Box::new(c))
                .expect("metric names are unique and valid"),
        }
    }

    /// Builds a group of metrics that is exported only after [`MetricGroup::enable`].
    pub(super) fn group<T>(&mut self, build: impl FnOnce(&mut Builder) -> T) -> (T, MetricGroup) {
        self.deferred = Some(Vec::new());
        let value = build(self);
        let collectors = self.deferred.take().unwrap_or_default();
        (
            value,
            MetricGroup {
                registry: self.registry.clone(),
                collectors: Arc::new(std::sync::Mutex::new(Some(collectors))),
            },
        )
    }

    pub(super) fn int_gauge(&mut self, name: &str, help: &str) -> IntGauge {
        self.record(name, MetricKind::Gauge, &[], help);
        let g = IntGauge::new(name, help).expect("valid gauge");
        self.register(g.clone());
        g
    }

    pub(super) fn float_gauge(&mut self, name: &str, help: &str) -> Gauge {
        self.record(name, MetricKind::Gauge, &[], help);
        let g = Gauge::new(name, help).expect("valid gauge");
        self.register(g.clone());
        g
    }

    pub(super) fn float_gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        self.record(name, MetricKind::Gauge, labels, help);
        let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
        self.register(g.clone());
        g
    }

    pub(super) fn counter(&mut self, name: &str, help: &str) -> IntCounter {
        self.record(name, MetricKind::Counter, &[], help);
        let c = IntCounter::new(name, help).expect("valid counter");
        self.register(c.clone());
        c
    }

    pub(super) fn histogram(&mut self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.record(name, MetricKind::Histogram, &[], help);
        let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
            .expect("valid histogram");
        self.register(h.clone());
        h
    }

    pub(super) fn gauge_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.record(name, MetricKind::Gauge, labels, help);
        let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
        self.register(g.clone());
        g
    }

    pub(super) fn counter_vec(&mut self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.record(name, MetricKind::Counter, labels, help);
        let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
        self.register(c.clone());
        c
    }

    pub(super) fn histogram_vec(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        self.record(name, MetricKind::Histogram, labels, help);
        let h = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid histogram");
        self.register(h.clone());
        h
    }
}

/// Buckets for quorum commit and election latencies, in seconds (1 ms … 30 s).
pub(super) const QUORUM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
