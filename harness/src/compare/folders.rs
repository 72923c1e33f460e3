//! Two result folders, made at different times: for what cannot be built twice into one paired experiment.
//!
//! For every cell found in both (matched by their axis values) and every gated metric: the medians, the
//! relative change of the median with a bootstrap confidence interval, and a two-sided Mann-Whitney U test.
//! The verdict comes from the interval against the limit (`verdict.rs`), and a regression or improvement
//! must be significant too. Three rules stand for the machine changing between the two folders:
//!
//! - **A busy machine.** When either side ran while other processes took more than the busy share of the
//!   CPU, the thresholds widen by what that load could add to the cell's CPU-bound share: a cell that waits
//!   is not slowed by someone else's CPU use, so its threshold stays. Memory never widens.
//! - **The fastest run.** Other work only ever adds time, and seldom to every run: a time whose median moved
//!   beyond the limit while its fastest run did not is inconclusive, not a regression.
//! - **The speed anchor.** A fixed piece of work timed next to every run. When the anchors themselves moved
//!   significantly the way the time did, the time is judged relative to them; a noisy anchor excuses
//!   nothing.
//!
//! `throughput_per_s` is tasks / `run_s`: its verdict is `run_s`'s, under `run_s`'s threshold, when both
//! sides ran the same number of tasks in every run; otherwise (the runs at the rates two searches found, a
//! workload whose tasks changed) it is judged on its own. Cells present on one side only are listed, never
//! dropped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use super::verdict::{Scale, decide, detectable, needed};
use super::{
    ALPHA, AnchorShift, Change, Comparison, Direction, MachineLoad, Mode, OverCell, RESPONSE_TIME, RateFound, Reason,
    SERVICE_TIME, Verdict, judged_by,
};
use crate::experiment::gate::{Gate, Threshold};
use crate::experiment::repetitions::Repetitions;
use crate::fmt::percent;
use crate::metrics::{Catalog, Dimension};
use crate::results::Environment;
use crate::results::histograms::{self, CellLatency};
use crate::stats::sequential::alpha_at;
use crate::stats::{Rng, bootstrap_change, mann_whitney_p, median};

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

impl MachineLoad {
    fn new(baseline: Option<f64>, current: Option<f64>) -> Self {
        let busiest =
            baseline.into_iter().chain(current).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        Self { baseline, current, widened_for: busiest.filter(|&s| s > BUSY_SHARE) }
    }

