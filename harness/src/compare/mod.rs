//! `harness compare BASELINE CURRENT`: did anything get slower, beyond noise?
//!
//! For every cell found in both result folders (matched by their axis values) and every gated metric:
//! the medians, the relative change of the median with a 95% bootstrap confidence interval, and a
//! two-sided Mann-Whitney U test. A change is a regression only when it is significant (p < 0.05) and its
//! whole confidence interval lies beyond the metric's threshold in the bad direction, and beyond the
//! absolute floor of its kind (times, memory); an improvement likewise in the good direction; anything else
//! is unchanged. `throughput_per_s` is tasks / `run_s`: its verdict is `run_s`'s, under `run_s`'s threshold.
//! When either side ran on a busy machine (other processes' CPU share in `environment.json`), the thresholds
//! of everything but memory widen to what that load could explain, and the comparison says so. A time
//! regresses only when its fastest run is beyond the limit too, and, when the runs carry speed anchors (a fixed
//! piece of work timed next to each run), when the times relative to their anchors are beyond it as well: a
//! machine that slowed down slows the anchor with the run, slower code does not. Cells present on one side only
//! are listed, never dropped.

mod render;

use render::plain_percent;
pub(crate) use render::{markdown, table};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::experiment::gate::{Gate, Threshold};
use crate::results::Environment;
use crate::stats::{Rng, bootstrap_change, mann_whitney_p, median};

/// The significance level of the Mann-Whitney test.
pub(crate) const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the confidence interval of a change.
const RESAMPLES: usize = 2000;
/// Other processes' share of the machine's CPU time above which a side counts as run on a busy machine
/// (the share at which `harness run` warns).
pub(crate) const BUSY_SHARE: f64 = crate::machine::BUSY_SHARE;

/// The most a busy machine widens a threshold by: a factor of 1 / (1 - share) of other processes' share of
/// the CPU, up to this. Beyond half the machine taken, no threshold says much; the comparison says so.
pub(crate) const MAX_WIDENING: f64 = 2.0;

/// A change of the machine's speed anchor beyond this between the two sides is worth a warning.
const SPEED_DRIFT: f64 = 0.05;

pub(crate) use crate::metrics::{Direction, direction, judged_by};

/// The verdict on one metric of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Regressed,
    Improved,
    Unchanged,
}

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// The whole confidence interval lies beyond the limit (threshold, widened for load, and floor).
    Beyond,
    /// The Mann-Whitney test finds no significant difference.
    NotSignificant,
    /// Part of the confidence interval lies within the threshold.
    WithinThreshold,
    /// The interval lies beyond the percentage but the absolute change may be smaller than the floor.
    UnderFloor,
    /// The baseline median is zero: no relative change.
    NoBaseline,
    /// A time whose median moved beyond the limit, but whose fastest run did not: other work slowed some
    /// runs, and a slower program would have slowed them all.
    FastestWithin,
    /// A time that moved beyond the limit as measured, but not relative to the speed anchors measured next to
    /// its runs: the machine's speed changed, not the code.
    MachineSpeed,
}

/// One metric of one cell, compared.
#[derive(Debug, Clone, Serialize)]
// The field names are compare.json's keys.
#[allow(clippy::struct_field_names)]
pub(crate) struct Change {
    pub cell: String,
    pub metric: String,
    pub direction: Direction,
    pub baseline_n: usize,
    pub current_n: usize,
    pub baseline_median: f64,
    pub current_median: f64,
    /// current / baseline - 1, when the baseline median is not zero.
    pub change: Option<f64>,
    pub change_ci: Option<(f64, f64)>,
    pub p_value: f64,
    /// The threshold of the metric that decided, as configured.
    pub threshold: Threshold,
    /// The absolute floor, in the unit of the metric that decided.
    pub floor: f64,
    /// What the interval had to pass, relative to the baseline: the threshold widened for the machine's
    /// load, or the floor where that is larger.
    pub limit: Threshold,
    pub verdict: Verdict,
    pub reason: Reason,
    /// For a time: the relative change of the fastest run, which must pass the limit too.
    pub fastest_change: Option<f64>,
    /// For a time whose runs have speed anchors: the relative change of the median of the times relative to
    /// their anchors, whose verdict must agree.
    pub anchored_change: Option<f64>,
    /// The metric whose verdict this one takes (`run_s` for `throughput_per_s`).
    pub judged_by: Option<String>,
}

