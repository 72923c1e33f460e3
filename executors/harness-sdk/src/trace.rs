//! The clock of task latency, and an opt-in trace of every task's start and end.
//!
//! Task latency is *service time*: from the moment a task starts its first step to the moment its last
//! step ends. Time a task spends queued (waiting for a worker, a permit or the event loop) before its first
//! step is not part of it; [`Prepared::run_measured`](crate::workload::Prepared::run_measured) and its
//! non-blocking counterpart read the clock at exactly those two moments, and every built-in executor
//! records latency through them.
//!
//! A task of an open workload ([`crate::arrival`]) also has a *response time*, from the moment it was due
//! to its end: queueing included, the time a user of a service feels.
//!
//! When the environment variable [`TRACE_ENV`] names a file, every task measured that way also appends
//! one line to it: `pid thread task start_ns end_ns`, times on the monotonic clock in nanoseconds, and for
//! a task of an open workload a sixth field, `due_ns`, when it was due. Each
//! line is one `write` to a file opened for appending, so the threads and processes of a run can share it.
//! Tests use it to check which definition of latency an executor reports.

use std::fs::File;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the trace file.
pub const TRACE_ENV: &str = "HARNESS_TASK_TRACE";

/// The monotonic clock, in nanoseconds: the clock of task latency and of the trace.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A task's service time, from its start and end on [`now_ns`].
#[inline]
pub fn service_time(start_ns: u64, end_ns: u64) -> Duration {
    Duration::from_nanos(end_ns.saturating_sub(start_ns))
}

fn trace_file() -> Option<&'static File> {
    static FILE: OnceLock<Option<File>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty())?;
        File::options().create(true).append(true).open(path).ok()
    })
    .as_ref()
}

/// Appends task `task`'s start and end (and when it was due, for an open workload) to the trace, when one
/// was asked for.
#[inline]
pub fn task(task: u64, due_ns: Option<u64>, start_ns: u64, end_ns: u64) {
    if let Some(mut file) = trace_file() {
        // SAFETY: getpid and gettid have no preconditions.
        let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        let line = match due_ns {
            Some(due) => format!("{pid} {tid} {task} {start_ns} {end_ns} {due}\n"),
            None => format!("{pid} {tid} {task} {start_ns} {end_ns}\n"),
        };
        // A failed trace write must not fail the run: the trace is a test aid.
        let _ = file.write_all(line.as_bytes());
    }
}