    /// `threshold` widened to what a machine busy with other work for `share` of its CPU time could explain
    /// in a cell whose CPU work is `cpu_bound` of its run time: that share may be slowed by up to
    /// 1 / (1 - share), at most [`MAX_WIDENING`] times; its waits are not slowed. Memory does not depend on
    /// the CPU left to the run and is never widened, nor are custom metrics other than times.
    fn widen(&self, metric: &str, threshold: Threshold, cpu_bound: f64, catalog: &Catalog) -> Threshold {
        // A number a program prints (other than a time) does not depend on the CPU left to it either.
        let custom_not_time = catalog.custom(metric).is_some_and(|m| m.dimension != Dimension::Seconds);
        let memory = catalog.dimension(metric) == Some(Dimension::Bytes);
        match self.widened_for {
            Some(share) if !memory && !custom_not_time => {
                let left = (1.0 - share).max(1.0 / MAX_WIDENING);
                let slowdown = 1.0 + cpu_bound.clamp(0.0, 1.0) * (1.0 / left - 1.0);
                Threshold {
                    increase: (1.0 + threshold.increase) * slowdown - 1.0,
                    decrease: 1.0 - (1.0 - threshold.decrease) / slowdown,
                }
            }
            _ => threshold,
        }
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

/// The runs of one cell of a result folder.
#[derive(Debug, Clone, Default)]
struct CellRuns {
    /// How many ended ok.
    ok: usize,
    /// The metric values of those.
    metrics: BTreeMap<String, Series>,
    /// Each ok run's CPU time over its run time: how much of it a busy machine could slow.
    cpu_shares: Vec<f64>,
    /// The last repetition the cell ran.
    rounds: u32,
    /// Its number in `runs.csv`, which names its histograms, and the repetitions that ended ok.
    cell: Option<u64>,
    ok_repetitions: Vec<u64>,
    /// For a cell that searched for a rate: its probes, in the order they ran.
    probes: Vec<crate::search::Probe>,
    /// The task counts of its ok runs, each once.
    tasks: Vec<u64>,
}

impl CellRuns {
    /// Whether every ok run of both `self` and `other` ran the same number of tasks: then a throughput
    /// changes exactly as its run time does.
    fn same_tasks(&self, other: &Self) -> bool {
        self.tasks.len() <= 1 && self.tasks == other.tasks
    }
}

/// The runs of a result folder, by cell label.
type Values = BTreeMap<String, CellRuns>;

/// The runs of `dir`, and the speed anchors of its runs that ended ok.
fn read(dir: &Path, metrics: &[String], warnings: &mut Vec<String>) -> anyhow::Result<(Values, Vec<f64>)> {
    let path = dir.join(crate::results::files::RUNS);
    let runs = crate::results::Runs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    warnings.extend(runs.cut_warning());
    let mut values = Values::new();
    let mut anchors = Vec::new();
    // A cell that searched is described by its runs at the rate it found, as in summary.csv.
    let probe_at = runs.position(crate::metrics::PROBE);
    for row in &runs.rows {
        if let Some(probe) = row.probe(probe_at) {
            values.entry(row.label(&runs.axes)).or_default().probes.push(probe);
        }
    }
    let described: BTreeMap<String, f64> = values
        .iter()
        .filter_map(|(label, cell)| Some((label.clone(), crate::summary::search::described_rate(&cell.probes)?)))
        .collect();
    for row in &runs.rows {
        // Cells are matched by their axis values: a changed matrix still compares what is comparable.
        let label = row.label(&runs.axes);
        if described.get(&label).is_some_and(|&rate| row.probe(probe_at).is_none_or(|p| !p.at(rate))) {
            continue;
        }
        let cell = values.entry(label).or_default();
        cell.rounds = cell.rounds.max(row.repetition.unwrap_or(0).min(u64::from(u32::MAX)) as u32);
        cell.cell = cell.cell.or(row.cell);
        if !row.ok() {
            continue;
        }
        cell.ok += 1;
        cell.ok_repetitions.extend(row.repetition);
        if let Some(tasks) = row.metric("tasks").map(|t| t as u64).filter(|t| !cell.tasks.contains(t)) {
            cell.tasks.push(tasks);
        }
        anchors.extend(row.metric(crate::metrics::ANCHOR).filter(|a| a.is_finite() && *a > 0.0));
        let cpu = row.metric("user_cpu_s").unwrap_or(0.0) + row.metric("system_cpu_s").unwrap_or(0.0);
        if let Some(run) = row.metric("run_s").filter(|r| *r > 0.0) {
            cell.cpu_shares.push(cpu / run);
        }
        for metric in metrics {
            if let Some(v) = row.metric(metric) {
                let series = cell.metrics.entry(metric.clone()).or_default();
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
        let (before, after) =
            (gate.threshold("run_s"), load.widen("run_s", gate.threshold("run_s"), 1.0, &gate.catalog));
        out.push(format!(
            "thresholds of every metric but memory are widened for the CPU-bound share of each cell, by what {:.0}% \
             of the CPU taken by other work could explain: in a wholly CPU-bound cell run_s's +{} / -{} become \
             +{} / -{}; a cell that waits keeps its threshold",
            share * 100.0,
            percent(before.increase),
            percent(before.decrease),
            percent(after.increase),
            percent(after.decrease)
        ));
        if share > 1.0 - 1.0 / MAX_WIDENING {
            out.push(format!(
                "thresholds widen at most {MAX_WIDENING} times: with more than half the machine taken by other work, \
                 times say little; compare again on a quieter machine, or compare paired (`[ci] baseline`)"
            ));
        }
    }
    out
}

/// The metrics to read for `gate`: its own, and those that judge them (`run_s` for `throughput_per_s`).
pub(super) fn wanted(gate: &Gate) -> Vec<String> {
    let mut wanted = gate.metrics.clone();
    for metric in &gate.metrics {
        if let Some(by) = judged_by(metric) {
            if !wanted.iter().any(|m| m == by) {
                wanted.push(by.to_owned());
            }
        }
    }
    wanted
}

/// The changes of one cell: each metric of `gate` judged by `judge_one`, and the metrics judged by another
/// (`throughput_per_s`) given the verdict of that other when both sides ran the same tasks (`same_tasks`),
/// else judged on their own.
pub(super) fn judge_cell(
    gate: &Gate,
    wanted: &[String],
    same_tasks: bool,
    judge_one: impl Fn(&str) -> Option<Change>,
) -> Vec<Change> {
    let judged_by = |metric: &str| judged_by(metric).filter(|_| same_tasks);
    let mut judged: BTreeMap<&str, Change> = BTreeMap::new();
    for metric in wanted {
        if judged_by(metric).is_none() {
            if let Some(change) = judge_one(metric) {
                judged.insert(metric.as_str(), change);
            }
        }
    }
    let mut changes = Vec::new();
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
                    detectable: decider.detectable.map(|d| 1.0 / (1.0 + d) - 1.0),
                    needed: decider.needed,
                    fastest_change: decider.fastest_change,
                    anchored_change: decider.anchored_change,
                    anchors: decider.anchors,
                    cpu_bound: decider.cpu_bound,
                    judged_by: Some(by.to_owned()),
                    ..own
                }),
                _ => None,
            },
        };
        changes.extend(change);
    }
    changes
}

