//! The messages that cross the plugin boundary, serialized as JSON.
//!
//! Plugins never see TOML: the harness resolves an experiment file into these plain values (durations in
//! nanoseconds, sizes in bytes) before a run starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a plugin says about itself beyond its name and version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutorInfo {
    /// One line for `harness list`.
    pub description: String,
    /// The options this executor accepts in `[executors.NAME]` and in matrix cells.
    pub options: Vec<OptionSpec>,
    /// The executor's execution model, when it declares one ([`Executor::model`](crate::Executor::model)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::model::Model>,
}

/// One option an executor accepts. The harness checks values against it before any run starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OptionSpec {
    /// The key experiment files use, in `[executors.NAME]` or as a matrix axis.
    pub name: String,
    /// The type of its value.
    pub kind: OptionKind,
    /// The value used when an experiment does not set the option; `null` for "unset".
    pub default: serde_json::Value,
    /// One line for `harness list`.
    pub description: String,
}

/// The type of an option's value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum OptionKind {
    /// `true` or `false`.
    Bool,
    /// A non-negative integer at least `min`.
    Integer {
        /// The smallest value accepted.
        min: u64,
    },
    /// One of the listed strings.
    Choice {
        /// The values accepted.
        choices: Vec<String>,
    },
}

impl OptionSpec {
    /// A boolean option, `default` when unset: `OptionSpec::bool("offload_cpu", false, "...")`.
    pub fn bool(name: &str, default: bool, description: &str) -> Self {
        Self::new(name, OptionKind::Bool, serde_json::Value::Bool(default), description)
    }

    /// An integer option of at least `min`; `default` `None` leaves it unset (`null`), which the executor
    /// reads as "not given" ([`RunRequest::option_u64`] returns `None`).
    pub fn integer(name: &str, min: u64, default: Option<u64>, description: &str) -> Self {
        let default = default.map_or(serde_json::Value::Null, serde_json::Value::from);
        Self::new(name, OptionKind::Integer { min }, default, description)
    }

    /// An option taking one of `choices` (strings), `default` when unset.
    pub fn choice(name: &str, choices: &[&str], default: &str, description: &str) -> Self {
        let choices = choices.iter().map(|&c| c.to_owned()).collect();
        Self::new(name, OptionKind::Choice { choices }, default.into(), description)
    }

    fn new(name: &str, kind: OptionKind, default: serde_json::Value, description: &str) -> Self {
        Self { name: name.to_owned(), kind, default, description: description.to_owned() }
    }

    /// Checks a value against this option; the error says what was expected ("an integer >= 1").
    pub fn check(&self, value: &serde_json::Value) -> Result<(), String> {
        match (&self.kind, value) {
            (OptionKind::Bool, serde_json::Value::Bool(_)) => Ok(()),
            (OptionKind::Integer { min }, serde_json::Value::Number(n)) if n.as_u64().is_some_and(|n| n >= *min) => {
                Ok(())
            }
            (OptionKind::Choice { choices }, serde_json::Value::String(s)) if choices.contains(s) => Ok(()),
            (kind, _) => Err(kind.describe()),
        }
    }
}

impl OptionKind {
    /// "a boolean", "an integer >= 1", "one of \"a\", \"b\"".
    pub fn describe(&self) -> String {
        match self {
            OptionKind::Bool => "a boolean".to_owned(),
            OptionKind::Integer { min } => format!("an integer >= {min}"),
            OptionKind::Choice { choices } => {
                let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
        }
    }
}

/// One run of one matrix cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRequest {
    /// Workers (threads or processes) the executor should use, at least 1.
    pub workers: u32,
    /// Executor options, checked against [`ExecutorInfo::options`], defaults filled in.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// The experiment's seed: data for `compute` and fixture files derive from it.
    pub seed: u64,
    pub workload: Workload,
    /// Resources the harness prepared for this run.
    pub resources: Resources,
}

impl RunRequest {
    /// The boolean option `name`; `None` when it is unset or not a boolean.
    pub fn option_bool(&self, name: &str) -> Option<bool> {
        self.options.get(name).and_then(serde_json::Value::as_bool)
    }

    /// The integer option `name`; `None` when it is unset (`null`) or not an integer.
    pub fn option_u64(&self, name: &str) -> Option<u64> {
        self.options.get(name).and_then(serde_json::Value::as_u64)
    }

    /// The string (choice) option `name`; `None` when it is unset or not a string.
    pub fn option_str(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(serde_json::Value::as_str)
    }
}

