//! Charts and reports: `charts/*.svg`, `report.md` and `report.html` in a result folder.
//!
//! Everything is drawn from the statistics of [`crate::summary`] (medians and their bootstrap confidence
//! intervals, ideal time and efficiency), computed from `runs.csv` and the experiment file, so
//! `harness report DIR` redraws a result folder from its files alone, also a partial one.
//!
//! The pieces, after criterion's plot module and hyperfine's exporters:
//!
//! - [`Report`] holds what is drawn: the cells, their statistics, the environment, the warnings.
//! - Each kind of chart is one file implementing [`Chart`], which turns a report into [`figure::Figure`]s:
//!   plain data (panels, series, points with intervals, axis labels) that [`figure::Figure::describe`]
//!   prints for review and tests. [`metric`] draws one measure against the first numeric axis,
//!   [`speedup`] the speedup over a reference executor, [`efficiency`] the efficiency against the ideal
//!   time, [`latency`] the latency percentiles, [`load`] the response time of open workloads against the
//!   offered rate, [`rate`] the highest rate a search found within its objective, [`custom`] the
//!   `[[charts]]` of the experiment file.
//!   [`layout`] decides which column goes where.
//! - [`svg`] renders a figure with plotters; every chart uses the same fonts, sizes and one colour per
//!   executor.
//! - Each report format is one file implementing [`Format`]: [`markdown`] and [`html`].

pub(crate) mod custom;
pub(crate) mod efficiency;
pub(crate) mod figure;
pub(crate) mod html;
pub(crate) mod latency;
pub(crate) mod layout;
pub(crate) mod load;
pub(crate) mod markdown;
pub(crate) mod measure;
pub(crate) mod metric;
pub(crate) mod rate;
pub(crate) mod speedup;
pub(crate) mod svg;

use std::io;
use std::path::Path;

use crate::experiment::{self, ChartSpec};
use crate::metrics::Catalog;
use crate::results::files;
use crate::stats::Stats;
use crate::summary::{self, CellSummary, DeclaredCell, Run};
use figure::Figure;

/// The executor that speedup is measured against when no executor of the result declares a model that
/// runs one task at a time on one core in every cell.
pub(crate) const REFERENCE: &str = "sync";

/// The executor speedup is measured against: the first whose every cell runs one task at a time on one
/// core by its declared model (`sync` among the built-ins), else [`REFERENCE`].
fn declared_reference(cells: &[DeclaredCell]) -> String {
    let sequential = |c: &DeclaredCell| {
        c.workload
            .as_ref()
            .is_some_and(|w| crate::ideal::is_sequential(c.model.as_ref(), c.workers, &c.options, w.tasks))
    };
    cells
        .iter()
        .map(|c| c.executor.as_str())
        .find(|&executor| cells.iter().filter(|c| c.executor == executor).all(sequential))
        .unwrap_or(REFERENCE)
        .to_owned()
}

/// A median with its 95% confidence interval, from `n` runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub n: usize,
}

impl Estimate {
    fn of(stats: &Stats) -> Self {
        Self { value: stats.median, low: stats.ci_low, high: stats.ci_high, n: stats.n }
    }
}

/// One cell of the experiment and what was measured of it.
#[derive(Debug, Clone)]
pub struct Cell {
    pub key: Vec<String>,
    pub executor: String,
    pub summary: CellSummary,
    /// The cell of the reference executor its speedup is measured against.
    pub reference: Option<usize>,
}

/// What a report is drawn from.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub description: String,
    pub columns: Vec<String>,
    pub cells: Vec<Cell>,
    pub charts: Vec<ChartSpec>,
    pub environment: serde_json::Value,
    /// Noisy cells and a busy machine, as in `warnings.txt`.
    pub warnings: Vec<String>,
    /// What the report could not show, and why.
    pub notes: Vec<String>,
    pub reference: String,
    /// Measured runs in `runs.csv`, and how many of them failed.
    pub runs: usize,
    pub failed: usize,
    /// The experiment's metrics, its custom ones with them.
    pub(crate) catalog: Catalog,
    /// The objective of the rate searches, when they all have the same one: `p99 within 10ms`.
    pub(crate) objective: Option<String>,
}

