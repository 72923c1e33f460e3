//! Per-task latency in an HDR histogram: bounded memory however many tasks a run has.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::protocol::LatencySummary;

/// Task latencies in nanoseconds, 3 significant digits.
///
/// The latest values wait in a short buffer before they go into the histogram: recording one is a push,
/// and merging a worker's few tasks into another's costs those few values, not a pass over a whole
/// histogram (about 15,000 counters once it reaches 10 ms), which a pool of 100 threads would otherwise
/// pay 100 times over, one after another, as its workers finish together. The histogram itself is made
/// when the first values go into it: an empty one is 16 KiB of counters, which a run that records few
/// tasks, or none, would otherwise allocate and clear for each of its latencies.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    histogram: Option<Histogram<u64>>,
    /// Values not yet in `histogram`, at most [`PENDING`].
    pending: Vec<u64>,
}

/// How many values wait before they go into the histogram: bounded memory, 8 KiB.
const PENDING: usize = 1024;

/// An empty histogram of the precision every latency has.
fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

/// Adds `count` values of `nanos` (at least 1, the histogram's lowest) to `histogram`.
fn add(histogram: &mut Histogram<u64>, nanos: u64, count: u64) {
    histogram.record_n(nanos.max(1), count).expect("auto-resizing histogram accepts any value");
}

impl Latency {
    /// Records one task's latency.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(latency.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Records `count` tasks of `nanos` nanoseconds each.
    pub fn record_n(&mut self, nanos: u64, count: u64) {
        add(self.histogram.get_or_insert_with(new_histogram), nanos, count);
    }

    #[inline]
    fn record_nanos(&mut self, nanos: u64) {
        if self.pending.len() == PENDING {
            self.flush();
        }
        self.pending.push(nanos);
    }

    /// Moves the pending values into the histogram. The buffer keeps its allocation: taking it would have
    /// the next 1,024 values grow a new one from nothing, a reallocation every doubling.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let histogram = self.histogram.get_or_insert_with(new_histogram);
        for nanos in self.pending.drain(..) {
            add(histogram, nanos, 1);
        }
    }

    /// The histogram with the pending values in it, `None` when nothing was recorded.
    fn histogram(&self) -> Option<std::borrow::Cow<'_, Histogram<u64>>> {
        if self.pending.is_empty() {
            return self.histogram.as_ref().map(std::borrow::Cow::Borrowed);
        }
        let mut all = self.clone();
        all.flush();
        all.histogram.map(std::borrow::Cow::Owned)
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latency) {
        if let Some(histogram) = other.histogram.as_ref().filter(|h| !h.is_empty()) {
            match &mut self.histogram {
                Some(mine) => mine.add(histogram).expect("auto-resizing histogram accepts any value"),
                None => self.histogram = Some(histogram.clone()),
            }
        }
        for &nanos in &other.pending {
            self.record_nanos(nanos);
        }
    }

    /// Number of recorded tasks.
    pub fn len(&self) -> u64 {
        self.histogram.as_ref().map_or(0, Histogram::len) + self.pending.len() as u64
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The non-empty buckets as (value in ns, count): a compact form to send between processes.
    pub fn to_pairs(&self) -> Vec<(u64, u64)> {
        let Some(histogram) = self.histogram() else { return Vec::new() };
        histogram.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
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
        let Some(histogram) = self.histogram().filter(|h| !h.is_empty()) else {
            return LatencySummary::default();
        };
        let s = |nanos: u64| nanos as f64 / 1e9;
        LatencySummary {
            mean_s: histogram.mean() / 1e9,
            p50_s: s(histogram.value_at_quantile(0.50)),
            p90_s: s(histogram.value_at_quantile(0.90)),
            p99_s: s(histogram.value_at_quantile(0.99)),
            max_s: s(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values recorded, merged and sent as pairs, in and out of the buffer, give what one histogram of
    /// all of them gives.
    #[test]
    fn buffered_values_count_as_recorded_ones() {
        let mut reference = Histogram::<u64>::new(3).unwrap();
        let mut many = Latency::default();
        for i in 0..(3 * PENDING as u64 + 17) {
            let nanos = 1 + i * 7919 % 10_000_000;
            many.record(Duration::from_nanos(nanos));
            reference.record(nanos).unwrap();
        }
        let mut few = Latency::default();
        for nanos in [0u64, 5, 12_000_000] {
            few.record(Duration::from_nanos(nanos));
            reference.record(nanos.max(1)).unwrap();
        }
        many.merge(&few);
        assert_eq!(many.len(), reference.len());
        let expected = |h: &Histogram<u64>| (h.mean(), h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.max());
        assert_eq!(expected(&many.histogram().unwrap()), expected(&reference));
        let back = Latency::from_pairs(&many.to_pairs());
        assert_eq!(back.summary(), many.summary());
        // Merging into an empty one takes the other's buffer too.
        let mut empty = Latency::default();
        empty.merge(&few);
        assert_eq!(empty.len(), 3);
        assert!(Latency::default().is_empty());
    }
}
