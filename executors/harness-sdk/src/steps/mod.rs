//! Every step kind, one file each: what it does blocking, what it does without blocking, the value it folds
//! into the task's checksum, and what it keeps per worker or per run.
//!
//! [`Prepared::run_task`] runs a task's steps blocking the calling thread; with the cargo feature
//! `tokio`, `nonblocking::AsyncWorkload::run_task` runs the same steps as a future that never blocks a
//! runtime thread. Both dispatch here to the kind's file with an exhaustive `match`, so both yield the same
//! value for every step, and the compiler names every place a new kind needs. A new step kind is added
//! here (with the parser's grammar, the schema and the docs) and in no executor.
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
//!
//! Each kind says too whether what it yields is the same on every run ([`Step::deterministic`]): not for
//! `exec`, `http` and `redis`, whose values come from programs and servers of the user's, nor for a `call`
//! whose argument holds `${worker}`.
//!
//! The harness asks a step what it needs to know of it, and matches on none: how a file writes it
//! (`Display`), its kind, and what it costs ([`Step::cost`]) for the ideal-time model.

mod alloc;
mod call;
mod compute;
mod exec;
mod http;
mod net;
mod read_file;
mod redis;
mod shared;
mod sleep;

use std::fmt;
use std::io;

pub use alloc::alloc;

use crate::checksum::{fold, task_seed};
use crate::protocol::{Connect, RunRequest, Step};
use crate::workload::{Prepared, SharedMode};

/// What a step costs a task, for the harness's ideal-time model: what it waits, and where its work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub wait: Option<Wait>,
    pub work: Work,
}

/// A wait of a step, and what the task does meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Nothing: a wait the executor keeps, which every task in flight may wait at once (`sleep`).
    Idle { nanos: u64 },
    /// A wait the executor keeps holding the shared counter (`shared`); one task at a time holds it under
    /// the lock, when the hold `serializes`.
    Hold { nanos: u64, serializes: bool },
    /// The answer of the loopback server, which waits before it answers (`net`): the server's wait, not the
    /// executor's.
    Server { nanos: u64 },
}

impl Wait {
    /// How long it waits, in nanoseconds.
    pub fn nanos(self) -> u64 {
        match self {
            Wait::Idle { nanos } | Wait::Hold { nanos, .. } | Wait::Server { nanos } => nanos,
        }
    }
}

/// Where a step's work, besides its wait, is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// None: the step only waits.
    None,
    /// The task's process, on the CPU: measured, not declared (what a run of one task at a time took per
    /// task, less its waits).
    Cpu,
    /// A service the step sends a request to: the round trip lasts what the service takes, which the file
    /// does not state, and costs the client a CPU time that depends on how the executor waits.
    Service,
    /// A program of the step's own, in processes no executor's model describes.
    Program,
}

impl Step {
    /// The step's kind: the key an experiment file names it by.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Compute { .. } => "compute",
            Step::Sleep { .. } => "sleep",
            Step::ReadFile { .. } => "read_file",
            Step::Net { .. } => "net",
            Step::Shared { .. } => "shared",
            Step::Alloc { .. } => "alloc",
            Step::Exec(_) => "exec",
            Step::Call(_) => "call",
            Step::Redis { .. } => "redis",
            Step::Http(_) => "http",
        }
    }

    /// What the step costs a task.
    pub fn cost(&self) -> Cost {
        match *self {
            Step::Compute { .. } => compute::COST,
            Step::Sleep { nanos } => sleep::cost(nanos),
            Step::ReadFile { .. } => read_file::COST,
            Step::Net { delay_nanos, .. } => net::cost(delay_nanos),
            Step::Shared { hold_nanos, ref store, lock } => shared::cost(hold_nanos, store, lock),
            Step::Alloc { .. } => alloc::COST,
            Step::Exec(_) => exec::COST,
            Step::Call(_) => call::COST,
            Step::Redis { .. } => redis::COST,
            Step::Http(_) => http::COST,
        }
    }
}

