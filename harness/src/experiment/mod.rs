//! Experiment files: from TOML text to a checked [`Experiment`] whose matrix is expanded into cells.
//!
//! The split follows ripgrep's low/high arguments: [`raw`] is the file as written (serde types with
//! places), [`Experiment`] is what the rest of the harness uses. Nothing past [`load`] sees a raw string:
//! durations are nanoseconds, sizes are bytes, `${axis}` references are substituted, executor names are
//! resolved to plugins and their options checked.

pub mod charts;
pub mod lints;
pub mod matrix;
mod raw;
pub mod units;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use harness_sdk::protocol::{Connect, Step, Workload};
use indexmap::IndexMap;
use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::plugin::{PluginInfo, Registry, probe};
pub use charts::{ChartKind, ChartSpec};
use matrix::{Cell, Pattern, Value};
use raw::{RawFile, RawWorkload};

/// The axes with a meaning of their own; every other axis is a workload variable or an executor option.
pub const EXECUTOR: &str = "executor";
pub const WORKLOAD: &str = "workload";
pub const WORKERS: &str = "workers";

/// The order in which runs visit cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Each repetition visits every cell in turn, so drift spreads over all cells.
    Interleaved,
    /// All repetitions of a cell, then the next cell.
    Sequential,
    /// A seeded shuffle of all runs.
    Random,
}

impl Order {
    const NAMES: [&'static str; 3] = ["interleaved", "sequential", "random"];

    fn parse(text: &str) -> Option<Self> {
        match text {
            "interleaved" => Some(Self::Interleaved),
            "sequential" => Some(Self::Sequential),
            "random" => Some(Self::Random),
            _ => None,
        }
    }
}

/// A checked experiment, ready to run.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub path: PathBuf,
    pub source: Arc<str>,
    pub name: String,
    pub description: String,
    pub repetitions: u32,
    pub warmup: u32,
    pub timeout: Duration,
    pub seed: u64,
    pub order: Order,
    /// Per run, for the run's whole process tree where a cgroup can be made.
    pub memory_limit: Option<u64>,
    /// What `harness compare` gates on, from `[ci]`.
    pub gate: crate::compare::Gate,
    /// The axis columns of results, in order: matrix axes, then keys that `include` added.
    pub columns: Vec<String>,
    pub cells: Vec<CellPlan>,
    /// The `[[charts]]` the file asks for.
    pub charts: Vec<ChartSpec>,
}

/// One cell of the matrix, resolved.
#[derive(Debug, Clone)]
pub struct CellPlan {
    pub values: Cell,
    pub executor: PluginInfo,
    pub workers: u32,
    pub options: serde_json::Map<String, serde_json::Value>,
    pub workload: Workload,
}

impl CellPlan {
    /// The cell's value in `column`, empty when the cell has none.
    pub fn value(&self, column: &str) -> String {
        self.values.get(column).map(ToString::to_string).unwrap_or_default()
    }

    /// The cell as `axis=value` pairs, in column order: how warnings name it.
    pub fn label(&self, columns: &[String]) -> String {
        let pairs: Vec<String> =
            columns.iter().filter(|c| self.values.contains_key(*c)).map(|c| format!("{c}={}", self.value(c))).collect();
        pairs.join(" ")
    }
}

/// Reads, parses and checks an experiment file. `registry` holds the executors found on the search path;
/// the file's `[plugins]` are added to it.
pub fn load(path: &Path, registry: &mut Registry) -> Result<Experiment, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(format!("cannot read experiment file {}: {e}", path.display()))
            .help("check the path; experiment files live in `experiments/` by convention")
    })?;
    let source: Arc<str> = Arc::from(text);
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    Resolver { path, source: &source, registry }.resolve(&file)
}

/// What can be read of an experiment file without its executors: enough to chart the results of a run
/// of it when the plugins it used are not at hand.
#[derive(Debug, Clone)]
pub struct Outline {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub columns: Vec<String>,
    pub cells: Vec<Cell>,
    pub charts: Vec<ChartSpec>,
}

