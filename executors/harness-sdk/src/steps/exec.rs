//! `exec`: runs a program ([`crate::exec`]: the command with `${task}` and `${worker}`, its output read
//! until it exits) and waits for it to end, blocking on a pidfd or on tokio. The end of its standard error
//! goes on to the run's, and the custom metrics it printed into the task's reports. Yields the hash of its standard
//! output (`output = "hash"`), or its exit status.

use std::io;

use super::{Cost, Work};
use crate::exec::{Finished, Reads};
use crate::protocol::Exec;
use crate::workload::Prepared;

/// The numbers a task reported for custom metrics: (index of the metric, number).
type Reports = Vec<(usize, f64)>;

/// The `exec` step of task `task`, blocking the calling thread.
pub(super) fn blocking(prepared: &Prepared, exec: &Exec, task: u64, reports: &mut Reports) -> io::Result<u64> {
    let (worker, reads) = started(prepared, exec);
    let finished = crate::exec::run_blocking(exec, task, worker, reads)?;
    ended(prepared, exec, task, worker, &finished, reports)
}

/// The `exec` step of task `task` as a future.
#[cfg(feature = "tokio")]
pub(super) async fn nonblocking(prepared: &Prepared, exec: &Exec, task: u64, reports: &mut Reports) -> io::Result<u64> {
    let (worker, reads) = started(prepared, exec);
    let finished = crate::exec::run_async(exec, task, worker, reads).await?;
    ended(prepared, exec, task, worker, &finished, reports)
}

/// The index of the worker that runs the program, and which of its streams are read and how.
fn started(prepared: &Prepared, exec: &Exec) -> (u32, Reads) {
    let metrics = &prepared.metrics;
    (crate::worker::index(), Reads::of(exec, metrics.read_stdout(), metrics.read_stderr()))
}

/// What an `exec` step yields once its program ended: its standard error passed on to the run's (so into
/// the run's log), the value or the error of how it ended, and the custom metrics it printed.
fn ended(
    prepared: &Prepared,
    exec: &Exec,
    task: u64,
    worker: u32,
    finished: &Finished,
    reports: &mut Reports,
) -> io::Result<u64> {
    let (tail, before) = finished.stderr.tail();
    if !tail.is_empty() || before > 0 {
        use std::io::Write as _;
        let mut out = std::io::stderr().lock();
        if before > 0 {
            let _ = writeln!(out, "[{before} bytes of the program's standard error left out]");
        }
        let _ = out.write_all(tail);
    }
    let value = crate::exec::outcome(exec, task, worker, finished)?;
    prepared.metrics.find(task, finished, reports)?;
    Ok(value)
}

/// A program: its work is done in processes of its own.
pub(super) const COST: Cost = Cost { wait: None, work: Work::Program };
/// Not known: what a program prints may hold the time, its pid, a temporary path; a workload that vouches
/// for its programs says `checksum = "must-agree"`.
pub(super) const DETERMINISTIC: bool = false;

/// `exec ARGV`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, exec: &Exec) -> std::fmt::Result {
    write!(f, "exec {}", exec.argv.join(" "))
}