/// Other processes' share of the machine's CPU time while each side ran, from `environment.json`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct MachineLoad {
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// The share the thresholds were widened for: the larger of the two, when above [`BUSY_SHARE`].
    pub widened_for: Option<f64>,
}

impl MachineLoad {
    fn new(baseline: Option<f64>, current: Option<f64>) -> Self {
        let busiest =
            baseline.into_iter().chain(current).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        Self { baseline, current, widened_for: busiest.filter(|&s| s > BUSY_SHARE) }
    }

    /// `threshold` widened to what a machine busy with other work for `share` of its CPU time could
    /// explain: a slowdown up to 1 / (1 - share) on top of it, or a speedup of as much when it was the baseline
    /// that was disturbed, at most [`MAX_WIDENING`] times. Memory does not depend on the CPU left to the run
    /// and is never widened, nor are custom metrics other than times.
    fn widen(&self, metric: &str, threshold: Threshold) -> Threshold {
        // A number a program prints (other than a time) does not depend on the CPU left to it either.
        let custom_not_time =
            crate::metrics::custom(metric).is_some_and(|m| m.dimension != crate::metrics::Dimension::Seconds);
        match self.widened_for {
            Some(share) if !metric.ends_with("_bytes") && !custom_not_time => {
                let left = (1.0 - share).max(1.0 / MAX_WIDENING);
                Threshold {
                    increase: (1.0 + threshold.increase) / left - 1.0,
                    decrease: 1.0 - (1.0 - threshold.decrease) * left,
                }
            }
            _ => threshold,
        }
    }
}

/// Everything a comparison found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub baseline: PathBuf,
    pub current: PathBuf,
    /// Cells present on both sides.
    pub matched: usize,
    pub changes: Vec<Change>,
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Cells of both sides whose current runs all failed: nothing to compare, and a regression.
    pub failed_in_current: Vec<String>,
    pub machine_load: MachineLoad,
    /// How much slower the machine was around the current runs than around the baseline's: the change of the
    /// median speed anchor (positive is slower). `None` when a side has no anchors (older result folders).
    pub machine_speed: Option<f64>,
    /// What a reader must know to trust the verdicts: different experiment files, a busy machine.
    pub warnings: Vec<String>,
}

impl Comparison {
    pub(crate) fn regressions(&self) -> usize {
        self.changes.iter().filter(|c| c.verdict == Verdict::Regressed).count() + self.failed_in_current.len()
    }

    pub(crate) fn improvements(&self) -> usize {
        self.changes.iter().filter(|c| c.verdict == Verdict::Improved).count()
    }
}

/// The values of one metric of one cell, run by run, with the speed anchor measured around each run.
#[derive(Debug, Clone, Default)]
struct Series {
    values: Vec<f64>,
    anchors: Vec<Option<f64>>,
}

impl Series {
    /// The anchors of every run, when each run has one.
    fn anchors(&self) -> Option<Vec<f64>> {
        self.anchors.iter().map(|a| a.filter(|a| a.is_finite() && *a > 0.0)).collect()
    }
}

/// The runs of a result folder: cell label to how many ended ok, and the metric values of those.
type Values = BTreeMap<String, (usize, BTreeMap<String, Series>)>;

