//! The `async` executor: a tokio runtime inside the plugin.
//!
//! - `flavor = "current_thread"` is one thread with an event loop (the Node.js model); `"multi_thread"`
//!   runs the loop on `workers` threads.
//! - `concurrency` caps the tasks in flight (default: all of them). A closed workload with fewer slots than
//!   tasks runs as `concurrency` loops, each running its tasks one after another (one loop on one thread
//!   is the run's own future, no runtime task); otherwise each task is a runtime task of its own, spawned
//!   when it is due.
//! - Waits (`sleep`, the `shared` lock's hold) and network round trips never block a runtime thread.
//! - CPU steps (`compute`, `alloc`, and `call`: a function of a step library) run on the event loop and
//!   block it, which is the point of the lesson; `offload_cpu = true` sends them to tokio's blocking pool
//!   instead. Programs (`exec`) are spawned with tokio's process support and awaited without blocking.
//! - File reads use `tokio::fs`, which runs each read on tokio's blocking pool: a file read costs a thread
//!   hand-off, and concurrency of reads is bounded by that pool, not by the event loop.
//!
//! This crate is the scheduling model only: the steps, done without blocking, are the SDK's
//! ([`AsyncWorkload`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness_sdk::model::{Model, Quantity, WaitPrecision};
use harness_sdk::nonblocking::AsyncWorkload;
use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::workload::Collector;
use tokio::sync::{Notify, Semaphore};

pub struct Async;

/// How precisely the runtime's timer (`harness_sdk::timer::sleep_precise`) keeps waits, from
/// `experiments/waits.toml` (`docs/measurement.md`, "Precision of waits"): a lock's hold (one task waiting)
/// of 100 us takes about 110 us, one of 10 us about 15 us; with 200 tasks sleeping at once, 1 ms takes
/// about 1.1 ms but 100 us takes 0.4 to 0.9 ms, since the loop ends the waits that fall due together one
/// after another and waking its thread from a sleep can take much longer on a busy machine.
const WAITS: WaitPrecision = WaitPrecision { shortest_ns: 50_000, per_waiting_task_ns: 4_500 };

impl harness_sdk::Executor for Async {
    const NAME: &'static str = "async";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "a tokio event loop: one thread (current_thread) or `workers` threads";
    /// The requests of every task in flight can share one connection: `redis` steps with
    /// `connect = "shared"` pipeline over one multiplexed connection.
    const MULTIPLEXES: bool = true;

    fn options() -> Vec<OptionSpec> {
        vec![
            OptionSpec::choice(
                "flavor",
                &["current_thread", "multi_thread"],
                "current_thread",
                "one event-loop thread, or `workers` runtime threads",
            ),
            OptionSpec::integer("concurrency", 1, None, "most tasks in flight at once (default: all)"),
            OptionSpec::bool("offload_cpu", false, "run compute, alloc and call steps on the blocking pool"),
        ]
    }

    fn model() -> Option<Model> {
        let in_flight = Quantity::option("concurrency", Quantity::Tasks);
        Some(Model {
            tasks_in_flight: in_flight.clone(),
            // The blocking pool grows to meet the tasks in flight; otherwise the runtime's threads.
            cpu_parallelism: Quantity::when(
                "offload_cpu",
                true,
                in_flight,
                Quantity::when("flavor", "multi_thread", Quantity::Workers, Quantity::One),
            ),
            waits: Some(WAITS),
        })
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let multi = request.option_str("flavor") == Some("multi_thread");
        let concurrency = request.option_u64("concurrency").unwrap_or(u64::MAX).max(1);
        let offload = request.option_bool("offload_cpu").unwrap_or(false);
        let shared = Arc::new(Shared {
            workload: Arc::new(AsyncWorkload::new(request, offload)?),
            collector: Collector::new(),
            spawned: AtomicU64::new(0),
            started: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            drained: Notify::new(),
            remaining: AtomicU64::new(0),
            finished: Notify::new(),
        });

        let setup = Instant::now();
        let runtime = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(request.workers.max(1) as usize)
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?
        };
        let setup_s = setup.elapsed().as_secs_f64();

        let run = runtime.block_on(run_all(Arc::clone(&shared), concurrency, !multi))?;
        let tally = shared.collector.finish()?;
        // Connections close before the runtime that drives them goes.
        shared.workload.close_connections();
        runtime.shutdown_timeout(Duration::from_secs(1));
        Ok(harness_sdk::report(setup_s, run, &tally, shared.workload.shared_count()?))
    }
}

/// What every task of a run shares: the workload, what the tasks measured, and the counts of tasks begun
/// and still running.
struct Shared {
    workload: Arc<AsyncWorkload>,
    collector: Collector,
    /// Tasks spawned, and tasks that have begun to run.
    spawned: AtomicU64,
    started: AtomicU64,
    /// Whether the spawning loop waits for the tasks spawned and not begun to come down to half of
    /// [`BACKLOG`]; `drained` wakes it. Every access is `SeqCst`: a task that begins after the loop last
    /// looked at `started` then sees `draining` set, so the loop is never left waiting.
    draining: AtomicBool,
    drained: Notify,
    remaining: AtomicU64,
    finished: Notify,
}

impl Shared {
    /// Counts a finished task; the last task to finish, or the first to fail, wakes `run_all`.
    fn finish(&self, ok: bool) {
        if !ok {
            self.finished.notify_one();
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finished.notify_one();
        }
    }
}

