//! The `async` executor: a tokio runtime inside the plugin.
//!
//! - `flavor = "current_thread"` is one thread with an event loop (the Node.js model); `"multi_thread"`
//!   runs the loop on `workers` threads.
//! - `concurrency` caps the tasks in flight (default: all of them).
//! - Waits (`sleep`, the `shared` lock's hold) and network round trips never block a runtime thread.
//! - CPU steps (`compute`, `alloc`) run on the event loop and block it, which is the point of the lesson;
//!   `offload_cpu = true` sends them to tokio's blocking pool instead.
//! - File reads use `tokio::fs`, which runs each read on tokio's blocking pool: a file read costs a thread
//!   hand-off, and concurrency of reads is bounded by that pool, not by the event loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness_sdk::protocol::{Connect, OptionSpec, RunReport, RunRequest, Step};
use harness_sdk::workload::{self, Prepared, SharedMode, Tally, net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

pub struct Async;

impl harness_sdk::Executor for Async {
    const NAME: &'static str = "async";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "a tokio event loop: one thread (current_thread) or `workers` threads";

    fn options() -> Vec<OptionSpec> {
        vec![
            OptionSpec::choice(
                "flavor",
                &["current_thread", "multi_thread"],
                "current_thread",
                "one event-loop thread, or `workers` runtime threads",
            ),
            OptionSpec::integer("concurrency", 1, None, "most tasks in flight at once (default: all)"),
            OptionSpec::bool("offload_cpu", false, "run compute and alloc steps on the blocking pool"),
        ]
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let multi = request.option_str("flavor") == Some("multi_thread");
        let concurrency = request.option_u64("concurrency").unwrap_or(u64::MAX).max(1);
        let shared = Arc::new(Shared {
            workload: Prepared::new(request, SharedMode::Memory)?,
            counter: tokio::sync::Mutex::new(0),
            connections: std::sync::Mutex::new(Vec::new()),
            offload: request.option_bool("offload_cpu").unwrap_or(false),
            tally: std::sync::Mutex::new(Tally::default()),
            failure: std::sync::Mutex::new(None),
            failed: AtomicBool::new(false),
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

        let run = runtime.block_on(run_all(Arc::clone(&shared), concurrency))?;
        let tally = std::mem::take(&mut *shared.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        // Connections close before the runtime that drives them goes.
        shared.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        runtime.shutdown_timeout(Duration::from_secs(1));
        let shared_count = shared.workload.uses_shared().then(|| *shared.counter.blocking_lock());
        Ok(harness_sdk::report(setup_s, run, &tally, shared_count))
    }
}

/// What every task of a run shares: the prepared workload, the shared counter, idle connections, and what
/// the tasks measured.
struct Shared {
    workload: Prepared,
    counter: tokio::sync::Mutex<u64>,
    /// Idle connections to the loopback server: a task takes one (or connects) and gives it back.
    connections: std::sync::Mutex<Vec<TcpStream>>,
    offload: bool,
    tally: std::sync::Mutex<Tally>,
    failure: std::sync::Mutex<Option<harness_sdk::Error>>,
    failed: AtomicBool,
    remaining: AtomicU64,
    finished: Notify,
}

impl Shared {
    /// Records a task's outcome; the last task to finish, or the first to fail, wakes `run_all`.
    fn finish(&self, outcome: harness_sdk::Result<u64>, latency: Duration) {
        match outcome {
            Ok(checksum) => {
                self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).record(checksum, latency);
            }
            Err(error) => {
                self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(error);
                self.failed.store(true, Ordering::Release);
                self.finished.notify_one();
            }
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
            shared.finish(Err("a task panicked".into()), Duration::ZERO);
        }
    }
}

/// Spawns every task, at most `concurrency` in flight, and waits until all have finished.
async fn run_all(shared: Arc<Shared>, concurrency: u64) -> harness_sdk::Result<Duration> {
    let tasks = shared.workload.tasks;
    let permits = (concurrency < tasks).then(|| Arc::new(Semaphore::new(concurrency as usize)));
    shared.remaining.store(tasks, Ordering::Release);
    let start = Instant::now();
    for task in 0..tasks {
        let permit = match &permits {
            Some(permits) => Some(Arc::clone(permits).acquire_owned().await?),
            None => None,
        };
        if shared.failed.load(Ordering::Acquire) {
            break;
        }
        let mut guard = FinishGuard(Some(Arc::clone(&shared)));
        tokio::spawn(async move {
            let begin = Instant::now();
            let outcome = run_task(guard.0.as_ref().expect("armed until finished"), task).await;
            drop(permit);
            let shared = guard.0.take().expect("armed until finished");
            shared.finish(outcome, begin.elapsed());
        });
        // The event loop runs a few dozen queued tasks between two polls of this loop: yielding this often
        // lets short tasks finish while the rest are spawned, so a million of them never queue at once.
        if task % 32 == 31 {
            tokio::task::yield_now().await;
        }
    }
    if tasks > 0 {
        shared.finished.notified().await;
    }
    let elapsed = start.elapsed();
    if let Some(error) = shared.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        return Err(error);
    }
    Ok(elapsed)
}

async fn run_task(shared: &Arc<Shared>, task: u64) -> harness_sdk::Result<u64> {
    let workload = &shared.workload;
    let mut acc = workload::task_seed(task);
    for step in &workload.steps {
        let value = match *step {
            Step::Compute { bytes } if shared.offload => {
                let shared = Arc::clone(shared);
                tokio::task::spawn_blocking(move || shared.workload.compute(task, bytes)).await?
            }
            Step::Compute { bytes } => workload.compute(task, bytes),
            Step::Alloc { bytes } if shared.offload => {
                tokio::task::spawn_blocking(move || workload::alloc(bytes)).await?
            }
            Step::Alloc { bytes } => workload::alloc(bytes),
            Step::Sleep { nanos } => {
                harness_sdk::timer::sleep(Duration::from_nanos(nanos)).await;
                nanos
            }
            // The rarer, larger futures are boxed, so every task's future stays small to spawn.
            Step::ReadFile { size, files } => Box::pin(read_file(workload, task, size, files)).await?,
            Step::Net { request, response, delay_nanos, connect } => {
                Box::pin(net_round_trip(shared, request, response, delay_nanos, connect)).await?
            }
            Step::Shared { hold_nanos } => {
                let mut count = shared.counter.lock().await;
                // Read, wait, write: a missing lock would lose increments, which the harness detects.
                let seen = *count;
                if hold_nanos > 0 {
                    harness_sdk::timer::sleep(Duration::from_nanos(hold_nanos)).await;
                }
                *count = seen + 1;
                1
            }
        };
        acc = workload::fold(acc, value);
    }
    Ok(acc)
}

async fn read_file(workload: &Prepared, task: u64, size: u64, files: u32) -> harness_sdk::Result<u64> {
    let path = workload.fixture_path(task, size, files);
    let bytes = tokio::fs::read(&path).await.map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(workload::hash_bytes(&bytes))
}

async fn net_round_trip(
    shared: &Shared,
    request: u64,
    response: u64,
    delay_nanos: u64,
    connect: Connect,
) -> harness_sdk::Result<u64> {
    let idle = if connect == Connect::Reuse {
        shared.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
    } else {
        None
    };
    let mut stream = if let Some(stream) = idle {
        stream
    } else {
        let addr = shared.workload.net_addr();
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_nodelay(true)?;
        stream
    };
    stream.write_all(&net::request(request, response, delay_nanos)).await?;
    let mut answer = [0u8; net::ANSWER_HEADER_LEN];
    stream.read_exact(&mut answer).await?;
    net::check_answer(&answer, response)?;
    let mut body = vec![0u8; response as usize];
    stream.read_exact(&mut body).await?;
    if connect == Connect::Reuse {
        shared.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(stream);
    }
    Ok(workload::hash_bytes(&body))
}

harness_sdk::export_executor!(Async);