/// The runs of `dir`, and the speed anchors of its runs that ended ok.
fn read(dir: &Path, metrics: &[String], warnings: &mut Vec<String>) -> anyhow::Result<(Values, Vec<f64>)> {
    let path = dir.join(crate::results::files::RUNS);
    let runs = crate::results::Runs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    warnings.extend(runs.cut_warning());
    let mut values = Values::new();
    let mut anchors = Vec::new();
    for row in &runs.rows {
        // Cells are matched by their axis values: a changed matrix still compares what is comparable.
        let (ok, cell) = values.entry(row.label(&runs.axes)).or_default();
        if !row.ok() {
            continue;
        }
        *ok += 1;
        anchors.extend(row.metric(crate::metrics::ANCHOR).filter(|a| a.is_finite() && *a > 0.0));
        for metric in metrics {
            if let Some(v) = row.metric(metric) {
                let series = cell.entry(metric.clone()).or_default();
                series.values.push(v);
                series.anchors.push(row.metric(crate::metrics::ANCHOR));
            }
        }
    }
    Ok((values, anchors))
}

/// The hash of the experiment file a result folder ran: as recorded, else of its copy of the file.
fn file_hash(dir: &Path, environment: &Environment) -> Option<String> {
    environment
        .experiment
        .file_hash
        .clone()
        .or_else(|| crate::results::open::experiment_source(dir).ok().map(|s| crate::results::file_hash(&s)))
}

/// What the two sides' `environment.json` say that bears on the verdicts.
fn warnings(
    baseline: (&Path, &Environment),
    current: (&Path, &Environment),
    load: &MachineLoad,
    gate: &Gate,
) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (&baseline.1.experiment.name, &current.1.experiment.name) {
        if a != b {
            out.push(format!(
                "comparing experiment `{a}` with experiment `{b}`: only cells with the same values match"
            ));
        }
    }
    if let (Some(a), Some(b)) = (file_hash(baseline.0, baseline.1), file_hash(current.0, current.1)) {
        if a != b {
            out.push(format!(
                "the experiment files differ (baseline {a}, current {b}): cells are matched by their axis values, \
                 which may now stand for different work"
            ));
        }
    }
    for (side, share) in [("baseline", load.baseline), ("current", load.current)] {
        match share {
            Some(share) if share > BUSY_SHARE => out.push(format!(
                "the {side} ran on a busy machine: other processes used {:.0}% of its CPU time (more than {:.0}%)",
                share * 100.0,
                BUSY_SHARE * 100.0
            )),
            Some(_) => {}
            None => out.push(format!(
                "the {side} does not record how busy the machine was (environment.json, machine_load): its \
                 verdicts assume a quiet machine"
            )),
        }
    }
    if let Some(share) = load.widened_for {
        let (before, after) = (gate.threshold("run_s"), load.widen("run_s", gate.threshold("run_s")));
        out.push(format!(
            "thresholds of every metric but memory are widened to what {:.0}% of the CPU taken by other work could \
             explain: run_s's +{} / -{} become +{} / -{}",
            share * 100.0,
            plain_percent(before.increase),
            plain_percent(before.decrease),
            plain_percent(after.increase),
            plain_percent(after.decrease)
        ));
        if share > 1.0 - 1.0 / MAX_WIDENING {
            out.push(format!(
                "thresholds widen at most {MAX_WIDENING} times: with more than half the machine taken by other work, \
                 times say little; compare again on a quieter machine"
            ));
        }
    }
    out
}