/// The inputs of [`Report::new`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sources<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub columns: &'a [String],
    pub cells: &'a [DeclaredCell],
    pub summaries: &'a [CellSummary],
    pub runs: &'a [Run],
    pub charts: &'a [ChartSpec],
    pub environment: &'a serde_json::Value,
    pub warnings: &'a [String],
    pub catalog: &'a Catalog,
}

impl Report {
    pub(crate) fn new(sources: Sources<'_>) -> Self {
        let Sources { name, description, columns, cells, summaries, runs, charts, environment, warnings, catalog } =
            sources;
        let mut report = Report {
            name: name.to_owned(),
            description: description.to_owned(),
            columns: columns.to_vec(),
            cells: cells
                .iter()
                .zip(summaries)
                .map(|(model, summary)| Cell {
                    key: model.key.clone(),
                    executor: model.executor.clone(),
                    summary: summary.clone(),
                    reference: None,
                })
                .collect(),
            charts: charts.to_vec(),
            environment: environment.clone(),
            warnings: warnings.to_vec(),
            notes: Vec::new(),
            reference: declared_reference(cells),
            runs: runs.len(),
            failed: runs.iter().filter(|r| !r.ok).count(),
            catalog: catalog.clone(),
            objective: {
                let all: std::collections::BTreeSet<String> =
                    cells.iter().filter_map(|c| c.search.as_ref()).map(|s| s.objective_text()).collect();
                (all.len() == 1).then(|| all.into_iter().next().expect("one"))
            },
        };
        let reference = report.reference.clone();
        report.set_reference(&reference);
        report
    }

    /// Measures speedup against `executor` rather than the declared reference.
    pub(crate) fn set_reference(&mut self, executor: &str) {
        executor.clone_into(&mut self.reference);
        let references = self.references();
        for (cell, reference) in self.cells.iter_mut().zip(references) {
            cell.reference = reference;
        }
    }

