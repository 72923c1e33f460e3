//! The `threaded` executor: a pool of `workers` OS threads running blocking steps.
//!
//! `pool = "rayon"` (the default) uses a rayon thread pool; `pool = "std"` starts plain `std::thread`s, to
//! see what the pool itself costs. Either way every thread claims the next task index from one atomic
//! counter until none is left ([`Prepared::run_claimed`]), so a slow task never holds up a queue of
//! others. Shared state lives in memory under a mutex. `run_s` counts from the moment the first thread
//! begins to work (the first task's start) to the moment the calling thread sees the last one done.

use std::sync::atomic::AtomicU64;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::{Collector, Prepared, SharedMode};

pub struct Threaded;

impl harness_sdk::Executor for Threaded {
    const NAME: &'static str = "threaded";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "a pool of `workers` OS threads (rayon, or std threads) running blocking steps";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::choice("pool", &["rayon", "std"], "rayon", "a rayon thread pool, or plain std threads")]
    }

    fn model() -> Option<Model> {
        Some(Model { tasks_in_flight: Quantity::Workers, cpu_parallelism: Quantity::Workers, waits: None })
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let workload = Prepared::new(request, SharedMode::Memory)?;
        let threads = request.workers.max(1) as usize;
        let next = AtomicU64::new(0);
        let collector = Collector::new();
        let work = || workload.run_claimed(&next, &collector);
        let (setup, run) = if request.option_str("pool") == Some("std") {
            run_on_std_threads(threads, &work)
        } else {
            run_on_rayon(threads, &work)?
        };
        let tally = collector.finish()?;
        Ok(harness_sdk::report(setup.as_secs_f64(), run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(Threaded);

/// Runs `work` on every thread of a rayon pool; returns (setup, run) times.
fn run_on_rayon(threads: usize, work: &(dyn Fn() + Sync)) -> harness_sdk::Result<(Duration, Duration)> {
    let setup = Instant::now();
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("threaded-worker-{i}")).build()?;
    // Every thread must exist before the clock starts: broadcast waits for all of them.
    pool.broadcast(|_| ());
    let setup = setup.elapsed();
    let start = OnceLock::new();
    pool.broadcast(|_| {
        start.get_or_init(Instant::now);
        work();
    });
    Ok((setup, since(&start)))
}

/// Runs `work` on plain threads that start together once all exist; returns (setup, run) times.
fn run_on_std_threads(threads: usize, work: &(dyn Fn() + Sync)) -> (Duration, Duration) {
    let ready = Barrier::new(threads + 1);
    let setup = Instant::now();
    let start = OnceLock::new();
    let mut setup_s = Duration::ZERO;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                ready.wait();
                start.get_or_init(Instant::now);
                work();
            });
        }
        ready.wait();
        setup_s = setup.elapsed();
    });
    (setup_s, since(&start))
}

/// The time since the first thread to begin set `start`: the run's first task's start, as a plain pool's
/// own timing has it, not the calling thread's order to the others.
fn since(start: &OnceLock<Instant>) -> Duration {
    start.get().map_or(Duration::ZERO, Instant::elapsed)
}
