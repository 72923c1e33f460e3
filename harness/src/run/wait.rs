//! Waiting for a run's process: on a pidfd until it exits, the timeout passes or the harness is
//! interrupted, then `wait4` for how it ended and its resource usage.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::child::Usage;
use super::signals::interrupted;
use super::sys::{self, pid_t};

/// How often a wait looks at the interruption flag, in case a signal came just before it started waiting.
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// How the wait for a run's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Exited,
    TimedOut,
    /// The harness was asked to stop (see [`super::signals::catch_interrupts`]).
    Interrupted,
}

/// Waits until `pid` exits, without reaping it, or until `timeout` passes or the harness is interrupted.
pub(super) fn wait_for_exit(pid: pid_t, timeout: Duration) -> io::Result<Wait> {
    let deadline = Instant::now() + timeout;
    let Ok(fd) = sys::pidfd_open(pid) else {
        // Kernels before 5.3: look every millisecond.
        loop {
            match sys::has_exited(pid) {
                Ok(true) => return Ok(Wait::Exited),
                Ok(false) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
            if interrupted().is_some() {
                return Ok(Wait::Interrupted);
            }
            if Instant::now() >= deadline {
                return Ok(Wait::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    loop {
        if interrupted().is_some() {
            return Ok(Wait::Interrupted);
        }
        let until_deadline = deadline.saturating_duration_since(Instant::now());
        match sys::poll_readable(std::os::fd::AsFd::as_fd(&fd), until_deadline.min(INTERRUPT_CHECK)) {
            Ok(true) => return Ok(Wait::Exited),
            Ok(false) if until_deadline.is_zero() => return Ok(Wait::TimedOut),
            Ok(false) => {}
            // A signal: loop to look at the interruption flag.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Reaps `pid` with its resource usage, including that of the workers it reaped.
pub(super) fn reap_with_usage(pid: pid_t) -> io::Result<(ExitStatus, Usage)> {
    let (status, rusage) = sys::wait4(pid)?;
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let usage = Usage {
        user_cpu_s: seconds(rusage.ru_utime),
        system_cpu_s: seconds(rusage.ru_stime),
        max_rss_bytes: (rusage.ru_maxrss as u64) * 1024,
        voluntary_switches: rusage.ru_nvcsw as u64,
        involuntary_switches: rusage.ru_nivcsw as u64,
    };
    Ok((status, usage))
}