/// Sorts changes as the table shows them: regressions first, then the undecided, then by cell and metric.
pub(super) fn sort(changes: &mut [Change]) {
    changes.sort_by(|x, y| {
        x.verdict.cmp(&y.verdict).then_with(|| x.cell.cmp(&y.cell)).then_with(|| x.metric.cmp(&y.metric))
    });
}

/// Compares the result folders `baseline` and `current` under `gate`; `seed` drives the bootstrap. The
/// current result ran `plan`'s repetitions: a range spends the error rate over its looks, and a cell's
/// intervals are those of the look its rounds reached.
pub(crate) fn compare(
    baseline: &Path,
    current: &Path,
    gate: &Gate,
    seed: u64,
    plan: Repetitions,
) -> anyhow::Result<Comparison> {
    let wanted = wanted(gate);
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
             piece of work timed next to every run): a time is judged relative to it where the anchors of its \
             cell moved significantly",
            percent(change.abs()),
            if change > 0.0 { "slower" } else { "faster" }
        ));
    }

    let mut changes = Vec::new();
    let mut failed_in_current = Vec::new();
    let mut matched = 0;
    for (cell, now) in &after {
        let Some(old) = before.get(cell) else { continue };
        matched += 1;
        if now.ok == 0 {
            failed_in_current.push(cell.clone());
            continue;
        }
        // Each cell stopped at its own look: its intervals are that look's.
        let alpha = alpha_at(now.rounds.max(1), plan.min, plan.max, ALPHA);
        // The larger of the two sides' CPU-bound shares: a busy machine may have slowed either.
        let cpu_bound = [&old.cpu_shares, &now.cpu_shares]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| median(s).min(1.0))
            .fold(0.0, f64::max);
        let judge_one = |metric: &str| {
            let (a, b) = match (old.metrics.get(metric), now.metrics.get(metric)) {
                (Some(a), Some(b)) if !a.values.is_empty() && !b.values.is_empty() => (a, b),
                _ => return None,
            };
            let mut rng = Rng::for_stream(seed, &format!("{cell}\u{1f}{metric}"));
            let anchors = a.anchors().zip(b.anchors());
            let anchors = anchors.as_ref().map(|(x, y)| (x.as_slice(), y.as_slice()));
            let context = Context { gate, load: &load, cpu_bound, alpha };
            Some(judge(cell, metric, (&a.values, &b.values), anchors, &context, &mut rng))
        };
        changes.extend(judge_cell(gate, &wanted, old.same_tasks(now), judge_one));
    }
    sort(&mut changes);
    let over_cell = over_cells((baseline, &before), (current, &after), &mut warnings)?;
    let rates = rates(&before, &after);
    Ok(Comparison {
        over_cell,
        rates,
        mode: Mode::Folders,
        baseline: baseline.to_owned(),
        current: current.to_owned(),
        matched,
        rounds: None,
        changes,
        only_in_baseline: before.keys().filter(|k| !after.contains_key(*k)).cloned().collect(),
        only_in_current: after.keys().filter(|k| !before.contains_key(*k)).cloned().collect(),
        failed_in_current,
        machine_load: Some(load),
        machine_speed,
        inconclusive_fails: gate.inconclusive == crate::experiment::gate::Inconclusive::Fail,
        ranged: plan.is_range(),
        warnings,
    })
}

