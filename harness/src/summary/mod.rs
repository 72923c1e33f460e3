//! `summary.csv`: for each cell and metric, the statistics of its measured runs ([`crate::stats`]), and for
//! each cell its throughput, ideal time ([`crate::ideal`]) and efficiency.
//!
//! Everything is computed from the rows of `runs.csv` as written, read back from disk, plus a description
//! of each cell for the model: a result folder can be summarised again from its files alone. Only runs with
//! status `ok` count; the others are counted in `failed`.

mod checksums;
pub(crate) mod open;
pub(crate) mod search;
pub(crate) mod slots;
mod visible;

pub(crate) use checksums::disagreements;
pub(crate) use visible::too_short_for_the_gate;

use std::io;
use std::path::Path;
use std::sync::Arc;

use harness_sdk::protocol::Workload;
use harness_sdk::steps::Work;

use anyhow::Context as _;

use crate::error::Error;
use crate::experiment::{self, CellPlan, ChartSpec, Experiment};
use crate::fmt::number;
use crate::ideal::{self, Waits};
use crate::metrics::{CPU, Catalog, Direction, MEASURED, NOISE, OPEN, SUMMARY_COLUMNS};
use crate::plugin::Registry;
use crate::results::histograms::{self, CellLatency};
use crate::results::{Environment, Folder, Runs};
use crate::stats::{Rng, Stats};

/// A cell whose run time varies more than this (coefficient of variation) is noisy.
pub(crate) const NOISY_CV: f64 = 0.05;

/// How far past what is possible (an efficiency over 100%, a task shorter than its waits) a number must be
/// before it is a warning: the clocks' and the model's own error.
pub(crate) const IMPOSSIBLE_MARGIN: f64 = 0.05;

/// A cell as the experiment declares it: what the ideal-time model needs to know of it, and its values in
/// the axis columns.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredCell {
    pub key: Vec<String>,
    pub executor: String,
    pub workers: u32,
    pub options: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The execution model the executor declares, `None` when it declares none or is unknown.
    pub model: Option<harness_sdk::model::Model>,
    /// `None` when the experiment could be read but not resolved (its executors are missing): the cell
    /// then gets statistics but no throughput, ideal time or efficiency.
    pub workload: Option<Arc<Workload>>,
    /// The cells whose runs' checksums must agree with this one's share it; `None` when not compared.
    pub checksum_group: Option<String>,
    /// `rate = "search"`: the search its runs make, each probe at a rate of its own.
    pub search: Option<Arc<crate::search::Search>>,
}

impl DeclaredCell {
    pub(crate) fn new(cell: &CellPlan, columns: &[String]) -> Self {
        Self {
            key: columns.iter().map(|c| cell.value(c)).collect(),
            executor: cell.executor.name.clone(),
            workers: cell.workers,
            options: Arc::clone(&cell.options),
            model: cell.executor.model.clone(),
            workload: Some(Arc::clone(&cell.workload)),
            checksum_group: cell.checksum_group(),
            search: cell.search.clone(),
        }
    }

    pub(crate) fn of(experiment: &Experiment) -> Vec<Self> {
        experiment.cells.iter().map(|c| Self::new(c, &experiment.columns)).collect()
    }
}

/// One measured run, as read back from `runs.csv`.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub key: Vec<String>,
    /// The cell's number in `runs.csv` (1-based), when it has one: names its histograms.
    pub cell: Option<u64>,
    pub repetition: u32,
    pub ok: bool,
    /// The metrics measured: [`MEASURED`], then the custom metrics of the file, then its services'
    /// columns (the same for every run of a file).
    pub names: Arc<[String]>,
    /// The value of each of `names`, `None` when blank.
    pub metrics: Vec<Option<f64>>,
    /// For a probe of a rate search: its rate and verdict.
    pub probe: Option<crate::search::Probe>,
}

/// The measured metrics of a `runs.csv` whose custom metrics are `custom`: [`MEASURED`], then those.
pub(crate) fn measured(custom: &[String]) -> Arc<[String]> {
    MEASURED.iter().map(|&m| m.to_owned()).chain(custom.iter().cloned()).collect()
}

