//! The `sync` executor: one thread runs one task after another, every step blocking.
//!
//! The honest baseline. `workers` is accepted and ignored: there is only ever the calling thread.

use std::time::Instant;

use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::{RunReport, RunRequest};
use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};

pub struct Sync;

impl harness_sdk::Executor for Sync {
    const NAME: &'static str = "sync";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "one thread runs one task after another, every step blocking";

    fn model() -> Option<Model> {
        Some(Model { tasks_in_flight: Quantity::One, cpu_parallelism: Quantity::One, waits: None })
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let mut worker = WorkerState::default();
        let mut tally = Tally::default();
        let start = Instant::now();
        workload.run_range(0..workload.tasks, &mut worker, &mut tally)?;
        let run = start.elapsed();
        Ok(harness_sdk::report(0.0, run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(Sync);