/// Compares the result folders `baseline` and `current` under `gate`; `seed` drives the bootstrap.
pub(crate) fn compare(baseline: &Path, current: &Path, gate: &Gate, seed: u64) -> anyhow::Result<Comparison> {
    // `throughput_per_s` is judged by `run_s`: read that too.
    let mut wanted = gate.metrics.clone();
    for metric in &gate.metrics {
        if let Some(by) = judged_by(metric) {
            if !wanted.iter().any(|m| m == by) {
                wanted.push(by.to_owned());
            }
        }
    }
    let mut cut = Vec::new();
    let (before, before_anchors) = read(baseline, &wanted, &mut cut)?;
    let (after, after_anchors) = read(current, &wanted, &mut cut)?;
    let environments = (Environment::read_or_default(baseline), Environment::read_or_default(current));
    let load = MachineLoad::new(environments.0.others_cpu_share(), environments.1.others_cpu_share());
    let mut warnings = warnings((baseline, &environments.0), (current, &environments.1), &load, gate);
    warnings.append(&mut cut);
    let machine_speed = (!before_anchors.is_empty() && !after_anchors.is_empty())
        .then(|| median(&after_anchors) / median(&before_anchors) - 1.0);
    if let Some(change) = machine_speed.filter(|c| c.abs() > SPEED_DRIFT) {
        warnings.push(format!(
            "the machine was {} {} during the current runs than during the baseline's (the speed anchor, a fixed \
             piece of work timed next to every run): times are judged both as measured and relative to it",
            plain_percent(change.abs()),
            if change > 0.0 { "slower" } else { "faster" }
        ));
    }

    let mut changes = Vec::new();
    let mut failed_in_current = Vec::new();
    let mut matched = 0;
    for (cell, (ok, metrics)) in &after {
        let Some((_, old)) = before.get(cell) else { continue };
        matched += 1;
        if *ok == 0 {
            failed_in_current.push(cell.clone());
            continue;
        }
        let series = |metric: &str| match (old.get(metric), metrics.get(metric)) {
            (Some(a), Some(b)) if !a.values.is_empty() && !b.values.is_empty() => Some((a, b)),
            _ => None,
        };
        let judge_one = |metric: &str| {
            let (a, b) = series(metric)?;
            let mut rng = Rng::for_stream(seed, &format!("{cell}\u{1f}{metric}"));
            let anchors = a.anchors().zip(b.anchors());
            let anchors = anchors.as_ref().map(|(x, y)| (x.as_slice(), y.as_slice()));
            Some(judge(cell, metric, (&a.values, &b.values), anchors, gate, &load, &mut rng))
        };
        let mut judged: BTreeMap<&str, Change> = BTreeMap::new();
        for metric in &wanted {
            if judged_by(metric).is_none() {
                if let Some(change) = judge_one(metric) {
                    judged.insert(metric.as_str(), change);
                }
            }
        }
        for metric in &gate.metrics {
            let change = match judged_by(metric) {
                None => judged.get(metric.as_str()).cloned(),
                Some(by) => match (judge_one(metric), judged.get(by)) {
                    (Some(own), Some(decider)) => Some(Change {
                        threshold: decider.threshold,
                        floor: decider.floor,
                        limit: decider.limit,
                        verdict: decider.verdict,
                        reason: decider.reason,
                        judged_by: Some(by.to_owned()),
                        ..own
                    }),
                    _ => None,
                },
            };
            changes.extend(change);
        }
    }
    changes.sort_by(|x, y| {
        x.verdict.cmp(&y.verdict).then_with(|| x.cell.cmp(&y.cell)).then_with(|| x.metric.cmp(&y.metric))
    });
    Ok(Comparison {
        baseline: baseline.to_owned(),
        current: current.to_owned(),
        matched,
        changes,
        only_in_baseline: before.keys().filter(|k| !after.contains_key(*k)).cloned().collect(),
        only_in_current: after.keys().filter(|k| !before.contains_key(*k)).cloned().collect(),
        failed_in_current,
        machine_load: load,
        machine_speed,
        warnings,
    })
}

