//! Every step kind, once: what it does blocking, what it does without blocking, and the value it folds
//! into the task's checksum.
//!
//! [`Prepared::run_task`] runs a task's steps blocking the calling thread; with the cargo feature
//! `tokio`, `nonblocking::AsyncWorkload::run_task` runs the same steps as a future
//! that never blocks a runtime thread. Both dispatch to the functions below, so both yield the same value
//! for every step, and a new step kind is added here (with the parser's grammar, the schema and the docs)
//! and in no executor.
//!
//! | step | yields |
//! | --- | --- |
//! | `compute` | the xxh3 hash of the first `bytes` bytes of the run's seeded data, seeded by `seed ^ task` |
//! | `sleep` | the wait in nanoseconds |
//! | `read_file` | the hash of the file's bytes |
//! | `net` | the hash of the response body |
//! | `shared` | 1 |
//! | `alloc` | the sum of the first byte of every page written |
//! | `exec` | the hash of the program's standard output (`output = "hash"`), or its exit status |
//! | `call` | what the function returned |
//! | `http` | the status and the body's hash, or the status alone |
//! | `redis` | the reply: an integer as is, a string's hash, an array's elements folded in order, nil 0 |

use std::io;
use std::time::Duration;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::checksum::{fold, hash_bytes, task_seed};
use crate::exec::Finished;
use crate::net;
use crate::protocol::{Call, Connect, Exec, Step};
use crate::shared::redis_error;
use crate::workload::{Prepared, WorkerState};

/// What a `compute` step yields: the hash of `bytes` bytes of the run's data, keyed by the task.
#[inline]
pub(crate) fn compute(data: &[u8], seed: u64, task: u64, bytes: u64) -> u64 {
    xxh3_64_with_seed(&data[..bytes as usize], seed ^ task)
}

/// What a `sleep` step of `nanos` yields.
#[inline]
pub(crate) fn sleep_value(nanos: u64) -> u64 {
    nanos
}

/// What a `shared` step yields.
pub(crate) const SHARED_VALUE: u64 = 1;

/// What a step that read `bytes` (a `read_file`, a `net` response) yields.
#[inline]
pub(crate) fn read_value(bytes: &[u8]) -> u64 {
    hash_bytes(bytes)
}

/// Allocates and touches `bytes` bytes (one write per page), then frees them: the `alloc` step. Yields a
/// value that depends on every page having been written.
pub fn alloc(bytes: u64) -> u64 {
    const PAGE: usize = 4096;
    let mut buffer = vec![0u8; bytes as usize];
    for (page, chunk) in buffer.chunks_mut(PAGE).enumerate() {
        chunk[0] = page as u8 | 1;
    }
    let buffer = std::hint::black_box(buffer);
    buffer.chunks(PAGE).map(|c| u64::from(c[0])).sum()
}

/// The command of a `redis` step for task `task`: `${task}` in an argument becomes the task's number.
pub(crate) fn redis_command(words: &[String], task: u64) -> redis::Cmd {
    let task = task.to_string();
    let mut words = words.iter().map(|w| w.replace("${task}", &task));
    let mut cmd = redis::cmd(&words.next().unwrap_or_default());
    for word in words {
        cmd.arg(word);
    }
    cmd
}

/// What a `redis` step yields for its reply.
pub(crate) fn redis_value(reply: &redis::Value) -> u64 {
    use redis::Value;
    match reply {
        Value::Nil => 0,
        Value::Int(n) => *n as u64,
        Value::BulkString(bytes) => hash_bytes(bytes),
        Value::SimpleString(text) => hash_bytes(text.as_bytes()),
        Value::Okay => hash_bytes(b"OK"),
        Value::Array(items) | Value::Set(items) => items.iter().fold(0, |acc, v| fold(acc, redis_value(v))),
        other => hash_bytes(format!("{other:?}").as_bytes()),
    }
}

fn reading_error(path: &std::path::Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
}