/// Reads an experiment file as far as it can be read without loading any executor: the matrix and the
/// `[[charts]]` are checked, the executors, workloads and options are not.
pub fn outline(path: &Path) -> Result<Outline, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(format!("cannot read experiment file {}: {e}", path.display())))?;
    let source: Arc<str> = Arc::from(text);
    let file: RawFile = toml::from_str(&source).map_err(|e| toml_error(&e, path, &source))?;
    let mut registry = Registry::default();
    let resolver = Resolver { path, source: &source, registry: &mut registry };
    let (cells, _, columns) = resolver.expand(&file)?;
    let values: Vec<&Cell> = cells.iter().collect();
    let charts = charts::check(&file.charts, &columns, &values, &|m, span| resolver.error(m, span))?;
    let experiment = file.experiment.get_ref();
    Ok(Outline {
        name: experiment.name.get_ref().clone(),
        description: experiment.description.clone(),
        seed: experiment.seed.as_ref().and_then(|s| u64::try_from(*s.get_ref()).ok()).unwrap_or(0),
        columns,
        cells,
        charts,
    })
}

/// Turns a TOML or serde error into a diagnostic, with "did you mean" for unknown keys.
fn toml_error(error: &toml::de::Error, path: &Path, source: &Arc<str>) -> Diagnostic {
    let message = error.message().trim().to_owned();
    let mut diagnostic = Diagnostic::new(first_line(&message)).at(path, source, error.span());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        diagnostic.message = format!("unknown key `{field}`");
        if !candidates.is_empty() {
            diagnostic = diagnostic.expected(format!("one of {}", quote_list(&candidates)));
        }
        diagnostic = diagnostic.did_you_mean(field, candidates.iter().copied());
    } else if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        diagnostic.message = format!("missing key `{field}`");
        diagnostic =
            diagnostic.help(format!("add `{field} = ...` to this table; docs/experiment-format.md lists every key"));
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "another type"));
        let expected = match expected {
            "i64" | "u64" | "u32" | "i32" => "an integer",
            "a sequence" => "a list",
            "a string" => "a string",
            "a map" => "a table",
            other if other.starts_with("struct") => "a table",
            other => other,
        };
        diagnostic.message = format!("wrong type: found {found}");
        diagnostic = diagnostic.expected(expected);
        if expected == "a list" {
            diagnostic = diagnostic.help("axis values are lists, even of one value: `workers = [4]`");
        }
    } else if error.span().is_some() {
        diagnostic = diagnostic.help("the file is not valid TOML (https://toml.io/en/v1.0.0)");
    }
    diagnostic
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn quote_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// Converts a TOML scalar into an axis value.
fn scalar(value: &toml::Value) -> Option<Value> {
    Some(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Integer(*i),
        toml::Value::Float(x) => Value::Float(*x),
        toml::Value::Boolean(b) => Value::Bool(*b),
        _ => return None,
    })
}

fn to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

struct Resolver<'a> {
    path: &'a Path,
    source: &'a Arc<str>,
    registry: &'a mut Registry,
}

/// Where each axis value of the matrix was written, to point errors at it.
#[derive(Default)]
struct Places {
    values: Vec<(String, Value, Range<usize>)>,
    matrix: Option<Range<usize>>,
}

impl Places {
    fn of(&self, key: &str, value: Option<&Value>) -> Option<Range<usize>> {
        self.values
            .iter()
            .find(|(k, v, _)| k == key && value.is_none_or(|value| v == value))
            .map(|(_, _, span)| span.clone())
            .or_else(|| self.matrix.clone())
    }
}

