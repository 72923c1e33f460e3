//! The checked experiment: what the rest of the harness uses. Nothing here is a raw string from the file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harness_sdk::protocol::Workload;

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
    pub repetitions: u32,
    pub warmup: u32,
    pub timeout: Duration,
    pub seed: u64,
    pub order: Order,
    /// Per run, for the run's whole process tree where a cgroup can be made.
    pub memory_limit: Option<u64>,
    /// What `harness compare` gates on, from `[ci]`.
    pub gate: Gate,
    /// The axis columns of results, in order: matrix axes, then keys that `include` added.
    pub columns: Vec<String>,
    pub cells: Vec<CellPlan>,
    /// The `[[charts]]` the file asks for.
    pub charts: Vec<ChartSpec>,
    /// The `[services]`, in the order of the file: the order they start in.
    pub services: Vec<Service>,
}

/// One cell of the matrix, resolved.
#[derive(Debug, Clone)]
pub(crate) struct CellPlan {
    pub values: Cell,
    pub executor: PluginInfo,
    pub workers: u32,
    pub options: serde_json::Map<String, serde_json::Value>,
    pub workload: Workload,
    /// The services (indices into [`Experiment::services`]) its runs need, in the order they start.
    pub services: Vec<usize>,
}

impl CellPlan {
    /// The cell's value in `column`, empty when the cell has none.
    pub(crate) fn value(&self, column: &str) -> String {
        self.values.get(column).map(ToString::to_string).unwrap_or_default()
    }

    /// The cell as `axis=value` pairs, in column order: how warnings name it.
    pub(crate) fn label(&self, columns: &[String]) -> String {
        let pairs: Vec<String> =
            columns.iter().filter(|c| self.values.contains_key(*c)).map(|c| format!("{c}={}", self.value(c))).collect();
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
}
