//! The `threaded` executor: a pool of `workers` OS threads (rayon) running blocking steps.
//!
//! Every pool thread takes the next task index from one atomic counter until none is left, so a slow task
//! never holds up a queue of others. Shared state lives in memory under a mutex.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use harness_sdk::protocol::{RunReport, RunRequest};
use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};

pub struct Threaded;

impl harness_sdk::Executor for Threaded {
    const NAME: &'static str = "threaded";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "a pool of `workers` OS threads (rayon) running blocking steps";

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let setup = Instant::now();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(request.workers.max(1) as usize)
            .thread_name(|i| format!("threaded-worker-{i}"))
            .build()?;
        // Every thread must exist before the clock starts: broadcast waits for all of them.
        pool.broadcast(|_| ());
        let setup_s = setup.elapsed().as_secs_f64();

        let next = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let total = Mutex::new(Tally::default());
        let first_error = Mutex::new(None);
        let start = Instant::now();
        pool.broadcast(|_| {
            let mut worker = WorkerState::default();
            let mut tally = Tally::default();
            // One clock read per task: a task's end is the next one's start on this thread.
            let mut last = Instant::now();
            while !failed.load(Ordering::Relaxed) {
                let task = next.fetch_add(1, Ordering::Relaxed);
                if task >= workload.tasks {
                    break;
                }
                match workload.run_task(task, &mut worker) {
                    Ok(checksum) => {
                        let now = Instant::now();
                        tally.record(checksum, now - last);
                        last = now;
                    }
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
                    }
                }
            }
            total.lock().unwrap_or_else(std::sync::PoisonError::into_inner).merge(&tally);
        });
        let run = start.elapsed();
        drop(pool);
        if let Some(e) = first_error.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            return Err(e.into());
        }
        let tally = total.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(harness_sdk::report(setup_s, run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(Threaded);
