//! The CI gate: did anything get slower, beyond noise, and could the comparison have seen it?
//!
//! Two ways to compare, one verdict:
//!
//! - **Paired** (`paired.rs`, `harness compare DIR`, and `harness run` of a file with `[ci] baseline`): the
//!   versions under test are values of one axis of the same experiment, run back to back in every round in
//!   an order drawn for that round. Each round gives one ratio per pair; the statistics are on those ratios
//!   (Wilcoxon's signed-rank test, the Hodges-Lehmann estimate and its exact interval), so whatever the
//!   machine did during a round falls on both sides.
//! - **Two folders** (`folders.rs`, `harness compare BASELINE CURRENT`, `harness run --baseline DIR`): for
//!   what cannot be built twice. Independent samples (Mann-Whitney, a bootstrap interval of the change of the
//!   median), thresholds widened for the CPU-bound share of a cell on a busy machine, the speed anchor.
//!
//! Either way, each change gets one of four verdicts (`verdict.rs`): **regressed** or **improved** when its
//! whole interval lies beyond the limit (the threshold, or the floor where that is larger), **unchanged**
//! when it lies wholly within it (equivalence shown, not assumed), **inconclusive** otherwise; and the
//! smallest change the comparison could have detected at the spread and count it had.

mod folders;
mod paired;
mod render;
mod verdict;

pub(crate) use folders::compare;
pub(crate) use paired::compare_paired;
pub(crate) use render::{markdown, table};
pub(crate) use verdict::{Reason, Verdict};

use std::path::PathBuf;

use serde::Serialize;

use crate::experiment::gate::{Gate, Threshold};

pub(crate) use crate::metrics::{Dimension, Direction, judged_by};

/// The error rate of a comparison's intervals: a fixed count of runs looks once at 95%, a range spends it
/// over its looks.
pub(crate) use crate::stats::sequential::ALPHA;

/// What a comparison compared.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Mode {
    /// Two result folders, made at different times.
    Folders,
    /// The values of `axis` within one result folder, each against `baseline`; the cells with the same
    /// values of `pair_by` form a pair.
    Paired { axis: String, baseline: String, pair_by: Vec<String> },
}

/// One metric of one cell, compared.
#[derive(Debug, Clone, Serialize)]
// The field names are compare.json's keys.
#[allow(clippy::struct_field_names)]
pub(crate) struct Change {
    pub cell: String,
    /// The cell it was compared with, in a paired comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_cell: Option<String>,
    pub metric: String,
    pub direction: Direction,
    /// The metric's dimension in the catalog, which words its change ("slower", "more").
    #[serde(skip)]
    pub dimension: Option<Dimension>,
    pub baseline_n: usize,
    pub current_n: usize,
    pub baseline_median: f64,
    pub current_median: f64,
    /// current / baseline - 1: of the medians with two folders, the Hodges-Lehmann estimate of the ratio
    /// when paired; `None` when the baseline is zero.
    pub change: Option<f64>,
    /// Its interval at `confidence`; a bound is infinite when the count of runs allows no interval.
    pub change_ci: Option<(f64, f64)>,
    /// The confidence of the interval: 95% for one look, more at each look of a range.
    pub confidence: f64,
    /// Two-sided: Mann-Whitney's with two folders, the signed-rank test's when paired.
    pub p_value: f64,
    /// The threshold of the metric that decided, as configured.
    pub threshold: Threshold,
    /// The absolute floor, in the unit of the metric that decided.
    pub floor: f64,
    /// What the interval had to pass, relative to the baseline: the threshold (widened for the machine's
    /// load, with two folders), or the floor where that is larger.
    pub limit: Threshold,
    pub verdict: Verdict,
    pub reason: Reason,
    /// The smallest change the bad way this comparison would have detected (4 times in 5) at the spread
    /// and count of runs it had: positive for a metric where lower is better, negative where higher is.
    /// `None` when the count allows no interval.
    pub detectable: Option<f64>,
    /// For an inconclusive change: about how many runs (rounds, when paired) per side would decide it.
    pub needed: Option<u64>,
    /// Two folders, a time: the relative change of the fastest run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fastest_change: Option<f64>,
    /// Two folders, a time whose runs have speed anchors: the change of the times relative to their
    /// anchors, and what the anchors themselves did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchored_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchors: Option<AnchorShift>,
    /// Two folders: the share of the cell's run time its CPU work takes, which a busy machine may slow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_bound: Option<f64>,
    /// The metric whose verdict this one takes (`run_s` for `throughput_per_s`).
    pub judged_by: Option<String>,
}