/// The runs of a `runs.csv` as read back, keyed by their values in the axis columns `columns`. Every
/// measured metric must be a column of it.
pub(crate) fn runs_of(runs: &Runs, columns: &[String]) -> io::Result<Vec<Run>> {
    // Result folders from before open workloads have none of their columns, nor of some added later.
    let required = MEASURED.iter().copied().filter(|m| !OPEN.contains(m) && !crate::metrics::ADDED_LATER.contains(m));
    runs.require(columns.iter().map(String::as_str).chain(required))?;
    let axes: Vec<usize> = columns.iter().filter_map(|c| runs.position(c)).collect();
    // The services' columns (one per service and measure) after the custom metrics.
    let services = runs.header.iter().filter(|h| crate::metrics::is_member(h)).map(str::to_owned);
    let names: Arc<[String]> = measured(&runs.custom).iter().cloned().chain(services).collect();
    // The custom metrics are read by their place, not looked up by name: a file may have many.
    let (custom_from, custom_to) = (MEASURED.len(), MEASURED.len() + runs.custom.len());
    let probe_at = runs.position(crate::metrics::PROBE);
    Ok(runs
        .rows
        .iter()
        .map(|row| Run {
            key: axes.iter().map(|&i| row.record[i].to_owned()).collect(),
            cell: row.cell,
            repetition: row.repetition.map_or(0, |r| r as u32),
            ok: row.ok(),
            names: Arc::clone(&names),
            metrics: names
                .iter()
                .enumerate()
                .map(|(k, m)| match k {
                    k if (custom_from..custom_to).contains(&k) => row.custom_values()[k - custom_from],
                    _ => row.metric(m),
                })
                .collect(),
            probe: row.probe(probe_at),
        })
        .collect())
}

/// The machine's speed anchors may spread this much (the 90th percentile over the 10th) before the
/// experiment's timings count as made on a machine whose speed changed.
pub(crate) const SPEED_SPREAD: f64 = 1.25;

/// A warning when the machine's speed changed during the experiment: the speed anchors of its runs (a fixed
/// piece of work timed next to each run) spread beyond [`SPEED_SPREAD`].
pub(crate) fn speed_warning(runs: &Runs) -> Option<String> {
    let mut anchors: Vec<f64> = runs
        .rows
        .iter()
        .filter_map(|row| row.metric(crate::metrics::ANCHOR))
        .filter(|a| a.is_finite() && *a > 0.0)
        .collect();
    if anchors.len() < 10 {
        return None;
    }
    anchors.sort_by(f64::total_cmp);
    let at = |q: f64| anchors[((anchors.len() - 1) as f64 * q).round() as usize];
    let (fast, slow) = (at(0.1), at(0.9));
    (slow / fast > SPEED_SPREAD).then(|| {
        format!(
            "the machine's speed changed during the experiment: its speed anchor (a fixed piece of work timed next \
             to every run) took {:.3} ms or less around a tenth of the runs and {:.3} ms or more around another \
             tenth, {:.2}x as long: the runs were made on a machine of changing speed (anchor_s in runs.csv says \
             which)",
            fast * 1e3,
            slow * 1e3,
            slow / fast
        )
    })
}

/// The statistics of one metric of one cell.
#[derive(Debug, Clone)]
pub struct MetricSummary {
    pub metric: String,
    pub stats: Option<Stats>,
    /// The repetitions whose value is an outlier.
    pub outlier_repetitions: Vec<u32>,
}

/// Everything `summary.csv` says about one cell.
#[derive(Debug, Clone)]
pub struct CellSummary {
    pub key: Vec<String>,
    pub failed: usize,
    pub metrics: Vec<MetricSummary>,
    /// User plus system CPU time of each ok run ([`CPU`]), seeded like the metrics.
    pub cpu: Option<Stats>,
    /// Tasks over the median `run_s`.
    pub throughput_per_s: Option<f64>,
    /// The ideal time and the bound that sets it, or why there is none.
    pub ideal: Result<(f64, ideal::Bound), String>,
    pub efficiency: Option<f64>,
    /// For a cell of an open workload: its offered rate, and its load group's capacity and sustainable
    /// rate ([`open`]).
    pub open: Option<open::OpenSummary>,
    /// For a cell that searched for a rate: the rate found and its bracket ([`search`]).
    pub search: Option<search::SearchSummary>,
    /// Percentiles over every task of the cell's ok runs, their histograms merged; `None` without
    /// histograms ([`crate::results::histograms`]).
    pub over_cell: Option<CellLatency>,
    /// The same over an open workload's response times (from when each task was due to its end); `None`
    /// for a closed workload.
    pub over_cell_response: Option<CellLatency>,
    /// The tasks it kept in flight and the connections of its steps; `None` without a model.
    pub slots: Option<slots::Slots>,
    pub warnings: Vec<String>,
}

impl CellSummary {
    pub fn metric(&self, name: &str) -> Option<&Stats> {
        // The harness's own metrics come first, in the order of `MEASURED`: found at once.
        let at =
            MEASURED.iter().position(|m| *m == name).filter(|&i| self.metrics.get(i).is_some_and(|m| m.metric == name));
        let found = match at {
            Some(i) => self.metrics.get(i),
            None => self.metrics.iter().find(|m| m.metric == name),
        };
        found.and_then(|m| m.stats.as_ref())
    }
}

