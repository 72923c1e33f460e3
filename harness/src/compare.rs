//! `harness compare BASELINE CURRENT`: did anything get slower, beyond noise?
//!
//! For every cell found in both result folders (matched by their axis values) and every gated metric:
//! the medians, the relative change of the median with a 95% bootstrap confidence interval, and a
//! two-sided Mann-Whitney U test. A change is a regression only when it is both significant (p < 0.05)
//! and larger than the metric's threshold in the bad direction; an improvement likewise in the good
//! direction; anything else is unchanged. Cells present on one side only are listed, never dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::stats::{Rng, quantile};

/// Metrics compared when the experiment's `[ci]` table does not say.
pub const DEFAULT_METRICS: &[&str] = &["run_s", "throughput_per_s", "latency_p99_s", "peak_memory_bytes"];
/// The significance level of the Mann-Whitney test.
pub const ALPHA: f64 = 0.05;
/// Bootstrap resamples for the confidence interval of a change.
const RESAMPLES: usize = 2000;

/// Whether a larger value is better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
}

/// The direction of a metric of `runs.csv`.
pub fn direction(metric: &str) -> Direction {
    if metric.starts_with("throughput") { Direction::HigherIsBetter } else { Direction::LowerIsBetter }
}

/// How much a metric may move before it counts: a fraction for each direction of change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    pub increase: f64,
    pub decrease: f64,
}

/// What to compare and how much change is noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub metrics: Vec<String>,
    pub default: f64,
    pub per_metric: BTreeMap<String, Threshold>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            metrics: DEFAULT_METRICS.iter().map(|&m| m.to_owned()).collect(),
            default: 0.05,
            per_metric: BTreeMap::new(),
        }
    }
}

impl Gate {
    pub fn threshold(&self, metric: &str) -> Threshold {
        self.per_metric.get(metric).copied().unwrap_or(Threshold { increase: self.default, decrease: self.default })
    }
}

/// Parses "5%" into 0.05.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    // The `%` is required: "0.05" could mean 5% or 0.05%.
    let Some(number) = text.trim().strip_suffix('%') else {
        return Err(format!("`{text}` is not a percentage such as \"5%\""));
    };
    match number.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!("`{text}` is not a percentage such as \"5%\"")),
    }
}

/// The verdict on one metric of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
}

/// One metric of one cell, compared.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
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
    pub threshold: Threshold,
    pub verdict: Verdict,
}

/// Everything a comparison found.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: PathBuf,
    pub current: PathBuf,
    pub changes: Vec<Change>,
    pub only_in_baseline: Vec<String>,
    pub only_in_current: Vec<String>,
    /// Cells of both sides whose current runs all failed: nothing to compare, and a regression.
    pub failed_in_current: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.changes.iter().filter(|c| c.verdict == Verdict::Regressed).count() + self.failed_in_current.len()
    }

    pub fn improvements(&self) -> usize {
        self.changes.iter().filter(|c| c.verdict == Verdict::Improved).count()
    }
}

/// The runs of a result folder: cell label to how many ended ok, and the metric values of those.
type Values = BTreeMap<String, (usize, BTreeMap<String, Vec<f64>>)>;

fn read(dir: &Path, metrics: &[String]) -> anyhow::Result<Values> {
    let path = dir.join("runs.csv");
    let mut reader = csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader.headers()?.clone();
    let axes =
        header.iter().position(|h| h == "cell").with_context(|| format!("{} has no `cell` column", path.display()))?;
    let status = header.iter().position(|h| h == "status").context("runs.csv has no `status` column")?;
    let mut values = Values::new();
    for record in reader.records() {
        let record = record?;
        // Cells are matched by their axis values: a changed matrix still compares what is comparable.
        let label: Vec<String> =
            (0..axes).filter(|&i| !record[i].is_empty()).map(|i| format!("{}={}", &header[i], &record[i])).collect();
        let (ok, cell) = values.entry(label.join(" ")).or_default();
        if &record[status] != "ok" {
            continue;
        }
        *ok += 1;
        for metric in metrics {
            if let Some(v) = header.iter().position(|h| h == metric).and_then(|i| record[i].parse::<f64>().ok()) {
                cell.entry(metric.clone()).or_default().push(v);
            }
        }
    }
    Ok(values)
}

