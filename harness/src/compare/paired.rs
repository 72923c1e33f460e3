//! The paired comparison: the values of one axis (`[ci] baseline = { AXIS = VALUE }`) within one result
//! folder, each against the baseline value, round by round.
//!
//! The cells that differ only in the axis form a pair (with more values, a baseline and several others);
//! `run::rounds` runs them back to back in every round, in an order drawn for the round. For each metric,
//! each round where both sides ended ok gives one ratio `other / baseline`; the comparison is on the
//! logarithms of those ratios (`stats::paired`): Wilcoxon's signed-rank test and the Hodges-Lehmann
//! estimate of the ratio with its exact interval. The random order makes the two sides exchangeable when
//! nothing changed, so the test is exact whatever the machine did, and no floor of times, widening for load
//! or speed anchor is needed: whatever slowed a round slowed both sides of it.
//!
//! A metric with zeros among the baseline's values (a count of errors) is compared on the differences
//! instead, relative to the baseline's median, or, when that is zero, in its own unit against the floor.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};

use super::folders::{judge_cell, sort, wanted};
use super::verdict::{Scale, decide, detectable, needed};
use super::{ALPHA, Change, Comparison, Direction, Mode, Reason, Verdict};
use crate::experiment::gate::{Baseline, Gate, Inconclusive, Threshold};
use crate::experiment::repetitions::Repetitions;
use crate::fmt::times;
use crate::metrics::Dimension;
use crate::stats::median;
use crate::stats::paired::{hodges_lehmann, signed_rank_p};
use crate::stats::sequential::alpha_at;

/// One run's metric values.
type Round = BTreeMap<String, f64>;

/// The key of a round's task count, beside its metrics (a name no metric has: metrics are identifiers).
const TASKS: &str = "tasks count";

/// A side of a pair: one cell, its ok runs' metric values by round.
#[derive(Debug, Default)]
struct Side {
    /// The cell's label, every axis included.
    label: String,
    /// Rows of the cell, and how many ended ok.
    rows: usize,
    ok: usize,
    rounds: BTreeMap<u64, Round>,
}

/// The cells of a result folder in pairs: the cell without the axis, then the axis's value, to the side.
type Groups = BTreeMap<String, BTreeMap<String, Side>>;

fn read(
    dir: &Path,
    baseline: &Baseline,
    metrics: &[String],
    upto: Option<u32>,
) -> anyhow::Result<(Groups, Vec<String>)> {
    let path = dir.join(crate::results::files::RUNS);
    let runs = crate::results::Runs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(position) = runs.axes.iter().position(|a| *a == baseline.axis) else {
        bail!(
            "{} has no column `{}`, the axis `[ci] baseline` names: it is not a result of this experiment's pairs",
            path.display(),
            baseline.axis
        );
    };
    // The columns that pair cells: the other axes of the matrix.
    let pair_by: Vec<usize> = baseline.pair_by.iter().filter_map(|a| runs.axes.iter().position(|c| c == a)).collect();
    let mut groups = Groups::new();
    for row in &runs.rows {
        let Some(round) = row.repetition else { continue };
        if upto.is_some_and(|upto| round > u64::from(upto)) {
            continue;
        }
        let group = pair_by
            .iter()
            .filter(|&&i| !row.axes[i].is_empty())
            .map(|&i| format!("{}={}", runs.axes[i], row.axes[i]))
            .collect::<Vec<_>>()
            .join(" ");
        let side = groups.entry(group).or_default().entry(row.axes[position].clone()).or_default();
        side.label = row.label(&runs.axes);
        side.rows += 1;
        if !row.ok() {
            continue;
        }
        side.ok += 1;
        let values = side.rounds.entry(round).or_default();
        if let Some(tasks) = row.metric("tasks") {
            values.insert(TASKS.to_owned(), tasks);
        }
        for metric in metrics {
            if let Some(v) = row.metric(metric) {
                values.insert(metric.clone(), v);
            }
        }
    }
    Ok((groups, runs.cut_warning().into_iter().collect()))
}