/// Summarises `runs` per cell of `cells`, in the order of `cells`. `seed` seeds the bootstraps (each cell
/// and metric its own stream); `cores` is what the model spreads CPU work over.
pub(crate) fn summarize(runs: &[Run], cells: &[DeclaredCell], seed: u64, cores: u64) -> Vec<CellSummary> {
    let by_cell = by_key(runs);
    let every_probe = by_key_all(runs);
    let names = names_of(runs);
    let mut summaries: Vec<CellSummary> = cells
        .iter()
        .map(|cell| {
            let mine = by_cell.get(cell.key.as_slice()).map_or(&[][..], Vec::as_slice);
            let mut summary = describe(&cell.key, cell.workload.as_deref(), mine, &names, seed);
            summary.search = every_probe.get(cell.key.as_slice()).and_then(|all| search::summarize(all));
            summary
        })
        .collect();
    let sequential = sequential_cells(cells, &summaries);
    for (i, cell) in cells.iter().enumerate() {
        let ideal = if summaries[i].search.is_some() {
            // Its runs are probes at the rates of its search's choosing, their time the search's duration.
            Err("a rate search: its rate found, not an ideal time".to_owned())
        } else {
            ideal(cell, &sequential, &summaries, cores)
        };
        let summary = &mut summaries[i];
        let median_run = summary.metric("run_s").map(|s| s.median);
        let tasks = cell.workload.as_ref().map(|w| w.tasks);
        summary.throughput_per_s = if summary.search.is_some() {
            // The runs at the rate found ran that rate's tasks, not the declared cell's.
            summary.metric("throughput_per_s").map(|s| s.median)
        } else {
            median_run.filter(|m| *m > 0.0).zip(tasks).map(|(m, t)| t as f64 / m)
        };
        summary.efficiency = match (&ideal, median_run, tasks) {
            (Ok((ideal, _)), Some(median), Some(tasks)) if median > 0.0 && tasks > 0 => Some(ideal / median),
            _ => None,
        };
        if let (Ok((ideal_s, _)), Some(run), Some(efficiency)) = (&ideal, summary.metric("run_s"), summary.efficiency) {
            // The ideal is a lower bound: a run faster than it, beyond the interval of its median and the
            // noise, means the model does not describe the workload or the measurement is wrong.
            if *ideal_s > run.ci_high.max(run.median) * (1.0 + IMPOSSIBLE_MARGIN) {
                summary.warnings.push(format!(
                    "efficiency is {:.0}%: the runs took less than the ideal time ({}), which cannot be; \
                     the model does not describe this workload or the measurement is wrong",
                    efficiency * 100.0,
                    crate::fmt::format_duration(std::time::Duration::from_secs_f64(*ideal_s)),
                ));
            }
        }
        if let (Some(workload), Some(p50)) = (&cell.workload, summary.metric("latency_p50_s")) {
            let wait_s = Waits::of(workload).wait_s;
            if wait_s > 0.0 && p50.median < wait_s * (1.0 - IMPOSSIBLE_MARGIN) {
                summary.warnings.push(format!(
                    "the median task took {}, less than the {} its steps wait: a wait ended early",
                    crate::fmt::format_duration(std::time::Duration::from_secs_f64(p50.median)),
                    crate::fmt::format_duration(std::time::Duration::from_secs_f64(wait_s)),
                ));
            }
        }
        if let Some(workload) = &cell.workload {
            for wait in ideal::imprecise_waits(cell.model.as_ref(), cell.workers, &cell.options, workload) {
                let d = |ns| crate::fmt::format_duration(std::time::Duration::from_nanos(ns));
                summary.warnings.push(format!(
                    "a {} wait of {} is shorter than the {} `{}` keeps precise with {} task{} waiting at once \
                     (its model): the times include the executor's imprecision, not the workload's alone",
                    wait.step,
                    d(wait.wait_ns),
                    d(wait.precise_ns),
                    cell.executor,
                    wait.waiting,
                    if wait.waiting == 1 { "" } else { "s" },
                ));
            }
        }
        if let Some(search) = summary.search.filter(|s| s.found_per_s.is_none()) {
            summary.warnings.push(format!(
                "its search found no rate within the objective: the lowest it probed, {}/s, did not pass; \
                 lower `search.lowest` or loosen the objective",
                search.failed_per_s.map(crate::fmt::number).unwrap_or_default()
            ));
        }
        summary.ideal = ideal;
        summary.slots = slots::Slots::of(cell);
    }
    open::summarize(cells, &mut summaries, cores);
    summaries
}