/// The percentiles over every task of each cell both sides have, from their histograms; a warning names a
/// side that has none (a folder written before the histograms).
fn over_cells(
    baseline: (&Path, &Values),
    current: (&Path, &Values),
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<OverCell>> {
    let of = |(dir, values): (&Path, &Values), kind, label: &str| -> anyhow::Result<Option<CellLatency>> {
        let Some(runs) = values.get(label) else { return Ok(None) };
        let Some(cell) = runs.cell else { return Ok(None) };
        histograms::of_cell(dir, kind, cell, &runs.ok_repetitions)
            .with_context(|| format!("cannot read the histograms of {}", dir.display()))
    };
    let mut found = Vec::new();
    let mut sides = [false, false];
    for label in current.1.keys().filter(|k| baseline.1.contains_key(*k)) {
        // Service time for every cell; an open workload's response times too, where both sides have them.
        for (kind, what) in [(histograms::Kind::Service, SERVICE_TIME), (histograms::Kind::Response, RESPONSE_TIME)] {
            let (old, new) = (of(baseline, kind, label)?, of(current, kind, label)?);
            if kind == histograms::Kind::Service {
                sides[0] |= old.is_some();
                sides[1] |= new.is_some();
            }
            if let (Some(old), Some(new)) = (old, new) {
                found.push(OverCell {
                    cell: label.clone(),
                    of: what,
                    baseline_p50_s: old.latency.p50_s,
                    current_p50_s: new.latency.p50_s,
                    baseline_p99_s: old.latency.p99_s,
                    current_p99_s: new.latency.p99_s,
                });
            }
        }
    }
    for ((dir, _), has) in [baseline, current].into_iter().zip(sides) {
        if !has && sides.iter().any(|s| *s) {
            warnings.push(format!(
                "{} has no latency histograms (it was written before the harness kept them): the percentiles over \
                 every task of a cell are not compared",
                dir.display()
            ));
        }
    }
    Ok(found)
}

/// The rates found by the searches of the cells both sides have and searched on both.
fn rates(baseline: &Values, current: &Values) -> Vec<RateFound> {
    let bracket = |cell: &CellRuns| (!cell.probes.is_empty()).then(|| crate::search::bracket(&cell.probes));
    current
        .iter()
        .filter_map(|(label, now)| {
            let (old, new) = (bracket(baseline.get(label)?)?, bracket(now)?);
            Some(RateFound {
                cell: label.clone(),
                baseline_found_per_s: old.pass,
                baseline_failed_per_s: old.fail,
                current_found_per_s: new.pass,
                current_failed_per_s: new.fail,
            })
        })
        .collect()
}

/// What a cell's changes are judged under.
struct Context<'a> {
    gate: &'a Gate,
    load: &'a MachineLoad,
    /// The cell's CPU-bound share of its run time.
    cpu_bound: f64,
    alpha: f64,
}