fn judge(
    cell: &str,
    metric: &str,
    (baseline, current): (&[f64], &[f64]),
    anchors: Option<(&[f64], &[f64])>,
    gate: &Gate,
    load: &MachineLoad,
    rng: &mut Rng,
) -> Change {
    let (m0, m1) = (median(baseline), median(current));
    let change = (m0 != 0.0).then(|| m1 / m0 - 1.0);
    let change_ci = change.map(|_| bootstrap_change(baseline, current, RESAMPLES, rng));
    let p_value = mann_whitney_p(baseline, current);
    let direction = direction(metric);
    let threshold = gate.threshold(metric);
    let floor = gate.floor(metric);
    let widened = load.widen(metric, threshold);
    let floor_share = if m0 == 0.0 { 0.0 } else { floor / m0.abs() };
    let limit = Threshold { increase: widened.increase.max(floor_share), decrease: widened.decrease.max(floor_share) };
    let (mut verdict, mut reason) = match (change, change_ci) {
        (Some(_), Some((low, high))) if low.is_finite() && high.is_finite() => {
            decide(direction, (low, high), p_value, widened, limit)
        }
        _ => (Verdict::Unchanged, Reason::NoBaseline),
    };
    // Interference on a shared machine only ever adds time, and never to every run: a program that got
    // slower is slower in its fastest run too. A time regresses only when its fastest run moved beyond the
    // limit as well (the minimum as the estimator of a time, as BenchmarkTools.jl argues).
    let fastest_change = fastest_change(metric, baseline, current);
    if verdict == Verdict::Regressed && fastest_change.is_some_and(|f| f <= limit.increase) {
        (verdict, reason) = (Verdict::Unchanged, Reason::FastestWithin);
    }
    // A machine that slowed down (or sped up) while one side ran changes a time without any change of the
    // code; the speed anchor measured next to each run says by how much. A time's verdict must hold on the
    // times as measured and on the times relative to their anchors both.
    let anchored = anchors.filter(|_| is_time(metric)).map(|anchors| relative_to_anchors((baseline, current), anchors));
    let anchored_change = anchored.as_ref().and_then(|(a, b)| {
        let m0 = median(a);
        (m0 != 0.0).then(|| median(b) / m0 - 1.0)
    });
    if let Some((a, b)) = &anchored {
        if verdict != Verdict::Unchanged && m0 != 0.0 {
            let ci = bootstrap_change(a, b, RESAMPLES, rng);
            let (own, _) = decide(direction, ci, mann_whitney_p(a, b), widened, limit);
            if own != verdict {
                (verdict, reason) = (Verdict::Unchanged, Reason::MachineSpeed);
            }
        }
    }
    Change {
        cell: cell.to_owned(),
        metric: metric.to_owned(),
        direction,
        baseline_n: baseline.len(),
        current_n: current.len(),
        baseline_median: m0,
        current_median: m1,
        change,
        change_ci,
        p_value,
        threshold,
        floor,
        limit,
        verdict,
        reason,
        fastest_change,
        anchored_change,
        judged_by: None,
    }
}

/// Whether `metric` is a time: a metric in seconds, lower is better.
fn is_time(metric: &str) -> bool {
    metric.ends_with("_s") && direction(metric) == Direction::LowerIsBetter
}

/// Both sides' values, each scaled by how much slower the machine was around its run than it was, in the
/// median, around the baseline's runs: `value * reference / anchor`.
fn relative_to_anchors(
    (baseline, current): (&[f64], &[f64]),
    (baseline_anchors, current_anchors): (&[f64], &[f64]),
) -> (Vec<f64>, Vec<f64>) {
    let reference = median(baseline_anchors);
    let scale = |values: &[f64], anchors: &[f64]| values.iter().zip(anchors).map(|(v, a)| v * reference / a).collect();
    (scale(baseline, baseline_anchors), scale(current, current_anchors))
}

/// For a time (a metric in seconds, lower is better), the relative change of the fastest run.
fn fastest_change(metric: &str, baseline: &[f64], current: &[f64]) -> Option<f64> {
    let fastest = |values: &[f64]| values.iter().copied().fold(f64::INFINITY, f64::min);
    let (b, c) = (fastest(baseline), fastest(current));
    (is_time(metric) && b.is_finite() && b > 0.0).then(|| c / b - 1.0)
}