/// Merges the histograms (in `folder`) of each cell's ok runs into [`CellSummary::over_cell`]. Returns
/// whether any cell had some: a folder written before the histograms has none.
pub(crate) fn over_cells(folder: &Path, runs: &[Run], summaries: &mut [CellSummary]) -> io::Result<bool> {
    let by_cell = by_key(runs);
    let mut any = false;
    for summary in summaries {
        let Some(mine) = by_cell.get(summary.key.as_slice()) else { continue };
        let Some(cell) = mine.iter().find_map(|r| r.cell) else { continue };
        let repetitions: Vec<u64> = mine.iter().filter(|r| r.ok).map(|r| u64::from(r.repetition)).collect();
        summary.over_cell = histograms::of_cell(folder, histograms::Kind::Service, cell, &repetitions)?;
        summary.over_cell_response = histograms::of_cell(folder, histograms::Kind::Response, cell, &repetitions)?;
        if let Some(over) = summary.over_cell.filter(|o| o.runs < repetitions.len()) {
            summary.warnings.push(format!(
                "the latency percentiles over the cell merge the histograms of {} of its {} ok runs: the others have none",
                over.runs,
                repetitions.len()
            ));
        }
        any |= summary.over_cell.is_some();
    }
    Ok(any)
}

/// The bootstrap seed of one metric of one cell: a stream of `seed` of its own.
pub(crate) fn stream_seed(seed: u64, key: &[String], metric: &str) -> u64 {
    Rng::for_stream(seed, &format!("{}\u{1f}{metric}", key.join("\u{1f}"))).next_u64()
}

/// The statistics of every cell that has runs, in the order of its first run, without the model: for a
/// result folder read from `runs.csv` alone (the exports).
pub(crate) fn of_runs(runs: &[Run], seed: u64) -> Vec<CellSummary> {
    let by_cell = by_key(runs);
    let names = names_of(runs);
    let mut first = std::collections::HashSet::new();
    runs.iter()
        .filter(|run| first.insert(run.key.as_slice()))
        .map(|run| describe(&run.key, None, &by_cell[run.key.as_slice()], &names, seed))
        .collect()
}

/// The runs of each cell, by its key: one pass over the runs, so that summarizing is linear in them.
/// The runs of each cell that describe it: every run, but for a cell that searched for a rate, the runs at
/// the rate found ([`search::described_rate`]).
pub(crate) fn by_key(runs: &[Run]) -> std::collections::HashMap<&[String], Vec<&Run>> {
    let mut cells = by_key_all(runs);
    for mine in cells.values_mut() {
        if let Some(rate) = search::described_rate(&search::probes(mine)) {
            mine.retain(|r| r.probe.is_some_and(|p| p.at(rate)));
        }
    }
    cells
}

/// Every run of each cell, the probes of a search included.
fn by_key_all(runs: &[Run]) -> std::collections::HashMap<&[String], Vec<&Run>> {
    let mut cells: std::collections::HashMap<&[String], Vec<&Run>> = std::collections::HashMap::new();
    for run in runs {
        cells.entry(run.key.as_slice()).or_default().push(run);
    }
    cells
}

/// The measured metrics of `runs` (the same for every run of a file).
fn names_of(runs: &[Run]) -> Arc<[String]> {
    runs.first().map_or_else(|| measured(&[]), |r| Arc::clone(&r.names))
}

/// For each workload (by its JSON), the first cell of it that runs one task at a time on one core and has a
/// measured `run_s`: the cell the ideal time takes a task's CPU cost from. One pass over the cells.
fn sequential_cells(cells: &[DeclaredCell], summaries: &[CellSummary]) -> std::collections::HashMap<String, usize> {
    let mut first = std::collections::HashMap::new();
    for (i, (cell, summary)) in cells.iter().zip(summaries).enumerate() {
        let Some(workload) = &cell.workload else { continue };
        let sequential = ideal::is_sequential(cell.model.as_ref(), cell.workers, &cell.options, workload.tasks);
        if sequential && summary.metric("run_s").is_some() {
            first.entry(workload_key(workload)).or_insert(i);
        }
    }
    first
}

/// A workload as a key: its JSON, which two workloads share exactly when they are equal.
pub(crate) fn workload_key(workload: &Workload) -> String {
    serde_json::to_string(workload).unwrap_or_default()
}

/// The value of `metric` (one of the run's measured metrics) in `run`.
pub(crate) fn metric_of(run: &Run, metric: &str) -> Option<f64> {
    run.names.iter().position(|m| *m == metric).and_then(|i| run.metrics[i])
}

