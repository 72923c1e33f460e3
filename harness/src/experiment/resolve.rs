//! Resolution: the raw file into an [`Experiment`], every value checked where it was written. The
//! matrix is expanded in [`super::expand`], `${axis}` substituted by [`super::substitute`], steps parsed
//! by [`super::steps`] and `[ci]` checked by [`super::gate`].

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use harness_sdk::protocol::{Exec, SharedStore, Step, Stream, Workload};
use indexmap::IndexMap;
use toml::Spanned;

use super::expand::{Places, describe, identity};
use super::gate::{self, Gate};
use super::matrix::{Cell, Value};
use super::plan::{CellPlan, CustomMetric, EXECUTOR, Experiment, Order, StepLibrary, WORKERS, WORKLOAD};
use super::raw::{self, RawFile, RawWorkload};
use super::steps::{self, Numbers, parse_step, size};
use super::substitute::{collect_references, substitute_value};
use super::{charts, quote_list, services, to_json, units};
use crate::diagnostic::Diagnostic;
use crate::plugin::{PluginInfo, Registry, probe};

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

    pub(super) fn resolve(mut self, file: &RawFile) -> Result<Experiment, Diagnostic> {
        self.add_plugins(&file.plugins)?;
        self.add_libraries(&file.libraries)?;
        let experiment = file.experiment.get_ref();

        let name = experiment.name.get_ref().clone();
        if name.len() > MAX_NAME {
            return Err(self
                .error(
                    format!("experiment name of {} characters is too long for a folder name", name.len()),
                    Some(experiment.name.span()),
                )
                .expected(format!("at most {MAX_NAME} characters"))
                .help("the name is the folder <out>/<name>/; keep it short and put the rest in `description`"));
        }
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
        {
            return Err(self
                .error(format!("experiment name `{name}` cannot be a folder name"), Some(experiment.name.span()))
                .expected("letters, digits, `-`, `_` and `.`, not starting with `.`"));
        }
        let count = |field: &Option<Spanned<i64>>, key: &str, default: i64, min: i64| -> Result<u32, Diagnostic> {
            let Some(value) = field else { return Ok(default as u32) };
            let n = *value.get_ref();
            if n < min || n > i64::from(MAX_COUNT) {
                let what = if min == 0 { "from 0" } else { "from 1" };
                return Err(self
                    .error(format!("`{key}` is {n}"), Some(value.span()))
                    .expected(format!("an integer {what} to {MAX_COUNT}")));
            }
            Ok(n as u32)
        };
        let rounds = super::repetitions::parse(experiment.repetitions.as_ref()).map_err(|e| {
            let error = self.error(e.message, Some(e.span)).expected(e.expected);
            match e.help {
                Some(help) => error.help(help),
                None => error,
            }
        })?;
        let repetitions = rounds.max;
        let warmup = count(&experiment.warmup, "warmup", 1, 0)?;
        let timeout = match &experiment.timeout {
            None => Duration::from_secs(300),
            Some(t) => match units::parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() => d,
                parsed => {
                    let error = self
                        .error(format!("`timeout` is \"{}\"", t.get_ref()), Some(t.span()))
                        .expected(format!("{}, more than zero and at most 1 year", units::DURATION_EXPECTED));
                    return Err(match parsed {
                        Err(why) if why.contains("longest") => error.help(why),
                        _ => error,
                    });
                }
            },
        };
        let seed = match &experiment.seed {
            None => 0,
            Some(s) => u64::try_from(*s.get_ref())
                .map_err(|_| self.error("`seed` is negative", Some(s.span())).expected("an integer, zero or more"))?,
        };
        let order = match &experiment.order {
            None => Order::Interleaved,
            Some(o) => Order::parse(o.get_ref()).ok_or_else(|| {
                self.error(format!("`order` is \"{}\"", o.get_ref()), Some(o.span()))
                    .expected(format!("one of {}", quote_list(&Order::NAMES)))
                    .did_you_mean(o.get_ref(), Order::NAMES)
            })?,
        };
        if rounds.is_range() && order == Order::Sequential {
            let span = experiment.order.as_ref().map(Spanned::span);
            return Err(self
                .error("`order = \"sequential\"` runs every repetition of a cell before the next cell", span)
                .expected("`interleaved` or `random` with a range of `repetitions`")
                .help(
                    "a range of repetitions runs in rounds and stops after the round that decides every comparison",
                ));
        }

        let memory_limit = match &experiment.memory_limit {
            None => None,
            Some(limit) => Some(self.memory_limit(limit)?),
        };

        let setup = self.hook("setup", experiment.setup.as_ref(), &Cell::new(), None)?;
        let cleanup = self.hook("cleanup", experiment.cleanup.as_ref(), &Cell::new(), None)?;
        let metrics = self.custom_metrics(file)?;
        let metric_names: Vec<String> = metrics.iter().map(|m| m.name.clone()).collect();
        // `exp.toml` has the parent ``, which is no folder to run a service in.
        let base = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let (mut services, loopback_port) = services::resolve(&file.services, base, &|m, span| self.error(m, span))?;
        self.ports = services.iter().map(|s| (s.name.clone(), s.port)).collect();
        self.ports.push((services::LOOPBACK.to_owned(), loopback_port));

        let defaults = self.executor_defaults(&file.executors)?;
        let (cells, places, columns) = self.expand(file)?;
        let mut plans = Vec::with_capacity(cells.len());
        let mut shared = std::collections::HashMap::new();
        for cell in cells {
            plans.push(self.resolve_cell(cell, file, &defaults, &places, &mut shared)?);
        }
        self.check_unused_axes(&columns, &plans, file, &places)?;
        self.check_unused_workloads(&plans, file)?;
        let mut plans = drop_meaningless_values(plans, file);
        // The loopback server comes first: it has no table, and its columns lead the services'.
        if let Some(loopback) = services::loopback(&plans, loopback_port).map_err(|m| self.error(m, None))? {
            services.insert(0, loopback);
        }
        needed_services(&mut plans, file, &services);
        let runs = plans.len() as u64 * (u64::from(warmup) + u64::from(repetitions));
        if runs > MAX_RUNS {
            let span = experiment.repetitions.as_ref().map_or_else(|| file.experiment.span(), Spanned::span);
            return Err(self
                .error(
                    format!(
                        "the experiment plans {runs} runs ({} cells x ({warmup} warmup + {repetitions} repetitions)), more than {MAX_RUNS}",
                        plans.len()
                    ),
                    Some(span),
                )
                .expected(format!("at most {MAX_RUNS} runs in one experiment file"))
                .help("lower `repetitions` or `warmup`, or split the matrix into several files"));
        }
        let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        let gate = match &file.ci {
            Some(ci) => gate::gate(ci, &metric_names, &service_names).map_err(|e| {
                let error = self.error(e.message, Some(e.span)).expected(e.expected);
                match e.help {
                    Some(help) => error.help(help),
                    None => error,
                }
            })?,
            None => Gate::with_custom(&metric_names),
        };
        let mut gate = gate;
        if let Some(baseline) = &mut gate.baseline {
            let keys = file.matrix.iter().flat_map(|m| m.get_ref().keys().map(|k| k.get_ref().as_str()));
            baseline.pair_by = gate::matrix_axes(keys).into_iter().filter(|a| *a != baseline.axis).collect();
        }
        if let (Some(baseline), Some(ci)) = (&gate.baseline, &file.ci) {
            let values: Vec<&Cell> = plans.iter().map(|p| &p.values).collect();
            gate::check_baseline(baseline, ci, &columns, &values, &|m, span| self.error(m, span))?;
        }
        let values: Vec<&Cell> = plans.iter().map(|p| &p.values).collect();
        let charts = charts::check(&file.charts, &columns, &values, &|m, span| self.error(m, span))?;

        Ok(Experiment {
            path: self.path.to_owned(),
            source: Arc::clone(self.source),
            name,
            description: experiment.description.clone(),
            repetitions,
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
            setup,
            cleanup,
            libraries: std::mem::take(&mut self.libraries),
            services,
        })
    }

    /// Probes each `[libraries]` entry (path relative to the experiment file) in a child process.
    fn add_libraries(&mut self, libraries: &IndexMap<Spanned<String>, Spanned<String>>) -> Result<(), Diagnostic> {
        for (name, path) in libraries {
            let resolved = self.library_file(
                path,
                ("step library", "step library", "it first (`cargo build --release` in its crate)"),
            )?;
            let functions = crate::plugin::probe_steps(&resolved).map_err(|message| {
                self.error(format!("step library `{}` cannot be loaded", name.get_ref()), Some(path.span()))
                    .help(message)
            })?;
            let path = std::path::absolute(&resolved).unwrap_or(resolved);
            self.libraries.push(StepLibrary { name: name.get_ref().clone(), path, functions });
        }
        Ok(())
    }

    /// The custom metrics of every workload, each once, declared in the metric catalog. A name declared by
    /// two workloads must mean the same in both.
    pub(super) fn custom_metrics(&self, file: &RawFile) -> Result<Vec<CustomMetric>, Diagnostic> {
        let mut all: Vec<CustomMetric> = Vec::new();
        for (workload, raw) in &file.workloads {
            let raw = raw.get_ref();
            for ((_, metric), (name, _)) in
                self.metrics(workload.get_ref(), &raw.metrics)?.into_iter().zip(&raw.metrics)
            {
                match all.iter().find(|m| m.name == metric.name) {
                    Some(earlier) if *earlier != metric => {
                        return Err(self
                            .error(format!("metric `{}` is declared twice, differently", metric.name), Some(name.span()))
                            .expected("the same `aggregate` and `better` wherever a metric is declared: it is one column of runs.csv"));
                    }
                    Some(_) => {}
                    None => {
                        crate::metrics::declare(&metric.name, metric.direction);
                        all.push(metric);
                    }
                }
            }
        }
        Ok(all)
    }

    /// A hook (`setup`, `cleanup`, `prepare`, `conclude`) with the cell's values substituted, checked.
    fn hook(
        &self,
        what: &str,
        value: Option<&Spanned<toml::Value>>,
        cell: &Cell,
        workload: Option<&str>,
    ) -> Result<Option<Exec>, Diagnostic> {
        let Some(value) = value else { return Ok(None) };
        let substituted = match workload {
            Some(name) => self.substitute(value, cell, name)?,
            None => substitute_value(value.get_ref(), cell).map_err(|unknown| {
                self.error(format!("`${{{unknown}}}` in `{what}` names nothing"), Some(value.span()))
                    .expected("no `${...}`: `[experiment]` hooks run once, outside every cell")
            })?,
        };
        let base = self.path.parent().unwrap_or(Path::new("."));
        super::exec::parse(what, &substituted)
            .and_then(|exec| super::exec::settle(what, exec, base, false))
            .map(Some)
            .map_err(|(message, expected)| {
                let place = workload.map(|w| format!("workload `{w}`, ")).unwrap_or_default();
                let d = self.error(format!("{place}{message}"), Some(value.span()));
                if let Some(expected) = expected { d.expected(expected) } else { d }
            })
    }

    fn memory_limit(&self, limit: &Spanned<toml::Value>) -> Result<u64, Diagnostic> {
        // Below this not even the run's own process starts: most likely a forgotten unit.
        const LEAST: u64 = 1 << 20;
        let bytes = size("memory_limit", limit.get_ref()).map_err(|(message, expected)| {
            let d = self.error(message, Some(limit.span()));
            if let Some(expected) = expected { d.expected(expected) } else { d }
        })?;
        if bytes < LEAST {
            return Err(self
                .error(format!("`memory_limit` is {bytes} bytes, too little for a run to start"), Some(limit.span()))
                .expected("a size of at least 1MiB")
                .help("a number without a unit is bytes: write \"512MiB\" for 512 mebibytes"));
        }
        Ok(bytes)
    }

    /// A library file of `[plugins]` or `[libraries]`, relative to the experiment file: `what` it is, the
    /// `kind` of library, and how to build it, for the error when it does not exist.
    fn library_file(
        &self,
        path: &Spanned<String>,
        (what, kind, build): (&str, &str, &str),
    ) -> Result<std::path::PathBuf, Diagnostic> {
        let resolved = self.path.parent().unwrap_or(Path::new(".")).join(path.get_ref());
        // A plugin that is not a regular file is refused by the probe, which names the plugin.
        if what != "plugin" && resolved.exists() && !resolved.is_file() {
            return Err(self
                .error(format!("{what} file {} is not a regular file", resolved.display()), Some(path.span()))
                .expected(format!("a path to a {kind}, relative to the experiment file")));
        }
        if !resolved.exists() {
            return Err(self
                .error(format!("{what} file {} does not exist", resolved.display()), Some(path.span()))
                .expected(format!("a path to a {kind}, relative to the experiment file"))
                .help(format!("build {build}; the library is in its target folder")));
        }
        Ok(resolved)
    }

    /// Probes each `[plugins]` entry (path relative to the experiment file) and registers it by its key;
    /// with a registry of what a result folder recorded, the recorded executors stand for them.
    fn add_plugins(&mut self, plugins: &IndexMap<Spanned<String>, Spanned<String>>) -> Result<(), Diagnostic> {
        if self.registry.is_recorded() {
            return Ok(());
        }
        for (name, path) in plugins {
            let resolved =
                self.library_file(path, ("plugin", "plugin library", "the plugin first (`cargo build` in its crate)"))?;
            let info = probe(std::slice::from_ref(&resolved)).pop().expect("one result per path");
            let info = info.map_err(|message| {
                self.error(format!("plugin `{}` cannot be loaded", name.get_ref()), Some(path.span())).help(message)
            })?;
            // In this experiment the plugin goes by its key, whatever the library calls itself.
            let mut info = info;
            info.name.clone_from(name.get_ref());
            self.registry.insert(name.get_ref().clone(), info);
        }
        Ok(())
    }

    fn unknown_executor(&self, name: &str, span: Option<Range<usize>>) -> Diagnostic {
        let known: Vec<&str> = self.registry.names().collect();
        let mut d = self.error(format!("unknown executor `{name}`"), span).expected(if known.is_empty() {
            "an executor, but none was found".to_owned()
        } else {
            format!("one of {}", quote_list(&known))
        });
        d = d.did_you_mean(name, known.iter().copied());
        if d.help.is_none() {
            d = d.help("build the built-in executors with `cargo build --workspace`, or name a plugin in [plugins], --plugin-dir or HARNESS_PLUGIN_PATH");
        }
        d
    }

    /// Checks each `[executors.NAME]` table against that executor's options.
    fn executor_defaults(
        &self,
        executors: &IndexMap<Spanned<String>, Spanned<raw::Table>>,
    ) -> Result<IndexMap<String, serde_json::Map<String, serde_json::Value>>, Diagnostic> {
        let mut defaults = IndexMap::new();
        for (name, table) in executors {
            let info = self
                .registry
                .get(name.get_ref())
                .ok_or_else(|| self.unknown_executor(name.get_ref(), Some(name.span())))?;
            let mut options = serde_json::Map::new();
            for (key, value) in table.get_ref() {
                let json = to_json(value.get_ref());
                self.check_option(info, key.get_ref(), &json, Some(key.span()), Some(value.span()))?;
                options.insert(key.get_ref().clone(), json);
            }
            defaults.insert(name.get_ref().clone(), options);
        }
        Ok(defaults)
    }

    fn check_option(
        &self,
        info: &PluginInfo,
        key: &str,
        value: &serde_json::Value,
        key_span: Option<Range<usize>>,
        value_span: Option<Range<usize>>,
    ) -> Result<(), Diagnostic> {
        let Some(spec) = info.option(key) else {
            let names: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
            return Err(self
                .error(format!("executor `{}` has no option `{key}`", info.name), key_span)
                .expected(if names.is_empty() {
                    "no options".to_owned()
                } else {
                    format!("one of {}", quote_list(&names))
                })
                .did_you_mean(key, names.iter().copied()));
        };
        spec.check(value).map_err(|expected| {
            let mut d = self
                .error(format!("option `{key}` of executor `{}` is {value}", info.name), value_span)
                .expected(expected);
            if let (harness_sdk::protocol::OptionKind::Choice { choices }, Some(text)) = (&spec.kind, value.as_str()) {
                d = d.did_you_mean(text, choices.iter().map(String::as_str));
            }
            d
        })
    }

    fn resolve_cell(
        &self,
        cell: Cell,
        file: &RawFile,
        defaults: &IndexMap<String, serde_json::Map<String, serde_json::Value>>,
        places: &Places,
        shared: &mut std::collections::HashMap<String, Arc<PluginInfo>>,
    ) -> Result<CellPlan, Diagnostic> {
        let executor_name = match cell.get(EXECUTOR) {
            Some(Value::String(name)) => name.clone(),
            Some(other) => {
                return Err(self
                    .error(format!("executor `{other}` is not a name"), places.of(EXECUTOR, Some(other)))
                    .expected("a string"));
            }
            None => {
                return Err(self
                    .error(format!("a cell has no executor: {}", describe(&cell)), places.matrix.clone())
                    .help("add an `executor` axis to [matrix], or an `executor` key to each `include` entry"));
            }
        };
        let executor = if let Some(info) = shared.get(&executor_name) {
            Arc::clone(info)
        } else {
            let info = self
                .registry
                .get(&executor_name)
                .ok_or_else(|| self.unknown_executor(&executor_name, places.of(EXECUTOR, cell.get(EXECUTOR))))?;
            let info = Arc::new(info.clone());
            shared.insert(executor_name.clone(), Arc::clone(&info));
            info
        };

        let workers = match cell.get(WORKERS) {
            None => 1,
            Some(Value::Integer(n)) if (1..=i64::from(MAX_WORKERS)).contains(n) => *n as u32,
            Some(Value::Integer(n)) if *n > i64::from(MAX_WORKERS) => {
                return Err(self
                    .error(format!("`workers` is {n}"), places.of(WORKERS, cell.get(WORKERS)))
                    .expected(format!("an integer from 1 to {MAX_WORKERS}"))
                    .help("each worker is a thread or a process of the run: too many of them are a fork bomb"));
            }
            Some(other) => {
                return Err(self
                    .error(format!("`workers` is {other}"), places.of(WORKERS, Some(other)))
                    .expected("an integer, at least 1"));
            }
        };

        let workload_names: Vec<&str> = file.workloads.keys().map(|k| k.get_ref().as_str()).collect();
        let (workload_name, raw) = match cell.get(WORKLOAD) {
            Some(Value::String(name)) => {
                let found = file.workloads.iter().find(|(k, _)| k.get_ref() == name);
                let (k, w) = found.ok_or_else(|| {
                    self.error(format!("unknown workload `{name}`"), places.of(WORKLOAD, cell.get(WORKLOAD)))
                        .expected(if workload_names.is_empty() {
                            "a workload, but the file defines none: add a [workloads.NAME] table".to_owned()
                        } else {
                            format!("one of {}", quote_list(&workload_names))
                        })
                        .did_you_mean(name, workload_names.iter().copied())
                })?;
                (k.get_ref().clone(), w)
            }
            Some(other) => {
                return Err(self.error(format!("workload `{other}` is not a name"), places.of(WORKLOAD, Some(other))));
            }
            None if file.workloads.len() == 1 => {
                let (k, w) = file.workloads.first().expect("one workload");
                (k.get_ref().clone(), w)
            }
            None => {
                return Err(self
                    .error(format!("a cell has no workload: {}", describe(&cell)), places.matrix.clone())
                    .help(
                        "add a `workload` axis to [matrix]; it may be left out only when the file defines one workload",
                    ));
            }
        };
        let workload = self.workload(&workload_name, raw, &cell)?;
        let prepare = self.hook("prepare", raw.get_ref().prepare.as_ref(), &cell, Some(&workload_name))?;
        let conclude = self.hook("conclude", raw.get_ref().conclude.as_ref(), &cell, Some(&workload_name))?;

        let mut options = serde_json::Map::new();
        for spec in &executor.options {
            if !spec.default.is_null() {
                options.insert(spec.name.clone(), spec.default.clone());
            }
        }
        if let Some(table) = defaults.get(&executor_name) {
            options.extend(table.clone());
        }
        for (key, value) in &cell {
            if [EXECUTOR, WORKLOAD, WORKERS].contains(&key.as_str()) || executor.option(key).is_none() {
                continue;
            }
            let json = value.to_json();
            let span = places.of(key, Some(value));
            self.check_option(&executor, key, &json, span.clone(), span)?;
            options.insert(key.clone(), json);
        }
        Ok(CellPlan { values: cell, executor, workers, options, workload, prepare, conclude, services: Vec::new() })
    }

    /// Every axis must mean something: a built-in axis, a `${name}` some workload uses, or an option of
    /// some executor of the experiment. Anything else is most likely a typo.
    fn check_unused_axes(
        &self,
        columns: &[String],
        plans: &[CellPlan],
        file: &RawFile,
        places: &Places,
    ) -> Result<(), Diagnostic> {
        let mut referenced = Vec::new();
        for workload in file.workloads.values() {
            collect_references(workload.get_ref(), &mut referenced);
        }
        let mut option_names: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
        let mut executors: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for plan in plans {
            if executors.insert(plan.executor.name.as_str()) {
                option_names.extend(plan.executor.options.iter().map(|o| o.name.as_str()));
            }
        }
        for column in columns {
            let used = [EXECUTOR, WORKLOAD, WORKERS].contains(&column.as_str())
                || baseline_axis(file).as_deref() == Some(column.as_str())
                || referenced.contains(column)
                || option_names.contains(&column.as_str());
            if !used {
                let mut candidates: Vec<&str> = vec![EXECUTOR, WORKLOAD, WORKERS];
                candidates.extend(referenced.iter().map(String::as_str));
                candidates.extend(option_names.iter().copied());
                let error = self
                    .error(format!("axis `{column}` is not used"), places.of(column, None))
                    .expected("`executor`, `workload`, `workers`, a variable a workload uses as `${name}`, an option of an executor in the matrix, or the axis of `[ci] baseline`");
                // A baseline that names this axis misspelt is the likelier mistake.
                if let Some(named) = baseline_axis(file).filter(|b| !columns.contains(b)) {
                    if crate::diagnostic::closest(&named, [column.as_str()]).is_some() {
                        return Err(error.help(format!("`[ci] baseline` names `{named}`: did you mean `{column}`?")));
                    }
                }
                return Err(error.did_you_mean(column, candidates));
            }
        }
        Ok(())
    }

    /// A workload no cell uses is still checked, as far as it can be without a cell: one that refers to
    /// no axis must parse.
    fn check_unused_workloads(&self, plans: &[CellPlan], file: &RawFile) -> Result<(), Diagnostic> {
        for (name, raw) in &file.workloads {
            let name = name.get_ref();
            let mut references = Vec::new();
            collect_references(raw.get_ref(), &mut references);
            if references.is_empty() && !plans.iter().any(|p| &p.workload.name == name) {
                self.workload(name, raw, &Cell::new())?;
            }
        }
        Ok(())
    }

    /// Substitutes the cell's values into a workload and parses its steps.
    fn workload(&self, name: &str, raw: &Spanned<RawWorkload>, cell: &Cell) -> Result<Workload, Diagnostic> {
        let w = raw.get_ref();
        let mut cell = cell.clone();
        for (service, port) in &self.ports {
            cell.insert(services::port_reference(service), Value::Integer(i64::from(*port)));
        }
        let cell = &cell;
        let context = |what: &str| format!("workload `{name}`, {what}");
        let open = match &w.arrival {
            Some(arrival) => Some(self.arrival(name, arrival, cell, w.tasks.as_ref())?),
            None => None,
        };
        let tasks = match (&w.tasks, open.as_ref().and_then(|o| o.tasks)) {
            (_, Some(tasks)) => tasks,
            (Some(raw_tasks), None) => match self.substitute(raw_tasks, cell, name)? {
                toml::Value::Integer(n) if n >= 0 => n as u64,
                toml::Value::String(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().expect("checked"),
                other => {
                    return Err(self
                        .error(format!("workload `{name}`: `tasks` is {other}"), Some(raw_tasks.span()))
                        .expected("an integer, zero or more"));
                }
            },
            (None, None) => {
                return Err(self
                    .error(format!("workload `{name}` has no `tasks`"), Some(raw.span()))
                    .expected("`tasks = N`, or an `arrival` with a `rate` and a `duration`"));
            }
        };
        let mut steps = Vec::with_capacity(w.steps.get_ref().len());
        let base = self.path.parent().unwrap_or(Path::new("."));
        for (i, step) in w.steps.get_ref().iter().enumerate() {
            let value = self.substitute(step, cell, name)?;
            let parsed = parse_step(&value).and_then(|s| super::exec::settle_step(s, base, &self.libraries)).map_err(
                |(message, expected)| {
                    let mut d =
                        self.error(format!("{}: {message}", context(&format!("step {}", i + 1))), Some(step.span()));
                    if let Some(expected) = expected {
                        d = d.expected(expected);
                    }
                    let text = value.to_string();
                    let per_task =
                        value.as_table().is_some_and(|t| t.keys().any(|k| steps::numbers(k) != Numbers::None));
                    if !per_task && (text.contains("${task}") || text.contains("${worker}")) {
                        d = d.help(format!(
                            "`${{task}}` and `${{worker}}` stand for a task's numbers in {} steps only \
                             (`${{task}}` in {} steps too)",
                            steps::kinds_with(Numbers::TaskAndWorker, "and"),
                            steps::kinds_with(Numbers::Task, "and")
                        ));
                    } else if value != *step.get_ref() {
                        d = d.help(format!("after substituting this cell's values: {value}"));
                    }
                    d
                },
            )?;
            if steps::numbers(parsed.kind()) == Numbers::Task && value.to_string().contains("${worker}") {
                return Err(self
                    .error(
                        format!(
                            "{}: `${{worker}}` is not known in a {} step",
                            context(&format!("step {}", i + 1)),
                            steps::kinds_with(Numbers::Task, "or")
                        ),
                        Some(step.span()),
                    )
                    .expected("`${task}`, the task's number, or an axis")
                    .help(format!(
                        "`${{worker}}` stands for a worker's number in {} steps only",
                        steps::kinds_with(Numbers::TaskAndWorker, "and")
                    )));
            }
            let parsed = self.redis_url(parsed, step.span())?;
            self.check_loopback_path(&parsed, step.span(), &context(&format!("step {}", i + 1)))?;
            steps.push(parsed);
        }
        let metrics: Vec<_> = self.metrics(name, &w.metrics)?.into_iter().map(|(source, _)| source).collect();
        for (source, (key, _)) in metrics.iter().zip(&w.metrics) {
            let (kind, needed) = match source.from {
                Stream::Call => ("call", steps.iter().any(|s| matches!(s, Step::Call(_)))),
                _ => ("exec", steps.iter().any(|s| matches!(s, Step::Exec(_)))),
            };
            if !needed {
                return Err(self
                    .error(
                        format!("workload `{name}` declares metric `{}` but has no `{kind}` step to read it from", key.get_ref()),
                        Some(key.span()),
                    )
                    .expected(format!("{} `{kind}` step that reports the metric", if kind == "exec" { "an" } else { "a" }))
                    .help("custom metrics are read from what `exec` steps' programs write to stdout or stderr (`from`), or recorded by `call` steps' functions (`from = \"call\"`)"));
            }
        }
        let stores: Vec<&SharedStore> =
            steps.iter().filter_map(|s| if let Step::Shared { store, .. } = s { Some(store) } else { None }).collect();
        if stores.windows(2).any(|w| w[0] != w[1]) {
            return Err(self
                .error(
                    format!("workload `{name}`: its `shared` steps keep the counter in different stores"),
                    Some(w.steps.span()),
                )
                .expected("one store for every `shared` step of a workload"));
        }
        let mut servers: Vec<&String> =
            steps.iter().filter_map(|s| if let Step::Redis { url, .. } = s { Some(url) } else { None }).collect();
        servers.dedup();
        if servers.len() > 1 {
            return Err(self
                .error(format!("workload `{name}`: its `redis` steps go to different servers"), Some(w.steps.span()))
                .expected("one Redis server for every `redis` step of a workload"));
        }
        Ok(Workload { name: name.to_owned(), tasks, steps, arrival: open.map(|o| o.arrival), metrics })
    }

    /// An `http` step to the loopback server must ask for a path it answers, `/wait/DURATION/bytes/SIZE`.
    fn check_loopback_path(&self, step: &Step, span: Range<usize>, context: &str) -> Result<(), Diagnostic> {
        let Step::Http(http) = step else { return Ok(()) };
        let Some(&(_, port)) = self.ports.iter().find(|(name, _)| name == services::LOOPBACK) else { return Ok(()) };
        let Some(path) = services::loopback_target(&http.url, port) else { return Ok(()) };
        let Err(why) = services::loopback_path(path) else { return Ok(()) };
        let mut error = self
            .error(format!("{context}: {why}"), Some(span))
            .expected(format!("a path `{}` such as `/wait/5ms/bytes/1KiB`", services::LOOPBACK_PATH));
        error = if path.split('?').next().is_some_and(|p| p.contains("${")) {
            error.help("the path says what every request asks of the server; `${task}` may stand in the query only")
        } else {
            error.help("a duration and a size as the file writes them elsewhere, such as `250us` and `64KiB`; a query after `?` is ignored")
        };
        Err(error)
    }

    /// A `shared` step with `store = "redis"` and no `url` uses the service `redis`.
    fn redis_url(&self, step: Step, span: Range<usize>) -> Result<Step, Diagnostic> {
        match step {
            Step::Shared { hold_nanos, store: SharedStore::Redis { url }, lock } if url.is_empty() => {
                let port = self.ports.iter().find(|(name, _)| name == "redis").map(|(_, port)| *port).ok_or_else(|| {
                    self.error("a `shared` step keeps its counter in Redis, but the file has no [services.redis] and the step no `url`", Some(span))
                        .help("add a [services.redis] table that starts redis-server on ${port}, or give the step url = \"redis://HOST:PORT/\"")
                })?;
                Ok(Step::Shared { hold_nanos, store: SharedStore::Redis { url: services::redis_url(port) }, lock })
            }
            Step::Redis { url, command } if url.is_empty() => {
                let port = self.ports.iter().find(|(name, _)| name == "redis").map(|(_, port)| *port).ok_or_else(|| {
                    self.error("a `redis` step has no `url`, and the file has no [services.redis] to send it to", Some(span))
                        .help("add a [services.redis] table that starts redis-server on ${port}, or write { redis = { command = [...], url = \"redis://HOST:PORT/\" } }")
                })?;
                Ok(Step::Redis { url: services::redis_url(port), command })
            }
            other => Ok(other),
        }
    }

    /// Replaces `${axis}` in every string of `value` by the cell's value of that axis. A string that is
    /// exactly one reference takes the axis value's type (so `tasks = "${n}"` can be an integer).
    pub(super) fn substitute(
        &self,
        value: &Spanned<toml::Value>,
        cell: &Cell,
        workload: &str,
    ) -> Result<toml::Value, Diagnostic> {
        substitute_value(value.get_ref(), cell).map_err(|unknown| {
            if unknown.starts_with("services.") {
                let known: Vec<String> =
                    self.ports.iter().map(|(n, _)| format!("${{{}}}", services::port_reference(n))).collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let expected = if known.is_empty() {
                    "a service of the file, but it has no [services.NAME] table".to_owned()
                } else {
                    format!("one of {}", quote_list(&known))
                };
                return self
                    .error(format!("`${{{unknown}}}` in workload `{workload}` names no service"), Some(value.span()))
                    .expected(expected)
                    .did_you_mean(&format!("${{{unknown}}}"), known.iter().copied());
            }
            let axes: Vec<&str> =
                cell.keys().map(String::as_str).filter(|k| !k.starts_with("services.") && *k != "task").collect();
            self.error(format!("`${{{unknown}}}` in workload `{workload}` names no axis"), Some(value.span()))
                .expected(format!("one of this cell's axes: {}", quote_list(&axes)))
                .did_you_mean(&unknown, axes.iter().copied())
        })
    }
}