    /// For each cell, the cell of the reference executor it compares with: the same values in every column
    /// but `executor`, `workers` and columns the reference cell leaves empty; the same `workers` if there is
    /// one; the first such cell. Reference cells are indexed by their values once, one index per set of
    /// columns they leave empty, so that this is linear in the cells.
    fn references(&self) -> Vec<Option<usize>> {
        type Index<'a> = std::collections::HashMap<Vec<&'a str>, usize>;
        let candidates: Vec<usize> =
            (0..self.cells.len()).filter(|&i| self.cells[i].executor == self.reference).collect();
        // The columns a match is judged on, for a reference cell: all but `executor` (and `workers` without
        // `with_workers`) and those it leaves empty.
        let judged = |cell: usize, with_workers: bool| -> Vec<usize> {
            (0..self.columns.len())
                .filter(|&i| match self.columns[i].as_str() {
                    experiment::EXECUTOR => false,
                    experiment::WORKERS if !with_workers => false,
                    _ => !self.cells[cell].key[i].is_empty(),
                })
                .collect()
        };
        let values = |cell: usize, columns: &[usize]| -> Vec<&str> {
            columns.iter().map(|&i| self.cells[cell].key[i].as_str()).collect()
        };
        let indexes = |with_workers: bool| {
            let mut by_columns: Vec<(Vec<usize>, Index<'_>)> = Vec::new();
            for &candidate in &candidates {
                let columns = judged(candidate, with_workers);
                let at = by_columns.iter().position(|(c, _)| *c == columns).unwrap_or_else(|| {
                    by_columns.push((columns, Index::new()));
                    by_columns.len() - 1
                });
                let key = values(candidate, &by_columns[at].0);
                by_columns[at].1.entry(key).or_insert(candidate);
            }
            by_columns
        };
        let (with, without) = (indexes(true), indexes(false));
        let find = |cell: usize, indexes: &[(Vec<usize>, Index<'_>)]| {
            indexes.iter().filter_map(|(columns, index)| index.get(&values(cell, columns)).copied()).min()
        };
        (0..self.cells.len())
            .map(|cell| {
                if self.cells[cell].executor == self.reference {
                    return None;
                }
                find(cell, &with).or_else(|| find(cell, &without))
            })
            .collect()
    }

    /// The executors of the cells that are not built in, in order of appearance.
    pub(crate) fn other_executors(&self) -> Vec<&str> {
        let mut others = layout::Order::new();
        for cell in self.cells.iter().filter(|c| !layout::BUILT_IN_EXECUTORS.contains(&c.executor.as_str())) {
            others.index(cell.executor.as_str());
        }
        others.items
    }

    /// The cell's value in `column`, empty when it has none.
    pub(crate) fn value(&self, cell: usize, column: &str) -> &str {
        self.columns.iter().position(|c| c == column).map_or("", |i| self.cells[cell].key[i].as_str())
    }

    /// `column=value` for each of `columns` the cell has a value in.
    pub(crate) fn label(&self, cell: usize, columns: &[String]) -> String {
        columns
            .iter()
            .map(|c| (c, self.value(cell, c)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(c, v)| format!("{c}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The estimate of `measure` (see [`measure::find`]) for a cell, when it was measured.
    pub(crate) fn estimate(&self, cell: usize, measure: &str) -> Option<Estimate> {
        let c = &self.cells[cell];
        match measure {
            measure::CPU => c.summary.cpu.as_ref().map(Estimate::of),
            measure::EFFICIENCY => {
                let (ideal, _) = c.summary.ideal.as_ref().ok()?;
                let run = c.summary.metric("run_s")?;
                let efficiency = c.summary.efficiency?;
                let ratio = |t: f64| if t > 0.0 { ideal / t } else { efficiency };
                Some(Estimate { value: efficiency, low: ratio(run.ci_high), high: ratio(run.ci_low), n: run.n })
            }
            measure::SPEEDUP => {
                let reference = self.cells[c.reference?].summary.metric("run_s")?;
                let run = c.summary.metric("run_s")?;
                if run.median <= 0.0 || run.ci_low <= 0.0 {
                    return None;
                }
                // Both intervals at their far ends: wide, never falsely narrow.
                Some(Estimate {
                    value: reference.median / run.median,
                    low: reference.ci_low / run.ci_high,
                    high: reference.ci_high / run.ci_low,
                    n: run.n.min(reference.n),
                })
            }
            measure::RATE_FOUND => {
                // The bracket of the search: the rate found, up to the lowest rate that failed.
                let search = c.summary.search?;
                let found = search.found_per_s?;
                Some(Estimate {
                    value: found,
                    low: found,
                    high: search.failed_per_s.unwrap_or(found),
                    n: search.probes,
                })
            }
            metric => match measure::over_cell(metric) {
                // One number over every task of the cell: no interval of runs around it.
                Some(of) => c.summary.over_cell.as_ref().map(|o| {
                    let value = of(&o.latency);
                    Estimate { value, low: value, high: value, n: o.runs }
                }),
                None => c.summary.metric(metric).map(Estimate::of),
            },
        }
    }

    /// Every figure of the report: the default charts, then the `[[charts]]` of the experiment file.
    pub fn figures(&self) -> Vec<Figure> {
        let mut kinds: Vec<Box<dyn Chart + '_>> = Vec::new();
        for name in measure::DEFAULT {
            kinds.push(Box::new(metric::Metric { measure: measure::find(name).expect("a default measure exists") }));
        }
        // A custom metric gets its chart, like the harness's own, up to the most a report draws.
        for metric in self.custom_metrics().take(MAX_CHARTS) {
            kinds.push(Box::new(metric::Metric { measure: metric.clone() }));
        }
        kinds.push(Box::new(speedup::Speedup));
        kinds.push(Box::new(efficiency::Efficiency));
        kinds.push(Box::new(latency::Latency));
        kinds.push(Box::new(load::Load));
        kinds.push(Box::new(rate::Rate));
        for (index, spec) in self.charts.iter().enumerate() {
            kinds.push(Box::new(custom::Custom { spec, index }));
        }
        let mut figures: Vec<Figure> = kinds.iter().flat_map(|k| k.figures(self)).collect();
        // File names are unique even if two charts would take the same one.
        let mut seen = std::collections::HashSet::new();
        for figure in &mut figures {
            let stem = figure.file.clone();
            let mut n = 1;
            while !seen.insert(figure.file.clone()) {
                n += 1;
                figure.file = format!("{stem}-{n}");
            }
        }
        figures
    }

    /// The custom metrics the cells were measured in.
    fn custom_metrics(&self) -> impl Iterator<Item = &crate::metrics::Metric> {
        let custom = self.cells.first().into_iter().flat_map(|c| &c.summary.metrics);
        custom.filter_map(|m| self.catalog.custom(&m.metric))
    }

    /// Why a kind of chart was left out, collected while drawing.
    pub(crate) fn explain(&self, figures: &[Figure]) -> Vec<String> {
        let mut notes = self.notes.clone();
        let custom = self.custom_metrics().count();
        if custom > MAX_CHARTS {
            notes.push(format!(
                "{} of the {custom} custom metrics have no chart: a report draws at most {MAX_CHARTS}; summary.csv \
                 has every number",
                custom - MAX_CHARTS
            ));
        }
        if !figures.iter().any(|f| f.file.starts_with(speedup::FILE)) {
            notes.push(format!(
                "no speedup chart: no cell of another executor has a `{}` cell to compare with",
                self.reference
            ));
        }
        for (index, cell) in self.cells.iter().enumerate() {
            if let Some(search) = cell.summary.search.filter(|s| s.found_per_s.is_none()) {
                notes.push(format!(
                    "{}: its search found no rate within the objective (the lowest it probed, {}/s, did not pass), \
                     so it has no bar in the rate chart",
                    self.label(index, &self.columns),
                    search.failed_per_s.map(crate::fmt::number).unwrap_or_default()
                ));
            }
        }
        if !figures.iter().any(|f| f.file.starts_with(efficiency::FILE)) {
            let why = self.cells.iter().find_map(|c| c.summary.ideal.as_ref().err().filter(|e| !e.is_empty()));
            notes.push(format!(
                "no efficiency chart: no cell has an ideal time{}",
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            ));
        }
        notes
    }
}

/// One kind of chart.
pub(crate) trait Chart {
    /// The figures of this kind for `report`; none when the report has nothing to show in it.
    fn figures(&self, report: &Report) -> Vec<Figure>;
}

/// One report format.
pub(crate) trait Format {
    /// The file it writes in the result folder.
    fn file_name(&self) -> &'static str;
    /// The report, with the charts rendered as `charts` (file name and SVG text, in order).
    fn render(&self, report: &Report, charts: &[Rendered]) -> String;
}

/// A chart drawn to a file.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub figure: Figure,
    /// `charts/NAME.svg`, relative to the result folder.
    pub path: String,
    pub svg: String,
}

/// The most points one chart draws: a chart of more is unreadable, and its SVG would be megabytes.
pub(crate) const MAX_POINTS: usize = 2_000;

/// The most charts a report draws.
pub(crate) const MAX_CHARTS: usize = 200;

/// The figures worth drawing: none of more than [`MAX_POINTS`] points, at most [`MAX_CHARTS`]. What is
/// left out is said in `notes`; its numbers are all in `summary.csv`.
fn within_bounds(figures: Vec<Figure>, notes: &mut Vec<String>) -> Vec<Figure> {
    let mut kept = Vec::new();
    let mut too_many = Vec::new();
    for figure in figures {
        let points: usize = figure.panels.iter().flat_map(|p| &p.series).map(|s| s.points.len()).sum();
        if points > MAX_POINTS {
            notes.push(format!(
                "the chart `{}` is not drawn: it would have {points} points, more than the {MAX_POINTS} a chart \
                 shows; summary.csv has every number, and a `[[charts]]` with a `filter` draws a part of them",
                figure.file
            ));
        } else if kept.len() == MAX_CHARTS {
            too_many.push(figure.file);
        } else {
            kept.push(figure);
        }
    }
    if let Some(first) = too_many.first() {
        notes.push(format!(
            "{} charts are not drawn (from `{first}` on): a report draws at most {MAX_CHARTS}; summary.csv has every \
             number",
            too_many.len()
        ));
    }
    kept
}

/// What [`write`] did.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub charts: usize,
    /// Charts or files that could not be written. The rest was written.
    pub problems: Vec<String>,
}

/// Writes `charts/*.svg`, `report.md` and `report.html` into the result folder `dir`, replacing earlier
/// ones. A chart that cannot be drawn is reported in [`Written::problems`] and left out; the rest is written.
pub(crate) fn write(dir: &Path, report: &Report) -> io::Result<Written> {
    // Never through a symbolic link: the folder may come from elsewhere.
    let charts_dir = crate::results::subfolder(dir, files::CHARTS)?;
    for entry in std::fs::read_dir(&charts_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "svg") {
            std::fs::remove_file(path)?;
        }
    }
    let mut written = Written::default();
    let mut report = report.clone();
    let figures = report.figures();
    report.notes = report.explain(&figures);
    let figures = within_bounds(figures, &mut report.notes);
    let mut rendered = Vec::new();
    for figure in figures {
        match svg::render(&figure) {
            Ok(text) => {
                let path = format!("{}/{}.svg", files::CHARTS, figure.file);
                crate::results::write_replacing(&dir.join(&path), text.as_bytes())?;
                rendered.push(Rendered { figure, path, svg: text });
            }
            Err(e) => written.problems.push(format!("cannot draw {}: {e}", figure.file)),
        }
    }
    written.charts = rendered.len();
    for format in [&markdown::Markdown as &dyn Format, &html::Html] {
        crate::results::write_replacing(&dir.join(format.file_name()), format.render(&report, &rendered).as_bytes())?;
    }
    Ok(written)
}

impl Report {
    /// The report of a result folder read back and summarized by [`summary::of_folder`], with its notes.
    pub(crate) fn of_folder(folder: &summary::FolderSummary) -> Self {
        let mut report = Report::new(Sources {
            name: &folder.name,
            description: &folder.description,
            columns: &folder.columns,
            cells: &folder.cells,
            summaries: &folder.summaries,
            runs: &folder.runs,
            charts: &folder.charts,
            environment: &folder.environment.to_value(),
            warnings: &folder.warnings,
            catalog: &folder.catalog,
        });
        report.notes.clone_from(&folder.notes);
        report
    }
}

/// A table for the reports: a header and rows of text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The measures of the results table; their headings are their labels.
const TABLE: &[&str] = &[
    "run_s",
    "throughput_per_s",
    "latency_p99_s",
    measure::CPU,
    "peak_memory_bytes",
    measure::EFFICIENCY,
    measure::SPEEDUP,
];

impl Report {
    /// The columns that differ between cells; the others are the same everywhere.
    pub(crate) fn varying_columns(&self) -> Vec<String> {
        layout::varying(self, &(0..self.cells.len()).collect::<Vec<_>>())
    }

    /// One row per cell: its values in the columns that vary, its runs, and each measure as a median with
    /// its 95% confidence interval.
    pub(crate) fn results(&self) -> Table {
        let columns = self.varying_columns();
        let mut header = columns.clone();
        header.extend(["runs", "failed"].map(str::to_owned));
        // The load each cell drew on the servers its steps go to, when some cell connects to one.
        let load =
            self.cells.iter().any(|c| c.summary.slots.as_ref().is_some_and(crate::summary::slots::Slots::connects));
        if load {
            header.push("load".to_owned());
        }
        header.extend(TABLE.iter().map(|&m| match measure::find(m) {
            _ if m == measure::SPEEDUP => format!("speedup over {}", self.reference),
            Some(measure) => measure.label.into_owned(),
            None => m.to_owned(),
        }));
        let rows = (0..self.cells.len())
            .map(|cell| {
                let mut row: Vec<String> = columns.iter().map(|c| self.value(cell, c).to_owned()).collect();
                let summary = &self.cells[cell].summary;
                row.push(summary.metric("run_s").map_or(0, |s| s.n).to_string());
                row.push(summary.failed.to_string());
                if load {
                    row.push(summary.slots.as_ref().map(crate::summary::slots::Slots::label).unwrap_or_default());
                }
                row.extend(TABLE.iter().map(|m| {
                    let dimension = measure::find(m).map_or(measure::Dimension::Count, |m| m.dimension);
                    let estimate = self.estimate(cell, m);
                    estimate.map(|e| crate::fmt::quantity(dimension, e.value, (e.low, e.high))).unwrap_or_default()
                }));
                row
            })
            .collect();
        Table { header, rows }
    }

    /// The constant columns, `column=value`.
    pub(crate) fn constants(&self) -> Vec<String> {
        let varying = self.varying_columns();
        self.columns
            .iter()
            .filter(|c| !varying.contains(c))
            .filter(|c| self.cells.first().is_some_and(|_| !self.value(0, c).is_empty()))
            .map(|c| format!("{c}={}", self.value(0, c)))
            .collect()
    }

    /// Where and how the results were measured, from `environment.json`.
    pub(crate) fn environment_table(&self) -> Table {
        let e = &self.environment;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut rows = vec![
            vec![
                "harness".to_owned(),
                format!("{} (commit {})", text(&e["harness"]["version"]), text(&e["harness"]["git_commit"])),
            ],
            vec!["compiler".to_owned(), text(&e["harness"]["rustc"])],
            vec!["started".to_owned(), text(&e["started"])],
            vec![
                "operating system".to_owned(),
                format!("{}, kernel {}", text(&e["os"]["distribution"]), text(&e["os"]["kernel"])),
            ],
            vec![
                "CPU".to_owned(),
                format!("{}, {} logical CPUs", text(&e["cpu"]["model"]), text(&e["cpu"]["logical_cpus"])),
            ],
            vec![
                "memory".to_owned(),
                e["memory_bytes"]
                    .as_u64()
                    .map(|b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)))
                    .unwrap_or_default(),
            ],
            vec!["load average at start".to_owned(), text(&e["load_average_at_start"])],
            vec![
                "CPU used by other processes".to_owned(),
                e["machine_load"]["others_cpu_share"]
                    .as_f64()
                    .map(|share| format!("{:.0}% of the machine during the experiment", share * 100.0))
                    .unwrap_or_default(),
            ],
            vec![
                "experiment".to_owned(),
                format!(
                    "{} repetitions, {} warmup, order {}, seed {}",
                    text(&e["experiment"]["repetitions"]),
                    text(&e["experiment"]["warmup"]),
                    text(&e["experiment"]["order"]),
                    text(&e["experiment"]["seed"])
                ),
            ],
        ];
        if let Some(executors) = e["executors"].as_object() {
            for (name, info) in executors {
                rows.push(vec![format!("executor `{name}`"), format!("version {}", text(&info["version"]))]);
            }
        }
        rows.retain(|r| !r[1].trim_matches([' ', ',', '(', ')']).is_empty() && !r[1].contains("commit )"));
        Table { header: vec!["what".to_owned(), "value".to_owned()], rows }
    }
}
