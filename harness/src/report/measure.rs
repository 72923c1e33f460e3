//! What a chart can put on its y axis: the metrics of `runs.csv`, CPU time, efficiency and speedup, each
//! with a name for people and a unit.

/// The dimension of a measure, which decides its unit on an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Seconds,
    Bytes,
    PerSecond,
    Count,
    /// A ratio shown as a percentage (efficiency).
    Percent,
    /// A ratio shown as a multiple (speedup).
    Times,
}

/// One measure a chart can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// The column name (`run_s`), or `cpu_s`, `efficiency`, `speedup`.
    pub name: &'static str,
    /// For people: "run time".
    pub label: &'static str,
    pub dimension: Dimension,
}

/// Measures that are not columns of `runs.csv`.
pub const CPU: &str = "cpu_s";
pub const EFFICIENCY: &str = "efficiency";
pub const SPEEDUP: &str = "speedup";

const CATALOG: &[Measure] = &[
    Measure { name: "wall_s", label: "wall time", dimension: Dimension::Seconds },
    Measure { name: "setup_s", label: "setup time", dimension: Dimension::Seconds },
    Measure { name: "run_s", label: "run time", dimension: Dimension::Seconds },
    Measure { name: "throughput_per_s", label: "throughput", dimension: Dimension::PerSecond },
    Measure { name: "latency_mean_s", label: "mean latency", dimension: Dimension::Seconds },
    Measure { name: "latency_p50_s", label: "p50 latency", dimension: Dimension::Seconds },
    Measure { name: "latency_p90_s", label: "p90 latency", dimension: Dimension::Seconds },
    Measure { name: "latency_p99_s", label: "p99 latency", dimension: Dimension::Seconds },
    Measure { name: "latency_max_s", label: "max latency", dimension: Dimension::Seconds },
    Measure { name: "user_cpu_s", label: "user CPU time", dimension: Dimension::Seconds },
    Measure { name: "system_cpu_s", label: "system CPU time", dimension: Dimension::Seconds },
    Measure { name: CPU, label: "CPU time", dimension: Dimension::Seconds },
    Measure { name: "peak_memory_bytes", label: "peak memory", dimension: Dimension::Bytes },
    Measure { name: "voluntary_context_switches", label: "voluntary context switches", dimension: Dimension::Count },
    Measure {
        name: "involuntary_context_switches",
        label: "involuntary context switches",
        dimension: Dimension::Count,
    },
    Measure { name: EFFICIENCY, label: "efficiency", dimension: Dimension::Percent },
    Measure { name: SPEEDUP, label: "speedup", dimension: Dimension::Times },
];

/// The measure called `name`, if a chart can show it.
pub fn find(name: &str) -> Option<Measure> {
    CATALOG.iter().copied().find(|m| m.name == name)
}

/// Every name a chart's `y` may take, in the order of `runs.csv`.
pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|m| m.name).collect()
}

/// The measures drawn for every experiment, one chart each.
pub const DEFAULT: &[&str] = &["run_s", "throughput_per_s", "latency_p99_s", CPU, "peak_memory_bytes"];

/// The latency percentiles of the latency chart, with their labels.
pub const PERCENTILES: &[(&str, &str)] =
    &[("latency_p50_s", "p50"), ("latency_p90_s", "p90"), ("latency_p99_s", "p99"), ("latency_max_s", "max")];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::METRICS;

    #[test]
    fn every_metric_of_the_summary_has_a_measure() {
        for metric in METRICS.iter() {
            assert!(find(metric).is_some(), "{metric}");
        }
        for name in DEFAULT.iter().chain(PERCENTILES.iter().map(|(n, _)| n)) {
            assert!(find(name).is_some(), "{name}");
        }
    }
}