/// Reports a task that never got to `finish` (it panicked) as a failure, so `run_all` does not wait forever.
struct FinishGuard(Option<Arc<Shared>>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.collector.fail("a task panicked");
            shared.finish(false);
        }
    }
}

/// Most tasks spawned and not yet begun, before the spawning loop waits for them to begin.
const BACKLOG: u64 = 1024;

/// Spawns every task, at most `concurrency` in flight (each of an open workload when it is due), and waits
/// until all have finished.
/// `on_this_thread`: the runtime has one thread, the one that runs this future (`current_thread`).
async fn run_all(shared: Arc<Shared>, concurrency: u64, on_this_thread: bool) -> harness_sdk::Result<Duration> {
    let tasks = shared.workload.prepared().tasks;
    if concurrency < tasks && shared.workload.prepared().schedule.is_none() {
        return Ok(run_slots(&shared, concurrency, on_this_thread).await);
    }
    let permits = (concurrency < tasks).then(|| Arc::new(Semaphore::new(concurrency as usize)));
    shared.remaining.store(tasks, Ordering::Release);
    let start = Instant::now();
    for task in 0..tasks {
        let permit = match &permits {
            Some(permits) => Some(Arc::clone(permits).acquire_owned().await?),
            None => None,
        };
        // An open workload's task is spawned when it is due, on the runtime's timer.
        shared.workload.until_due(task).await;
        if shared.collector.failed() {
            break;
        }
        let mut guard = FinishGuard(Some(Arc::clone(&shared)));
        tokio::spawn(async move {
            let armed = guard.0.as_ref().expect("armed until finished");
            let started = armed.started.fetch_add(1, Ordering::SeqCst) + 1;
            if armed.draining.load(Ordering::SeqCst)
                && armed.spawned.load(Ordering::SeqCst).saturating_sub(started) <= BACKLOG / 2
            {
                armed.drained.notify_one();
            }
            let ok = armed.workload.run_measured(task, &armed.collector).await;
            drop(permit);
            guard.0.take().expect("armed until finished").finish(ok);
        });
        shared.spawned.store(task + 1, Ordering::SeqCst);
        // The event loop runs a few dozen queued tasks between two polls of this loop: yielding this often
        // lets short tasks finish while the rest are spawned. On many runtime threads the tasks spawned
        // can still queue faster than they begin; past BACKLOG waiting, this loop waits until half of them
        // have begun (woken by the tasks that begin), so a million of them never queue at once.
        if task % 32 == 31 {
            tokio::task::yield_now().await;
            let waiting = || task + 1 - shared.started.load(Ordering::SeqCst);
            if waiting() > BACKLOG {
                shared.draining.store(true, Ordering::SeqCst);
                while waiting() > BACKLOG / 2 {
                    shared.drained.notified().await;
                }
                shared.draining.store(false, Ordering::SeqCst);
            }
        }
    }
    if tasks > 0 {
        shared.finished.notified().await;
    }
    Ok(start.elapsed())
}

/// A closed workload with fewer slots than tasks: `concurrency` runtime tasks, the slots, each running the
/// workload's tasks one after another in the order it claims them. At most `concurrency` are in flight, as
/// with a runtime task spawned for each under a semaphore, without a spawn and two hand-offs per task (the
/// finished task's permit waking the spawning loop, which spawns the next): as a load generator keeps one
/// loop per connection.
///
/// One slot on a runtime of one thread (`on_this_thread`) is run by the run's own future, which the event
/// loop polls directly: a runtime task would only add its scheduling to every wake-up (its state's
/// transitions, the run queue, its waker), with nothing to run beside it (0.3 to 0.6 µs of user CPU a
/// request at one connection to nginx or Redis; docs/measurement.md).
async fn run_slots(shared: &Arc<Shared>, concurrency: u64, on_this_thread: bool) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    if concurrency == 1 && on_this_thread {
        // A slot that panicked has failed the run already (its guard), as a spawned one would have.
        let _ = CatchPanic(Box::pin(run_slot(Arc::clone(shared), next))).await;
        return start.elapsed();
    }
    let slots: Vec<_> =
        (0..concurrency).map(|_| tokio::spawn(run_slot(Arc::clone(shared), Arc::clone(&next)))).collect();
    for slot in slots {
        // A slot that panicked has failed the run already (its guard): the others stop at their next task.
        let _ = slot.await;
    }
    start.elapsed()
}

/// One slot: claims the next task and runs it, until none is left or the run has failed.
async fn run_slot(shared: Arc<Shared>, next: Arc<AtomicU64>) {
    let tasks = shared.workload.prepared().tasks;
    let _failed = FailOnPanic(&shared.collector);
    while !shared.collector.failed() {
        let task = next.fetch_add(1, Ordering::Relaxed);
        if task >= tasks || !shared.workload.run_measured(task, &shared.collector).await {
            break;
        }
    }
}

/// A future that ends, instead of unwinding, when the one it runs panics: what a spawned task's handle
/// does for its awaiter.
struct CatchPanic<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchPanic<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// Fails the run when the slot holding it panics, so that the other slots stop claiming tasks.
struct FailOnPanic<'a>(&'a Collector);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail("a task panicked");
        }
    }
}

harness_sdk::export_executor!(Async);
