//! An executor that starts one OS thread per task, all at once: the model of a server that spawns a
//! thread for every request it accepts.

use std::time::Instant;

use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::{Collector, Prepared, SharedMode, Tally, WorkerState};

pub struct ThreadPerTask;

impl harness_sdk::Executor for ThreadPerTask {
    const NAME: &'static str = "thread_per_task";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "one OS thread per task, all started at once";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::integer("stack_kib", 16, Some(256), "stack size of each task's thread, in KiB")]
    }

    /// Every task is in flight at once, each on its own thread: CPU work may use every core.
    fn model() -> Option<Model> {
        Some(Model { tasks_in_flight: Quantity::Tasks, cpu_parallelism: Quantity::Tasks, waits: None })
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        // Seeded data, fixture paths, the loopback address: everything a task's steps need.
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let stack = request.option_u64("stack_kib").unwrap_or(256) as usize * 1024;

        let start = Instant::now();
        // Gathers every thread's tally, and the first error.
        let collector = Collector::new();
        std::thread::scope(|scope| {
            for task in 0..workload.tasks {
                let (workload, collector) = (&workload, &collector);
                std::thread::Builder::new().stack_size(stack).spawn_scoped(scope, move || {
                    // Runs the task's steps, blocking this thread, and measures its latency.
                    let mut tally = Tally::default();
                    match workload.run_measured(task, &mut WorkerState::default(), &mut tally) {
                        Ok(()) => collector.merge(&tally),
                        Err(e) => collector.fail(e),
                    }
                })?;
            }
            std::io::Result::Ok(())
        })?;
        let run = start.elapsed();
        let tally = collector.finish()?;
        Ok(harness_sdk::report(0.0, run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(ThreadPerTask);