/// The statistics of the cell `key`, whose workload (when known) is `workload`.
fn describe(
    key: &[String],
    workload: Option<&Workload>,
    mine: &[&Run],
    names: &Arc<[String]>,
    seed: u64,
) -> CellSummary {
    let ok: Vec<&Run> = mine.iter().copied().filter(|r| r.ok).collect();
    let mut warnings = Vec::new();
    let metrics = names
        .iter()
        .enumerate()
        .map(|(m, metric)| {
            let measured: Vec<(u32, f64)> = ok.iter().filter_map(|r| Some((r.repetition, r.metrics[m]?))).collect();
            let values: Vec<f64> = measured.iter().map(|(_, v)| *v).collect();
            let stats = Stats::of(&values, stream_seed(seed, key, metric));
            let outlier_repetitions =
                stats.as_ref().map(|s| s.outliers.iter().map(|&i| measured[i].0).collect()).unwrap_or_default();
            if let Some(cv) = stats.as_ref().and_then(|s| s.cv).filter(|cv| *cv > NOISY_CV) {
                // Without tasks, run_s is the clock's resolution and its spread means nothing.
                if NOISE.contains(&metric.as_str()) && workload.is_none_or(|w| w.tasks > 0) {
                    warnings.push(format!(
                        "{metric} is noisy: its coefficient of variation is {:.1}%, over {:.0}%",
                        cv * 100.0,
                        NOISY_CV * 100.0
                    ));
                }
            }
            MetricSummary { metric: metric.clone(), stats, outlier_repetitions }
        })
        .collect();
    let cpu = |run: &&Run| Some(metric_of(run, "user_cpu_s")? + metric_of(run, "system_cpu_s")?);
    let cpu: Vec<f64> = ok.iter().filter_map(cpu).collect();
    CellSummary {
        key: key.to_vec(),
        failed: mine.len() - ok.len(),
        metrics,
        cpu: Stats::of(&cpu, stream_seed(seed, key, CPU)),
        throughput_per_s: None,
        ideal: Err(String::new()),
        efficiency: None,
        open: None,
        search: None,
        over_cell: None,
        over_cell_response: None,
        slots: None,
        warnings,
    }
}

fn ideal(
    cell: &DeclaredCell,
    sequential: &std::collections::HashMap<String, usize>,
    summaries: &[CellSummary],
    cores: u64,
) -> Result<(f64, ideal::Bound), String> {
    let workload =
        cell.workload.as_ref().ok_or("the workload is unknown: the experiment's executors could not be loaded")?;
    let tasks = workload.tasks;
    if tasks == 0 {
        return Err("the workload has no tasks".to_owned());
    }
    if workload.arrival.is_some() {
        // Its run time is set by the arrivals, not by the executor.
        return Err("an open workload: its capacity, not an ideal time".to_owned());
    }
    let works = |work: Work| workload.steps.iter().any(|s| s.cost().work == work);
    if works(Work::Program) {
        // A program's work is done in processes of its own, which no executor's model describes: an
        // event loop on one thread runs as many programs at once as it has in flight.
        return Err("the workload runs programs, whose use of the CPU no executor's model describes".to_owned());
    }
    if works(Work::Service) {
        // A round trip to a service lasts what the service takes, which the file does not state, and costs
        // the client a CPU time that depends on how the executor waits (a blocking call each, or one event
        // loop for many): neither bound of the model is known.
        return Err("the workload's steps go to a service, whose time per request no model knows".to_owned());
    }
    let overlap = ideal::overlap(cell.model.as_ref(), cell.workers, &cell.options, tasks, cores)
        .ok_or_else(|| format!("no model for executor `{}`", cell.executor))?;
    let waits = Waits::of(workload);
    let cpu_per_task = if waits.costs_cpu {
        // A cell of the same workload whose executor declares it runs one task at a time on one core:
        // `sync`, or any executor in a configuration that does the same.
        let sync_summary = sequential
            .get(&workload_key(workload))
            .map(|&i| &summaries[i])
            .ok_or("no measured `sync` cell (nor another that runs one task at a time) of this workload to take its CPU cost from")?;
        let sync_run = sync_summary.metric("run_s").map_or(0.0, |s| s.median);
        // What the sync run's process spent on the CPU bounds `C` too: a round trip's time on the wire and
        // in the server is neither a wait the file states nor CPU work that would serialize.
        let cpu_s = sync_summary
            .metric("user_cpu_s")
            .zip(sync_summary.metric("system_cpu_s"))
            .map(|(user, system)| user.median + system.median);
        waits.cpu_per_task_s(tasks, sync_run, cpu_s)
    } else {
        0.0
    };
    Ok(ideal::ideal_s(tasks, waits, cpu_per_task, overlap))
}

/// The warnings of every cell, each prefixed with the cell's axis values.
pub(crate) fn warnings(columns: &[String], summaries: &[CellSummary]) -> Vec<String> {
    let mut out = Vec::new();
    for summary in summaries {
        let label: Vec<String> =
            columns.iter().zip(&summary.key).filter(|(_, v)| !v.is_empty()).map(|(c, v)| format!("{c}={v}")).collect();
        out.extend(summary.warnings.iter().map(|w| format!("{}: {w}", label.join(" "))));
    }
    out
}