/// What every task of a run does: the same steps, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Workload {
    /// The workload's name in the experiment file.
    pub name: String,
    /// How many tasks to run, numbered `0..tasks`.
    pub tasks: u64,
    /// The steps of every task.
    pub steps: Vec<Step>,
}

/// One step of a task. Every step yields a value that is folded into the task's checksum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Hash `bytes` bytes of seeded data.
    Compute { bytes: u64 },
    /// Wait `nanos` nanoseconds, standing in for a slow remote call.
    Sleep { nanos: u64 },
    /// Read one of `files` fixture files of `size` bytes each.
    ReadFile { size: u64, files: u32 },
    /// A TCP round trip to the harness's loopback server: send `request` bytes, the server waits
    /// `delay_nanos` and answers with `response` bytes ([`crate::net`]).
    Net { request: u64, response: u64, delay_nanos: u64, connect: Connect },
    /// Add one to a counter shared by every task: read it, wait `hold_nanos`, write it plus one, under a
    /// lock unless `lock` is [`SharedLock::None`].
    Shared {
        hold_nanos: u64,
        #[serde(default)]
        store: SharedStore,
        #[serde(default)]
        lock: SharedLock,
    },
    /// Allocate and touch `bytes` bytes.
    Alloc { bytes: u64 },
    /// Send one command to the Redis server at `url`; `${task}` in an argument is the task's number.
    Redis { url: String, command: Vec<String> },
    /// One HTTP/1.1 request; `${task}` in the URL is the task's number.
    Http(HttpRequest),
}

/// What an `http` step sends and expects.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: HttpBody,
    /// The statuses that count as success; empty: any 2xx.
    pub expect: Vec<u16>,
    pub checksum: HttpChecksum,
    pub connect: Connect,
}

/// The body of an `http` request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpBody {
    Empty,
    /// The first bytes of the run's seeded data.
    Seeded(u64),
    Text(String),
}

/// What an `http` step folds into the checksum.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpChecksum {
    /// The status and the hash of the body.
    Body,
    /// The status only, for bodies that change from one answer to the next.
    Status,
}

/// Whether a `net` step opens a connection per request or reuses connections (one per worker thread or
/// process; the async executor keeps a pool of idle connections).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Connect {
    /// Keep the connection open for the worker's next request.
    #[default]
    Reuse,
    /// Open a new connection for every request.
    PerRequest,
}

/// Where a `shared` step keeps the counter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SharedStore {
    /// Where the executor keeps it: in memory, or in [`Resources::shared_file`] (see `SharedMode`).
    #[default]
    Executor,
    /// In the Redis server at `url`, under the key [`Resources::shared_key`], locked with `SET NX PX`.
    Redis { url: String },
}

/// Whether a `shared` step locks the counter around its read-modify-write.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SharedLock {
    /// Exclusive: no increment is lost, which the harness checks.
    #[default]
    Exclusive,
    /// None: concurrent tasks may lose increments, which the harness counts (`shared_lost`).
    None,
}

/// Resources the harness sets up outside the process under test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Resources {
    /// Folder of fixture files for `read_file` steps: `<size>-<index>.bin`.
    pub files_dir: Option<PathBuf>,
    /// Address of the loopback server for `net` steps.
    pub net_addr: Option<String>,
    /// A file executors whose tasks do not share memory use for the `shared` counter.
    pub shared_file: Option<PathBuf>,
    /// The key of the run's `shared` counter in Redis (fresh for each run), for `store = "redis"`.
    #[serde(default)]
    pub shared_key: Option<String>,
}

/// What an executor measured in one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RunReport {
    /// Seconds to start the pool, runtime or worker processes.
    pub setup_s: f64,
    /// Seconds from the first task's start to the last task's end.
    pub run_s: f64,
    /// Tasks completed.
    pub tasks: u64,
    /// The order-independent sum of every task's checksum.
    pub checksum: u64,
    /// The final value of the shared counter, when the workload has `shared` steps.
    pub shared_count: Option<u64>,
    /// Per-task latency: service time, from the start of a task's first step to its end
    /// ([`crate::trace`]).
    pub latency: LatencySummary,
}

/// Percentiles of the per-task latency, in seconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct LatencySummary {
    /// The mean.
    pub mean_s: f64,
    /// The median.
    pub p50_s: f64,
    /// The 90th percentile.
    pub p90_s: f64,
    /// The 99th percentile.
    pub p99_s: f64,
    /// The longest.
    pub max_s: f64,
}
