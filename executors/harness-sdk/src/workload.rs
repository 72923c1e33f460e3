//! A workload ready to run, and what a run accumulates.
//!
//! An executor prepares a [`Workload`](crate::protocol::Workload) once per run with [`Prepared::new`],
//! then runs tasks by index: [`Prepared::run_task`] runs one task's steps, blocking the calling thread;
//! [`Prepared::run_measured`] also measures its latency (see [`crate::trace`] for the definition) into a
//! [`Tally`]; [`Prepared::run_range`] and [`Prepared::run_claimed`] run many, in turn or claimed from a
//! counter shared by a pool. A [`Collector`] gathers the tallies of a pool's workers and the first error.
//! For an open workload ([`crate::arrival`]) every one of them keeps the schedule: a task is taken (or
//! found dropped), started no earlier than it is due, and its response time recorded too.
//! Executors that do not block use `nonblocking::AsyncWorkload` (cargo feature
//! `tokio`), which does the same steps without blocking a thread.
//!
//! The checksum, fixture files and the `net` wire format live in [`crate::checksum`],
//! [`crate::fixtures`] and [`crate::net`]; they are re-exported here.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use crate::checksum::{SeededStream, fold, hash_bytes, seeded_bytes, task_seed};
pub use crate::fixtures::{fixture_file_content, fixture_file_name, fixture_file_stream};
pub use crate::net;
pub use crate::steps::{WorkerState, alloc};

use crate::arrival::{LATE_NS, Schedule};
use crate::latency::Latency;
use crate::protocol::{OpenReport, Reported, RunRequest, Step};
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
    /// When tasks are due, for an open workload; `None` for a closed one.
    pub schedule: Option<Schedule>,
    /// The run's seeded data: what `compute` steps hash, and the seeded bodies of `http` steps.
    pub(crate) data: Vec<u8>,
    /// What the steps keep for the run.
    pub(crate) state: crate::steps::RunState,
    /// The workload's custom metrics, read from the output of its `exec` steps.
    pub(crate) metrics: crate::metrics::Patterns,
}

/// What a worker (or a whole run) accumulated: the checksum sum, the task count and the latencies; for an
/// open workload also the response times, the dropped and late tasks, and the last task's lag.
#[derive(Debug, Default)]
pub struct Tally {
    /// The wrapping sum of the tasks' checksums.
    pub checksum: u64,
    /// Tasks recorded.
    pub tasks: u64,
    /// Their latencies.
    pub latency: Latency,
    /// Open workloads: response times, from due to end.
    pub response: Latency,
    /// Open workloads: tasks dropped, never run.
    pub dropped: u64,
    /// Open workloads: tasks that started more than [`LATE_NS`] after they were due.
    pub late: u64,
    /// Open workloads: the highest task index run, and how long after it was due it started (ns).
    pub last: Option<(u64, u64)>,
    /// The numbers reported for custom metrics, by name.
    pub metrics: BTreeMap<String, Reported>,
}

impl Tally {
    /// Adds a task's checksum and latency.
    #[inline]
    pub fn record(&mut self, checksum: u64, latency: Duration) {
        self.checksum = self.checksum.wrapping_add(checksum);
        self.tasks += 1;
        self.latency.record(latency);
    }

    /// Adds an open workload's task: due at `due_ns`, started at `start_ns`, ended at `end_ns`.
    #[inline]
    pub fn record_open(&mut self, task: u64, due_ns: u64, start_ns: u64, end_ns: u64) {
        let lag = start_ns.saturating_sub(due_ns);
        self.response.record(trace::service_time(due_ns, end_ns));
        if lag > LATE_NS {
            self.late += 1;
        }
        if self.last.is_none_or(|(last, _)| task > last) {
            self.last = Some((task, lag));
        }
    }

    /// Adds number `value` that task `task` reported for the custom metric `name`; fails when the number
    /// is not finite, or takes the metric's sum past the largest finite number.
    pub fn report(&mut self, name: &str, task: u64, value: f64) -> io::Result<()> {
        let value = crate::metrics::finite(name, value, &value.to_string())
            .map_err(|e| io::Error::other(format!("task {task}: {e}")))?;
        let one = Reported::one(task, value);
        let reported = self.metrics.entry(name.to_owned()).and_modify(|mine| mine.merge(&one)).or_insert(one);
        if reported.sum.is_finite() { Ok(()) } else { Err(crate::metrics::overflowed(name, reported)) }
    }