/// The verdict on a change whose confidence interval is `(low, high)`: a regression only when the whole
/// interval lies beyond the limit in the bad direction (and the change is significant), an improvement
/// likewise in the good direction. `percent` is the threshold without the floor, to tell the reasons apart.
fn decide(
    direction: Direction,
    (low, high): (f64, f64),
    p_value: f64,
    percent: Threshold,
    limit: Threshold,
) -> (Verdict, Reason) {
    if p_value >= ALPHA {
        return (Verdict::Unchanged, Reason::NotSignificant);
    }
    // In "worse" terms: how far the interval goes the bad way, and the limits for worse and better.
    let (worse_low, worse_high, worse, better, worse_pct, better_pct) = match direction {
        Direction::LowerIsBetter => (low, high, limit.increase, limit.decrease, percent.increase, percent.decrease),
        Direction::HigherIsBetter => (-high, -low, limit.decrease, limit.increase, percent.decrease, percent.increase),
    };
    if worse_low > worse {
        (Verdict::Regressed, Reason::Beyond)
    } else if worse_high < -better {
        (Verdict::Improved, Reason::Beyond)
    } else if worse_low > worse_pct || worse_high < -better_pct {
        (Verdict::Unchanged, Reason::UnderFloor)
    } else {
        (Verdict::Unchanged, Reason::WithinThreshold)
    }
}

