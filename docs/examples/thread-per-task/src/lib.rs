//! An executor that starts one OS thread per task, all at once: the model of a server that spawns a
//! thread for every request it accepts.

use std::time::Instant;

use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};

pub struct ThreadPerTask;

impl harness_sdk::Executor for ThreadPerTask {
    const NAME: &'static str = "thread_per_task";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "one OS thread per task, all started at once";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::integer("stack_kib", 16, Some(256), "stack size of each task's thread, in KiB")]
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        // Seeded data, fixture paths, the loopback address: everything a task's steps need.
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let stack = request.option_u64("stack_kib").unwrap_or(256) as usize * 1024;

        let start = Instant::now();
        let tallies = std::thread::scope(|scope| {
            let mut threads = Vec::new();
            for task in 0..workload.tasks {
                let workload = &workload;
                let thread = std::thread::Builder::new().stack_size(stack).spawn_scoped(scope, move || {
                    // Runs the task's steps, blocking this thread, and records its checksum and latency.
                    let mut tally = Tally::default();
                    workload.run_range(task..task + 1, &mut WorkerState::default(), &mut tally).map(|()| tally)
                })?;
                threads.push(thread);
            }
            threads
                .into_iter()
                .map(|thread| thread.join().expect("a task thread panicked"))
                .collect::<std::io::Result<Vec<Tally>>>()
        })?;
        let run = start.elapsed();

        let mut total = Tally::default();
        for tally in &tallies {
            total.merge(tally);
        }
        Ok(harness_sdk::report(0.0, run, &total, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(ThreadPerTask);
