//! Resolution: the raw file into an [`Experiment`], every value checked where it was written. The
//! matrix is expanded in [`expand`], `${axis}` substituted by [`super::substitute`], steps parsed
//! by [`super::steps`] and `[ci]` checked by [`super::gate`].

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

mod arrival;
mod cells;
pub(super) mod custom;
mod expand;
mod plugins;
mod settings;
mod workload;

use cells::{drop_meaningless_values, needed_services};
use settings::Settings;

use super::gate::{self, Gate};
use super::matrix::Cell;
use super::plan::{CellPlan, Experiment, StepLibrary};
use super::raw::RawFile;
use super::{charts, quote_list, services};
use crate::diagnostic::Diagnostic;
use crate::plugin::Registry;

/// The most workers a cell may ask for.
pub(crate) const MAX_WORKERS: u32 = 4096;

/// The longest experiment name: it is a folder name, and file systems allow 255 bytes.
pub(crate) const MAX_NAME: usize = 255;

/// The most `repetitions`, and the most `warmup` runs, per cell.
pub(crate) const MAX_COUNT: u32 = 100_000;

/// The most runs one experiment file may plan (cells x (warmup + repetitions)): the schedule is built before
/// the first run.
pub(crate) const MAX_RUNS: u64 = 10_000_000;

