//! The experiment file as written: serde types that keep the place of every value, so that later
//! checks can point at it. Nothing outside [`crate::experiment`] sees these types.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

pub(super) type Table = IndexMap<Spanned<String>, Spanned<toml::Value>>;

/// `[matrix]`: every key is a list (axis values, or `exclude`/`include` entries).
pub(super) type Matrix = IndexMap<Spanned<String>, Spanned<Vec<Spanned<toml::Value>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub experiment: Spanned<RawExperiment>,
    #[serde(default)]
    pub workloads: IndexMap<Spanned<String>, Spanned<RawWorkload>>,
    pub matrix: Option<Spanned<Matrix>>,
    #[serde(default)]
    pub executors: IndexMap<Spanned<String>, Spanned<Table>>,
    #[serde(default)]
    pub plugins: IndexMap<Spanned<String>, Spanned<String>>,
    /// Step libraries: name = path of the library, relative to the experiment file.
    #[serde(default)]
    pub libraries: IndexMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub charts: Vec<Spanned<RawChart>>,
    pub ci: Option<Spanned<RawCi>>,
    #[serde(default)]
    pub services: IndexMap<Spanned<String>, Spanned<RawService>>,
}

/// A `[services.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub command: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    pub cwd: Option<String>,
    pub ready: Option<Spanned<toml::Value>>,
    pub ready_timeout: Option<Spanned<String>>,
    pub scope: Option<Spanned<String>>,
    /// `files = { "NAME" = { template = "PATH" } }` or `{ text = "..." }`: written into the service's
    /// folder before its command starts.
    #[serde(default)]
    pub files: IndexMap<Spanned<String>, Spanned<toml::Value>>,
}

/// `[ci]`: what `harness compare` gates on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCi {
    pub threshold: Option<Spanned<String>>,
    pub metrics: Option<Vec<Spanned<String>>>,
    pub time_floor: Option<Spanned<toml::Value>>,
    pub memory_floor: Option<Spanned<toml::Value>>,
    /// Per metric: a percentage, or a table of `increase` and `decrease`; checked in `gate`, so that a
    /// mistake there gets its own message.
    #[serde(default)]
    pub thresholds: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    /// `baseline = { AXIS = VALUE }`: the paired comparison within one result folder.
    pub baseline: Option<Spanned<IndexMap<Spanned<String>, Spanned<toml::Value>>>>,
    /// What an inconclusive comparison does to the exit code: `"pass"` or `"fail"`.
    pub inconclusive: Option<Spanned<String>>,
    /// The history file each finished result is appended to, relative to the experiment file.
    pub history: Option<Spanned<String>>,
}

/// Only the `[ci]` table of a file, the custom metrics of its workloads and the names of its services, for
/// reading them back from a result folder.
#[derive(Debug, Deserialize)]
pub(super) struct CiOnly {
    pub ci: Option<Spanned<RawCi>>,
    /// `repetitions`, for the looks of a comparison that stops on its data.
    #[serde(default)]
    pub experiment: Option<RepetitionsOnly>,
    #[serde(default)]
    pub workloads: IndexMap<String, MetricsOnly>,
    /// The services, whose columns `[ci]` may name: only their names are read.
    #[serde(default)]
    pub services: IndexMap<String, toml::Value>,
    /// The matrix, whose axes pair the cells of `[ci] baseline`: only its keys are used.
    #[serde(default)]
    pub matrix: IndexMap<String, toml::Value>,
}

/// Only the `repetitions` of `[experiment]`.
#[derive(Debug, Deserialize)]
pub(super) struct RepetitionsOnly {
    pub repetitions: Option<Spanned<toml::Value>>,
}

/// Only the custom metrics of a workload, and its steps as written.
#[derive(Debug, Deserialize)]
pub(super) struct MetricsOnly {
    #[serde(default)]
    pub metrics: IndexMap<Spanned<String>, Spanned<RawMetric>>,
    /// Whether it counts instructions, whose metrics are then its too.
    #[serde(default)]
    pub instructions: Option<bool>,
    #[serde(default)]
    pub steps: Vec<toml::Value>,
}

impl MetricsOnly {
    /// Whether a step goes to the loopback server: a `net` step, or an `http` step to its port.
    pub(super) fn uses_loopback(&self) -> bool {
        self.steps.iter().filter_map(toml::Value::as_table).any(|step| {
            step.contains_key("net")
                || step
                    .get("http")
                    .and_then(|h| h.get("url"))
                    .and_then(toml::Value::as_str)
                    .is_some_and(|url| url.contains("${services.loopback.port}"))
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// A count, or `{ min, max }`: rounds until every comparison is decided.
    pub repetitions: Option<Spanned<toml::Value>>,
    pub warmup: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<String>>,
    pub seed: Option<Spanned<i64>>,
    pub order: Option<Spanned<String>>,
    pub memory_limit: Option<Spanned<toml::Value>>,
    /// A program run once before the first run.
    pub setup: Option<Spanned<toml::Value>>,
    /// A program run once after the last run, also after a failure or an interruption.
    pub cleanup: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    /// For the reader of the file; the harness does not use it.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
    /// Required unless `arrival` bounds the run.
    pub tasks: Option<Spanned<toml::Value>>,
    pub steps: Spanned<Vec<Spanned<toml::Value>>>,
    /// An open workload: tasks arrive at a rate ([`super::arrival`]).
    pub arrival: Option<Spanned<super::arrival::RawArrival>>,
    /// Only in `arrival`: here, refused with the way to write it there.
    pub objective: Option<Spanned<toml::Value>>,
    /// Only in `arrival`: here, refused with the way to write it there.
    pub search: Option<Spanned<toml::Value>>,
    /// A program run before each run of the workload, outside the measured time.
    pub prepare: Option<Spanned<toml::Value>>,
    /// A program run after each run of the workload, outside the measured time.
    pub conclude: Option<Spanned<toml::Value>>,
    /// Custom metrics, read from the output of the workload's `exec` steps.
    #[serde(default)]
    pub metrics: IndexMap<Spanned<String>, Spanned<RawMetric>>,
    /// Whether its runs' checksums are compared: `"warn"`, `"must-agree"` or `"ignore"`.
    pub checksum: Option<Spanned<String>>,
    /// Run the `exec` steps' programs under Valgrind and count their instructions ([`super::instructions`]).
    pub instructions: Option<Spanned<bool>>,
}

/// A custom metric: `{ regex = '...', from = "stderr", aggregate = "mean", better = "higher" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    pub regex: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub aggregate: Option<Spanned<String>>,
    pub better: Spanned<String>,
}

/// A `[[charts]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChart {
    pub title: Option<String>,
    pub x: Spanned<String>,
    pub y: Spanned<String>,
    pub series: Option<Spanned<String>>,
    pub facet: Option<Spanned<String>>,
    #[serde(default)]
    pub filter: IndexMap<Spanned<String>, Spanned<toml::Value>>,
    pub kind: Option<Spanned<String>>,
    pub log_x: Option<bool>,
    pub log_y: Option<bool>,
}
