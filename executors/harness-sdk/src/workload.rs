//! A workload ready to run, and what a run accumulates.
//!
//! An executor prepares a [`Workload`](crate::protocol::Workload) once per run with [`Prepared::new`],
//! then runs tasks by index: [`Prepared::run_task`] runs one task's steps, blocking the calling thread;
//! [`Prepared::run_measured`] also measures its latency (see [`crate::trace`] for the definition) into a
//! [`Tally`]; [`Prepared::run_range`] and [`Prepared::run_claimed`] run many, in turn or claimed from a
//! counter shared by a pool. A [`Collector`] gathers the tallies of a pool's workers and the first error.
//! Executors that do not block use `nonblocking::AsyncWorkload` (cargo feature
//! `tokio`), which does the same steps without blocking a thread.
//!
//! The checksum, fixture files and the `net` wire format live in [`crate::checksum`],
//! [`crate::fixtures`] and [`crate::net`]; they are re-exported here.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use crate::checksum::{fold, hash_bytes, seeded_bytes, task_seed};
pub use crate::fixtures::{fixture_file_content, fixture_file_name};
pub use crate::net;
pub use crate::steps::alloc;

use crate::latency::Latency;
use crate::protocol::{RunRequest, Step};
use crate::trace;

/// Locks `mutex`, taking the value even when a thread panicked while holding it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the `shared` counter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedMode {
    /// In this process's memory, under a mutex: for executors whose tasks share an address space.
    Memory,
    /// In [`Resources::shared_file`](crate::protocol::Resources), under an exclusive `flock`: for
    /// executors whose tasks run in separate processes.
    File,
}

/// A workload ready to run: seeded data generated, resources located.
#[derive(Debug)]
pub struct Prepared {
    /// The experiment's seed, from [`RunRequest::seed`].
    pub seed: u64,
    /// The steps every task runs, in order.
    pub steps: Vec<Step>,
    /// How many tasks the run has; tasks are numbered `0..tasks`.
    pub tasks: u64,
    pub(crate) data: Vec<u8>,
    pub(crate) files_dir: Option<PathBuf>,
    pub(crate) net_addr: Option<String>,
    pub(crate) shared_mode: SharedMode,
    pub(crate) shared_file: Option<PathBuf>,
    /// The counter of `SharedMode::Memory`, and its lock.
    pub(crate) shared_memory: AtomicU64,
    pub(crate) shared_guard: Mutex<()>,
    /// The counter in Redis, when the `shared` steps keep it there.
    pub(crate) redis: Option<crate::shared::RedisStore>,
    /// The process that prepared the workload: a `Memory` counter only counts increments made in it.
    pub(crate) pid: u32,
}

/// State one worker keeps between tasks: its reused connection and its handle on the shared counter.
#[derive(Default)]
pub struct WorkerState {
    pub(crate) connection: Option<TcpStream>,
    pub(crate) shared_file: Option<File>,
    pub(crate) redis: Option<redis::Connection>,
    /// The connection of `redis` steps, and the server it goes to.
    pub(crate) redis_commands: Option<(String, redis::Connection)>,
    /// The agent of `http` steps, which keeps their connections.
    pub(crate) http: Option<ureq::Agent>,
    pub(crate) scratch: Vec<u8>,
    /// Whether this worker checked that a `Memory` counter is in its own process.
    pub(crate) counter_checked: bool,
}

/// What a worker (or a whole run) accumulated: the checksum sum, the task count and the latencies.
#[derive(Debug, Default)]
pub struct Tally {
    /// The wrapping sum of the tasks' checksums.
    pub checksum: u64,
    /// Tasks recorded.
    pub tasks: u64,
    /// Their latencies.
    pub latency: Latency,
}

impl Tally {
    /// Adds a task's checksum and latency.
    #[inline]
    pub fn record(&mut self, checksum: u64, latency: Duration) {
        self.checksum = self.checksum.wrapping_add(checksum);
        self.tasks += 1;
        self.latency.record(latency);
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.checksum = self.checksum.wrapping_add(other.checksum);
        self.tasks += other.tasks;
        self.latency.merge(&other.latency);
    }

