//! What the gate of an experiment can see of each cell: a cell whose runs are so short that the floor of
//! times exceeds the threshold cannot regress by the threshold, only by the floor. Said once the runs are
//! measured, as a warning of the results, so that a file's author learns it before a comparison does not.

use crate::experiment::gate::Gate;
use crate::fmt::{milliseconds, whole_percent};

/// A warning for each cell of `summaries` whose median run time makes `gate`'s floor of times larger than
/// its threshold of `run_s`; `paired` when the comparison is paired, which has no floor of times unless
/// `[ci] time_floor` sets one.
pub(crate) fn too_short_for_the_gate(
    gate: &Gate,
    paired: bool,
    columns: &[String],
    summaries: &[super::CellSummary],
) -> Vec<String> {
    let floor = if paired { gate.paired_floor("run_s") } else { gate.floor("run_s") };
    let threshold = gate.threshold("run_s").increase;
    if floor <= 0.0 || !gate.metrics.iter().any(|m| m == "run_s" || m == "throughput_per_s") {
        return Vec::new();
    }
    let mut short = Vec::new();
    for summary in summaries {
        let Some(median) = summary.metric("run_s").map(|s| s.median).filter(|m| *m > 0.0) else { continue };
        if floor / median > threshold {
            let label: Vec<String> = columns
                .iter()
                .zip(&summary.key)
                .filter(|(_, v)| !v.is_empty())
                .map(|(c, v)| format!("{c}={v}"))
                .collect();
            short.push((label.join(" "), median));
        }
    }
    let Some((first, median)) = short.first() else { return Vec::new() };
    let others = match short.len() {
        1 => String::new(),
        n => format!(" and {} more cells", n - 1),
    };
    vec![format!(
        "{first}{others}: runs of {} are too short for the gate's threshold of run_s (+{}) to count: a change of \
         time counts only beyond the floor of {}, +{} of it; give the runs more work, lower `[ci] time_floor`, \
         or compare paired (`[ci] baseline`), which has no floor of times",
        milliseconds(*median),
        whole_percent(threshold),
        milliseconds(floor),
        whole_percent(floor / median),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;
    use crate::summary::{CellSummary, MetricSummary};

    fn cell(key: &str, run_s: f64) -> CellSummary {
        CellSummary {
            key: vec![key.to_owned()],
            failed: 0,
            metrics: vec![MetricSummary {
                metric: "run_s".to_owned(),
                stats: Stats::of(&[run_s, run_s * 1.01, run_s * 0.99], 1),
                outlier_repetitions: Vec::new(),
            }],
            cpu: None,
            throughput_per_s: None,
            ideal: Err(String::new()),
            efficiency: None,
            open: None,
            search: None,
            over_cell: None,
            over_cell_response: None,
            slots: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn cells_whose_floor_passes_the_threshold_are_named() {
        let gate = Gate::default();
        let columns = ["executor".to_owned()];
        let cells = [cell("sync", 0.003), cell("async", 0.004), cell("threaded", 0.1)];
        let warnings = too_short_for_the_gate(&gate, false, &columns, &cells);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("executor=sync and 1 more cells: runs of 3.000 ms"), "{warnings:?}");
        assert!(warnings[0].contains("+33% of it"), "{warnings:?}");
        // Paired, without a floor of times: nothing to say.
        assert!(too_short_for_the_gate(&gate, true, &columns, &cells).is_empty());
        // Runs long enough: nothing either.
        assert!(too_short_for_the_gate(&gate, false, &columns, &cells[2..]).is_empty());
    }
}
