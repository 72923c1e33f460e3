//! Per-task latency in an HDR histogram: bounded memory however many tasks a run has.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::protocol::LatencySummary;

/// Task latencies in nanoseconds, 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(Histogram::new(3).expect("3 significant digits is valid"))
    }
}

impl Latency {
    /// Records one task's latency.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(latency.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Records `count` tasks of `nanos` nanoseconds each.
    pub fn record_n(&mut self, nanos: u64, count: u64) {
        self.0.record_n(nanos.max(1), count).expect("auto-resizing histogram accepts any value");
    }

    #[inline]
    fn record_nanos(&mut self, nanos: u64) {
        self.record_n(nanos, 1);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latency) {
        self.0.add(&other.0).expect("auto-resizing histogram accepts any value");
    }

    /// Number of recorded tasks.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The non-empty buckets as (value in ns, count): a compact form to send between processes.
    pub fn to_pairs(&self) -> Vec<(u64, u64)> {
        self.0.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
    }

    /// The inverse of [`Latency::to_pairs`].
    pub fn from_pairs(pairs: &[(u64, u64)]) -> Self {
        let mut latency = Self::default();
        for &(nanos, count) in pairs {
            latency.record_n(nanos, count);
        }
        latency
    }

    /// Mean and percentiles, in seconds.
    pub fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        let s = |nanos: u64| nanos as f64 / 1e9;
        LatencySummary {
            mean_s: self.0.mean() / 1e9,
            p50_s: s(self.0.value_at_quantile(0.50)),
            p90_s: s(self.0.value_at_quantile(0.90)),
            p99_s: s(self.0.value_at_quantile(0.99)),
            max_s: s(self.0.max()),
        }
    }
}
