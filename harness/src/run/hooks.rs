//! Hooks: the programs an experiment runs around its runs, outside the measured time. `[experiment] setup`
//! and `cleanup` run once, a workload's `prepare` and `conclude` before and after each of its runs (in the
//! harness, not in the run's process, so they count in neither `run_s` nor `wall_s`).
//!
//! A hook writes to a log file and has the experiment's timeout. Nothing it starts outlives it, as nothing a
//! run starts does:
//! - it runs in a process group of its own, killed when it ends, and when a third Ctrl-C ends the harness;
//! - a process of it that left the group (`setsid`) and outlived its parent is the harness's child (the
//!   harness is the subreaper) and is killed and reaped when the hook ends;
//! - it dies with the harness (`PR_SET_PDEATHSIG`), and its group with it, however the harness dies (the
//!   watchdog, as for services); what left the group and outlived a `kill -9` of the harness, the next
//!   harness kills, found by the trail in the scratch folder and by [`SCRATCH_VAR`] in its processes'
//!   environment, as it does for runs.
//!
//! Of what it printed, only the end of the log is ever read back, for the message of a hook that failed.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use harness_sdk::exec::{command_line, describe_exit, last_lines};
use harness_sdk::protocol::Exec;

use super::reap::{SCRATCH_VAR, kill_group, reap_orphans, record_started};
use super::wait::{Wait, wait_for_exit};
use super::watchdog::Guards;
use crate::fmt::format_duration;
use crate::process::{LOG_TAIL_BYTES, tail_of_file_after};
use crate::sys::{self, pid_t};

/// Whether Ctrl-C stops a hook: not `cleanup`, which runs because of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnInterrupt {
    Stop,
    Finish,
}

/// Where a hook runs: its log, its timeout, what Ctrl-C does to it, the experiment's scratch folder, where
/// its trail goes, and the groups the watchdog kills if the harness dies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HookContext<'a> {
    pub log: &'a Path,
    pub timeout: Duration,
    pub on_interrupt: OnInterrupt,
    pub scratch: &'a Path,
    pub guards: &'a Guards,
}

/// Runs hook `what` (`setup`, `prepare`, ...), appending what it prints to the log; the error says what it
/// is, how it ended and the last lines it printed.
pub(crate) fn run_hook(what: &str, exec: &Exec, context: HookContext<'_>) -> Result<(), String> {
    let HookContext { log, timeout, on_interrupt, scratch, guards } = context;
    let line = command_line(exec, 0, 0);
    // What the hook printed starts after what the log held before it, and its own header line.
    let mut start = std::fs::metadata(log).map_or(0, |m| m.len());
    let header = format!("[{what}] {line}\n");
    start += header.len() as u64;
    let failed = |why: String| {
        // However much it printed, only the end of it is read back, as for a run.
        let printed = tail_of_file_after(log, start, LOG_TAIL_BYTES);
        let tail = last_lines(&printed, 3);
        let tail = if tail.is_empty() { String::new() } else { format!(": {tail}") };
        format!("`{what}` (`{line}`) {why}{tail}")
    };
    let mut output = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open the log of `{what}` {}: {e}", log.display()))?;
    let _ = output.write_all(header.as_bytes());
    let mut command = harness_sdk::exec::command(exec, 0, 0, false).map_err(|e| failed(e.to_string()))?;
    command.env_remove("HARNESS_TASK").env_remove("HARNESS_WORKER").env(SCRATCH_VAR, scratch).process_group(0);
    sys::die_with_harness(&mut command);
    let stdout = output.try_clone().map_err(|e| failed(e.to_string()))?;
    command.stdout(stdout).stderr(output);
    let mut child = command.spawn().map_err(|e| failed(format!("cannot start: {e}")))?;
    let pid = child.id() as pid_t;
    record_started(scratch, pid, None);
    guards.guard(pid);
    sys::set_waited_group(pid);
    let waited = match on_interrupt {
        OnInterrupt::Stop => wait_for_exit(pid, timeout),
        OnInterrupt::Finish => wait_through_interrupts(pid, timeout),
    };
    // Whatever it started goes with it: its group, then what left the group and was orphaned to the
    // harness.
    kill_group(pid);
    guards.release(pid);
    sys::set_waited_group(0);
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    reap_orphans();
    match waited {
        Ok(Wait::Exited) => {}
        Ok(Wait::TimedOut) => {
            return Err(failed(format!("did not end within the timeout of {}", format_duration(timeout))));
        }
        Ok(Wait::Interrupted) => return Err(failed("was stopped: the harness was interrupted".to_owned())),
        Err(e) => return Err(failed(e.to_string())),
    }
    match status.code() {
        Some(code) if exec.ok.contains(&code) => Ok(()),
        _ => Err(failed(describe_exit(status))),
    }
}

/// Waits until `pid` exits or `timeout` passes, whether or not the harness was interrupted.
fn wait_through_interrupts(pid: pid_t, timeout: Duration) -> std::io::Result<Wait> {
    let deadline = Instant::now() + timeout;
    loop {
        match sys::has_exited(pid) {
            Ok(true) => return Ok(Wait::Exited),
            Ok(false) => {}
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
        if Instant::now() >= deadline {
            return Ok(Wait::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