    /// Fails when the sum of a custom metric is not finite: merged tallies of workers can pass the largest
    /// finite number where none of them did.
    pub fn check_metrics(&self) -> io::Result<()> {
        match self.metrics.iter().find(|(_, reported)| !reported.sum.is_finite()) {
            Some((name, reported)) => Err(crate::metrics::overflowed(name, reported)),
            None => Ok(()),
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.checksum = self.checksum.wrapping_add(other.checksum);
        self.tasks += other.tasks;
        self.latency.merge(&other.latency);
        self.response.merge(&other.response);
        self.dropped += other.dropped;
        self.late += other.late;
        if let Some((task, lag)) = other.last {
            if self.last.is_none_or(|(last, _)| task > last) {
                self.last = Some((task, lag));
            }
        }
        for (name, reported) in &other.metrics {
            self.metrics.entry(name.clone()).and_modify(|mine| mine.merge(reported)).or_insert(*reported);
        }
    }

    /// What an open workload measured beyond service time: `None` when nothing of an open workload was
    /// recorded (a closed workload).
    pub fn open_report(&self) -> Option<OpenReport> {
        if self.response.is_empty() && self.dropped == 0 {
            return None;
        }
        Some(OpenReport {
            response: self.response.summary(),
            dropped: self.dropped,
            late: self.late,
            last_start_lag_s: self.last.map_or(0.0, |(_, lag)| lag as f64 / 1e9),
        })
    }

    /// The tally as bytes, for a worker process to send to its parent: the checksum, the task count, the
    /// dropped and late counts, the last task plus one (0: none) and its lag, the number of service-time
    /// pairs and of response-time pairs, then (latency in ns, count) pairs of the service-time histogram's
    /// non-empty buckets and those of the response-time histogram, every number a little-endian u64; then
    /// the custom metrics as JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        let service = self.latency.to_pairs();
        let response = self.response.to_pairs();
        let (last, lag) = self.last.map_or((0, 0), |(task, lag)| (task + 1, lag));
        let head = [
            self.checksum,
            self.tasks,
            self.dropped,
            self.late,
            last,
            lag,
            service.len() as u64,
            response.len() as u64,
        ];
        let mut out = Vec::with_capacity(8 * head.len() + 16 * (service.len() + response.len()));
        for word in head {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for (value, count) in service.into_iter().chain(response) {
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend(serde_json::to_vec(&self.metrics).expect("serializable"));
        out
    }

    /// The inverse of [`Tally::to_bytes`]; fails on bytes it did not make.
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        const HEAD: usize = 8;
        let malformed = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("malformed tally{why}"));
        let word = |i: usize| bytes.get(i * 8..i * 8 + 8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
        let mut head = [0u64; HEAD];
        for (i, w) in head.iter_mut().enumerate() {
            *w = word(i).ok_or_else(|| malformed(""))?;
        }
        let [checksum, tasks, dropped, late, last, lag, service, response] = head;
        let counts = usize::try_from(service).ok().zip(usize::try_from(response).ok());
        let Some((service, response)) = counts.filter(|(s, r)| 8 * HEAD + 16 * (s + r) <= bytes.len()) else {
            return Err(malformed(""));
        };
        let pair = |i: usize| (word(HEAD + 2 * i).unwrap_or(0), word(HEAD + 2 * i + 1).unwrap_or(0));
        let latency = Latency::from_pairs(&(0..service).map(pair).collect::<Vec<_>>());
        let response_time = Latency::from_pairs(&(service..service + response).map(pair).collect::<Vec<_>>());
        if latency.len() != tasks || (!response_time.is_empty() && response_time.len() != tasks) {
            return Err(malformed(": counts do not add up"));
        }
        let metrics = serde_json::from_slice(&bytes[8 * HEAD + 16 * (service + response)..])
            .map_err(|_| malformed(": bad metrics"))?;
        let last = last.checked_sub(1).map(|task| (task, lag));
        Ok(Self { checksum, tasks, latency, response: response_time, dropped, late, last, metrics })
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

    /// Adds the numbers task `task` reported for custom metrics (index into `names`, number).
    #[cfg(feature = "tokio")]
    pub(crate) fn report(&self, names: &crate::metrics::Patterns, task: u64, reports: &[(usize, f64)]) {
        if reports.is_empty() {
            return;
        }
        let mut total = lock(&self.total);
        for &(metric, value) in reports {
            if let Err(e) = total.report(names.name(metric), task, value) {
                drop(total);
                self.fail(e);
                return;
            }
        }
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
        let total = std::mem::take(&mut *lock(&self.total));
        total.check_metrics()?;
        Ok(total)
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
        let state = crate::steps::RunState::new(request, shared_mode)?;
        Ok(Self {
            seed: request.seed,
            tasks: request.workload.tasks,
            schedule: request.workload.arrival.map(|a| Schedule::new(&a, request.workload.tasks, request.seed)),
            data: seeded_bytes(request.seed, compute_bytes as usize),
            steps,
            state,
            metrics: crate::metrics::Patterns::new(&request.workload.metrics)?,
        })
    }

    /// Runs task `task`, blocking the calling thread, and records its checksum and latency (service time:
    /// from the start of its first step to the end of its last) into `tally`. In an open workload it first
    /// takes the task from the schedule: a dropped task is counted and not run; otherwise it waits until
    /// the task is due, and records its response time too.
    pub fn run_measured(&self, task: u64, worker: &mut WorkerState, tally: &mut Tally) -> io::Result<()> {
        if let Some(schedule) = &self.schedule {
            if !schedule.take(task) {
                tally.dropped += 1;
                return Ok(());
            }
        }
        self.run_admitted(task, worker, tally)
    }

    /// Like [`Prepared::run_measured`], for a task already taken from the schedule: by a dispatcher in
    /// another process ([`Schedule::next`]), which also started the schedule there
    /// ([`Schedule::start_at`]). Waits until the task is due.
    pub fn run_admitted(&self, task: u64, worker: &mut WorkerState, tally: &mut Tally) -> io::Result<()> {
        let due = self.schedule.as_ref().map(|s| s.wait_until_due(task));
        let start = trace::now_ns();
        worker.reports.clear();
        let checksum = self.run_task(task, worker)?;
        let end = trace::now_ns();
        tally.record(checksum, trace::service_time(start, end));
        if let Some(due) = due {
            tally.record_open(task, due, start, end);
        }
        for &(metric, value) in &worker.reports {
            tally.report(self.metrics.name(metric), task, value)?;
        }
        trace::task(task, due, start, end);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_round_trips_through_bytes() {
        let mut tally = Tally::default();
        tally.record(7, Duration::from_micros(3));
        tally.record(u64::MAX, Duration::from_millis(2));
        tally.report("ratio", 1, 2.5).unwrap();
        tally.report("ratio", 0, 1.5).unwrap();
        let back = Tally::from_bytes(&tally.to_bytes()).unwrap();
        assert_eq!(back.metrics, tally.metrics);
        let ratio = back.metrics["ratio"];
        assert_eq!((ratio.count, ratio.sum, ratio.min, ratio.max, ratio.last), (2, 4.0, 1.5, 2.5, 2.5));
        assert_eq!(back.checksum, 6);
        assert_eq!(back.tasks, 2);
        assert_eq!(back.latency.summary(), tally.latency.summary());
        assert!(Tally::from_bytes(&tally.to_bytes()[..20]).is_err());
        let mut lying = tally.to_bytes();
        lying[8] = 3;
        assert!(Tally::from_bytes(&lying).is_err());
    }

    #[test]
    fn an_open_tally_round_trips_and_merges_its_drops_lateness_and_last_task() {
        let mut a = Tally::default();
        a.record(1, Duration::from_millis(10));
        a.record_open(4, 1_000, 1_500, 10_001_500);
        a.record(2, Duration::from_millis(10));
        a.record_open(9, 2_000, 2_000 + LATE_NS + 1, 12_000_000);
        a.dropped = 3;
        let back = Tally::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!((back.tasks, back.dropped, back.late, back.last), (2, 3, 1, Some((9, LATE_NS + 1))));
        assert_eq!(back.response.summary(), a.response.summary());
        let mut b = Tally { dropped: 1, ..Tally::default() };
        b.record(3, Duration::from_millis(10));
        b.record_open(7, 0, 10, 10_000_010);
        b.merge(&back);
        assert_eq!((b.tasks, b.dropped, b.late, b.last), (3, 4, 1, Some((9, LATE_NS + 1))));
        let open = b.open_report().unwrap();
        assert_eq!((open.dropped, open.late), (4, 1));
        assert!(Tally::default().open_report().is_none());
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