impl Step {
    /// Whether the value the step yields is the same on every run of the workload, under every executor and
    /// any number of workers: whether a checksum of its workload's runs can be held to agree.
    pub fn deterministic(&self) -> bool {
        match self {
            Step::Compute { .. } => compute::DETERMINISTIC,
            Step::Sleep { .. } => sleep::DETERMINISTIC,
            Step::ReadFile { .. } => read_file::DETERMINISTIC,
            Step::Net { .. } => net::DETERMINISTIC,
            Step::Shared { .. } => shared::DETERMINISTIC,
            Step::Alloc { .. } => alloc::DETERMINISTIC,
            Step::Exec(_) => exec::DETERMINISTIC,
            Step::Call(call) => call::deterministic(call),
            Step::Redis { .. } => redis::DETERMINISTIC,
            Step::Http(_) => http::DETERMINISTIC,
        }
    }
}

/// A step as an experiment file would write it: `sleep 10ms`, `compute 256KiB`.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Step::Compute { bytes } => compute::write(f, bytes),
            Step::Sleep { nanos } => sleep::write(f, nanos),
            Step::ReadFile { size, files } => read_file::write(f, size, files),
            Step::Net { request, response, delay_nanos, connect } => {
                net::write(f, request, response, delay_nanos, connect)
            }
            Step::Shared { hold_nanos, ref store, lock } => shared::write(f, hold_nanos, store, lock),
            Step::Alloc { bytes } => alloc::write(f, bytes),
            Step::Exec(ref exec) => exec::write(f, exec),
            Step::Call(ref call) => call::write(f, call),
            Step::Redis { ref url, ref command, connect } => redis::write(f, url, command, connect),
            Step::Http(ref request) => http::write(f, request),
        }
    }
}

/// State one worker keeps between tasks: its reused connections and its handle on the shared counter.
#[derive(Debug, Default)]
pub struct WorkerState {
    net: net::Worker,
    shared: shared::Worker,
    redis: redis::Worker,
    http: http::Worker,
    /// The custom metrics the current task reported: (index of the metric, number).
    pub(crate) reports: Vec<(usize, f64)>,
}

/// What the steps of a run keep for the whole run: the resources the harness provided, the shared counter.
#[derive(Debug)]
pub(crate) struct RunState {
    read_file: read_file::Run,
    net: net::Run,
    shared: shared::Run,
}

impl RunState {
    /// Fails when a step needs a resource the harness did not provide.
    pub(crate) fn new(request: &RunRequest, shared_mode: SharedMode) -> io::Result<Self> {
        Ok(Self {
            read_file: read_file::Run::new(request)?,
            net: net::Run::new(request)?,
            shared: shared::Run::new(request, shared_mode)?,
        })
    }
}

/// How a step that connects writes its connections after it: nothing for the slots' own.
pub(crate) fn connect_suffix(connect: Connect) -> &'static str {
    match connect {
        Connect::Reuse => "",
        Connect::PerRequest => " per_request",
        Connect::Shared => " shared",
    }
}

/// Why a run cannot start: a `step` step needs `resource`, which the harness did not provide.
fn missing(step: &str, resource: &str) -> io::Error {
    io::Error::other(format!("the workload has a `{step}` step but the harness provided no {resource}"))
}

impl Prepared {
    /// Runs task `task` start to end, blocking the calling thread; returns its checksum.
    pub fn run_task(&self, task: u64, worker: &mut WorkerState) -> io::Result<u64> {
        let mut acc = task_seed(task);
        for step in &self.steps {
            let value = match *step {
                Step::Compute { bytes } => self.compute(task, bytes),
                Step::Sleep { nanos } => {
                    sleep::blocking(nanos);
                    sleep::value(nanos)
                }
                Step::ReadFile { size, files } => read_file::blocking(self, task, size, files)?,
                Step::Net { request, response, delay_nanos, connect } => {
                    net::blocking(self, &mut worker.net, request, response, delay_nanos, connect)?
                }
                Step::Shared { hold_nanos, lock, .. } => {
                    shared::blocking(self, &mut worker.shared, task, hold_nanos, lock)?
                }
                Step::Alloc { bytes } => alloc(bytes),
                Step::Exec(ref exec) => exec::blocking(self, exec, task, &mut worker.reports)?,
                Step::Call(ref call) => self.call(call, task, &mut worker.reports)?,
                Step::Redis { ref url, ref command, connect } => {
                    redis::blocking(&mut worker.redis, url, command, connect, task)?
                }
                Step::Http(ref request) => http::blocking(self, &mut worker.http, request, task)?,
            };
            acc = fold(acc, value);
        }
        Ok(acc)
    }
}