    /// The tally as bytes, for a worker process to send to its parent: the checksum, the task count, then
    /// (latency in ns, count) pairs of the histogram's non-empty buckets; every number a little-endian u64.
    pub fn to_bytes(&self) -> Vec<u8> {
        let pairs = self.latency.to_pairs();
        let mut out = Vec::with_capacity(16 + 16 * pairs.len());
        out.extend_from_slice(&self.checksum.to_le_bytes());
        out.extend_from_slice(&self.tasks.to_le_bytes());
        for (value, count) in pairs {
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out
    }

    /// The inverse of [`Tally::to_bytes`]; fails on bytes it did not make.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        if bytes.len() < 16 || bytes.len() % 16 != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed tally"));
        }
        let words: Vec<u64> =
            bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        let pairs: Vec<(u64, u64)> = words[2..].chunks_exact(2).map(|p| (p[0], p[1])).collect();
        let latency = Latency::from_pairs(&pairs);
        if latency.len() != words[1] {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed tally: counts do not add up"));
        }
        Ok(Self { checksum: words[0], tasks: words[1], latency })
    }
}

/// What the workers of a run hand in: their tallies, merged, and the first error. Shared by reference
/// between threads; [`Collector::failed`] tells the others to stop claiming tasks.
#[derive(Debug, Default)]
pub struct Collector {
    total: Mutex<Tally>,
    first_error: Mutex<Option<crate::Error>>,
    failed: AtomicBool,
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a worker's tally.
    pub fn merge(&self, tally: &Tally) {
        lock(&self.total).merge(tally);
    }

    /// Adds one task's checksum and latency.
    pub fn record(&self, checksum: u64, latency: Duration) {
        lock(&self.total).record(checksum, latency);
    }

    /// Records a failure; the first one is the run's error.
    pub fn fail(&self, error: impl Into<crate::Error>) {
        lock(&self.first_error).get_or_insert(error.into());
        self.failed.store(true, Ordering::Release);
    }

    /// Whether any worker failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The run's tally, or its first error.
    pub fn finish(&self) -> crate::Result<Tally> {
        if let Some(error) = lock(&self.first_error).take() {
            return Err(error);
        }
        Ok(std::mem::take(&mut *lock(&self.total)))
    }
}

impl Prepared {
    /// Prepares `request`'s workload; fails when a step needs a resource the harness did not provide.
    pub fn new(request: &RunRequest, shared_mode: SharedMode) -> io::Result<Self> {
        let steps = request.workload.steps.clone();
        let compute_bytes = steps
            .iter()
            .filter_map(|s| match s {
                Step::Compute { bytes }
                | Step::Http(crate::protocol::HttpRequest { body: crate::protocol::HttpBody::Seeded(bytes), .. }) => {
                    Some(*bytes)
                }
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let needs = |pred: fn(&Step) -> bool| steps.iter().any(pred);
        let resources = &request.resources;
        if needs(|s| matches!(s, Step::ReadFile { .. })) && resources.files_dir.is_none() {
            return Err(missing("read_file", "files_dir"));
        }
        if needs(|s| matches!(s, Step::Net { .. })) && resources.net_addr.is_none() {
            return Err(missing("net", "net_addr"));
        }
        let redis = crate::shared::RedisStore::open(request)?;
        let uses_shared = needs(|s| matches!(s, Step::Shared { .. }));
        if uses_shared && redis.is_none() && shared_mode == SharedMode::File && resources.shared_file.is_none() {
            return Err(missing("shared", "shared_file"));
        }
        Ok(Self {
            seed: request.seed,
            tasks: request.workload.tasks,
            data: seeded_bytes(request.seed, compute_bytes as usize),
            steps,
            files_dir: resources.files_dir.clone(),
            net_addr: resources.net_addr.clone(),
            shared_mode,
            shared_file: resources.shared_file.clone(),
            shared_memory: AtomicU64::new(0),
            shared_guard: Mutex::new(()),
            redis,
            pid: std::process::id(),
        })
    }

    /// Whether any step uses the shared counter.
    pub fn uses_shared(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Shared { .. }))
    }

    /// The value of the shared counter now, `None` when no step uses it.
    pub fn shared_count(&self) -> io::Result<Option<u64>> {
        if !self.uses_shared() {
            return Ok(None);
        }
        if let Some(store) = &self.redis {
            return store.count().map(Some);
        }
        match self.shared_mode {
            SharedMode::Memory => Ok(Some(self.shared_memory.load(Ordering::Acquire))),
            SharedMode::File => {
                let path = self.shared_file.as_deref().expect("checked in new");
                read_counter(&File::open(path)?).map(Some)
            }
        }
    }