/// Compares the values of the axis of `gate.baseline` within the result folder `dir`, with the runs of the
/// first `upto` rounds (all when `None`). The experiment ran `plan`'s repetitions: a range spends the error
/// rate over its looks, and the intervals are those of the look its rounds reached.
pub(crate) fn compare_paired(
    dir: &Path,
    gate: &Gate,
    plan: Repetitions,
    upto: Option<u32>,
) -> anyhow::Result<Comparison> {
    let baseline = gate.baseline.as_ref().context("the experiment's [ci] table has no `baseline`")?;
    let wanted = wanted(gate);
    let (groups, mut warnings) = read(dir, baseline, &wanted, upto)?;
    let mut changes = Vec::new();
    let (mut matched, mut rounds) = (0, 0);
    let (mut only_in_baseline, mut only_in_current, mut failed_in_current) = (Vec::new(), Vec::new(), Vec::new());
    for sides in groups.values() {
        let Some(base) = sides.get(&baseline.value) else {
            only_in_current.extend(sides.values().map(|s| s.label.clone()));
            continue;
        };
        let others: Vec<&Side> = sides.iter().filter(|(v, _)| **v != baseline.value).map(|(_, s)| s).collect();
        if others.is_empty() {
            only_in_baseline.push(base.label.clone());
        }
        for other in others {
            matched += 1;
            if other.ok == 0 {
                failed_in_current.push(other.label.clone());
                continue;
            }
            if base.ok == 0 {
                warnings.push(format!(
                    "every run of the baseline cell {} failed: {} is not compared with it",
                    base.label, other.label
                ));
                continue;
            }
            let common: Vec<(&Round, &Round)> =
                base.rounds.iter().filter_map(|(r, a)| other.rounds.get(r).map(|b| (a, b))).collect();
            rounds = rounds.max(common.len());
            // Each pair stopped at its own look: its intervals are that look's.
            let reached = base.rounds.keys().chain(other.rounds.keys()).max().copied().unwrap_or(1);
            let reached = upto.unwrap_or(reached.min(u64::from(u32::MAX)) as u32).max(1);
            let alpha = alpha_at(reached, plan.min, plan.max, ALPHA);
            let judge_one = |metric: &str| {
                let (x, y): (Vec<f64>, Vec<f64>) =
                    common.iter().filter_map(|(a, b)| Some((*a.get(metric)?, *b.get(metric)?))).unzip();
                if x.is_empty() {
                    return None;
                }
                let mut change = judge(metric, (&x, &y), gate, alpha);
                change.cell.clone_from(&other.label);
                change.baseline_cell = Some(base.label.clone());
                Some(change)
            };
            let tasks = |round: &Round| round.get(TASKS).copied();
            let first = common.first().and_then(|(a, _)| tasks(a));
            let same_tasks = common.iter().all(|(a, b)| tasks(a) == first && tasks(b) == first);
            changes.extend(judge_cell(gate, &wanted, same_tasks, judge_one));
        }
    }
    sort(&mut changes);
    Ok(Comparison {
        over_cell: Vec::new(),
        rates: Vec::new(),
        mode: Mode::Paired {
            axis: baseline.axis.clone(),
            baseline: baseline.value.clone(),
            pair_by: baseline.pair_by.clone(),
        },
        baseline: dir.to_owned(),
        current: dir.to_owned(),
        matched,
        rounds: Some(rounds),
        changes,
        only_in_baseline,
        only_in_current,
        failed_in_current,
        machine_load: None,
        machine_speed: None,
        inconclusive_fails: gate.inconclusive == Inconclusive::Fail,
        ranged: plan.is_range(),
        warnings,
    })
}

/// One metric of one pair, from the values of the rounds where both sides ended ok.
fn judge(metric: &str, (baseline, current): (&[f64], &[f64]), gate: &Gate, alpha: f64) -> Change {
    let direction = gate.catalog.direction(metric);
    let threshold = gate.threshold(metric);
    let floor = gate.paired_floor(metric);
    let m0 = median(baseline);
    let n = baseline.len();
    let mut change = Change::new(metric, (baseline, current), gate, floor, alpha);
    let positive = baseline.iter().chain(current).all(|v| *v > 0.0);
    let (differences, scale, relative_to): (Vec<f64>, Scale, f64) = if positive {
        (baseline.iter().zip(current).map(|(a, b)| (b / a).ln()).collect(), Scale::Log, 1.0)
    } else {
        (baseline.iter().zip(current).map(|(a, b)| b - a).collect(), Scale::Linear, m0.abs())
    };
    change.p_value = signed_rank_p(&differences);
    let Some(interval) = hodges_lehmann(&differences, alpha) else { return change };
    if relative_to == 0.0 {
        // From a median of zero: the change in the metric's own unit, against the floor.
        let limit = Threshold { increase: floor, decrease: floor };
        let interval = (interval.low, interval.high);
        (change.verdict, change.reason) = match decide(direction, interval, limit) {
            (verdict @ (Verdict::Regressed | Verdict::Improved), _) => (verdict, Reason::FromZero),
            decided => decided,
        };
        change.limit = limit;
        return change;
    }
    let relative = |x: f64| match scale {
        // No interval: both bounds stay infinite.
        Scale::Log if x == f64::NEG_INFINITY => x,
        Scale::Log => x.exp() - 1.0,
        Scale::Linear => x / relative_to,
    };
    let floor_share = floor / m0.abs();
    let limit =
        Threshold { increase: threshold.increase.max(floor_share), decrease: threshold.decrease.max(floor_share) };
    let ci = (relative(interval.low), relative(interval.high));
    let estimate = relative(interval.estimate);
    change.change = Some(estimate);
    change.change_ci = Some(ci);
    change.limit = limit;
    change.detectable = detectable(direction, ci, limit, alpha, scale);
    (change.verdict, change.reason) = decide(direction, ci, limit);
    if change.verdict == Verdict::Inconclusive {
        change.needed = needed(n, estimate, ci, limit, scale);
    }
    change
}

