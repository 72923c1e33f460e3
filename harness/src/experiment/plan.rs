//! The checked experiment: what the rest of the harness uses. Nothing here is a raw string from the file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harness_sdk::protocol::{Exec, Step, Workload};

use super::charts::ChartSpec;
use super::gate::Gate;
use super::matrix::Cell;
use super::services::Service;
use crate::plugin::PluginInfo;

/// The axes with a meaning of their own; every other axis is a workload variable or an executor option.
pub(crate) const EXECUTOR: &str = "executor";
pub(crate) const WORKLOAD: &str = "workload";
pub(crate) const WORKERS: &str = "workers";

/// The order in which runs visit cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Order {
    /// Each repetition visits every cell in turn, so drift spreads over all cells.
    Interleaved,
    /// All repetitions of a cell, then the next cell.
    Sequential,
    /// A seeded shuffle of all runs.
    Random,
}

impl Order {
    pub(super) const NAMES: [&'static str; 3] = ["interleaved", "sequential", "random"];

    pub(super) fn parse(text: &str) -> Option<Self> {
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
pub(crate) struct Experiment {
    pub path: PathBuf,
    pub source: Arc<str>,
    pub name: String,
    pub description: String,
    /// Measured runs per cell: `rounds.max`.
    pub repetitions: u32,
    /// The rounds: a fixed count, or a range the run walks until every comparison is decided.
    pub rounds: super::repetitions::Repetitions,
    pub warmup: u32,
    pub timeout: Duration,
    pub seed: u64,
    pub order: Order,
    /// Per run, for the run's whole process tree where a cgroup can be made.
    pub memory_limit: Option<u64>,
    /// What `harness compare` gates on, from `[ci]`.
    pub gate: Gate,
    /// Whether the file has a `[ci]` table.
    pub gated: bool,
    /// The axis columns of results, in order: matrix axes, then keys that `include` added.
    pub columns: Vec<String>,
    pub cells: Vec<CellPlan>,
    /// The `[[charts]]` the file asks for.
    pub charts: Vec<ChartSpec>,
    /// The custom metrics of every workload, in the order of their columns in `runs.csv`.
    pub metrics: Vec<CustomMetric>,
    /// The metrics of the experiment: the harness's and its custom metrics.
    pub catalog: crate::metrics::Catalog,
    /// `[experiment] setup`: run once before the first run.
    pub setup: Option<Exec>,
    /// `[experiment] cleanup`: run once after the last run, also after a failure or an interruption.
    pub cleanup: Option<Exec>,
    /// `[libraries]`: the step libraries, with the functions each exports.
    pub libraries: Vec<StepLibrary>,
    /// The `[services]`, in the order of the file: the order they start in.
    pub services: Vec<Service>,
}

impl Experiment {
    /// Whether the file says how it is gated: a `[ci]` table.
    pub(crate) fn has_gate(&self) -> bool {
        self.gated
    }
}

/// A step library of `[libraries]`, as its probe found it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepLibrary {
    pub name: String,
    pub path: PathBuf,
    /// The functions it exports; `None` in the experiment of a result folder, which probes no library.
    pub functions: Option<Vec<String>>,
}

/// A custom metric: how a run's value is made of what its tasks reported, and which way is better.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CustomMetric {
    pub name: String,
    pub aggregate: Aggregate,
    pub direction: crate::metrics::Direction,
}

/// How a custom metric's numbers over a run's tasks make the run's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Mean,
    Sum,
    Min,
    Max,
    Last,
}

/// One cell of the matrix, resolved.
#[derive(Debug, Clone)]
pub(crate) struct CellPlan {
    pub values: Cell,
    /// Shared by every cell of the executor.
    pub executor: std::sync::Arc<PluginInfo>,
    pub workers: u32,
    /// Shared by every cell with the same options.
    pub options: Arc<serde_json::Map<String, serde_json::Value>>,
    /// Shared by every cell whose workload refers to the same values: a matrix of a million cells over
    /// `workers` holds one.
    pub workload: Arc<Workload>,
    /// The workload's `prepare`: run before each run, outside the measured time.
    pub prepare: Option<Arc<Exec>>,
    /// The workload's `conclude`: run after each run, outside the measured time.
    pub conclude: Option<Arc<Exec>>,
    /// The services (indices into [`Experiment::services`]) its runs need, in the order they start.
    pub services: Vec<usize>,
    /// How its runs' checksums are held to agree: the workload's `checksum`.
    pub checksum: Agreement,
    /// `rate = "search"`: its runs are the probes of a search for the highest rate within an objective.
    pub search: Option<Arc<crate::search::Search>>,
}

/// How the checksums of a workload's runs are compared: every `ok` run of every cell that runs the same
/// workload (the same steps after substitution, tasks, arrival and seed), whatever its executor and
/// workers, must report the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Agreement {
    /// `"warn"`, the default: compared when every step yields the same value on every run
    /// ([`Step::deterministic`], and no `arrival`, which may drop tasks); a disagreement is a warning.
    #[default]
    Warn,
    /// `"must-agree"`: compared whatever the steps (the file vouches for its programs, servers and
    /// functions); a run that disagrees with the first `ok` run of its workload fails.
    MustAgree,
    /// `"ignore"`: never compared.
    Ignore,
}

impl Agreement {
    /// The names a file writes, in order.
    pub(crate) const NAMES: [&str; 3] = ["warn", "must-agree", "ignore"];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "warn" => Some(Self::Warn),
            "must-agree" => Some(Self::MustAgree),
            "ignore" => Some(Self::Ignore),
            _ => None,
        }
    }
}

impl CellPlan {
    /// The cell's value in `column`, empty when the cell has none.
    pub(crate) fn value(&self, column: &str) -> String {
        self.values.get(column).map(ToString::to_string).unwrap_or_default()
    }

    /// The cell's values of `axes`, in order: what pairs it with the other versions of `[ci] baseline`
    /// (`axes` is the baseline's `pair_by`).
    pub(crate) fn pair_key(&self, axes: &[String]) -> Vec<String> {
        axes.iter().map(|a| self.value(a)).collect()
    }

    /// What the checksums of the cell's runs must agree with: the runs of every cell with the same group,
    /// `None` when they are not compared ([`Agreement`]). The group is the workload as its runs get it, but
    /// for its name: two cells that run the same steps, the same number of tasks, with the same seed.
    pub(crate) fn checksum_group(&self) -> Option<String> {
        let w = &self.workload;
        let compared = match self.checksum {
            Agreement::Ignore => false,
            Agreement::MustAgree => true,
            Agreement::Warn => w.arrival.is_none() && w.steps.iter().all(Step::deterministic),
        };
        compared.then(|| serde_json::json!({ "tasks": w.tasks, "steps": w.steps, "arrival": w.arrival }).to_string())
    }

    /// The cell as `axis=value` pairs, in column order: how warnings name it.
    pub(crate) fn label(&self, columns: &[String]) -> String {
        let pairs: Vec<String> = columns
            .iter()
            .filter(|c| self.values.contains_key(c.as_str()))
            .map(|c| format!("{c}={}", self.value(c)))
            .collect();
        pairs.join(" ")
    }
}
/// What can be read of an experiment file without its executors: enough to chart the results of a run
/// of it when the plugins it used are not at hand.
#[derive(Debug, Clone)]
pub(crate) struct Outline {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub columns: Vec<String>,
    pub cells: Vec<Cell>,
    pub charts: Vec<ChartSpec>,
    pub catalog: crate::metrics::Catalog,
}