fn judge(
    cell: &str,
    metric: &str,
    (baseline, current): (&[f64], &[f64]),
    anchors: Option<(&[f64], &[f64])>,
    context: &Context<'_>,
    rng: &mut Rng,
) -> Change {
    let Context { gate, load, cpu_bound, alpha } = *context;
    let (m0, m1) = (median(baseline), median(current));
    let direction = gate.catalog.direction(metric);
    let threshold = gate.threshold(metric);
    let floor = gate.floor(metric);
    let widened = load.widen(metric, threshold, cpu_bound, &gate.catalog);
    let p_value = mann_whitney_p(baseline, current);
    let n = baseline.len().min(current.len());
    let mut change = Change {
        cell: cell.to_owned(),
        p_value,
        limit: widened,
        verdict: Verdict::Unchanged,
        reason: Reason::Within,
        cpu_bound: (load.widened_for.is_some() && is_time(metric, &gate.catalog)).then_some(cpu_bound),
        ..Change::new(metric, (baseline, current), gate, floor, alpha)
    };
    if m0 == 0.0 {
        (change.verdict, change.reason) = from_zero(direction, (baseline, current), floor, p_value, alpha);
        return change;
    }
    let floor_share = floor / m0.abs();
    let limit = Threshold { increase: widened.increase.max(floor_share), decrease: widened.decrease.max(floor_share) };
    let ci = bootstrap_change(baseline, current, RESAMPLES, alpha, rng);
    change.change = Some(m1 / m0 - 1.0);
    change.change_ci = Some(ci);
    change.limit = limit;
    change.detectable = detectable(direction, ci, limit, alpha, Scale::Linear);
    let (mut verdict, mut reason) = decide(direction, ci, limit);
    if verdict != Verdict::Unchanged && reason == Reason::Beyond && p_value >= alpha {
        (verdict, reason) = (Verdict::Inconclusive, Reason::NotSignificant);
    }
    // Interference on a shared machine only ever adds time, and never to every run: a program that got
    // slower is slower in its fastest run too (the minimum as the estimator of a time, as BenchmarkTools.jl
    // argues). A median beyond the limit with the fastest run within it is not known to be the code.
    change.fastest_change = fastest_change(metric, baseline, current, &gate.catalog);
    if verdict == Verdict::Regressed && change.fastest_change.is_some_and(|f| f <= limit.increase) {
        (verdict, reason) = (Verdict::Inconclusive, Reason::FastestWithin);
    }
    // A machine that slowed down (or sped up) while one side ran changes a time without any change of the
    // code. Where the anchors of the cell's runs moved significantly the same way as the time, the time is
    // judged relative to them; a noisy anchor excuses nothing.
    if let Some(anchors) = anchors.filter(|_| is_time(metric, &gate.catalog)) {
        let shift = AnchorShift {
            change: median(anchors.1) / median(anchors.0) - 1.0,
            p_value: mann_whitney_p(anchors.0, anchors.1),
        };
        let (a, b) = relative_to_anchors((baseline, current), anchors);
        let a0 = median(&a);
        change.anchored_change = (a0 != 0.0).then(|| median(&b) / a0 - 1.0);
        change.anchors = Some(shift);
        let raw = change.change.unwrap_or(0.0);
        let same_way = shift.change.signum() == raw.signum() && shift.change != 0.0;
        if verdict != Verdict::Unchanged && shift.p_value < alpha && same_way && a0 != 0.0 {
            let ci = bootstrap_change(&a, &b, RESAMPLES, alpha, rng);
            let (own, _) = decide(direction, ci, limit);
            if own != verdict {
                (verdict, reason) = (own, Reason::MachineSpeed);
            }
        }
    }
    if verdict == Verdict::Inconclusive {
        change.needed = change.change.and_then(|c| needed(n, c, ci, limit, Scale::Linear));
    }
    change.verdict = verdict;
    change.reason = reason;
    change
}

/// The verdict on a metric whose baseline median is zero, where no relative change exists: a significant
/// change beyond the floor counts, the bad way or the good; both sides all zero is unchanged.
fn from_zero(
    direction: Direction,
    (baseline, current): (&[f64], &[f64]),
    floor: f64,
    p_value: f64,
    alpha: f64,
) -> (Verdict, Reason) {
    let m1 = median(current);
    if baseline.iter().chain(current).all(|v| *v == 0.0) {
        return (Verdict::Unchanged, Reason::Within);
    }
    if p_value >= alpha || m1.abs() <= floor {
        return (Verdict::Inconclusive, Reason::FromZero);
    }
    let worse = match direction {
        Direction::LowerIsBetter => m1 > 0.0,
        Direction::HigherIsBetter => m1 < 0.0,
    };
    (if worse { Verdict::Regressed } else { Verdict::Improved }, Reason::FromZero)
}