/// Writes `summary.csv`: one row per cell and metric. The cell's own columns (throughput, ideal time,
/// efficiency, model, warnings) are filled on its `run_s` row, the metric they are about.
pub(crate) fn write(path: &Path, columns: &[String], summaries: &[CellSummary]) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(crate::results::create_replacing(path)?);
    let mut header: Vec<&str> = columns.iter().map(String::as_str).collect();
    header.extend(SUMMARY_COLUMNS);
    out.write_record(&header)?;
    for summary in summaries {
        for metric in &summary.metrics {
            // A closed workload has no rows of the open workloads' metrics: its summary is as before them.
            if OPEN.contains(&metric.metric.as_str()) && summary.open.is_none() && metric.stats.is_none() {
                continue;
            }
            let mut record = summary.key.clone();
            record.push(metric.metric.clone());
            let n = metric.stats.as_ref().map_or(0, |s| s.n);
            record.extend([n.to_string(), summary.failed.to_string()]);
            match &metric.stats {
                Some(s) => record.extend([
                    number(s.mean),
                    number(s.median),
                    number(s.stddev),
                    s.cv.map(|cv| format!("{cv:.6}")).unwrap_or_default(),
                    number(s.min),
                    number(s.max),
                    number(s.ci_low),
                    number(s.ci_high),
                    s.outliers.len().to_string(),
                    metric.outlier_repetitions.iter().map(ToString::to_string).collect::<Vec<_>>().join(";"),
                ]),
                None => record.extend(std::iter::repeat_n(String::new(), 10)),
            }
            if metric.metric == "run_s" {
                record.extend([
                    summary.throughput_per_s.map(|t| format!("{t:.3}")).unwrap_or_default(),
                    summary.ideal.as_ref().map(|(ideal, _)| number(*ideal)).unwrap_or_default(),
                    summary.efficiency.map(|e| format!("{e:.4}")).unwrap_or_default(),
                    match &summary.ideal {
                        Ok((_, bound)) => bound.as_str().to_owned(),
                        Err(why) => why.clone(),
                    },
                    summary.slots.as_ref().map(|s| s.in_flight.to_string()).unwrap_or_default(),
                    summary.slots.as_ref().map(slots::Slots::connections_text).unwrap_or_default(),
                    summary.open.as_ref().and_then(|o| o.capacity_per_s).map(|c| format!("{c:.3}")).unwrap_or_default(),
                    summary
                        .open
                        .as_ref()
                        .and_then(|o| o.sustainable_per_s)
                        .map(|c| format!("{c:.3}"))
                        .unwrap_or_default(),
                ]);
                record.extend(search_columns(summary.search.as_ref()));
                record.extend(over_cell_columns(summary.over_cell.as_ref()));
                record.extend(over_cell_columns(summary.over_cell_response.as_ref()));
                record.push(summary.warnings.join("; "));
            } else {
                record.extend(std::iter::repeat_n(
                    String::new(),
                    7 + slots::COLUMNS.len() + SEARCH.len() + 2 * OVER_CELL.len(),
                ));
            }
            out.write_record(&record)?;
        }
    }
    out.flush()
}

/// The columns of the percentiles over every task of a cell, on its `run_s` row of `summary.csv`; after
/// them, the same of the response times of an open workload (`cell_response_...`).
pub(crate) const OVER_CELL: [&str; 5] =
    ["cell_latency_tasks", "cell_latency_p50_s", "cell_latency_p90_s", "cell_latency_p99_s", "cell_latency_max_s"];

/// The columns of a cell's rate search, on its `run_s` row of `summary.csv`.
pub(crate) const SEARCH: [&str; 4] = ["rate_found_per_s", "rate_failed_per_s", "rate_probes", "rate_found_runs"];

/// The values of [`SEARCH`]: blank for a cell that did not search.
fn search_columns(search: Option<&search::SearchSummary>) -> Vec<String> {
    let rate = |r: Option<f64>| r.map(|r| format!("{r:.3}")).unwrap_or_default();
    match search {
        Some(s) => vec![rate(s.found_per_s), rate(s.failed_per_s), s.probes.to_string(), s.found_runs.to_string()],
        None => vec![String::new(); SEARCH.len()],
    }
}

/// What a report of a folder without histograms says.
pub(crate) const NO_HISTOGRAMS: &str = "the folder has no latency histograms (it was written before the harness kept them, \
     or by executors that do not send them): the latency percentiles are each run's, with none over every task of a cell";