/// The verdict in words, as a reader would say it: "`head` is 1.08x to 1.12x slower than `base` (95%)".
pub(crate) fn sentence(change: &Change, axis: &str, baseline: &str) -> Option<String> {
    let (low, high) = change.change_ci?;
    if !(low.is_finite() && high.is_finite()) || low <= -1.0 {
        return None;
    }
    let side = |label: &str| {
        label
            .split(' ')
            .find_map(|pair| pair.strip_prefix(axis).and_then(|r| r.strip_prefix('=')))
            .unwrap_or(label)
            .to_owned()
    };
    let current = side(&change.cell);
    let confidence = crate::fmt::tick(change.confidence * 100.0);
    let (low, high) = (1.0 + low, 1.0 + high);
    // Lower is better: a ratio above 1 is slower (more); higher is better: above 1 is faster (more).
    let words = match change.direction {
        Direction::LowerIsBetter if change.dimension == Some(Dimension::Seconds) => ("slower", "faster"),
        Direction::HigherIsBetter if change.dimension == Some(Dimension::PerSecond) => ("faster", "slower"),
        _ => ("more", "less"),
    };
    let text = if low >= 1.0 {
        format!("{current} is {} to {} {} than {baseline}", times(low), times(high), words.0)
    } else if high <= 1.0 {
        format!("{current} is {} to {} {} than {baseline}", times(1.0 / high), times(1.0 / low), words.1)
    } else {
        format!("{current} is between {} {} and {} {} than {baseline}", times(1.0 / low), words.1, times(high), words.0)
    };
    Some(format!("{text} ({confidence}%)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;
    use crate::stats::sequential::{alpha_at, looks};

    fn gate() -> Gate {
        let baseline = Baseline { axis: "version".into(), value: "base".into(), pair_by: vec!["executor".into()] };
        Gate { baseline: Some(baseline), ..Gate::default() }
    }

    #[test]
    fn a_slower_version_regresses_and_the_same_one_is_unchanged() {
        let base = [1.0, 1.1, 0.9, 1.2, 1.0, 0.95, 1.05, 1.3, 1.0, 1.1, 0.98, 1.02];
        // Every round's machine speed falls on both sides: 1.2 times the work each round.
        let slower: Vec<f64> = base.iter().enumerate().map(|(i, v)| v * (1.2 + 0.01 * (i % 3) as f64)).collect();
        let mut c = judge("run_s", (&base, &slower), &gate(), 0.05);
        assert_eq!((c.verdict, c.reason), (Verdict::Regressed, Reason::Beyond), "{c:?}");
        let (low, high) = c.change_ci.unwrap();
        assert!(low > 0.19 && high < 0.23, "{c:?}");
        c.cell = "executor=sync version=head".into();
        let said = sentence(&c, "version", "base").unwrap();
        assert!(said.starts_with("head is 1.2") && said.ends_with("x slower than base (95%)"), "{said}");
        let same: Vec<f64> = base.iter().enumerate().map(|(i, v)| v * (1.0 + 0.01 * ((i % 3) as f64 - 1.0))).collect();
        let c = judge("run_s", (&base, &same), &gate(), 0.05);
        assert_eq!((c.verdict, c.reason), (Verdict::Unchanged, Reason::Within), "{c:?}");
        assert!(c.detectable.unwrap() > 0.05 && c.detectable.unwrap() < 0.08, "{c:?}");
        // Throughput is higher-is-better: the same ratios the other way.
        let c = judge("throughput_per_s", (&slower, &base), &gate(), 0.05);
        assert_eq!(c.verdict, Verdict::Regressed);
    }

    #[test]
    fn a_change_from_zero_is_judged() {
        let zero = [0.0; 8];
        let errors = [200.0, 190.0, 210.0, 205.0, 199.0, 200.0, 201.0, 198.0];
        let mut gate = gate();
        gate.metrics.push("errors".into());
        let c = judge("errors", (&zero, &errors), &gate, 0.05);
        assert_eq!((c.verdict, c.reason), (Verdict::Regressed, Reason::FromZero), "{c:?}");
        let c = judge("errors", (&zero, &zero), &gate, 0.05);
        assert_eq!(c.verdict, Verdict::Unchanged, "{c:?}");
    }

    #[test]
    fn too_few_rounds_are_inconclusive_and_say_so() {
        let c = judge("run_s", (&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]), &gate(), 0.05);
        assert_eq!((c.verdict, c.reason, c.detectable), (Verdict::Inconclusive, Reason::TooFewRuns, None));
    }

    /// A synthetic paired round: the machine's speed this round (shared by both sides), and each side's
    /// own noise, heavy-tailed and skewed as interference is (it only ever adds time).
    fn round(rng: &mut Rng, ratio: f64) -> (f64, f64) {
        let mut uniform = || (rng.below(1 << 30) as f64 + 0.5) / f64::from(1 << 30);
        let machine = 1.0 + 0.5 * uniform();
        let mut own = || {
            let u = uniform();
            // Mostly small jitter, sometimes a stall of up to 60%.
            if u < 0.1 { 1.0 + 0.6 * uniform() } else { 1.0 + 0.03 * uniform() }
        };
        (0.02 * machine * own(), 0.02 * ratio * machine * own())
    }

    /// Runs the sequential procedure of a range of `min` to `max` rounds on synthetic rounds with a true
    /// ratio `ratio`: the verdict it stopped on and the rounds it took.
    fn sequential(rng: &mut Rng, ratio: f64, (min, max): (u32, u32), gate: &Gate) -> (Verdict, u32) {
        let (mut base, mut other) = (Vec::new(), Vec::new());
        let looks = looks(min, max);
        for n in 1..=max {
            let (a, b) = round(rng, ratio);
            base.push(a);
            other.push(b);
            if looks.contains(&n) {
                let c = judge("run_s", (&base, &other), gate, alpha_at(n, min, max, 0.05));
                if c.verdict != Verdict::Inconclusive || n == max {
                    return (c.verdict, n);
                }
            }
        }
        unreachable!("the last look decides")
    }

    #[test]
    fn stopping_on_the_data_keeps_false_alarms_at_or_below_the_nominal_rate() {
        // A/A: the same program on both sides. A false alarm is any regression or improvement verdict.
        // The threshold is 0: any interval that misses the true ratio of 1 is an alarm, so this measures the
        // error rate of the intervals themselves, which a threshold only lowers.
        let zero = Gate { default: 0.0, ..gate() };
        let mut rng = Rng::new(2024);
        let trials = 600;
        let mut alarms = 0u32;
        let mut naive_alarms = 0u32;
        for _ in 0..trials {
            let verdict = sequential(&mut rng, 1.0, (5, 60), &zero).0;
            alarms += u32::from(matches!(verdict, Verdict::Regressed | Verdict::Improved));
        }
        let rate = f64::from(alarms) / f64::from(trials);
        assert!(rate <= 0.05, "false alarms {alarms} of {trials}");
        // The same data, looked at every round at the whole 5%, cries wolf far more: the test above can fail.
        for _ in 0..200 {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for n in 1..=60u32 {
                let (a, b) = round(&mut rng, 1.0);
                x.push(a);
                y.push(b);
                if n >= 5
                    && matches!(judge("run_s", (&x, &y), &zero, 0.05).verdict, Verdict::Regressed | Verdict::Improved)
                {
                    naive_alarms += 1;
                    break;
                }
            }
        }
        assert!(f64::from(naive_alarms) / 200.0 > 0.1, "naive alarms {naive_alarms} of 200");
    }

    #[test]
    fn the_sequential_test_finds_a_ten_percent_slowdown_and_stops_early_on_a_large_one() {
        let mut rng = Rng::new(7);
        let mut found = 0u32;
        for _ in 0..100 {
            found += u32::from(sequential(&mut rng, 1.1, (5, 60), &gate()).0 == Verdict::Regressed);
        }
        assert!(found >= 80, "found {found} of 100");
        let (verdict, rounds) = sequential(&mut rng, 1.5, (5, 60), &gate());
        assert_eq!(verdict, Verdict::Regressed);
        assert!(rounds <= 12, "{rounds}");
    }
}
