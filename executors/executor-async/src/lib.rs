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
use std::time::{Duration, Instant};

use harness_sdk::protocol::{Connect, OptionSpec, RunReport, RunRequest, Step};
use harness_sdk::workload::{self, Prepared, SharedMode, Tally, net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

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
        let workload = Arc::new(Prepared::new(request, SharedMode::Memory)?);
        let multi = request.option_str("flavor") == Some("multi_thread");
        let offload = request.option_bool("offload_cpu").unwrap_or(false);
        let concurrency = request.option_u64("concurrency").unwrap_or(u64::MAX).max(1);

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

        let shared = Arc::new(tokio::sync::Mutex::new(0u64));
        let (run, tally) =
            runtime.block_on(run_all(Arc::clone(&workload), Arc::clone(&shared), offload, concurrency))?;
        runtime.shutdown_timeout(Duration::from_secs(1));
        let shared_count = workload.uses_shared().then(|| *shared.blocking_lock());
        Ok(harness_sdk::report(setup_s, run, &tally, shared_count))
    }
}

async fn run_all(
    workload: Arc<Prepared>,
    shared: Arc<tokio::sync::Mutex<u64>>,
    offload: bool,
    concurrency: u64,
) -> harness_sdk::Result<(Duration, Tally)> {
    let mut tally = Tally::default();
    let mut in_flight = JoinSet::new();
    let start = Instant::now();
    for task in 0..workload.tasks {
        if in_flight.len() as u64 >= concurrency {
            let (checksum, latency) = in_flight.join_next().await.expect("set is not empty")??;
            tally.record(checksum, latency);
        }
        let workload = Arc::clone(&workload);
        let shared = Arc::clone(&shared);
        in_flight.spawn(async move {
            let begin = Instant::now();
            let checksum = run_task(&workload, &shared, task, offload).await?;
            Ok::<_, harness_sdk::Error>((checksum, begin.elapsed()))
        });
    }
    while let Some(done) = in_flight.join_next().await {
        let (checksum, latency) = done??;
        tally.record(checksum, latency);
    }
    Ok((start.elapsed(), tally))
}

async fn run_task(
    workload: &Arc<Prepared>,
    shared: &tokio::sync::Mutex<u64>,
    task: u64,
    offload: bool,
) -> harness_sdk::Result<u64> {
    let mut acc = workload::task_seed(task);
    let mut connection: Option<TcpStream> = None;
    for step in &workload.steps {
        let value = match *step {
            Step::Compute { bytes } if offload => {
                let workload = Arc::clone(workload);
                tokio::task::spawn_blocking(move || workload.compute(task, bytes)).await?
            }
            Step::Compute { bytes } => workload.compute(task, bytes),
            Step::Alloc { bytes } if offload => tokio::task::spawn_blocking(move || workload::alloc(bytes)).await?,
            Step::Alloc { bytes } => workload::alloc(bytes),
            Step::Sleep { nanos } => {
                tokio::time::sleep(Duration::from_nanos(nanos)).await;
                nanos
            }
            Step::ReadFile { size, files } => {
                let path = workload.fixture_path(task, size, files);
                let bytes = tokio::fs::read(&path).await.map_err(|e| format!("reading {}: {e}", path.display()))?;
                workload::hash_bytes(&bytes)
            }
            Step::Net { request, response, delay_nanos, connect } => {
                let mut stream = if let Some(stream) = connection.take() {
                    stream
                } else {
                    let addr = workload.net_addr();
                    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?;
                    stream.set_nodelay(true)?;
                    stream
                };
                let mut message = net::header(request, response, delay_nanos).to_vec();
                message.extend((0..request as usize).map(net::body_byte));
                stream.write_all(&message).await?;
                let mut body = vec![0u8; response as usize];
                stream.read_exact(&mut body).await?;
                if connect == Connect::Reuse {
                    connection = Some(stream);
                }
                workload::hash_bytes(&body)
            }
            Step::Shared { hold_nanos } => {
                let mut count = shared.lock().await;
                let seen = *count;
                if hold_nanos > 0 {
                    tokio::time::sleep(Duration::from_nanos(hold_nanos)).await;
                }
                *count = seen + 1;
                1
            }
        };
        acc = workload::fold(acc, value);
    }
    Ok(acc)
}

harness_sdk::export_executor!(Async);