/// The values of [`OVER_CELL`]: blank without histograms.
fn over_cell_columns(over: Option<&CellLatency>) -> Vec<String> {
    match over {
        Some(c) => {
            let l = &c.latency;
            vec![c.tasks.to_string(), number(l.p50_s), number(l.p90_s), number(l.p99_s), number(l.max_s)]
        }
        None => vec![String::new(); OVER_CELL.len()],
    }
}

/// A result folder summarized from its files: its experiment's cells (with their model when the executors
/// can be loaded), its runs and their statistics, and what a report of it should say.
#[derive(Debug)]
pub(crate) struct FolderSummary {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) columns: Vec<String>,
    pub(crate) cells: Vec<DeclaredCell>,
    pub(crate) charts: Vec<ChartSpec>,
    /// The metrics of its experiment file, and a custom metric of `runs.csv` that no file declares as
    /// lower is better.
    pub(crate) catalog: Catalog,
    pub(crate) environment: Environment,
    /// `warnings.txt`, or the warnings of the statistics when the folder has none.
    pub(crate) warnings: Vec<String>,
    /// What a report of the folder lacks: the model when the executors are missing, runs when it is partial.
    pub(crate) notes: Vec<String>,
    pub(crate) runs: Vec<Run>,
    pub(crate) summaries: Vec<CellSummary>,
}