/// The idle connections of a run's steps on tokio, one per task slot that is not using its own: a task takes
/// one (or opens one when none is idle) and gives it back when its answer has arrived, so the run keeps at
/// most as many as it ever has tasks in flight. Only `connect = "reuse"` pools them.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct Idle<T>(std::sync::Mutex<Vec<T>>);

#[cfg(feature = "tokio")]
impl<T> Default for Idle<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(Vec::new()))
    }
}

#[cfg(feature = "tokio")]
impl<T> Idle<T> {
    /// An idle connection, when `connect` reuses them and one is idle.
    pub(crate) fn take(&self, connect: Connect) -> Option<T> {
        self.take_where(connect, |_| true)
    }

    /// The last idle connection that `usable` accepts, when `connect` reuses them; those it refuses are
    /// closed.
    pub(crate) fn take_where(&self, connect: Connect, usable: impl Fn(&T) -> bool) -> Option<T> {
        if connect != Connect::Reuse {
            return None;
        }
        let mut idle = crate::workload::lock(&self.0);
        while let Some(connection) = idle.pop() {
            if usable(&connection) {
                return Some(connection);
            }
        }
        None
    }

    /// Keeps `connection` for the next task when `connect` reuses connections; else it is closed.
    pub(crate) fn give(&self, connect: Connect, connection: T) {
        if connect == Connect::Reuse {
            crate::workload::lock(&self.0).push(connection);
        }
    }

    /// Closes the idle connections: before the runtime that drives them goes.
    pub(crate) fn close(&self) {
        crate::workload::lock(&self.0).clear();
    }
}

/// What the steps of a run on tokio keep for the whole run, besides [`RunState`]: pools of connections,
/// the shared counter's tokio lock.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct AsyncState {
    net: net::Async,
    shared: shared::Async,
    redis: redis::Async,
    http: http::Async,
}

#[cfg(feature = "tokio")]
impl AsyncState {
    pub(crate) fn new() -> Self {
        Self {
            net: net::Async::default(),
            shared: shared::Async::default(),
            redis: redis::Async::default(),
            http: http::Async::default(),
        }
    }