/// Compares the result folders `baseline` and `current` under `gate`; `seed` drives the bootstrap.
pub fn compare(baseline: &Path, current: &Path, gate: &Gate, seed: u64) -> anyhow::Result<Comparison> {
    let before = read(baseline, &gate.metrics)?;
    let after = read(current, &gate.metrics)?;
    let mut changes = Vec::new();
    let mut failed_in_current = Vec::new();
    for (cell, (ok, metrics)) in &after {
        let Some((_, old)) = before.get(cell) else { continue };
        if *ok == 0 {
            failed_in_current.push(cell.clone());
            continue;
        }
        for metric in &gate.metrics {
            let (Some(a), Some(b)) = (old.get(metric), metrics.get(metric)) else { continue };
            if a.is_empty() || b.is_empty() {
                continue;
            }
            let mut rng = Rng::for_stream(seed, &format!("{cell}\u{1f}{metric}"));
            changes.push(judge(cell, metric, a, b, gate.threshold(metric), &mut rng));
        }
    }
    changes.sort_by(|x, y| {
        x.verdict.cmp(&y.verdict).then_with(|| x.cell.cmp(&y.cell)).then_with(|| x.metric.cmp(&y.metric))
    });
    Ok(Comparison {
        baseline: baseline.to_owned(),
        current: current.to_owned(),
        changes,
        only_in_baseline: before.keys().filter(|k| !after.contains_key(*k)).cloned().collect(),
        only_in_current: after.keys().filter(|k| !before.contains_key(*k)).cloned().collect(),
        failed_in_current,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

fn judge(cell: &str, metric: &str, baseline: &[f64], current: &[f64], threshold: Threshold, rng: &mut Rng) -> Change {
    let (m0, m1) = (median(baseline), median(current));
    let change = (m0 != 0.0).then(|| m1 / m0 - 1.0);
    let change_ci = change.map(|_| bootstrap_change(baseline, current, rng));
    let p_value = mann_whitney_p(baseline, current);
    let direction = direction(metric);
    let verdict = match change {
        Some(change) if p_value < ALPHA => {
            let (worse, better) = match direction {
                Direction::LowerIsBetter => (change > threshold.increase, -change > threshold.decrease),
                Direction::HigherIsBetter => (-change > threshold.decrease, change > threshold.increase),
            };
            if worse {
                Verdict::Regressed
            } else if better {
                Verdict::Improved
            } else {
                Verdict::Unchanged
            }
        }
        _ => Verdict::Unchanged,
    };
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
        verdict,
    }
}

/// Percentile-bootstrap interval of the relative change of the median, resampling both sides.
fn bootstrap_change(baseline: &[f64], current: &[f64], rng: &mut Rng) -> (f64, f64) {
    let mut resample = |values: &[f64]| {
        let drawn: Vec<f64> = (0..values.len()).map(|_| values[rng.below(values.len() as u64) as usize]).collect();
        median(&drawn)
    };
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            let (a, b) = (resample(baseline), resample(current));
            (a != 0.0).then(|| b / a - 1.0)
        })
        .collect();
    if changes.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    changes.sort_by(f64::total_cmp);
    (quantile(&changes, 0.025), quantile(&changes, 0.975))
}

/// Two-sided p-value of the Mann-Whitney U test: exact when there are no ties and the samples are small,
/// else the normal approximation with tie correction and continuity correction.
// The names are the textbook's: samples a and b, sizes n1 and n2, statistic u, tie counts t.
#[allow(clippy::many_single_char_names)]
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(f64, usize)> = a.iter().map(|&v| (v, 0)).chain(b.iter().map(|&v| (v, 1))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Average ranks over ties.
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        // Ties are values that are exactly equal, as the test defines them.
        while j + 1 < n && all[j + 1].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += rank * all[i..=j].iter().filter(|x| x.1 == 0).count() as f64;
        i = j + 1;
    }
    let u_a = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u_a.min((n1 * n2) as f64 - u_a);
    if tie_term == 0.0 && n1 * n2 <= 10_000 {
        let u = u.round() as usize;
        let counts = u_distribution(n1, n2);
        let total: f64 = counts.iter().sum();
        let tail: f64 = counts[..=u].iter().sum::<f64>() / total;
        return (2.0 * tail).min(1.0);
    }
    let (n1, n2, nf) = (n1 as f64, n2 as f64, n as f64);
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((u_a - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    (2.0 * normal_tail(z)).min(1.0)
}

/// How many arrangements of `n1` and `n2` distinct values give each U from 0 to n1 * n2.
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // counts[i][j][u]: arrangements of i values of the first sample and j of the second with statistic u,
    // built by adding the largest value to one sample or the other.
    let max = n1 * n2;
    let mut previous: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
    for row in &mut previous {
        row[0] = 1.0;
    }
    for _ in 1..=n1 {
        let mut current: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
        current[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=max {
                // The largest value belongs to the first sample: it beats all j of the second.
                let from_first = if u >= j { previous[j][u - j] } else { 0.0 };
                let from_second = current[j - 1][u];
                current[j][u] = from_first + from_second;
            }
        }
        previous = current;
    }
    previous.swap_remove(n2)
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn normal_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

fn percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn change_text(c: &Change) -> String {
    match (c.change, c.change_ci) {
        (Some(change), Some((low, high))) if low.is_finite() => {
            format!("{} [{}, {}]", percent(change), percent(low), percent(high))
        }
        (Some(change), _) => percent(change),
        _ => "n/a".to_owned(),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "REGRESSED",
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
    }
}

fn summary_line(c: &Comparison) -> String {
    let regressed = c.changes.iter().filter(|x| x.verdict == Verdict::Regressed).count();
    let unchanged = c.changes.len() - regressed - c.improvements();
    let failed = match c.failed_in_current.len() {
        0 => String::new(),
        n => format!("; {n} cells with no ok run in the current result"),
    };
    format!("{regressed} regressed, {} improved, {unchanged} unchanged{failed}", c.improvements())
}

/// The comparison as a plain-text table for a terminal.
pub fn table(c: &Comparison) -> String {
    let mut rows =
        vec![["cell", "metric", "baseline", "current", "change [95% CI]", "p", "verdict"].map(str::to_owned).to_vec()];
    for change in &c.changes {
        rows.push(vec![
            change.cell.clone(),
            change.metric.clone(),
            format!("{:.6}", change.baseline_median),
            format!("{:.6}", change.current_median),
            change_text(change),
            format!("{:.3}", change.p_value),
            verdict_text(change.verdict).to_owned(),
        ]);
    }
    let mut out = crate::fmt::table(&rows);
    let _ = writeln!(out, "\n{}", summary_line(c));
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        for cell in cells {
            let _ = writeln!(out, "only in the {side}: {cell}");
        }
    }
    for cell in &c.failed_in_current {
        let _ = writeln!(out, "REGRESSED: every current run failed: {cell}");
    }
    out
}