#[cfg(test)]
// Counts of arrangements are whole numbers, exactly representable.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    fn verdict(metric: &str, base: &[f64], current: &[f64], gate: &Gate, load: &MachineLoad) -> (Verdict, Reason) {
        let c = judge("c", metric, (base, current), None, gate, load, &mut Rng::new(1));
        (c.verdict, c.reason)
    }

    const QUIET: MachineLoad = MachineLoad { baseline: Some(0.01), current: Some(0.01), widened_for: None };

    #[test]
    fn verdicts_need_significance_and_the_whole_interval_beyond_the_threshold() {
        let gate = Gate::default();
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower = [1.2, 1.21, 1.19, 1.2, 1.22, 1.18];
        let slightly = [1.03, 1.04, 1.035, 1.045, 1.05, 1.03];
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        assert_eq!(verdict("run_s", &slower, &base, &gate, &QUIET), (Verdict::Improved, Reason::Beyond));
        // Higher is better for throughput: the same numbers mean the opposite.
        assert_eq!(verdict("throughput_per_s", &base, &slower, &gate, &QUIET).0, Verdict::Improved);
        // Significant but within the threshold.
        assert_eq!(verdict("run_s", &base, &slightly, &gate, &QUIET), (Verdict::Unchanged, Reason::WithinThreshold));
        // The median moved 16% (p = 0.005), past a 10% threshold, but the interval reaches down to 5%.
        let ten = Gate { default: 0.1, ..Gate::default() };
        let spread = [1.05, 1.30, 1.08, 1.25, 1.06, 1.28];
        let c = judge("c", "run_s", (&base, &spread), None, &ten, &QUIET, &mut Rng::new(1));
        assert!(c.change.unwrap() > 0.1 && c.p_value < ALPHA, "{c:?}");
        assert_eq!((c.verdict, c.reason), (Verdict::Unchanged, Reason::WithinThreshold), "{c:?}");
    }

    #[test]
    fn a_time_regresses_only_when_its_fastest_run_is_slower_too() {
        let gate = Gate::default();
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        // Other work slowed five runs of six: the median moved, significantly, the fastest run did not.
        let disturbed = [1.6, 1.7, 0.99, 1.65, 1.61, 1.62];
        assert_eq!(verdict("run_s", &base, &disturbed, &gate, &QUIET), (Verdict::Unchanged, Reason::FastestWithin));
        // A slower program is slower in every run.
        let slower = [1.5, 1.52, 1.49, 1.5, 1.53, 1.47];
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        // Memory is not a time: its peak is not added to by other work.
        let mib = 1024.0 * 1024.0;
        let memory: Vec<f64> = base.iter().map(|v| v * 8.0 * mib).collect();
        let more: Vec<f64> = disturbed.iter().map(|v| v * 8.0 * mib).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &more, &gate, &QUIET).0, Verdict::Regressed);
    }

    #[test]
    fn a_time_that_moved_with_the_speed_anchor_is_unchanged() {
        let gate = Gate::default();
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let anchors = [1e-3; 6];
        // Every run 40% slower, and the anchor next to each run 40% slower too: the machine, not the code.
        let slower: Vec<f64> = base.iter().map(|v| v * 1.4).collect();
        let slow_anchors = [1.4e-3, 1.41e-3, 1.39e-3, 1.4e-3, 1.42e-3, 1.38e-3];
        let judged = |current: &[f64], current_anchors: &[f64]| {
            let c = judge(
                "c",
                "run_s",
                (&base, current),
                Some((&anchors, current_anchors)),
                &gate,
                &QUIET,
                &mut Rng::new(1),
            );
            (c.verdict, c.reason, c.anchored_change)
        };
        let (verdict, reason, anchored) = judged(&slower, &slow_anchors);
        assert_eq!((verdict, reason), (Verdict::Unchanged, Reason::MachineSpeed));
        assert!(anchored.unwrap().abs() < 0.01, "{anchored:?}");
        // The same times with the machine as fast as before: slower code.
        assert_eq!(judged(&slower, &anchors).0, Verdict::Regressed);
        // Memory does not depend on the machine's speed.
        let mib = 1024.0 * 1024.0;
        let memory: Vec<f64> = base.iter().map(|v| v * 8.0 * mib).collect();
        let more: Vec<f64> = slower.iter().map(|v| v * 8.0 * mib).collect();
        let c = judge(
            "c",
            "peak_memory_bytes",
            (&memory, &more),
            Some((&anchors, &slow_anchors)),
            &gate,
            &QUIET,
            &mut Rng::new(1),
        );
        assert_eq!((c.verdict, c.anchored_change), (Verdict::Regressed, None));
    }

    #[test]
    fn changes_under_the_floor_never_count() {
        let gate = Gate::default();
        // +20% of 3 ms is 0.6 ms, under the 1 ms floor of times.
        let base = [0.003, 0.003_03, 0.002_97, 0.003, 0.003_06, 0.002_94];
        let slower: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Unchanged, Reason::UnderFloor));
        let lower = Gate { time_floor_s: 1e-4, ..Gate::default() };
        assert_eq!(verdict("run_s", &base, &slower, &lower, &QUIET), (Verdict::Regressed, Reason::Beyond));
        // +12% of 2 MiB is less than the 1 MiB floor of memory.
        let mib = 1024.0 * 1024.0;
        let memory: Vec<f64> = base.iter().map(|v| v / 0.003 * 2.0 * mib).collect();
        let more: Vec<f64> = memory.iter().map(|v| v * 1.12).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &more, &gate, &QUIET).1, Reason::UnderFloor);
        let bigger: Vec<f64> = memory.iter().map(|v| v * 2.0).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &bigger, &gate, &QUIET).0, Verdict::Regressed);
    }

    #[test]
    fn a_services_columns_are_judged_as_the_harnesss_cpu_times_and_memory_are() {
        let gate = Gate::default();
        let (cpu, memory) = ("service_api_cpu_s", "service_api_peak_memory_bytes");
        let base = [0.12, 0.121, 0.119, 0.12, 0.122, 0.118];
        let twice: Vec<f64> = base.iter().map(|v| v * 2.0).collect();
        // Lower is better: twice the CPU time is a regression, half of it an improvement.
        assert_eq!(direction(cpu), Direction::LowerIsBetter);
        assert_eq!(verdict(cpu, &base, &twice, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        assert_eq!(verdict(cpu, &twice, &base, &gate, &QUIET), (Verdict::Improved, Reason::Beyond));
        // The floors of their kinds: +20% of 3 ms of CPU is under 1 ms, +12% of 2 MiB under 1 MiB.
        assert_eq!((gate.floor(cpu), gate.floor(memory)), (gate.time_floor_s, gate.memory_floor_bytes));
        let small = [0.003, 0.003_03, 0.002_97, 0.003, 0.003_06, 0.002_94];
        let more: Vec<f64> = small.iter().map(|v| v * 1.2).collect();
        assert_eq!(verdict(cpu, &small, &more, &gate, &QUIET), (Verdict::Unchanged, Reason::UnderFloor));
        let mib = 1024.0 * 1024.0;
        let two_mib: Vec<f64> = base.iter().map(|v| v / 0.12 * 2.0 * mib).collect();
        let bigger: Vec<f64> = two_mib.iter().map(|v| v * 1.12).collect();
        assert_eq!(verdict(memory, &two_mib, &bigger, &gate, &QUIET), (Verdict::Unchanged, Reason::UnderFloor));
        let doubled: Vec<f64> = two_mib.iter().map(|v| v * 2.0).collect();
        assert_eq!(verdict(memory, &two_mib, &doubled, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        // A CPU time is a time: other work that slowed some runs leaves the fastest as it was...
        let disturbed = [0.24, 0.25, 0.119, 0.245, 0.241, 0.242];
        assert_eq!(verdict(cpu, &base, &disturbed, &gate, &QUIET), (Verdict::Unchanged, Reason::FastestWithin));
        // ...and a machine slower around every run, as its speed anchors say, explains the change.
        let anchors = [1e-3; 6];
        let slower: Vec<f64> = base.iter().map(|v| v * 1.4).collect();
        let slow_anchors = [1.4e-3, 1.41e-3, 1.39e-3, 1.4e-3, 1.42e-3, 1.38e-3];
        let judged = |metric: &str, values: (&[f64], &[f64]), current_anchors: &[f64]| {
            let c = judge("c", metric, values, Some((&anchors, current_anchors)), &gate, &QUIET, &mut Rng::new(1));
            (c.verdict, c.reason, c.anchored_change.is_some())
        };
        assert_eq!(judged(cpu, (&base, &slower), &slow_anchors), (Verdict::Unchanged, Reason::MachineSpeed, true));
        assert_eq!(judged(cpu, (&base, &slower), &anchors).0, Verdict::Regressed);
        // Memory is neither: not anchored, and not widened for a busy machine, where the CPU time is.
        assert_eq!(judged(memory, (&two_mib, &doubled), &slow_anchors), (Verdict::Regressed, Reason::Beyond, false));
        let busy = MachineLoad::new(Some(0.01), Some(0.4));
        let t = Threshold { increase: 0.1, decrease: 0.1 };
        assert_eq!((busy.widen(cpu, t), busy.widen(memory, t)), (busy.widen("user_cpu_s", t), t));
        assert_ne!(busy.widen(cpu, t), t);
    }

    #[test]
    fn a_busy_machine_widens_every_threshold_but_memorys() {
        let busy = MachineLoad::new(Some(0.01), Some(0.4));
        assert_eq!(busy.widened_for, Some(0.4));
        assert_eq!(MachineLoad::new(Some(0.05), None).widened_for, None);
        let t = Threshold { increase: 0.1, decrease: 0.1 };
        let widened = busy.widen("run_s", t);
        assert!((widened.increase - (1.1 / 0.6 - 1.0)).abs() < 1e-12 && (widened.decrease - 0.46).abs() < 1e-12);
        assert_eq!(busy.widen("peak_memory_bytes", t), t);
        // At most twice the threshold's factor, however busy.
        let swamped = MachineLoad::new(Some(0.95), Some(0.01)).widen("run_s", t);
        assert!((swamped.increase - 1.2).abs() < 1e-12 && (swamped.decrease - 0.55).abs() < 1e-12);
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower = [1.3, 1.31, 1.29, 1.3, 1.32, 1.28];
        let gate = Gate::default();
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET).0, Verdict::Regressed);
        assert_eq!(verdict("run_s", &base, &slower, &gate, &busy), (Verdict::Unchanged, Reason::WithinThreshold));
    }
}