/// Summarizes the result folder `folder` from `runs.csv` and `experiment.toml`. What it needs of the
/// executors (their options and models) it takes from `environment.json`, never from a library: reading
/// a result folder runs no code. Without that record the cells get statistics but no ideal time,
/// efficiency or throughput, and a note says so.
pub(crate) fn of_folder(folder: &Folder) -> Result<FolderSummary, Error> {
    let file = folder.experiment_file();
    let mut notes = Vec::new();
    let mut registry = Registry::recorded(folder.environment.executors());
    let (name, description, seed, columns, cells, charts, mut catalog) = match experiment::load(&file, &mut registry) {
        Ok(e) => {
            let cells = DeclaredCell::of(&e);
            (e.name, e.description, e.seed, e.columns, cells, e.charts, e.catalog)
        }
        Err(full) => {
            // The matrix and the charts may still be readable: everything but the executors.
            let outline = experiment::outline(&file)?;
            notes.push(format!(
                "the experiment's executors could not be loaded ({}), so this report has no ideal time, efficiency or throughput from the model",
                full.message
            ));
            let cells = outline
                .cells
                .iter()
                .map(|cell| {
                    let value = |c: &str| cell.get(c).map(ToString::to_string).unwrap_or_default();
                    DeclaredCell {
                        key: outline.columns.iter().map(|c| value(c)).collect(),
                        executor: value(experiment::EXECUTOR),
                        workers: value(experiment::WORKERS).parse().unwrap_or(1),
                        options: Arc::default(),
                        model: None,
                        workload: None,
                        checksum_group: None,
                        search: None,
                    }
                })
                .collect();
            (outline.name, outline.description, outline.seed, outline.columns, cells, outline.charts, outline.catalog)
        }
    };
    let mut disagreements = Vec::new();
    let runs = folder
        .runs()
        .and_then(|runs| {
            for custom in runs.custom.iter() {
                catalog.declare(custom, Direction::LowerIsBetter);
            }
            disagreements = self::disagreements(&runs, &cells);
            runs_of(&runs, &columns)
        })
        .with_context(|| format!("cannot read {}", folder.runs_file().display()))?;
    let environment = folder.environment.clone();
    let cores = environment.logical_cpus().unwrap_or_else(crate::machine::logical_cpus);
    let mut summaries = summarize(&runs, &cells, seed, cores);
    let with_histograms = over_cells(&folder.dir, &runs, &mut summaries)
        .with_context(|| format!("cannot read {}", folder.dir.join(crate::results::files::HISTOGRAMS).display()))?;
    if !with_histograms && runs.iter().any(|r| r.ok) {
        notes.push(NO_HISTOGRAMS.to_owned());
    }
    let warnings = folder.warnings.clone().unwrap_or_else(|| {
        let mut warnings = self::warnings(&columns, &summaries);
        warnings.append(&mut disagreements);
        warnings
    });
    // A range of repetitions records where each cell stopped: those are its planned runs.
    let stopped = environment.extra.get("rounds").and_then(|r| r.get("stopped")).and_then(|s| s.as_array());
    let measured = match stopped {
        Some(cells) => cells.iter().filter_map(|c| c.get("rounds")?.as_u64()).sum::<u64>() as usize,
        None => cells.len().saturating_mul(environment.experiment.repetitions.unwrap_or(0) as usize),
    };
    if measured > runs.len() {
        notes.push(format!("the result is partial: {} of {measured} measured runs are in runs.csv", runs.len()));
    }
    Ok(FolderSummary {
        name,
        description,
        columns,
        cells,
        charts,
        catalog,
        environment,
        warnings,
        notes,
        runs,
        summaries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_sdk::protocol::Step;

    fn cell(executor: &str, workers: u32, steps: Vec<Step>) -> DeclaredCell {
        use harness_sdk::model::{Model, Quantity};
        let quantity = match executor {
            "sync" => Some(Quantity::One),
            "threaded" => Some(Quantity::Workers),
            _ => None,
        };
        DeclaredCell {
            key: vec![executor.to_owned(), workers.to_string()],
            executor: executor.to_owned(),
            workers,
            options: Arc::default(),
            model: quantity.map(|q| Model { tasks_in_flight: q.clone(), cpu_parallelism: q, waits: None }),
            workload: Some(Arc::new(Workload {
                name: "cpu".to_owned(),
                tasks: 10,
                steps,
                arrival: None,
                metrics: Vec::new(),
            })),
            checksum_group: None,
            search: None,
        }
    }

    fn run(cell: &DeclaredCell, repetition: u32, ok: bool, run_s: f64) -> Run {
        let mut metrics = vec![None; MEASURED.len()];
        metrics[MEASURED.iter().position(|m| *m == "run_s").unwrap()] = Some(run_s);
        Run { key: cell.key.clone(), cell: None, repetition, ok, names: measured(&[]), metrics, probe: None }
    }

    #[test]
    fn cells_get_statistics_ideal_time_and_efficiency() {
        let steps = vec![Step::Compute { bytes: 1024 }];
        let sync = cell("sync", 1, steps.clone());
        let threaded = cell("threaded", 2, steps);
        let runs = vec![
            run(&sync, 1, true, 1.0),
            run(&threaded, 1, true, 0.6),
            run(&sync, 2, true, 1.2),
            run(&threaded, 2, false, 9.0),
            run(&sync, 3, true, 1.1),
            run(&threaded, 3, true, 0.5),
        ];
        let cells = [sync, threaded];
        // One core: the two threads share it.
        let summaries = summarize(&runs, &cells, 7, 1);
        let s = summaries[0].metric("run_s").unwrap();
        assert_eq!((s.n, s.median), (3, 1.1));
        assert!((summaries[0].efficiency.unwrap() - 1.0).abs() < 1e-12);
        assert!(summaries[0].warnings[0].starts_with("run_s is noisy"));
        let t = &summaries[1];
        assert_eq!((t.failed, t.metric("run_s").unwrap().n), (1, 2));
        let (ideal, bound) = t.ideal.clone().unwrap();
        assert_eq!(bound, ideal::Bound::Cpu);
        assert!((ideal - 1.1).abs() < 1e-12, "{ideal}");
        assert!((t.efficiency.unwrap() - 2.0).abs() < 1e-12);
        assert!((t.throughput_per_s.unwrap() - 10.0 / 0.55).abs() < 1e-9);
    }

    #[test]
    fn without_a_sync_cell_or_a_known_executor_there_is_no_ideal() {
        let threaded = cell("threaded", 2, vec![Step::Compute { bytes: 1024 }]);
        let mine = cell("mine", 2, vec![Step::Sleep { nanos: 1000 }]);
        let runs = vec![run(&threaded, 1, true, 0.5), run(&mine, 1, true, 0.5)];
        let summaries = summarize(&runs, &[threaded, mine], 7, 4);
        assert!(summaries[0].ideal.as_ref().unwrap_err().contains("no measured `sync` cell"));
        assert_eq!(summaries[1].ideal.as_ref().unwrap_err(), "no model for executor `mine`");
    }

    #[test]
    fn a_machine_whose_speed_changed_is_a_warning() {
        let runs = |anchors: &[f64]| {
            use std::fmt::Write as _;
            let mut text = "executor,cell,repetition,status,anchor_s,error\n".to_owned();
            for (i, a) in anchors.iter().enumerate() {
                writeln!(text, "sync,1,{},ok,{a},", i + 1).unwrap();
            }
            Runs::parse(text.as_bytes(), Path::new("runs.csv")).unwrap()
        };
        let steady: Vec<f64> = (0..20).map(|i| 1e-3 * (1.0 + f64::from(i % 3) * 0.02)).collect();
        assert_eq!(speed_warning(&runs(&steady)), None);
        let changed: Vec<f64> = (0..20).map(|i| if i < 10 { 1e-3 } else { 1.5e-3 }).collect();
        let warning = speed_warning(&runs(&changed)).unwrap();
        assert!(warning.contains("1.000 ms or less") && warning.contains("1.500 ms or more"), "{warning}");
        // Folders written before the anchor have none: nothing to say.
        assert_eq!(speed_warning(&runs(&[])), None);
    }
}