pub(super) struct Resolver<'a> {
    pub(super) path: &'a Path,
    pub(super) source: &'a Arc<str>,
    pub(super) registry: &'a mut Registry,
    /// `[libraries]`, probed.
    pub(super) libraries: Vec<StepLibrary>,
    /// Each service's name and port, for `${services.NAME.port}` in workloads, the loopback server's included.
    pub(super) ports: Vec<(String, u16)>,
}
impl Resolver<'_> {
    pub(super) fn error(&self, message: impl Into<String>, span: Option<Range<usize>>) -> Diagnostic {
        Diagnostic::new(message).at(self.path, self.source, span)
    }

    /// A mistake found by a checker of its own (`repetitions`, `[ci]`): its message at its place, what was
    /// expected, and how to fix it.
    fn located(&self, message: String, span: Range<usize>, expected: String, help: Option<String>) -> Diagnostic {
        let error = self.error(message, Some(span)).expected(expected);
        match help {
            Some(help) => error.help(help),
            None => error,
        }
    }

    pub(super) fn resolve(mut self, file: &RawFile) -> Result<Experiment, Diagnostic> {
        self.add_plugins(&file.plugins)?;
        self.add_libraries(&file.libraries)?;
        let settings = self.settings(file)?;
        let metrics = self.custom_metrics(file)?;
        let catalog = custom::catalog(&metrics);
        // `exp.toml` has the parent ``, which is no folder to run a service in.
        let base = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let (mut services, loopback_port) = services::resolve(&file.services, base, &|m, span| self.error(m, span))?;
        self.ports = services.iter().map(|s| (s.name.clone(), s.port)).collect();
        self.ports.push((services::LOOPBACK.to_owned(), loopback_port));

        let (mut plans, columns) = self.cells(file)?;
        // The loopback server comes first: it has no table, and its columns lead the services'.
        if let Some(loopback) = services::loopback(&plans, loopback_port).map_err(|m| self.error(m, None))? {
            services.insert(0, loopback);
        }
        needed_services(&mut plans, file, &services);
        self.check_runs(file, plans.len(), settings.warmup, settings.rounds.max)?;
        let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        let values: Vec<&Cell> = plans.iter().map(|p| &p.values).collect();
        let gate = self.gate(file, &catalog, &service_names, &columns, &values)?;
        let charts = charts::check(&file.charts, &columns, &values, &catalog, &|m, span| self.error(m, span))?;
        self.check_search(file, &plans, gate.baseline.is_some(), settings.rounds.is_range())?;

        let Settings { name, rounds, warmup, timeout, seed, order, memory_limit, setup, cleanup } = settings;
        Ok(Experiment {
            path: self.path.to_owned(),
            source: Arc::clone(self.source),
            name,
            description: file.experiment.get_ref().description.clone(),
            repetitions: rounds.max,
            rounds,
            warmup,
            timeout,
            seed,
            order,
            memory_limit,
            gate,
            gated: file.ci.is_some(),
            columns,
            cells: plans,
            charts,
            metrics,
            catalog,
            setup,
            cleanup,
            libraries: std::mem::take(&mut self.libraries),
            services,
        })
    }

    /// The matrix expanded, each cell resolved, and the axes and workloads no cell uses refused; the cells
    /// and the axis columns.
    fn cells(&self, file: &RawFile) -> Result<(Vec<CellPlan>, Vec<String>), Diagnostic> {
        let defaults = self.executor_defaults(&file.executors)?;
        let (cells, places, columns) = self.expand(file)?;
        let mut plans = Vec::with_capacity(cells.len());
        let mut shared = cells::Shared::default();
        for cell in cells {
            let plan = self.resolve_cell(cell, file, &defaults, &places, &mut shared, &plans)?;
            plans.push(plan);
        }
        self.check_unused_axes(&columns, &plans, file, &places)?;
        self.check_unused_workloads(&plans, file)?;
        Ok((drop_meaningless_values(plans, file), columns))
    }

    /// No file plans more than [`MAX_RUNS`] runs: `cells` cells of `warmup` and `repetitions` runs each.
    fn check_runs(&self, file: &RawFile, cells: usize, warmup: u32, repetitions: u32) -> Result<(), Diagnostic> {
        let runs = cells as u64 * (u64::from(warmup) + u64::from(repetitions));
        if runs <= MAX_RUNS {
            return Ok(());
        }
        let span = file.experiment.get_ref().repetitions.as_ref().map_or_else(|| file.experiment.span(), Spanned::span);
        Err(self
            .error(
                format!(
                    "the experiment plans {runs} runs ({cells} cells x ({warmup} warmup + {repetitions} repetitions)), more than {MAX_RUNS}"
                ),
                Some(span),
            )
            .expected(format!("at most {MAX_RUNS} runs in one experiment file"))
            .help("lower `repetitions` or `warmup`, or split the matrix into several files"))
    }

    /// A cell that searches for a rate runs probes at rates of their own, one search: no rounds to pair
    /// with a baseline, none to stop on when decided.
    fn check_search(&self, file: &RawFile, plans: &[CellPlan], paired: bool, ranged: bool) -> Result<(), Diagnostic> {
        let Some(cell) = plans.iter().find(|p| p.search.is_some()) else { return Ok(()) };
        let (what, span) = if paired {
            ("`[ci] baseline` pairs rounds", file.ci.as_ref().map(Spanned::span))
        } else if ranged {
            (
                "a range of `repetitions` stops rounds when decided",
                file.experiment.get_ref().repetitions.as_ref().map(Spanned::span),
            )
        } else {
            return Ok(());
        };
        Err(self
            .error(
                format!(
                    "workload `{}` searches for a rate (`rate = \"search\"`), and {what}: a search has probes, not rounds",
                    cell.workload.name
                ),
                span,
            )
            .expected("a search in an experiment without `[ci] baseline` and with a count of `repetitions`")
            .help("compare searches as two result folders (`harness compare A B`), or put the search in a file of its own"))
    }

    /// The `[ci]` gate (or the default one, when the file has no `[ci]`), its baseline paired by the other
    /// axes of the matrix and checked against the cells' `values`.
    fn gate(
        &self,
        file: &RawFile,
        catalog: &crate::metrics::Catalog,
        service_names: &[String],
        columns: &[String],
        values: &[&Cell],
    ) -> Result<Gate, Diagnostic> {
        let mut gate = match &file.ci {
            Some(ci) => gate::gate(ci, catalog, service_names)
                .map_err(|e| self.located(e.message, e.span, e.expected, e.help))?,
            None => Gate::with_custom(catalog),
        };
        if let Some(baseline) = &mut gate.baseline {
            let keys = file.matrix.iter().flat_map(|m| m.get_ref().keys().map(|k| k.get_ref().as_str()));
            baseline.pair_by = gate::matrix_axes(keys).into_iter().filter(|a| *a != baseline.axis).collect();
        }
        if let (Some(baseline), Some(ci)) = (&gate.baseline, &file.ci) {
            gate::check_baseline(baseline, ci, columns, values, &|m, span| self.error(m, span))?;
        }
        Ok(gate)
    }
}