/// Whether `metric` is a time: a metric in seconds, lower is better.
fn is_time(metric: &str, catalog: &Catalog) -> bool {
    catalog.dimension(metric) == Some(Dimension::Seconds) && catalog.direction(metric) == Direction::LowerIsBetter
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
fn fastest_change(metric: &str, baseline: &[f64], current: &[f64], catalog: &Catalog) -> Option<f64> {
    let fastest = |values: &[f64]| values.iter().copied().fold(f64::INFINITY, f64::min);
    let (b, c) = (fastest(baseline), fastest(current));
    (is_time(metric, catalog) && b.is_finite() && b > 0.0).then(|| c / b - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(metric: &str, base: &[f64], current: &[f64], gate: &Gate, load: &MachineLoad, cpu_bound: f64) -> Change {
        let context = Context { gate, load, cpu_bound, alpha: ALPHA };
        judge("c", metric, (base, current), None, &context, &mut Rng::new(1))
    }

    fn verdict(metric: &str, base: &[f64], current: &[f64], gate: &Gate, load: &MachineLoad) -> (Verdict, Reason) {
        let c = judged(metric, base, current, gate, load, 1.0);
        (c.verdict, c.reason)
    }

    const QUIET: MachineLoad = MachineLoad { baseline: Some(0.01), current: Some(0.01), widened_for: None };

    #[test]
    fn verdicts_need_the_whole_interval_beyond_the_threshold_or_within_it() {
        let gate = Gate::default();
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower = [1.2, 1.21, 1.19, 1.2, 1.22, 1.18];
        let same = [1.0, 1.005, 0.995, 1.01, 1.0, 0.99];
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        assert_eq!(verdict("run_s", &slower, &base, &gate, &QUIET), (Verdict::Improved, Reason::Beyond));
        // Higher is better for throughput: the same numbers mean the opposite.
        assert_eq!(verdict("throughput_per_s", &base, &slower, &gate, &QUIET).0, Verdict::Improved);
        // Equivalence shown: the whole interval within +-5%.
        assert_eq!(verdict("run_s", &base, &same, &gate, &QUIET), (Verdict::Unchanged, Reason::Within));
        // The median moved 16% (p = 0.005), past a 10% threshold, but the interval reaches down to 5%.
        let ten = Gate { default: 0.1, ..Gate::default() };
        let spread = [1.05, 1.30, 1.08, 1.25, 1.06, 1.28];
        let c = judged("run_s", &base, &spread, &ten, &QUIET, 1.0);
        assert!(c.change.unwrap() > 0.1 && c.p_value < ALPHA, "{c:?}");
        assert_eq!((c.verdict, c.reason), (Verdict::Inconclusive, Reason::Straddles), "{c:?}");
        assert!(c.needed.unwrap() > 6 && c.detectable.unwrap() > 0.1, "{c:?}");
    }

    /// A throughput is judged as its run time when both sides ran the same tasks; otherwise (the runs at
    /// the rates two searches found: the same time, more tasks) on its own.
    #[test]
    fn a_throughput_is_judged_as_its_run_time_only_over_the_same_tasks() {
        let gate = Gate { metrics: vec!["run_s".into(), "throughput_per_s".into()], ..Gate::default() };
        let run_s = [0.5, 0.501, 0.499, 0.5, 0.502, 0.498];
        let (fewer, more) = ([350.0, 351.0, 349.0, 350.0, 352.0, 348.0], [600.0, 601.0, 599.0, 600.0, 602.0, 598.0]);
        let judge_one = |metric: &str| {
            let current: &[f64] = if metric == "run_s" { &run_s } else { &more };
            let base: &[f64] = if metric == "run_s" { &run_s } else { &fewer };
            Some(judged(metric, base, current, &gate, &QUIET, 1.0))
        };
        let throughput = |same_tasks| {
            let changes = judge_cell(&gate, &wanted(&gate), same_tasks, judge_one);
            changes.into_iter().find(|c| c.metric == "throughput_per_s").expect("a throughput change")
        };
        let own = throughput(false);
        assert_eq!((own.verdict, own.judged_by.as_deref()), (Verdict::Improved, None), "{own:?}");
        let as_run_s = throughput(true);
        assert_eq!((as_run_s.verdict, as_run_s.judged_by.as_deref()), (Verdict::Unchanged, Some("run_s")));

        let cell_runs = |tasks: &[u64]| CellRuns { tasks: tasks.to_vec(), ..CellRuns::default() };
        assert!(cell_runs(&[100]).same_tasks(&cell_runs(&[100])));
        assert!(!cell_runs(&[100]).same_tasks(&cell_runs(&[300])));
        assert!(!cell_runs(&[100, 300]).same_tasks(&cell_runs(&[100, 300])));
    }

    #[test]
    fn a_time_whose_fastest_run_did_not_move_is_inconclusive() {
        let gate = Gate::default();
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        // Other work slowed five runs of six: the median moved, significantly, the fastest run did not.
        let disturbed = [1.6, 1.7, 0.99, 1.65, 1.61, 1.62];
        assert_eq!(verdict("run_s", &base, &disturbed, &gate, &QUIET), (Verdict::Inconclusive, Reason::FastestWithin));
        // A slower program is slower in every run.
        let slower = [1.5, 1.52, 1.49, 1.5, 1.53, 1.47];
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        // Memory is not a time: its peak is not added to by other work.
        let mib = 1024.0 * 1024.0;
        let memory: Vec<f64> = base.iter().map(|v| v * 8.0 * mib).collect();
        let more: Vec<f64> = disturbed.iter().map(|v| v * 8.0 * mib).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &more, &gate, &QUIET).0, Verdict::Regressed);
    }

    fn anchored(current: &[f64], base_anchors: &[f64], current_anchors: &[f64]) -> Change {
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let gate = Gate::default();
        let context = Context { gate: &gate, load: &QUIET, cpu_bound: 1.0, alpha: ALPHA };
        judge("c", "run_s", (&base, current), Some((base_anchors, current_anchors)), &context, &mut Rng::new(1))
    }

    #[test]
    fn the_speed_anchor_excuses_a_time_only_when_it_moved_significantly_the_same_way() {
        let anchors = [1e-3, 1.01e-3, 0.99e-3, 1e-3, 1.02e-3, 0.98e-3];
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower: Vec<f64> = base.iter().map(|v| v * 1.4).collect();
        // Every run 40% slower, and the anchor next to each run 40% slower too: the machine, not the code.
        let slow_anchors: Vec<f64> = anchors.iter().map(|a| a * 1.4).collect();
        let c = anchored(&slower, &anchors, &slow_anchors);
        assert_eq!((c.verdict, c.reason), (Verdict::Unchanged, Reason::MachineSpeed), "{c:?}");
        assert!(c.anchored_change.unwrap().abs() < 0.01 && c.anchors.unwrap().p_value < ALPHA, "{c:?}");
        // The same times with the machine as fast as before: slower code.
        assert_eq!(anchored(&slower, &anchors, &anchors).verdict, Verdict::Regressed);
        // Anchors that scatter (0.68 to 1.2 ms) moved nothing significantly: they excuse nothing.
        let noisy_base = [0.7e-3, 1.2e-3, 0.8e-3, 1.1e-3, 0.68e-3, 1.0e-3];
        let noisy = [1.2e-3, 0.7e-3, 1.15e-3, 0.9e-3, 1.1e-3, 0.75e-3];
        let c = anchored(&slower, &noisy_base, &noisy);
        assert_eq!((c.verdict, c.reason), (Verdict::Regressed, Reason::Beyond), "{c:?}");
        assert!(c.anchors.unwrap().p_value > ALPHA);
        // Anchors that moved the other way excuse nothing either.
        let faster: Vec<f64> = anchors.iter().map(|a| a * 0.7).collect();
        assert_eq!(anchored(&slower, &anchors, &faster).verdict, Verdict::Regressed);
    }

    #[test]
    fn changes_within_the_floor_are_unchanged_and_those_that_may_be_are_inconclusive() {
        let gate = Gate::default();
        // +20% of 3 ms is 0.6 ms, wholly under the 1 ms floor of times.
        let base = [0.003, 0.003_03, 0.002_97, 0.003, 0.003_06, 0.002_94];
        let slower: Vec<f64> = base.iter().map(|v| v * 1.2).collect();
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET), (Verdict::Unchanged, Reason::Within));
        let lower = Gate { time_floor_s: 1e-4, ..Gate::default() };
        assert_eq!(verdict("run_s", &base, &slower, &lower, &QUIET), (Verdict::Regressed, Reason::Beyond));
        // +1.5x of 2 ms is 1 ms, at the floor: the interval straddles it.
        let two = [0.002, 0.002_02, 0.001_98, 0.002, 0.002_04, 0.001_96];
        let half: Vec<f64> = two.iter().map(|v| v * 1.5).collect();
        assert_eq!(verdict("run_s", &two, &half, &gate, &QUIET).0, Verdict::Inconclusive);
        // +12% of 2 MiB is less than the 1 MiB floor of memory.
        let mib = 1024.0 * 1024.0;
        let memory: Vec<f64> = base.iter().map(|v| v / 0.003 * 2.0 * mib).collect();
        let more: Vec<f64> = memory.iter().map(|v| v * 1.12).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &more, &gate, &QUIET), (Verdict::Unchanged, Reason::Within));
        let bigger: Vec<f64> = memory.iter().map(|v| v * 2.0).collect();
        assert_eq!(verdict("peak_memory_bytes", &memory, &bigger, &gate, &QUIET).0, Verdict::Regressed);
    }

    #[test]
    fn a_change_from_zero_or_past_the_largest_number_is_judged() {
        let mut gate = Gate::default();
        gate.metrics.push("shared_lost".into());
        let zero = [0.0; 6];
        let lost = [200.0, 190.0, 210.0, 205.0, 199.0, 201.0];
        assert_eq!(verdict("shared_lost", &zero, &lost, &gate, &QUIET), (Verdict::Regressed, Reason::FromZero));
        assert_eq!(verdict("shared_lost", &lost, &zero, &gate, &QUIET).0, Verdict::Improved);
        assert_eq!(verdict("shared_lost", &zero, &zero, &gate, &QUIET).0, Verdict::Unchanged);
        let base = [0.002, 0.002_02, 0.001_98, 0.002, 0.002_04, 0.001_96];
        let huge = [1e308; 6];
        assert_eq!(verdict("run_s", &base, &huge, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
    }

    #[test]
    fn a_services_columns_are_judged_as_the_harnesss_cpu_times_and_memory_are() {
        let gate = Gate::default();
        let (cpu, memory) = ("service_api_cpu_s", "service_api_peak_memory_bytes");
        let base = [0.12, 0.121, 0.119, 0.12, 0.122, 0.118];
        let twice: Vec<f64> = base.iter().map(|v| v * 2.0).collect();
        // Lower is better: twice the CPU time is a regression, half of it an improvement.
        assert_eq!(gate.catalog.direction(cpu), Direction::LowerIsBetter);
        assert_eq!(verdict(cpu, &base, &twice, &gate, &QUIET), (Verdict::Regressed, Reason::Beyond));
        assert_eq!(verdict(cpu, &twice, &base, &gate, &QUIET), (Verdict::Improved, Reason::Beyond));
        // The floors of their kinds.
        assert_eq!((gate.floor(cpu), gate.floor(memory)), (gate.time_floor_s, gate.memory_floor_bytes));
        // A CPU time is a time: other work that slowed some runs leaves the fastest as it was.
        let disturbed = [0.24, 0.25, 0.119, 0.245, 0.241, 0.242];
        assert_eq!(verdict(cpu, &base, &disturbed, &gate, &QUIET), (Verdict::Inconclusive, Reason::FastestWithin));
        // Memory is not widened for a busy machine, where the CPU time is.
        let busy = MachineLoad::new(Some(0.01), Some(0.4));
        let t = Threshold { increase: 0.1, decrease: 0.1 };
        assert_eq!(
            (busy.widen(cpu, t, 1.0, &Catalog::default()), busy.widen(memory, t, 1.0, &Catalog::default())),
            (busy.widen("user_cpu_s", t, 1.0, &Catalog::default()), t)
        );
        assert_ne!(busy.widen(cpu, t, 1.0, &Catalog::default()), t);
    }

    #[test]
    fn a_busy_machine_widens_thresholds_by_the_cpu_bound_share_only() {
        let busy = MachineLoad::new(Some(0.01), Some(0.4));
        assert_eq!(busy.widened_for, Some(0.4));
        assert_eq!(MachineLoad::new(Some(0.05), None).widened_for, None);
        let t = Threshold { increase: 0.1, decrease: 0.1 };
        let widened = busy.widen("run_s", t, 1.0, &Catalog::default());
        assert!((widened.increase - (1.1 / 0.6 - 1.0)).abs() < 1e-12 && (widened.decrease - 0.46).abs() < 1e-12);
        assert_eq!(busy.widen("peak_memory_bytes", t, 1.0, &Catalog::default()), t);
        // A cell that waits (2% of its time on a CPU) keeps nearly its threshold.
        let waits = busy.widen("run_s", t, 0.02, &Catalog::default());
        assert!(waits.increase < 0.115, "{waits:?}");
        // At most twice the threshold's factor, however busy.
        let swamped = MachineLoad::new(Some(0.95), Some(0.01)).widen("run_s", t, 1.0, &Catalog::default());
        assert!((swamped.increase - 1.2).abs() < 1e-12 && (swamped.decrease - 0.55).abs() < 1e-12);
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower = [1.3, 1.31, 1.29, 1.3, 1.32, 1.28];
        let gate = Gate::default();
        assert_eq!(verdict("run_s", &base, &slower, &gate, &QUIET).0, Verdict::Regressed);
        // CPU-bound on a busy machine: within what the load explains.
        assert_eq!(verdict("run_s", &base, &slower, &gate, &busy), (Verdict::Unchanged, Reason::Within));
        // A wait-bound cell 1.3 times slower on the same busy machine regresses.
        assert_eq!(judged("run_s", &base, &slower, &gate, &busy, 0.02).verdict, Verdict::Regressed);
    }
}