    /// Closes the idle connections: before the runtime that drives them goes.
    pub(crate) fn close_connections(&self) {
        self.net.close();
        self.shared.close();
        self.redis.close();
        self.http.close();
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
                Step::Compute { bytes } => self.cpu(move |prepared| prepared.compute(task, bytes)).await?,
                Step::Alloc { bytes } => self.cpu(move |_| alloc(bytes)).await?,
                Step::Sleep { nanos } => {
                    sleep::nonblocking(nanos).await;
                    sleep::value(nanos)
                }
                // The rarer, larger futures are boxed, so every task's future stays small to spawn: one held
                // inline here is copied and kept by every task of every workload, whatever its steps (a
                // `redis` step's inline made each 2.5 KiB, and 10,000 sleeping tasks 1.7x slower than plain
                // tokio). A test in `nonblocking` holds it under 512 bytes.
                Step::ReadFile { size, files } => Box::pin(read_file::nonblocking(workload, task, size, files)).await?,
                Step::Net { request, response, delay_nanos, connect } => {
                    Box::pin(net::nonblocking(workload, &self.state().net, request, response, delay_nanos, connect))
                        .await?
                }
                Step::Shared { hold_nanos, lock, .. } => {
                    Box::pin(shared::nonblocking(workload, &self.state().shared, task, hold_nanos, lock)).await?
                }
                Step::Exec(ref exec) => Box::pin(exec::nonblocking(workload, exec, task, reports)).await?,
                // A function is CPU work like `compute`: on the event loop, or on the blocking pool.
                Step::Call(ref call) if self.offload_cpu => {
                    let (value, recorded) = call::offloaded(self, call, task).await??;
                    reports.extend(recorded);
                    value
                }
                Step::Call(ref call) => workload.call(call, task, reports)?,
                Step::Redis { ref url, ref command, connect } => {
                    Box::pin(redis::nonblocking(&self.state().redis, url, command, connect, task)).await?
                }
                Step::Http(ref request) => {
                    Box::pin(http::nonblocking(workload, &self.state().http, request, task)).await?
                }
            };
            acc = fold(acc, value);
        }
        Ok(acc)
    }

    /// Runs CPU work on the calling runtime thread, or on tokio's blocking pool when the workload was made
    /// with `offload_cpu`.
    async fn cpu<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        work: impl FnOnce(&Prepared) -> T + Send + 'static,
    ) -> io::Result<T> {
        if !self.offload_cpu {
            return Ok(work(self.prepared()));
        }
        let this = std::sync::Arc::clone(self);
        Ok(tokio::task::spawn_blocking(move || work(this.prepared())).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Call, Connect, Exec, HttpBody, HttpChecksum, HttpRequest, Output, SharedLock, SharedStore};

    /// One step of every kind.
    fn every_kind() -> Vec<Step> {
        let exec = Exec {
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            env: Vec::new(),
            cwd: None,
            stdin: None,
            output: Output::Hash,
            ok: vec![0],
        };
        let call = Call { library: "/lib.so".into(), name: "mine::parse".into(), function: 0, arg: "${task}".into() };
        let http = HttpRequest {
            url: "http://127.0.0.1:8080/".into(),
            method: "GET".into(),
            headers: Vec::new(),
            body: HttpBody::Empty,
            expect: Vec::new(),
            checksum: HttpChecksum::Body,
            connect: Connect::PerRequest,
        };
        vec![
            Step::Compute { bytes: 256 << 10 },
            Step::Sleep { nanos: 10_000_000 },
            Step::ReadFile { size: 64 << 10, files: 8 },
            Step::Net { request: 64, response: 1024, delay_nanos: 1_000_000, connect: Connect::PerRequest },
            Step::Shared {
                hold_nanos: 2_000_000,
                store: SharedStore::Redis { url: "redis://127.0.0.1:6379/".into() },
                lock: SharedLock::None,
            },
            Step::Alloc { bytes: 3 << 20 },
            Step::Exec(exec),
            Step::Call(call),
            Step::Redis {
                url: "redis://127.0.0.1:6379/".into(),
                command: vec!["INCR".into(), "k".into()],
                connect: Connect::Shared,
            },
            Step::Http(http),
        ]
    }

    #[test]
    fn a_step_is_written_as_a_file_names_its_kind_and_values() {
        let written: Vec<String> = every_kind().iter().map(ToString::to_string).collect();
        assert_eq!(
            written,
            [
                "compute 256KiB",
                "sleep 10ms",
                "read_file 64KiB x8",
                "net 64B/1KiB delay 1ms per_request",
                "shared hold 2ms in redis://127.0.0.1:6379/ unlocked",
                "alloc 3MiB",
                "exec sh -c true",
                "call mine::parse(${task})",
                "redis INCR k at redis://127.0.0.1:6379/ shared",
                "http GET http://127.0.0.1:8080/ per_request",
            ]
        );
        for (step, written) in every_kind().iter().zip(&written) {
            assert!(written.starts_with(&format!("{} ", step.kind())), "{written}");
        }
    }

    #[test]
    fn the_kind_is_the_tag_of_the_step_in_json() {
        for step in every_kind() {
            let json = serde_json::to_value(&step).expect("a step serializes");
            assert_eq!(json["step"], step.kind());
        }
    }
}