impl Prepared {
    /// Runs task `task` start to end, blocking the calling thread; returns its checksum.
    pub fn run_task(&self, task: u64, worker: &mut WorkerState) -> io::Result<u64> {
        let mut acc = task_seed(task);
        for step in &self.steps {
            let value = match *step {
                Step::Compute { bytes } => self.compute(task, bytes),
                Step::Sleep { nanos } => {
                    crate::timer::sleep_blocking(Duration::from_nanos(nanos));
                    sleep_value(nanos)
                }
                Step::ReadFile { size, files } => {
                    let path = self.fixture_path(task, size, files);
                    read_value(&std::fs::read(&path).map_err(|e| reading_error(&path, &e))?)
                }
                Step::Net { request, response, delay_nanos, connect } => {
                    self.net_blocking(worker, request, response, delay_nanos, connect)?;
                    read_value(&worker.scratch)
                }
                Step::Shared { hold_nanos, lock, .. } => {
                    self.shared_blocking(worker, task, Duration::from_nanos(hold_nanos), lock)?;
                    SHARED_VALUE
                }
                Step::Alloc { bytes } => alloc(bytes),
                Step::Exec(ref exec) => {
                    let index = crate::worker::index();
                    let read_stdout = crate::exec::reads_stdout(exec, self.metrics.read_stdout());
                    let finished = crate::exec::run_blocking(exec, task, index, read_stdout)?;
                    self.exec_ended(exec, task, index, &finished, &mut worker.reports)?
                }
                Step::Call(ref call) => self.call(call, task, &mut worker.reports)?,
                Step::Redis { ref url, ref command } => {
                    let connection = match &mut worker.redis_commands {
                        Some((connected, connection)) if connected == url => connection,
                        slot => {
                            let client = redis::Client::open(url.as_str()).map_err(|e| redis_error(url, &e))?;
                            let connection = client.get_connection().map_err(|e| redis_error(url, &e))?;
                            &mut slot.insert((url.clone(), connection)).1
                        }
                    };
                    let reply: redis::Value =
                        redis_command(command, task).query(connection).map_err(|e| redis_error(url, &e))?;
                    redis_value(&reply)
                }
                Step::Http(ref request) => self.http_blocking(worker, request, task)?,
            };
            acc = fold(acc, value);
        }
        Ok(acc)
    }

    /// Calls a step library's function for task `task`; adds the metrics it recorded to `reports`.
    pub(crate) fn call(&self, call: &Call, task: u64, reports: &mut Vec<(usize, f64)>) -> io::Result<u64> {
        let library = crate::steplib::Loaded::open(&call.library)?;
        let arg = crate::exec::expand(&call.arg, task, crate::worker::index());
        let mut recorded = Vec::new();
        let value = library.call(call.function, &call.name, task, self.seed, &arg, &mut recorded)?;
        for (name, number) in recorded {
            let index = self.metrics.recorded(&name).ok_or_else(|| {
                io::Error::other(format!(
                    "task {task}: `{}` recorded metric `{name}`, which the workload does not declare with from = \"call\"",
                    call.name
                ))
            })?;
            reports.push((index, number));
        }
        Ok(value)
    }

    /// What an `exec` step yields once its program ended: its standard error passed on to the run's (so
    /// into the run's log), the value or the error of how it ended, and the custom metrics it printed.
    pub(crate) fn exec_ended(
        &self,
        exec: &Exec,
        task: u64,
        worker: u32,
        finished: &Finished,
        reports: &mut Vec<(usize, f64)>,
    ) -> io::Result<u64> {
        if !finished.stderr.is_empty() {
            use std::io::Write as _;
            let _ = std::io::stderr().lock().write_all(&finished.stderr);
        }
        let value = crate::exec::outcome(exec, task, worker, finished)?;
        self.metrics.find(task, finished, reports)?;
        Ok(value)
    }