impl Resolver<'_> {
    fn error(&self, message: impl Into<String>, span: Option<Range<usize>>) -> Diagnostic {
        Diagnostic::new(message).at(self.path, self.source, span)
    }

    fn resolve(mut self, file: &RawFile) -> Result<Experiment, Diagnostic> {
        self.add_plugins(&file.plugins)?;
        let experiment = file.experiment.get_ref();

        let name = experiment.name.get_ref().clone();
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
            if n < min || n > i64::from(u32::MAX) {
                let what = if min == 0 { "zero or more" } else { "at least 1" };
                return Err(self
                    .error(format!("`{key}` is {n}"), Some(value.span()))
                    .expected(format!("an integer, {what}")));
            }
            Ok(n as u32)
        };
        let repetitions = count(&experiment.repetitions, "repetitions", 5, 1)?;
        let warmup = count(&experiment.warmup, "warmup", 1, 0)?;
        let timeout = match &experiment.timeout {
            None => Duration::from_secs(300),
            Some(t) => units::parse_duration(t.get_ref()).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                self.error(format!("`timeout` is \"{}\"", t.get_ref()), Some(t.span()))
                    .expected(format!("{}, more than zero", units::DURATION_EXPECTED))
            })?,
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

        let memory_limit = match &experiment.memory_limit {
            None => None,
            Some(limit) => Some(self.memory_limit(limit)?),
        };

        let defaults = self.executor_defaults(&file.executors)?;
        let (cells, places, columns) = self.expand(file)?;
        let mut plans = Vec::with_capacity(cells.len());
        for cell in cells {
            plans.push(self.resolve_cell(cell, file, &defaults, &places)?);
        }
        self.check_unused_axes(&columns, &plans, file, &places)?;
        self.check_unused_workloads(&plans, file)?;
        let plans = drop_meaningless_values(plans, file);
        let values: Vec<&Cell> = plans.iter().map(|p| &p.values).collect();
        let charts = charts::check(&file.charts, &columns, &values, &|m, span| self.error(m, span))?;

        Ok(Experiment {
            path: self.path.to_owned(),
            source: Arc::clone(self.source),
            name,
            description: experiment.description.clone(),
            repetitions,
            warmup,
            timeout,
            seed,
            order,
            memory_limit,
            gate: match &file.ci {
                Some(ci) => gate(ci).map_err(|e| {
                    let error = self.error(e.message, Some(e.span)).expected(e.expected);
                    match e.help {
                        Some(help) => error.help(help),
                        None => error,
                    }
                })?,
                None => crate::compare::Gate::default(),
            },
            columns,
            cells: plans,
            charts,
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

    /// Probes each `[plugins]` entry (path relative to the experiment file) and registers it by its key.
    fn add_plugins(&mut self, plugins: &IndexMap<Spanned<String>, Spanned<String>>) -> Result<(), Diagnostic> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        for (name, path) in plugins {
            let resolved = base.join(path.get_ref());
            if !resolved.exists() {
                return Err(self
                    .error(format!("plugin file {} does not exist", resolved.display()), Some(path.span()))
                    .expected("a path to a plugin library, relative to the experiment file")
                    .help("build the plugin first (`cargo build` in its crate); the library is in its target folder"));
            }
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

    /// Expands `[matrix]` into cells.
    fn expand(&self, file: &RawFile) -> Result<(Vec<Cell>, Places, Vec<String>), Diagnostic> {
        let mut places = Places::default();
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        let mut exclude_entries: Vec<(&toml::Table, Range<usize>)> = Vec::new();
        let mut include: Vec<Cell> = Vec::new();
        let mut include_spans: Vec<Range<usize>> = Vec::new();
        let Some(matrix) = &file.matrix else {
            return Err(self
                .error("the experiment has no [matrix]", Some(file.experiment.span()))
                .help("add a [matrix] table with at least `executor = [\"sync\"]`"));
        };
        places.matrix = Some(matrix.span());
        for (key, values) in matrix.get_ref() {
            let name = key.get_ref().as_str();
            match name {
                "exclude" | "include" => {
                    for entry in values.get_ref() {
                        let table = entry.get_ref().as_table().ok_or_else(|| {
                            self.error(format!("an `{name}` entry is not a table"), Some(entry.span()))
                                .expected("an inline table such as `{ executor = \"sync\", workers = 1 }`")
                        })?;
                        if name == "exclude" {
                            // Checked once every axis is known, wherever `exclude` stands in the table.
                            exclude_entries.push((table, entry.span()));
                        } else {
                            let mut cell = Cell::new();
                            for (k, v) in table {
                                let v = scalar(v).ok_or_else(|| {
                                    self.error(
                                        format!("`include` value of `{k}` is not a single value"),
                                        Some(entry.span()),
                                    )
                                    .expected("a string, number or boolean")
                                })?;
                                self.check_column_name(k, entry.span())?;
                                places.values.push((k.clone(), v.clone(), entry.span()));
                                cell.insert(k.clone(), v);
                            }
                            include.push(cell);
                            include_spans.push(entry.span());
                        }
                    }
                }
                _ => {
                    self.check_column_name(name, key.span())?;
                    let mut list = Vec::new();
                    for v in values.get_ref() {
                        let value = scalar(v.get_ref()).ok_or_else(|| {
                            self.error(format!("a value of axis `{name}` is not a single value"), Some(v.span()))
                                .expected("a string, number or boolean")
                        })?;
                        places.values.push((name.to_owned(), value.clone(), v.span()));
                        list.push(value);
                    }
                    axes.push((name.to_owned(), list));
                }
            }
        }
        let exclude: Vec<Pattern> = exclude_entries
            .into_iter()
            .map(|(table, span)| self.pattern(table, &axes, span))
            .collect::<Result<_, _>>()?;
        let cells = matrix::expand(&axes, &exclude, &include);
        if cells.is_empty() {
            let (why, help) = if axes.is_empty() {
                ("it has no axes and no `include` entries", "add an axis such as `executor = [\"sync\"]`")
            } else if axes.iter().any(|(_, v)| v.is_empty()) {
                ("an axis has no values", "give every axis at least one value")
            } else {
                (
                    "`exclude` removed every cell",
                    "check the `exclude` entries against the axes; `harness plan` shows the cells",
                )
            };
            return Err(self.error(format!("the matrix is empty: {why}"), Some(matrix.span())).help(help));
        }
        // Results identify a cell by its values: two cells with the same values would be pooled.
        for (i, cell) in cells.iter().enumerate() {
            let text = |c: &Cell| {
                c.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>()
            };
            if let Some(j) = cells[..i].iter().position(|other| text(other) == text(cell)) {
                return Err(self
                    .error(
                        format!("cells {} and {} are the same: {}", j + 1, i + 1, describe(cell)),
                        places.matrix.clone(),
                    )
                    .help("remove the repeated values or `include` entries; `harness plan` lists the cells"));
            }
        }
        let mut columns: Vec<String> = axes.iter().map(|(n, _)| n.clone()).collect();
        for cell in &cells {
            for key in cell.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
        Ok((cells, places, columns))
    }

    /// Axis names become columns of `runs.csv`, next to the columns the harness writes.
    fn check_column_name(&self, name: &str, span: Range<usize>) -> Result<(), Diagnostic> {
        // Axis columns lead runs.csv and summary.csv, beside the columns the harness writes.
        let reserved = crate::metrics::reserved_columns();
        if reserved.contains(&name) {
            return Err(self
                .error(
                    format!("axis `{name}` has the name of a column the harness writes to runs.csv or summary.csv"),
                    Some(span),
                )
                .expected(format!("another name; taken: {}", quote_list(&reserved)))
                .help(format!("rename it, for example `{name}_axis`, and refer to it as `${{{name}_axis}}`")));
        }
        Ok(())
    }

    /// An `exclude` entry: every key must be an axis; a list matches any of its values.
    fn pattern(
        &self,
        table: &toml::Table,
        axes: &[(String, Vec<Value>)],
        span: Range<usize>,
    ) -> Result<Pattern, Diagnostic> {
        let mut pattern = Pattern::new();
        for (key, value) in table {
            if !axes.iter().any(|(n, _)| n == key) {
                let names: Vec<&str> = axes.iter().map(|(n, _)| n.as_str()).collect();
                return Err(self
                    .error(format!("`exclude` names unknown axis `{key}`"), Some(span))
                    .expected(if names.is_empty() {
                        "an axis of [matrix], but it has none (`include` entries are not axes)".to_owned()
                    } else {
                        format!("one of the axes: {}", quote_list(&names))
                    })
                    .did_you_mean(key, names.iter().copied()));
            }
            let values = match value {
                toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|v| vec![v]),
            };
            let values = values.ok_or_else(|| {
                self.error(format!("`exclude` value of `{key}` is not a value or a list of values"), Some(span.clone()))
            })?;
            pattern.insert(key.clone(), values);
        }
        Ok(pattern)
    }

    fn resolve_cell(
        &self,
        cell: Cell,
        file: &RawFile,
        defaults: &IndexMap<String, serde_json::Map<String, serde_json::Value>>,
        places: &Places,
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
        let executor = self
            .registry
            .get(&executor_name)
            .ok_or_else(|| self.unknown_executor(&executor_name, places.of(EXECUTOR, cell.get(EXECUTOR))))?
            .clone();

        let workers = match cell.get(WORKERS) {
            None => 1,
            Some(Value::Integer(n)) if (1..=i64::from(u32::MAX)).contains(n) => *n as u32,
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
        Ok(CellPlan { values: cell, executor, workers, options, workload })
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
        let mut option_names: Vec<&str> = Vec::new();
        for plan in plans {
            option_names.extend(plan.executor.options.iter().map(|o| o.name.as_str()));
        }
        for column in columns {
            let used = [EXECUTOR, WORKLOAD, WORKERS].contains(&column.as_str())
                || referenced.contains(column)
                || option_names.contains(&column.as_str());
            if !used {
                let mut candidates: Vec<&str> = vec![EXECUTOR, WORKLOAD, WORKERS];
                candidates.extend(referenced.iter().map(String::as_str));
                candidates.extend(option_names.iter().copied());
                return Err(self
                    .error(format!("axis `{column}` is not used"), places.of(column, None))
                    .expected("`executor`, `workload`, `workers`, a variable a workload uses as `${name}`, or an option of an executor in the matrix")
                    .did_you_mean(column, candidates));
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
        let context = |what: &str| format!("workload `{name}`, {what}");
        let tasks_value = self.substitute(&w.tasks, cell, name)?;
        let tasks = match &tasks_value {
            toml::Value::Integer(n) if *n >= 0 => *n as u64,
            toml::Value::String(s) if s.trim().parse::<u64>().is_ok() => s.trim().parse().expect("checked"),
            other => {
                return Err(self
                    .error(format!("workload `{name}`: `tasks` is {other}"), Some(w.tasks.span()))
                    .expected("an integer, zero or more"));
            }
        };
        let mut steps = Vec::with_capacity(w.steps.get_ref().len());
        for (i, step) in w.steps.get_ref().iter().enumerate() {
            let value = self.substitute(step, cell, name)?;
            let parsed = parse_step(&value).map_err(|(message, expected)| {
                let mut d =
                    self.error(format!("{}: {message}", context(&format!("step {}", i + 1))), Some(step.span()));
                if let Some(expected) = expected {
                    d = d.expected(expected);
                }
                if value != *step.get_ref() {
                    d = d.help(format!("after substituting this cell's values: {value}"));
                }
                d
            })?;
            steps.push(parsed);
        }
        Ok(Workload { name: name.to_owned(), tasks, steps })
    }

    /// Replaces `${axis}` in every string of `value` by the cell's value of that axis. A string that is
    /// exactly one reference takes the axis value's type (so `tasks = "${n}"` can be an integer).
    fn substitute(&self, value: &Spanned<toml::Value>, cell: &Cell, workload: &str) -> Result<toml::Value, Diagnostic> {
        substitute_value(value.get_ref(), cell).map_err(|unknown| {
            let axes: Vec<&str> = cell.keys().map(String::as_str).collect();
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
    let mut kept: Vec<CellPlan> = Vec::with_capacity(plans.len());
    for mut plan in plans {
        let mut referenced = Vec::new();
        if let Some((_, raw)) = file.workloads.iter().find(|(name, _)| *name.get_ref() == plan.workload.name) {
            collect_references(raw.get_ref(), &mut referenced);
        }
        plan.values.retain(|key, _| {
            [EXECUTOR, WORKLOAD, WORKERS].contains(&key.as_str())
                || referenced.contains(key)
                || plan.executor.option(key).is_some()
        });
        if !kept.iter().any(|earlier| earlier.values == plan.values) {
            kept.push(plan);
        }
    }
    kept
}

/// The metrics of runs.csv that `[ci]` may name.
fn gateable_metrics() -> impl Iterator<Item = &'static str> {
    crate::metrics::GATED.iter().copied()
}

/// A mistake in `[ci]`: its message, place, what was expected, and how to fix it.
struct GateError {
    message: String,
    span: Range<usize>,
    expected: String,
    help: Option<String>,
}

impl GateError {
    fn new(message: String, span: Range<usize>, expected: String) -> Self {
        Self { message, span, expected, help: None }
    }
}

/// Checks `[ci]`.
fn gate(ci: &Spanned<raw::RawCi>) -> Result<crate::compare::Gate, GateError> {
    use crate::compare::{Gate, Threshold, parse_percent};
    let percent = |text: &str, span: Range<usize>| {
        parse_percent(text).map_err(|why| GateError::new(why, span, "a percentage such as \"5%\"".to_owned()))
    };
    let known: Vec<&str> = gateable_metrics().collect();
    let metric = |name: &Spanned<String>| {
        if known.contains(&name.get_ref().as_str()) {
            Ok(name.get_ref().clone())
        } else {
            let hint = crate::diagnostic::closest(name.get_ref(), known.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(GateError::new(
                format!("`[ci]` names unknown metric `{}`{hint}", name.get_ref()),
                name.span(),
                format!("one of {}", quote_list(&known)),
            ))
        }
    };
    let ci = ci.get_ref();
    let mut gate = Gate::default();
    if let Some(t) = &ci.threshold {
        gate.default = percent(t.get_ref(), t.span())?;
    }
    if let Some(metrics) = &ci.metrics {
        gate.metrics = metrics.iter().map(metric).collect::<Result<_, _>>()?;
    }
    if let Some(floor) = &ci.time_floor {
        let nanos = duration("time_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.time_floor_s = nanos as f64 / 1e9;
    }
    if let Some(floor) = &ci.memory_floor {
        let bytes = size("memory_floor", floor.get_ref())
            .map_err(|(message, expected)| GateError::new(message, floor.span(), expected.unwrap_or_default()))?;
        gate.memory_floor_bytes = bytes as f64;
    }
    for (name, threshold) in &ci.thresholds {
        let metric_name = metric(name)?;
        if let Some(by) = crate::metrics::judged_by(&metric_name) {
            return Err(GateError {
                message: format!("`[ci.thresholds]` sets `{metric_name}`, which is judged by `{by}`"),
                span: name.span(),
                expected: format!("a threshold of a metric other than `{metric_name}`"),
                help: Some(format!(
                    "`{metric_name}` is tasks / `{by}`, the same measurement inverted: one threshold governs both; \
                     set it on `{by}` (a slowdown of 10% is a throughput loss of 9.1%)"
                )),
            });
        }
        let span = threshold.span();
        let value = match threshold.get_ref() {
            raw::RawThreshold::Both(t) => {
                let p = percent(t, span)?;
                Threshold { increase: p, decrease: p }
            }
            raw::RawThreshold::Directed { increase, decrease } => Threshold {
                increase: increase.as_deref().map_or(Ok(gate.default), |t| percent(t, span.clone()))?,
                decrease: decrease.as_deref().map_or(Ok(gate.default), |t| percent(t, span.clone()))?,
            },
        };
        gate.per_metric.insert(metric_name, value);
    }
    Ok(gate)
}

/// The `[ci]` gate of an experiment file's text, as kept in a result folder.
pub fn gate_of_source(source: &str) -> Result<crate::compare::Gate, String> {
    let file: raw::CiOnly = toml::from_str(source).map_err(|e| e.message().to_owned())?;
    match &file.ci {
        Some(ci) => gate(ci).map_err(|e| e.message),
        None => Ok(crate::compare::Gate::default()),
    }
}

fn describe(cell: &Cell) -> String {
    if cell.is_empty() {
        return "{}".to_owned();
    }
    let pairs: Vec<String> = cell.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// Every `${name}` in a string; an unterminated `${` is taken literally.
fn references(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(start) = text[rest..].find("${").map(|i| i + rest) {
        let Some(len) = text[start + 2..].find('}') else { break };
        let end = start + 2 + len + 1;
        found.push((start..end, &text[start + 2..end - 1]));
        rest = end;
    }
    found
}

fn collect_references(workload: &RawWorkload, out: &mut Vec<String>) {
    fn walk(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.extend(references(s).into_iter().map(|(_, n)| n.to_owned())),
            toml::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            toml::Value::Table(t) => t.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(workload.tasks.get_ref(), out);
    for step in workload.steps.get_ref() {
        walk(step.get_ref(), out);
    }
}

fn substitute_value(value: &toml::Value, cell: &Cell) -> Result<toml::Value, String> {
    Ok(match value {
        toml::Value::String(s) => {
            let refs = references(s);
            if refs.is_empty() {
                return Ok(value.clone());
            }
            for (_, name) in &refs {
                if !cell.contains_key(*name) {
                    return Err((*name).to_owned());
                }
            }
            if refs.len() == 1 && refs[0].0 == (0..s.len()) {
                return Ok(match &cell[refs[0].1] {
                    Value::String(v) => toml::Value::String(v.clone()),
                    Value::Integer(i) => toml::Value::Integer(*i),
                    Value::Float(x) => toml::Value::Float(*x),
                    Value::Bool(b) => toml::Value::Boolean(*b),
                });
            }
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for (range, name) in refs {
                out.push_str(&s[last..range.start]);
                out.push_str(&cell[name].to_string());
                last = range.end;
            }
            out.push_str(&s[last..]);
            toml::Value::String(out)
        }
        toml::Value::Array(items) => {
            toml::Value::Array(items.iter().map(|v| substitute_value(v, cell)).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => {
            let mut out = toml::Table::new();
            for (k, v) in table {
                out.insert(k.clone(), substitute_value(v, cell)?);
            }
            toml::Value::Table(out)
        }
        other => other.clone(),
    })
}

type StepError = (String, Option<String>);

/// Parses one step: a table with exactly one key naming the kind.
fn parse_step(value: &toml::Value) -> Result<Step, StepError> {
    let table = value.as_table().filter(|t| t.len() == 1).ok_or_else(|| {
        (
            "a step is a table with one key".to_owned(),
            Some(format!("one of {}, for example {{ sleep = \"10ms\" }}", quote_list(raw::STEP_KINDS))),
        )
    })?;
    let (kind, arg) = table.iter().next().expect("one key");
    match kind.as_str() {
        "compute" => Ok(Step::Compute { bytes: size(kind, arg)? }),
        "alloc" => Ok(Step::Alloc { bytes: size(kind, arg)? }),
        "sleep" => Ok(Step::Sleep { nanos: duration(kind, arg)? }),
        "read_file" => {
            let t = fields(kind, arg, &["size", "files"])?;
            let files = match t.get("files") {
                None => 1,
                Some(toml::Value::Integer(n)) if (1..=i64::from(u32::MAX)).contains(n) => *n as u32,
                Some(other) => {
                    return Err((format!("`read_file.files` is {other}"), Some("an integer, at least 1".to_owned())));
                }
            };
            let size = t.get("size").ok_or_else(|| {
                ("`read_file` needs `size`".to_owned(), Some("{ size = \"64KiB\", files = 8 }".to_owned()))
            })?;
            Ok(Step::ReadFile { size: self::size("read_file.size", size)?, files })
        }
        "net" => {
            let t = fields(kind, arg, &["request", "response", "delay", "connect"])?;
            let get_size = |key: &str| t.get(key).map_or(Ok(0), |v| size(&format!("net.{key}"), v));
            let connect = match t.get("connect") {
                None => Connect::Reuse,
                Some(toml::Value::String(s)) if s == "reuse" => Connect::Reuse,
                Some(toml::Value::String(s)) if s == "per_request" => Connect::PerRequest,
                Some(other) => {
                    return Err((format!("`net.connect` is {other}"), Some("\"reuse\" or \"per_request\"".to_owned())));
                }
            };
            Ok(Step::Net {
                request: get_size("request")?,
                response: get_size("response")?,
                delay_nanos: t.get("delay").map_or(Ok(0), |v| duration("net.delay", v))?,
                connect,
            })
        }
        "shared" => {
            let t = fields(kind, arg, &["hold"])?;
            Ok(Step::Shared { hold_nanos: t.get("hold").map_or(Ok(0), |v| duration("shared.hold", v))? })
        }
        other => {
            let hint = crate::diagnostic::closest(other, raw::STEP_KINDS.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err((format!("unknown step `{other}`{hint}"), Some(format!("one of {}", quote_list(raw::STEP_KINDS)))))
        }
    }
}

fn fields<'v>(kind: &str, value: &'v toml::Value, allowed: &[&str]) -> Result<&'v toml::Table, StepError> {
    let table = value.as_table().ok_or_else(|| {
        (format!("`{kind}` takes a table"), Some(format!("a table with keys {}", quote_list(allowed))))
    })?;
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = crate::diagnostic::closest(key, allowed.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err((format!("`{kind}` has no key `{key}`{hint}"), Some(format!("keys {}", quote_list(allowed)))));
        }
    }
    Ok(table)
}

fn size(key: &str, value: &toml::Value) -> Result<u64, StepError> {
    let parsed = match value {
        toml::Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        toml::Value::String(s) => units::parse_size(s),
        other => Err(format!("{other} is not a size")),
    };
    parsed.map_err(|why| (format!("`{key}`: {why}"), Some(units::SIZE_EXPECTED.to_owned())))
}

fn duration(key: &str, value: &toml::Value) -> Result<u64, StepError> {
    let parsed = match value {
        toml::Value::String(s) => units::parse_duration(s),
        other => Err(format!("{other} is not a duration")),
    };
    parsed
        .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
        .map_err(|why| (format!("`{key}`: {why}"), Some(units::DURATION_EXPECTED.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found() {
        let refs: Vec<&str> = references("${a}-x-${bc}${").into_iter().map(|(_, n)| n).collect();
        assert_eq!(refs, ["a", "bc"]);
    }

    #[test]
    fn a_whole_reference_keeps_the_axis_type() {
        let cell: Cell =
            [("n".to_owned(), Value::Integer(3)), ("d".to_owned(), Value::String("1ms".into()))].into_iter().collect();
        assert_eq!(substitute_value(&toml::Value::String("${n}".into()), &cell), Ok(toml::Value::Integer(3)));
        assert_eq!(
            substitute_value(&toml::Value::String("${d}x${n}".into()), &cell),
            Ok(toml::Value::String("1msx3".into()))
        );
        assert_eq!(substitute_value(&toml::Value::String("${zz}".into()), &cell), Err("zz".to_owned()));
    }

    #[test]
    fn steps_parse() {
        let step = |s: &str| parse_step(&toml::from_str::<toml::Table>(&format!("s = {s}")).unwrap()["s"]);
        assert_eq!(step("{ compute = \"1KiB\" }"), Ok(Step::Compute { bytes: 1024 }));
        assert_eq!(step("{ sleep = \"2ms\" }"), Ok(Step::Sleep { nanos: 2_000_000 }));
        assert_eq!(step("{ shared = {} }"), Ok(Step::Shared { hold_nanos: 0 }));
        assert_eq!(
            step("{ net = { response = \"1KiB\", delay = \"1ms\", connect = \"per_request\" } }"),
            Ok(Step::Net { request: 0, response: 1024, delay_nanos: 1_000_000, connect: Connect::PerRequest })
        );
        assert!(step("{ slep = \"2ms\" }").unwrap_err().0.contains("did you mean `sleep`"));
        assert!(step("{ sleep = \"2 lightyears\" }").is_err());
    }
}
