//! Exports of a result folder for CI services: JSON, Markdown, Bencher Metric Format, and the
//! `customSmallerIsBetter` JSON of github-action-benchmark. Each is one function over the same per-cell
//! statistics, computed from `runs.csv` alone.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::metrics::{EXPORTED, MEASURED};
use crate::results::{Runs, files};
use crate::stats::Stats;
use crate::summary::{runs_of, stream_seed};

/// One cell of a result folder: its axis values and the statistics of its ok runs.
struct Cell {
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

struct Result {
    experiment: String,
    cells: Vec<Cell>,
}

fn load(dir: &Path) -> anyhow::Result<Result> {
    let runs_path = dir.join(files::RUNS);
    let runs = Runs::read(&runs_path).with_context(|| format!("cannot read {}", runs_path.display()))?;
    let columns = runs.axes.clone();
    let runs = runs_of(&runs, &columns)?;
    let environment = crate::results::Environment::read_or_default(dir);
    let seed = environment.experiment.seed.unwrap_or(0);
    let mut keys: Vec<&Vec<String>> = Vec::new();
    for run in &runs {
        if !keys.contains(&&run.key) {
            keys.push(&run.key);
        }
    }
    let cells = keys
        .into_iter()
        .map(|key| {
            let mine: Vec<_> = runs.iter().filter(|r| &r.key == key).collect();
            let ok: Vec<_> = mine.iter().filter(|r| r.ok).collect();
            let metrics = EXPORTED
                .iter()
                .filter_map(|&name| {
                    let index = MEASURED.iter().position(|m| *m == name)?;
                    let values: Vec<f64> = ok.iter().filter_map(|r| r.metrics[index]).collect();
                    // Seeded as in summary.csv, so the intervals agree with it.
                    Some((name, Stats::of(&values, stream_seed(seed, key, name))?))
                })
                .collect();
            Cell {
                axes: columns.iter().cloned().zip(key.iter().cloned()).collect(),
                ok: ok.len(),
                failed: mine.len() - ok.len(),
                metrics,
            }
        })
        .collect();
    let experiment = environment.experiment.name.unwrap_or_else(|| "experiment".to_owned());
    Ok(Result { experiment, cells })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Every cell with the statistics of every exported metric.
pub(crate) fn json(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let result = load(dir)?;
    let cells: Vec<Value> = result
        .cells
        .iter()
        .map(|cell| {
            let metrics: serde_json::Map<String, Value> = cell
                .metrics
                .iter()
                .map(|(name, s)| {
                    let stats = json!({
                        "n": s.n, "median": s.median, "mean": s.mean, "stddev": s.stddev, "cv": s.cv,
                        "min": s.min, "max": s.max, "ci95_low": s.ci_low, "ci95_high": s.ci_high,
                    });
                    ((*name).to_owned(), stats)
                })
                .collect();
            let axes: serde_json::Map<String, Value> =
                cell.axes.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json!({ "name": cell.label(), "axes": axes, "runs_ok": cell.ok, "runs_failed": cell.failed, "metrics": metrics })
        })
        .collect();
    let document = json!({ "experiment": result.experiment, "result": dir, "cells": cells });
    write(out, &(serde_json::to_string_pretty(&document)? + "\n"))
}

/// A Markdown table of medians with their confidence intervals.
pub(crate) fn markdown(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let result = load(dir)?;
    let mut text =
        format!("## {}\n\nMedians of the ok runs, with 95% confidence intervals of the median.\n\n", result.experiment);
    text.push_str("| cell | runs | ");
    text.push_str(&EXPORTED.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" | "));
    text.push_str(" |\n| --- | ---: |");
    text.push_str(&" ---: |".repeat(EXPORTED.len()));
    text.push('\n');
    for cell in &result.cells {
        let _ = write!(
            text,
            "| {} | {}{} |",
            cell.label(),
            cell.ok,
            if cell.failed > 0 { format!(" ({} failed)", cell.failed) } else { String::new() }
        );
        for name in EXPORTED.iter() {
            match cell.metric(name) {
                Some(s) => {
                    let _ = write!(text, " {} [{}, {}] |", short(s.median), short(s.ci_low), short(s.ci_high));
                }
                None => text.push_str(" |"),
            }
        }
        text.push('\n');
    }
    write(out, &text)
}

/// Four significant digits, without exponent noise for everyday magnitudes.
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e7) {
        format!("{x:.3e}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

/// Bencher Metric Format: benchmark name to measure to value with bounds. `latency` is the median run time
/// in nanoseconds (bounds: the confidence interval), `throughput` tasks per second, `peak-memory` bytes.
pub(crate) fn bencher(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let result = load(dir)?;
    let mut document = serde_json::Map::new();
    for cell in &result.cells {
        let mut measures = serde_json::Map::new();
        let mut add = |slug: &str, name: &str, scale: f64| {
            if let Some(s) = cell.metric(name) {
                measures.insert(
                    slug.to_owned(),
                    json!({ "value": s.median * scale, "lower_value": s.ci_low * scale, "upper_value": s.ci_high * scale }),
                );
            }
        };
        add("latency", "run_s", 1e9);
        add("throughput", "throughput_per_s", 1.0);
        add("peak-memory", "peak_memory_bytes", 1.0);
        document.insert(format!("{}/{}", result.experiment, cell.label()), Value::Object(measures));
    }
    write(out, &(serde_json::to_string_pretty(&Value::Object(document))? + "\n"))
}

/// github-action-benchmark's `customSmallerIsBetter`: one entry per cell and smaller-is-better metric.
pub(crate) fn github_benchmark(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let result = load(dir)?;
    let mut entries = Vec::new();
    for cell in &result.cells {
        for (name, unit) in [("run_s", "s"), ("latency_p99_s", "s"), ("peak_memory_bytes", "bytes")] {
            if let Some(s) = cell.metric(name) {
                entries.push(json!({
                    "name": format!("{} {} {name}", result.experiment, cell.label()),
                    "unit": unit,
                    "value": s.median,
                    "range": format!("± {}", short((s.ci_high - s.ci_low) / 2.0)),
                    "extra": format!("median of {} runs; 95% CI [{}, {}]", s.n, short(s.ci_low), short(s.ci_high)),
                }));
            }
        }
    }
    write(out, &(serde_json::to_string_pretty(&entries)? + "\n"))
}