/// Drops from each cell the values that mean nothing to it, then the cells that became copies of earlier
/// ones. A value means something to a cell when it is the executor, the workload or `workers`, when the
/// cell's workload refers to it as `${name}`, or when it is an option of the cell's executor: with
/// `executor = ["sync", "threaded"]` and `pool = ["rayon", "std"]`, `sync` runs once, not once per pool,
/// and its results and chart series carry no `pool`.
fn drop_meaningless_values(plans: Vec<CellPlan>, file: &RawFile) -> Vec<CellPlan> {
    // The axis of a paired comparison means the version under test, whether or not a workload names it.
    let paired = baseline_axis(file);
    let mut kept: Vec<CellPlan> = Vec::with_capacity(plans.len());
    let mut seen: std::collections::HashSet<Vec<(String, String)>> = std::collections::HashSet::new();
    // The references of each workload, found once: the cells are many, the workloads few.
    let by_workload: std::collections::HashMap<&str, Vec<String>> = file
        .workloads
        .iter()
        .map(|(name, raw)| {
            let mut referenced = Vec::new();
            collect_references(raw.get_ref(), &mut referenced);
            (name.get_ref().as_str(), referenced)
        })
        .collect();
    for mut plan in plans {
        let referenced = by_workload.get(plan.workload.name.as_str()).map_or(&[][..], Vec::as_slice);
        plan.values.retain(|key, _| {
            [EXECUTOR, WORKLOAD, WORKERS].contains(&key.as_str())
                || paired.as_deref() == Some(key.as_str())
                || referenced.contains(key)
                || plan.executor.option(key).is_some()
        });
        if seen.insert(identity(&plan.values)) {
            kept.push(plan);
        }
    }
    kept
}

