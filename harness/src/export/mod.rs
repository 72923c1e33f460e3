//! Exports of a result folder for CI services: JSON, Markdown, Bencher Metric Format, and the
//! `customSmallerIsBetter` JSON of github-action-benchmark. The folder is loaded once into [`Exported`]
//! (per-cell statistics from `runs.csv` alone, as `summary` computes them); each format is an [`Exporter`] in a file of its
//! own that turns it into text, and this module writes the file.

use std::path::Path;

use anyhow::Context as _;

use crate::metrics::EXPORTED;
use crate::results::{Runs, files};
use crate::stats::Stats;
use crate::summary::runs_of;

mod bencher;
mod github;
mod json;
mod markdown;

/// One cell of a result folder: its axis values and the statistics of its ok runs.
pub(crate) struct Cell {
    axes: Vec<(String, String)>,
    ok: usize,
    failed: usize,
    metrics: Vec<(&'static str, Stats)>,
}

impl Cell {
    fn label(&self) -> String {
        self.axes.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }

    fn metric(&self, name: &str) -> Option<&Stats> {
        self.metrics.iter().find(|(m, _)| *m == name).map(|(_, s)| s)
    }
}

/// What every format exports: the experiment's name and its cells.
pub(crate) struct Exported {
    experiment: String,
    /// The result folder, as the JSON export names it.
    result: std::path::PathBuf,
    cells: Vec<Cell>,
}

fn load(dir: &Path) -> anyhow::Result<Exported> {
    let runs_path = dir.join(files::RUNS);
    let runs = Runs::read(&runs_path).with_context(|| format!("cannot read {}", runs_path.display()))?;
    let columns = runs.axes.clone();
    let runs = runs_of(&runs, &columns)?;
    let environment = crate::results::Environment::read_or_default(dir);
    let seed = environment.experiment.seed.unwrap_or(0);
    let by_cell = crate::summary::by_key(&runs);
    let cells = crate::summary::of_runs(&runs, seed)
        .into_iter()
        .map(|summary| {
            let ok = by_cell[summary.key.as_slice()].iter().filter(|r| r.ok).count();
            let metrics = EXPORTED.iter().filter_map(|&name| Some((name, summary.metric(name)?.clone()))).collect();
            Cell {
                axes: columns.iter().cloned().zip(summary.key.iter().cloned()).collect(),
                ok,
                failed: summary.failed,
                metrics,
            }
        })
        .collect();
    let experiment = environment.experiment.name.unwrap_or_else(|| "experiment".to_owned());
    Ok(Exported { experiment, result: dir.to_owned(), cells })
}

/// One export format.
trait Exporter {
    /// The file's text.
    fn serialize(&self, exported: &Exported) -> anyhow::Result<String>;
}

/// Loads the result folder `dir` and writes it to `out` in `format`.
fn export(dir: &Path, out: &Path, format: &dyn Exporter) -> anyhow::Result<()> {
    let text = format.serialize(&load(dir)?)?;
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))
}

/// Every cell with the statistics of every exported metric.
pub(crate) fn json(dir: &Path, out: &Path) -> anyhow::Result<()> {
    export(dir, out, &json::Json)
}

/// A Markdown table of medians with their confidence intervals.
pub(crate) fn markdown(dir: &Path, out: &Path) -> anyhow::Result<()> {
    export(dir, out, &markdown::Markdown)
}

/// Bencher Metric Format.
pub(crate) fn bencher(dir: &Path, out: &Path) -> anyhow::Result<()> {
    export(dir, out, &bencher::Bencher)
}

/// github-action-benchmark's `customSmallerIsBetter`.
pub(crate) fn github_benchmark(dir: &Path, out: &Path) -> anyhow::Result<()> {
    export(dir, out, &github::GithubBenchmark)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two cells of a made-up result: `executor=sync` with run times around 10 ms, and `executor=threaded`
    /// with one failed run.
    pub(crate) fn exported() -> Exported {
        let cell = |executor: &str, run_s: &[f64], failed| {
            let throughput: Vec<f64> = run_s.iter().map(|t| 100.0 / t).collect();
            let metrics = vec![
                ("run_s", Stats::of(run_s, 1).unwrap()),
                ("throughput_per_s", Stats::of(&throughput, 2).unwrap()),
                ("latency_p99_s", Stats::of(&[0.001, 0.0011, 0.0012], 3).unwrap()),
                ("peak_memory_bytes", Stats::of(&[2_097_152.0, 2_097_152.0, 2_101_248.0], 4).unwrap()),
            ];
            Cell {
                axes: vec![("executor".to_owned(), executor.to_owned()), ("latency".to_owned(), String::new())],
                ok: run_s.len(),
                failed,
                metrics,
            }
        };
        Exported {
            experiment: "demo".to_owned(),
            result: "results/demo/latest".into(),
            cells: vec![cell("sync", &[0.010, 0.011, 0.012], 0), cell("threaded", &[0.005, 0.006], 1)],
        }
    }
}
