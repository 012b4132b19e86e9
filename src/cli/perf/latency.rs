//! Latency percentiles (HdrHistogram, microsecond resolution, three significant digits).

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies from 1 µs to one hour; slower samples are clamped to the highest bucket.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    histogram: Histogram<u64>,
}

impl Default for LatencyReport {
    fn default() -> Self {
        LatencyReport {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

impl LatencyReport {
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, self.histogram.high());
        self.histogram.saturating_record(micros);
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The latency at `quantile` (0–1), in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// One line: `<what> ms: p50 … p99 … p99.9 … max … mean …`.
    pub fn format(&self, what: &str) -> String {
        if self.is_empty() {
            return format!("{what}: no samples\n");
        }
        format!(
            "{what} ms: p50 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3}, mean {:.3} ({} samples)\n",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
            self.histogram.max() as f64 / 1000.0,
            self.histogram.mean() / 1000.0,
            self.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_samples() {
        let mut r = LatencyReport::default();
        for ms in 1..=1000u64 {
            r.record(Duration::from_millis(ms));
        }
        assert_eq!(r.len(), 1000);
        assert!((r.quantile_ms(0.5) - 500.0).abs() < 1.0);
        assert!((r.quantile_ms(0.99) - 990.0).abs() < 1.0);
        let line = r.format("ack latency");
        assert!(line.starts_with("ack latency ms: p50 500"), "{line}");
        r.record(Duration::from_secs(7200));
        assert!(r.quantile_ms(1.0) >= 3_599_000.0);
    }
}
