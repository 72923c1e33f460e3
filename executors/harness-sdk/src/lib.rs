//! The SDK for writing executors: execution models the harness loads as plugins.
//!
//! An executor is a type implementing [`Executor`], exported with [`export_executor!`] from a crate built
//! as a `cdylib`. The harness loads the library in a child process, hands the executor one
//! [`RunRequest`] per run, and records the [`RunReport`] it
//! returns. A complete executor, running every task one after another:
//!
//! ```
//! use std::time::Instant;
//! use harness_sdk::model::{Model, Quantity};
//! use harness_sdk::protocol::{RunReport, RunRequest};
//! use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};
//!
//! pub struct OneByOne;
//!
//! impl harness_sdk::Executor for OneByOne {
//!     const NAME: &'static str = "one_by_one";
//!     const VERSION: &'static str = "0.1.0";
//!     const DESCRIPTION: &'static str = "every task in turn on the calling thread";
//!
//!     // One task at a time, on one core: the harness can compute an ideal time and an efficiency.
//!     fn model() -> Option<Model> {
//!         Some(Model { tasks_in_flight: Quantity::One, cpu_parallelism: Quantity::One, waits: None })
//!     }
//!
//!     fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
//!         let workload = Prepared::new(request, SharedMode::Memory)?;
//!         let mut tally = Tally::default();
//!         let start = Instant::now();
//!         workload.run_range(0..workload.tasks, &mut WorkerState::default(), &mut tally)?;
//!         Ok(harness_sdk::report(0.0, start.elapsed(), &tally, workload.shared_count()?))
//!     }
//! }
//!
//! harness_sdk::export_executor!(OneByOne);
//! ```
//!
//! The SDK holds everything a task does: [`workload::Prepared`] runs its steps blocking the calling
//! thread, `nonblocking::AsyncWorkload` (cargo feature `tokio`) runs them on a tokio runtime, and
//! [`steps`] says what each step does and yields. An executor only decides how tasks are scheduled.
//! Latency is service time ([`trace`]); an open workload's tasks arrive at a rate, and the SDK's task
//! loops keep its schedule ([`arrival`]) for every executor. Programs (`exec` steps) are run by [`exec`];
//! functions of step libraries (`call` steps), which are made with this SDK too, by [`steplib`].
//!
//! Rules of the boundary, which the SDK keeps for you: nothing but bytes crosses it, no panic unwinds out
//! of it, and the library is never unloaded (so threads an executor leaves behind cannot run unmapped code;
//! still, join what you start).

pub mod abi;
pub mod arrival;
pub mod checksum;
pub mod exec;
pub mod fixtures;
pub mod http1;
pub mod latency;
mod metrics;
pub mod model;
pub mod net;
#[cfg(feature = "tokio")]
pub mod nonblocking;
pub mod protocol;
pub mod steplib;
pub mod steps;
pub mod timer;
pub mod trace;
pub mod units;
pub mod worker;
pub mod workload;

use std::time::Duration;

use protocol::{OptionSpec, RunReport, RunRequest};

/// The error type executors return; its message reaches the user in the run's `error` column.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The result type of [`Executor::run`].
pub type Result<T> = std::result::Result<T, Error>;

/// An execution model.
pub trait Executor {
    /// The name experiment files use (`executor = ["NAME"]`): lower case, digits and `_`.
    const NAME: &'static str;
    /// The executor's version, shown by `harness list` and recorded with results.
    const VERSION: &'static str;
    /// One line describing the model.
    const DESCRIPTION: &'static str;
    /// Whether the executor can send the requests of many tasks in flight over one connection, as a step
    /// with `connect = "shared"` asks (an event loop can; a worker thread or process blocked on its
    /// request cannot). The harness refuses such a step under an executor that cannot, before any run.
    const MULTIPLEXES: bool = false;

    /// The options this executor accepts. The harness rejects any other before running anything.
    fn options() -> Vec<OptionSpec> {
        Vec::new()
    }

    /// How this executor overlaps tasks, for the harness's ideal-time model ([`model`]). `None` (the
    /// default) means the harness computes no ideal time or efficiency for its cells.
    fn model() -> Option<model::Model> {
        None
    }

    /// Runs every task of `request.workload` and reports what was measured.
    fn run(request: &RunRequest) -> Result<RunReport>;
}

/// Builds a report from a run's setup time (seconds), run time, tally, and the shared counter's final value
/// (`None` when the workload has no `shared` step).
pub fn report(setup_s: f64, run: Duration, tally: &workload::Tally, shared_count: Option<u64>) -> RunReport {
    RunReport {
        setup_s,
        run_s: run.as_secs_f64(),
        tasks: tally.tasks,
        checksum: tally.checksum,
        shared_count,
        latency: tally.latency.summary(),
        latency_histogram: tally.latency.to_pairs(),
        response_histogram: tally.response.to_pairs(),
        open: tally.open_report(),
        metrics: tally.metrics.clone(),
    }
}