/// The comparison as Markdown, for a CI job summary.
pub fn markdown(c: &Comparison) -> String {
    let mut out = String::from("## Benchmark comparison\n\n");
    let _ = writeln!(
        out,
        "**{}** (baseline `{}`, current `{}`)\n",
        summary_line(c),
        c.baseline.display(),
        c.current.display()
    );
    out.push_str("| cell | metric | baseline | current | change [95% CI] | p | verdict |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | --- |\n");
    for change in &c.changes {
        let verdict = match change.verdict {
            Verdict::Regressed => "**regressed**",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.6} | {:.6} | {} | {:.3} | {verdict} |",
            change.cell.replace('|', "\\|"),
            change.metric,
            change.baseline_median,
            change.current_median,
            change_text(change),
            change.p_value
        );
    }
    if !c.failed_in_current.is_empty() {
        out.push_str("\n**Every current run failed** (a regression):\n\n");
        for cell in &c.failed_in_current {
            let _ = writeln!(out, "- {cell}");
        }
    }
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        if !cells.is_empty() {
            let _ = writeln!(out, "\nOnly in the {side}:\n");
            for cell in cells {
                let _ = writeln!(out, "- {cell}");
            }
        }
    }
    out
}

#[cfg(test)]
// Counts of arrangements are whole numbers, exactly representable.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_known_values() {
        // Complete separation of 5 and 5: the exact two-sided p is 2 / C(10, 5) = 2 / 252.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // Identical samples: no evidence at all.
        assert!(mann_whitney_p(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]) > 0.99);
        // 3 against 3 can never reach 5%: the smallest two-sided p is 2 / 20.
        assert!(mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) >= 0.1 - 1e-12);
    }

    #[test]
    fn the_u_distribution_sums_to_the_arrangements() {
        let counts = u_distribution(4, 3);
        assert_eq!(counts.iter().sum::<f64>(), 35.0);
        assert_eq!(counts.len(), 13);
        assert_eq!(counts[0], 1.0);
        assert_eq!(counts[12], 1.0);
    }

    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn verdicts_need_significance_and_size() {
        let mut rng = Rng::new(1);
        let t = Threshold { increase: 0.05, decrease: 0.05 };
        let base = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98];
        let slower = [1.2, 1.21, 1.19, 1.2, 1.22, 1.18];
        let slightly = [1.02, 1.03, 1.01, 1.02, 1.04, 1.0];
        assert_eq!(judge("c", "run_s", &base, &slower, t, &mut rng).verdict, Verdict::Regressed);
        assert_eq!(judge("c", "run_s", &slower, &base, t, &mut rng).verdict, Verdict::Improved);
        // Higher is better for throughput: the same numbers mean the opposite.
        assert_eq!(judge("c", "throughput_per_s", &base, &slower, t, &mut rng).verdict, Verdict::Improved);
        // Significant but within the threshold.
        assert_eq!(judge("c", "run_s", &base, &slightly, t, &mut rng).verdict, Verdict::Unchanged);
    }

    proptest::proptest! {
        #[test]
        fn p_values_are_probabilities(a in proptest::collection::vec(0.0f64..10.0, 1..12), b in proptest::collection::vec(0.0f64..10.0, 1..12)) {
            let p = mann_whitney_p(&a, &b);
            proptest::prop_assert!((0.0..=1.0).contains(&p));
            // The test is symmetric in its samples.
            proptest::prop_assert!((p - mann_whitney_p(&b, &a)).abs() < 1e-9);
        }
    }
}
