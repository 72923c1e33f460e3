//! The messages that cross the plugin boundary, serialized as JSON.
//!
//! Plugins never see TOML: the harness resolves an experiment file into these plain values (durations in
//! nanoseconds, sizes in bytes) before a run starts.

use std::collections::BTreeMap;
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
    /// Whether it can send the requests of many tasks in flight over one connection
    /// ([`Connect::Shared`]; [`Executor::MULTIPLEXES`](crate::Executor::MULTIPLEXES)).
    #[serde(default)]
    pub multiplexes: bool,
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
    /// When tasks arrive: `None` for a closed workload (every task ready at the start), or the rate of an
    /// open one, whose task `i` is due at its scheduled time ([`crate::arrival`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// Numbers the workload's `exec` steps print, read from their output ([`MetricSource`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSource>,
}

/// How the tasks of an open workload arrive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Arrival {
    /// Tasks offered per second.
    pub rate_per_s: f64,
    /// How arrivals are spaced.
    #[serde(default)]
    pub process: Process,
    /// A task that finds this many due-but-unstarted tasks ahead of it is dropped (counted, never run);
    /// `None`: no task is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue: Option<u64>,
}

/// The spacing of arrivals.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// Evenly spaced: task `i` is due `i / rate` after the start.
    #[default]
    Constant,
    /// A Poisson process: exponential gaps of mean `1 / rate`, drawn from the experiment's seed.
    Poisson,
}

/// Where a custom metric comes from: every match of `regex` (whose first group is a number) in what an
/// `exec` step's program wrote to `from`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MetricSource {
    /// The metric's name, a column of `runs.csv`.
    pub name: String,
    /// A regular expression with one capture group.
    pub regex: String,
    pub from: Stream,
}

/// Where a custom metric's numbers come from: an output stream of the `exec` steps' programs, or what the
/// `call` steps' functions record.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
    /// Recorded by step functions ([`crate::steplib::Context::record`]); the regex is unused.
    Call,
}

/// A function of a step library to call: a `call` step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Call {
    /// The step library's file (absolute).
    pub library: String,
    /// `library::function`, for messages.
    pub name: String,
    /// The function's number in the library's list.
    pub function: u32,
    /// The argument, with `${task}` and `${worker}` substituted per task.
    pub arg: String,
}

/// A program to run: an `exec` step, or a hook the harness runs around runs.
///
/// In every string, `${task}` and `${worker}` stand for the task's index and the index of the worker
/// (thread or process) that runs it; [`crate::exec`] substitutes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exec {
    /// The program and its arguments (`["sh", "-c", "..."]` for the string form).
    pub argv: Vec<String>,
    /// Variables added to the program's environment.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The folder it runs in (absolute: the harness resolves it against the experiment file).
    pub cwd: Option<String>,
    /// A file to read as its standard input; without one, its standard input is empty.
    pub stdin: Option<String>,
    /// What the step yields.
    pub output: Output,
    /// The exit statuses that count as success.
    pub ok: Vec<i32>,
}

/// What an `exec` step yields.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The xxh3 hash of everything the program wrote to its standard output.
    #[default]
    Hash,
    /// Its exit status; its standard output is not read.
    Ignore,
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
    /// Run a program and wait for it to end.
    Exec(Exec),
    /// Call a function of a step library.
    Call(Call),
    /// Send one command to the Redis server at `url`; `${task}` in an argument is the task's number.
    Redis {
        url: String,
        command: Vec<String>,
        #[serde(default)]
        connect: Connect,
    },
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

/// The connections of a `net`, `http` or `redis` step. By default one per task slot, kept from one task
/// to the next: one per worker thread or process of a blocking executor, one per task in flight of an
/// event loop (a pool of idle connections, which grows to the tasks in flight and no further).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Connect {
    /// Keep the slot's connection open for its next request.
    #[default]
    Reuse,
    /// Open a new connection for every request.
    PerRequest,
    /// One connection for the whole run, which the requests of every task in flight share: they are
    /// pipelined over it (`redis` steps only, under an executor that declares it
    /// [`ExecutorInfo::multiplexes`]).
    Shared,
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
    /// The same latencies as the histogram's non-empty buckets, (nanoseconds, tasks), in increasing order
    /// ([`crate::latency::Latency::to_pairs`]): what the harness keeps of each run to merge the runs of a
    /// cell. Empty from an executor built before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_histogram: Vec<(u64, u64)>,
    /// An open workload's response times ([`OpenReport::response`]) as the same kind of buckets: what the
    /// harness merges into the cell's response-time percentiles. Empty for a closed workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_histogram: Vec<(u64, u64)>,
    /// What an open workload measured on top ([`crate::arrival`]); `None` for a closed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenReport>,
    /// The numbers tasks reported for custom metrics, by metric name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, Reported>,
}

/// What a run of an open workload measured beyond service time.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct OpenReport {
    /// Per-task response time: from the moment a task was due to its end, queueing included.
    pub response: LatencySummary,
    /// Tasks dropped because the queue was full (never run, not in `tasks`).
    pub dropped: u64,
    /// Tasks that started more than [`crate::arrival::LATE_NS`] after they were due.
    pub late: u64,
    /// How long after it was due the last task (the highest index run) started, in seconds.
    pub last_start_lag_s: f64,
}

/// Every number reported for one custom metric in a run, summed up so that the harness can take the
/// aggregate the experiment asks for. Reports merge in any order ([`Reported::merge`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Reported {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The last number of the highest-numbered task that reported one: "last" does not depend on which
    /// worker finished when.
    pub last: f64,
    pub last_task: u64,
}

impl Reported {
    /// One number, reported by task `task`.
    pub fn one(task: u64, value: f64) -> Self {
        Self { count: 1, sum: value, min: value, max: value, last: value, last_task: task }
    }

    /// Adds `other` (reported later, when both come from the same task).
    pub fn merge(&mut self, other: &Reported) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.last_task >= self.last_task {
            self.last = other.last;
            self.last_task = other.last_task;
        }
    }
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
