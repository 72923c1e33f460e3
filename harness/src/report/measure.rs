//! What a chart can put on its y axis: the measured metrics of `runs.csv`, CPU time, efficiency and
//! speedup, each with a name for people and a unit, from the [metric catalog](crate::metrics); and which of
//! them the charts of every experiment draw.

pub(crate) use crate::metrics::{CPU, Dimension, EFFICIENCY, Metric as Measure, RATE_FOUND, SPEEDUP};

/// The measure called `name`, if a chart can show it.
pub(crate) fn find(name: &str) -> Option<Measure> {
    crate::metrics::chartable(name)
}

/// The measures drawn for every experiment, one chart each.
/// The percentiles over every task of a cell (its runs' histograms merged), as the latency chart labels them.
pub(crate) const OVER_CELL_PERCENTILES: &[(&str, &str)] = &[
    ("cell_latency_p50_s", "p50"),
    ("cell_latency_p90_s", "p90"),
    ("cell_latency_p99_s", "p99"),
    ("cell_latency_max_s", "max"),
];

/// How to read a percentile over the cell (one of [`OVER_CELL_PERCENTILES`]) from the merged histogram.
pub(crate) fn over_cell(metric: &str) -> Option<fn(&harness_sdk::protocol::LatencySummary) -> f64> {
    Some(match metric {
        "cell_latency_p50_s" => |l| l.p50_s,
        "cell_latency_p90_s" => |l| l.p90_s,
        "cell_latency_p99_s" => |l| l.p99_s,
        "cell_latency_max_s" => |l| l.max_s,
        _ => return None,
    })
}

pub(crate) const DEFAULT: &[&str] = &["run_s", "throughput_per_s", "latency_p99_s", CPU, "peak_memory_bytes"];

/// The latency percentiles of the latency chart, with their labels.
pub(crate) const PERCENTILES: &[(&str, &str)] =
    &[("latency_p50_s", "p50"), ("latency_p90_s", "p90"), ("latency_p99_s", "p99"), ("latency_max_s", "max")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measured_metric_and_every_chart_default_has_a_measure() {
        for metric in crate::metrics::MEASURED.iter() {
            assert!(find(metric).is_some(), "{metric}");
        }
        for name in DEFAULT.iter().chain(PERCENTILES.iter().map(|(n, _)| n)) {
            assert!(find(name).is_some(), "{name}");
        }
        assert!(find("checksum").is_none());
    }
}