    fn net_blocking(
        &self,
        worker: &mut WorkerState,
        request: u64,
        response: u64,
        delay_nanos: u64,
        connect: Connect,
    ) -> io::Result<()> {
        let mut stream = match worker.connection.take() {
            Some(stream) if connect == Connect::Reuse => stream,
            _ => {
                let addr = self.net_addr();
                let stream = std::net::TcpStream::connect(addr).map_err(|e| net::connect_error(addr, &e))?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        net::round_trip_blocking(&mut stream, &mut worker.scratch, request, response, delay_nanos)?;
        if connect == Connect::Reuse {
            worker.connection = Some(stream);
        }
        Ok(())
    }
}

#[cfg(feature = "tokio")]
impl crate::nonblocking::AsyncWorkload {
    /// Runs task `task` start to end as a future that never blocks a runtime thread; returns its checksum.
    ///
    /// Waits go through [`crate::timer::sleep_precise`], `read_file` through `tokio::fs` (a read on
    /// tokio's blocking pool), `net` over tokio sockets (idle connections are pooled across tasks), and the
    /// `shared` counter is behind a tokio mutex. CPU steps run on the calling runtime thread, or on tokio's
    /// blocking pool when the workload was made with `offload_cpu`.
    pub async fn run_task(self: &std::sync::Arc<Self>, task: u64) -> io::Result<u64> {
        self.run_task_reporting(task, &mut Vec::new()).await
    }

    /// [`Self::run_task`], adding the custom metrics the task reported to `reports`.
    pub(crate) async fn run_task_reporting(
        self: &std::sync::Arc<Self>,
        task: u64,
        reports: &mut Vec<(usize, f64)>,
    ) -> io::Result<u64> {
        let workload = self.prepared();
        let mut acc = task_seed(task);
        for step in &workload.steps {
            let value = match *step {
                Step::Compute { bytes } if self.offload_cpu => {
                    let this = std::sync::Arc::clone(self);
                    tokio::task::spawn_blocking(move || this.prepared().compute(task, bytes)).await?
                }
                Step::Compute { bytes } => workload.compute(task, bytes),
                Step::Alloc { bytes } if self.offload_cpu => tokio::task::spawn_blocking(move || alloc(bytes)).await?,
                Step::Alloc { bytes } => alloc(bytes),
                Step::Sleep { nanos } => {
                    crate::timer::sleep_precise(Duration::from_nanos(nanos)).await;
                    sleep_value(nanos)
                }
                // The rarer, larger futures are boxed, so every task's future stays small to spawn: one held
                // inline here is copied and kept by every task of every workload, whatever its steps (a
                // `redis` step's inline made each 2.5 KiB, and 10,000 sleeping tasks 1.7x slower than plain
                // tokio). A test in `nonblocking` holds it under 512 bytes.
                Step::ReadFile { size, files } => {
                    let path = workload.fixture_path(task, size, files);
                    read_value(&Box::pin(tokio::fs::read(&path)).await.map_err(|e| reading_error(&path, &e))?)
                }
                Step::Net { request, response, delay_nanos, connect } => {
                    read_value(&Box::pin(self.net_async(request, response, delay_nanos, connect)).await?)
                }
                Step::Shared { hold_nanos, lock, .. } => {
                    Box::pin(self.shared_async(task, Duration::from_nanos(hold_nanos), lock)).await?;
                    SHARED_VALUE
                }
                Step::Exec(ref exec) => {
                    let index = crate::worker::index();
                    let read_stdout = crate::exec::reads_stdout(exec, workload.metrics.read_stdout());
                    let finished = Box::pin(crate::exec::run_async(exec, task, index, read_stdout)).await?;
                    workload.exec_ended(exec, task, index, &finished, reports)?
                }
                // A function is CPU work like `compute`: on the event loop, or on the blocking pool.
                Step::Call(ref call) if self.offload_cpu => {
                    let (this, call) = (std::sync::Arc::clone(self), call.clone());
                    let (value, recorded) = tokio::task::spawn_blocking(move || {
                        let mut recorded = Vec::new();
                        this.prepared().call(&call, task, &mut recorded).map(|value| (value, recorded))
                    })
                    .await??;
                    reports.extend(recorded);
                    value
                }
                Step::Call(ref call) => workload.call(call, task, reports)?,
                Step::Redis { ref url, ref command } => Box::pin(self.redis_async(url, command, task)).await?,
                Step::Http(ref request) => Box::pin(self.http_async(request, task)).await?,
            };
            acc = fold(acc, value);
        }
        Ok(acc)
    }

    /// A `redis` step: the command on the workload's connection to `url`, made by the first task that needs it.
    async fn redis_async(&self, url: &str, command: &[String], task: u64) -> io::Result<u64> {
        let connection = self
            .redis_commands
            .get_or_try_init(|| async { redis::Client::open(url)?.get_multiplexed_async_connection().await })
            .await
            .map_err(|e| redis_error(url, &e))?;
        let reply: redis::Value = redis_command(command, task)
            .query_async(&mut connection.clone())
            .await
            .map_err(|e| redis_error(url, &e))?;
        Ok(redis_value(&reply))
    }

    async fn net_async(&self, request: u64, response: u64, delay_nanos: u64, connect: Connect) -> io::Result<Vec<u8>> {
        let idle = if connect == Connect::Reuse { crate::workload::lock(&self.connections).pop() } else { None };
        let mut stream = if let Some(stream) = idle {
            stream
        } else {
            let addr = self.prepared().net_addr();
            let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| net::connect_error(addr, &e))?;
            stream.set_nodelay(true)?;
            stream
        };
        let mut body = Vec::new();
        net::round_trip_async(&mut stream, &mut body, request, response, delay_nanos).await?;
        if connect == Connect::Reuse {
            crate::workload::lock(&self.connections).push(stream);
        }
        Ok(body)
    }
}