/// The axis `[ci] baseline` names, as written: it counts as used, and every cell keeps its value.
fn baseline_axis(file: &RawFile) -> Option<String> {
    let ci = file.ci.as_ref()?.get_ref();
    let table = ci.baseline.as_ref()?.get_ref();
    table.keys().next().map(|k| k.get_ref().clone())
}

/// The services each cell's runs need: those its workload refers to (`${services.NAME.port}`), and every
/// service that no workload refers to (the harness cannot tell who uses it, so every run gets it).
fn needed_services(plans: &mut [CellPlan], file: &RawFile, services: &[services::Service]) {
    let references = |name: &str| {
        let mut found = Vec::new();
        if let Some((_, raw)) = file.workloads.iter().find(|(n, _)| n.get_ref() == name) {
            collect_references(raw.get_ref(), &mut found);
        }
        found
    };
    let all: Vec<String> = file.workloads.keys().flat_map(|n| references(n.get_ref())).collect();
    let all_urls: Vec<String> = plans.iter().flat_map(|p| redis_urls(&p.workload.steps)).collect();
    for plan in plans {
        let own = references(&plan.workload.name);
        let own_urls = redis_urls(&plan.workload.steps);
        plan.services = services
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                if s.loopback.is_some() {
                    return services::uses_loopback(plan, s.port);
                }
                let reference = services::port_reference(&s.name);
                let url = services::redis_url(s.port);
                own.contains(&reference)
                    || own_urls.contains(&url)
                    || !(all.contains(&reference) || all_urls.contains(&url))
            })
            .map(|(i, _)| i)
            .collect();
    }
}

/// The Redis servers the `shared` steps of `steps` keep their counter in.
fn redis_urls(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Shared { store: SharedStore::Redis { url }, .. } | Step::Redis { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect()
}