    /// Hashes `bytes` bytes of this run's seeded data, keyed by the task: the `compute` step.
    #[inline]
    pub fn compute(&self, task: u64, bytes: u64) -> u64 {
        crate::steps::compute(&self.data, self.seed, task, bytes)
    }

    /// The path of the fixture file task `task` reads in a `read_file` step.
    pub fn fixture_path(&self, task: u64, size: u64, files: u32) -> PathBuf {
        let index = (task % u64::from(files.max(1))) as u32;
        self.files_dir.as_deref().unwrap_or(Path::new(".")).join(fixture_file_name(size, index))
    }

    /// The loopback server's address.
    pub fn net_addr(&self) -> &str {
        self.net_addr.as_deref().unwrap_or_default()
    }

    /// Runs task `task`, blocking the calling thread, and records its checksum and latency (service time:
    /// from the start of its first step to the end of its last) into `tally`.
    pub fn run_measured(&self, task: u64, worker: &mut WorkerState, tally: &mut Tally) -> io::Result<()> {
        let start = trace::now_ns();
        let checksum = self.run_task(task, worker)?;
        let end = trace::now_ns();
        tally.record(checksum, trace::service_time(start, end));
        trace::task(task, start, end);
        Ok(())
    }

    /// Runs tasks `range` one after another on this thread, adding each to `tally`.
    pub fn run_range(
        &self,
        range: std::ops::Range<u64>,
        worker: &mut WorkerState,
        tally: &mut Tally,
    ) -> io::Result<()> {
        for task in range {
            self.run_measured(task, worker, tally)?;
        }
        Ok(())
    }

    /// The body of a pool's worker: claims the next task index from `next` and runs it, until every task
    /// is claimed or some worker failed; then hands its tally (or its error) to `collector`. Every worker
    /// of the pool shares `next` (starting at 0) and `collector`.
    pub fn run_claimed(&self, next: &AtomicU64, collector: &Collector) {
        let mut worker = WorkerState::default();
        let mut tally = Tally::default();
        while !collector.failed() {
            let task = next.fetch_add(1, Ordering::Relaxed);
            if task >= self.tasks {
                break;
            }
            if let Err(e) = self.run_measured(task, &mut worker, &mut tally) {
                collector.fail(e);
                break;
            }
        }
        collector.merge(&tally);
    }
}

fn missing(step: &str, resource: &str) -> io::Error {
    io::Error::other(format!("the workload has a `{step}` step but the harness provided no {resource}"))
}

pub(crate) fn read_counter(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(u64::from_le_bytes(bytes))
}

pub(crate) fn write_counter(file: &File, value: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(&value.to_le_bytes(), 0)
}

/// An exclusive `flock` held until dropped.
pub(crate) struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    pub(crate) fn exclusive(file: &'a File) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid, open descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl std::fmt::Debug for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerState")
            .field("connection", &self.connection)
            .field("shared_file", &self.shared_file)
            .field("redis", &self.redis.is_some())
            .field("redis_commands", &self.redis_commands.as_ref().map(|(url, _)| url))
            .field("http", &self.http.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_round_trips_through_bytes() {
        let mut tally = Tally::default();
        tally.record(7, Duration::from_micros(3));
        tally.record(u64::MAX, Duration::from_millis(2));
        let back = Tally::from_bytes(&tally.to_bytes()).unwrap();
        assert_eq!(back.checksum, 6);
        assert_eq!(back.tasks, 2);
        assert_eq!(back.latency.summary(), tally.latency.summary());
        assert!(Tally::from_bytes(&tally.to_bytes()[..20]).is_err());
        let mut lying = tally.to_bytes();
        lying[8] = 3;
        assert!(Tally::from_bytes(&lying).is_err());
    }

    #[test]
    fn a_collector_keeps_the_first_error() {
        let collector = Collector::new();
        let mut tally = Tally::default();
        tally.record(1, Duration::from_micros(1));
        collector.merge(&tally);
        assert_eq!(collector.finish().unwrap().tasks, 1);
        collector.fail("first");
        collector.fail("second");
        assert!(collector.failed());
        assert_eq!(collector.finish().unwrap_err().to_string(), "first");
    }
}
