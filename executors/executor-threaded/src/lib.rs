//! The `threaded` executor: a pool of `workers` OS threads running blocking steps.
//!
//! `pool = "rayon"` (the default) uses a rayon thread pool; `pool = "std"` starts plain `std::thread`s, to
//! see what the pool itself costs. Either way every thread takes the next task index from one atomic counter
//! until none is left, so a slow task never holds up a queue of others. Shared state lives in memory under a
//! mutex.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::{Prepared, SharedMode, Tally, WorkerState};

pub struct Threaded;

impl harness_sdk::Executor for Threaded {
    const NAME: &'static str = "threaded";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "a pool of `workers` OS threads (rayon, or std threads) running blocking steps";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::choice("pool", &["rayon", "std"], "rayon", "a rayon thread pool, or plain std threads")]
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let threads = request.workers.max(1) as usize;
        let shared = Shared {
            workload: &workload,
            next: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            total: Mutex::new(Tally::default()),
            first_error: Mutex::new(None),
        };
        let (setup, run) = if request.option_str("pool") == Some("std") {
            run_on_std_threads(threads, &shared)
        } else {
            run_on_rayon(threads, &shared)?
        };
        if let Some(e) = shared.first_error.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(e.into());
        }
        let tally = shared.total.into_inner().unwrap_or_else(PoisonError::into_inner);
        Ok(harness_sdk::report(setup.as_secs_f64(), run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(Threaded);

/// What the pool's threads share.
struct Shared<'a> {
    workload: &'a Prepared,
    next: AtomicU64,
    failed: AtomicBool,
    total: Mutex<Tally>,
    first_error: Mutex<Option<std::io::Error>>,
}

impl Shared<'_> {
    /// The body of every pool thread: take the next task until none is left or one failed.
    fn work(&self) {
        let mut worker = WorkerState::default();
        let mut tally = Tally::default();
        // One clock read per task: a task's end is the next one's start on this thread.
        let mut last = Instant::now();
        while !self.failed.load(Ordering::Relaxed) {
            let task = self.next.fetch_add(1, Ordering::Relaxed);
            if task >= self.workload.tasks {
                break;
            }
            match self.workload.run_task(task, &mut worker) {
                Ok(checksum) => {
                    let now = Instant::now();
                    tally.record(checksum, now - last);
                    last = now;
                }
                Err(e) => {
                    self.failed.store(true, Ordering::Relaxed);
                    self.first_error.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
                }
            }
        }
        self.total.lock().unwrap_or_else(PoisonError::into_inner).merge(&tally);
    }
}

/// Runs the tasks on a rayon pool; returns (setup, run) times.
fn run_on_rayon(threads: usize, shared: &Shared<'_>) -> harness_sdk::Result<(Duration, Duration)> {
    let setup = Instant::now();
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("threaded-worker-{i}")).build()?;
    // Every thread must exist before the clock starts: broadcast waits for all of them.
    pool.broadcast(|_| ());
    let setup = setup.elapsed();
    let start = Instant::now();
    pool.broadcast(|_| shared.work());
    Ok((setup, start.elapsed()))
}

/// Runs the tasks on plain threads that start together once all exist; returns (setup, run) times.
fn run_on_std_threads(threads: usize, shared: &Shared<'_>) -> (Duration, Duration) {
    let ready = Barrier::new(threads + 1);
    let setup = Instant::now();
    let mut times = (Duration::ZERO, Instant::now());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                ready.wait();
                shared.work();
            });
        }
        ready.wait();
        times = (setup.elapsed(), Instant::now());
    });
    (times.0, times.1.elapsed())
}