impl Change {
    /// A change of `metric` not judged yet: its medians and counts from the two sides' values, its threshold
    /// and floor, as inconclusive for want of runs.
    fn new(metric: &str, (baseline, current): (&[f64], &[f64]), gate: &Gate, floor: f64, alpha: f64) -> Self {
        let threshold = gate.threshold(metric);
        Self {
            cell: String::new(),
            baseline_cell: None,
            metric: metric.to_owned(),
            direction: gate.catalog.direction(metric),
            dimension: gate.catalog.dimension(metric),
            baseline_n: baseline.len(),
            current_n: current.len(),
            baseline_median: crate::stats::median(baseline),
            current_median: crate::stats::median(current),
            change: None,
            change_ci: None,
            confidence: 1.0 - alpha,
            p_value: 1.0,
            threshold,
            floor,
            limit: threshold,
            verdict: Verdict::Inconclusive,
            reason: Reason::TooFewRuns,
            detectable: None,
            needed: None,
            fastest_change: None,
            anchored_change: None,
            anchors: None,
            cpu_bound: None,
            judged_by: None,
        }
    }
}

/// How the speed anchors measured next to a cell's runs moved between the two folders.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct AnchorShift {
    /// The change of the median anchor (positive: the machine was slower around the current runs).
    pub change: f64,
    /// Mann-Whitney's two-sided p-value of the two sides' anchors.
    pub p_value: f64,
}

/// Other processes' share of the machine's CPU time while each side ran, from `environment.json`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct MachineLoad {
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// The share the thresholds were widened for: the larger of the two, when above the busy share.
    pub widened_for: Option<f64>,
}

/// Everything a comparison found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub mode: Mode,
    pub baseline: PathBuf,
    pub current: PathBuf,
    /// Cells present on both sides (pairs, when paired).
    pub matched: usize,
    /// Rounds the paired comparison had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
    pub changes: Vec<Change>,
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Cells of both sides whose current runs all failed: nothing to compare, and a regression.
    pub failed_in_current: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_load: Option<MachineLoad>,
    /// How much slower the machine was around the current runs than around the baseline's: the change of the
    /// median speed anchor (positive is slower). `None` when a side has no anchors, and when paired.
    pub machine_speed: Option<f64>,
    /// Whether an inconclusive change fails the gate, from `[ci] inconclusive`.
    pub inconclusive_fails: bool,
    /// Whether the compared runs had a range of repetitions, which stops when decided.
    pub ranged: bool,
    /// What a reader must know to trust the verdicts: different experiment files, a busy machine.
    pub warnings: Vec<String>,
    /// The latency percentiles over every task of each matched cell, where both sides have histograms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub over_cell: Vec<OverCell>,
    /// The rate each side's search found, for the matched cells that searched on both sides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<RateFound>,
}

/// The highest rate within the objective that one cell's search found on both sides, with the lowest rate
/// that failed: shown beside the verdicts, higher is better, not judged, since each side is one search,
/// not a sample of runs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RateFound {
    pub cell: String,
    pub baseline_found_per_s: Option<f64>,
    pub baseline_failed_per_s: Option<f64>,
    pub current_found_per_s: Option<f64>,
    pub current_failed_per_s: Option<f64>,
}

/// What [`OverCell::of`] says.
pub(crate) const SERVICE_TIME: &str = "service time";
pub(crate) const RESPONSE_TIME: &str = "response time";

/// The latency percentiles over every task of one cell on both sides (each side's runs' histograms
/// merged): shown beside the verdicts, not judged, since one number per side has no interval.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OverCell {
    pub cell: String,
    /// What the percentiles are of: [`SERVICE_TIME`] (every cell), or an open workload's [`RESPONSE_TIME`].
    pub of: &'static str,
    pub baseline_p50_s: f64,
    pub current_p50_s: f64,
    pub baseline_p99_s: f64,
    pub current_p99_s: f64,
}

impl Comparison {
    fn count(&self, verdict: Verdict) -> usize {
        self.changes.iter().filter(|c| c.verdict == verdict).count()
    }

    pub(crate) fn regressions(&self) -> usize {
        self.count(Verdict::Regressed) + self.failed_in_current.len()
    }

    pub(crate) fn inconclusive(&self) -> usize {
        self.count(Verdict::Inconclusive)
    }

    /// Whether the gate fails: a regression, a cell whose runs all failed, or an inconclusive change where
    /// `[ci] inconclusive = "fail"`.
    pub(crate) fn fails(&self) -> bool {
        self.regressions() > 0 || (self.inconclusive_fails && self.inconclusive() > 0)
    }

    /// The cells of the inconclusive changes, both sides of a pair: those that more runs would decide.
    pub(crate) fn undecided_cells(&self) -> Vec<String> {
        let mut cells: Vec<String> = Vec::new();
        for change in self.changes.iter().filter(|c| c.verdict == Verdict::Inconclusive) {
            for cell in std::iter::once(&change.cell).chain(&change.baseline_cell) {
                if !cells.contains(cell) {
                    cells.push(cell.clone());
                }
            }
        }
        cells
    }
}
