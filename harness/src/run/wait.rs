//! Waiting for a run's process: on a pidfd until it exits, the timeout passes or the harness is
//! interrupted, then `wait4` for how it ended and its resource usage.

use std::io;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::time::{Duration, Instant};

use super::signals::interrupted;
use crate::sys::{self, pid_t};

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
    match Exit::of(pid).wait(Instant::now() + timeout, None)? {
        Waited::Ended(wait) => Ok(wait),
        Waited::Watched => unreachable!("nothing watched"),
    }
}

/// What [`Exit::wait`] saw first.
pub(super) enum Waited {
    Ended(Wait),
    /// The watched descriptor can be read.
    Watched,
}

/// The end of process `pid`, to wait for: a pidfd, opened once for as many waits as it takes.
pub(super) struct Exit {
    pid: pid_t,
    /// `None` on kernels before 5.3.
    fd: Option<std::os::fd::OwnedFd>,
}

impl Exit {
    pub(super) fn of(pid: pid_t) -> Self {
        Self { pid, fd: sys::pidfd_open(pid).ok() }
    }

    /// Waits as [`wait_for_exit`] does until `deadline`, and until `watch`, when given, can be read.
    pub(super) fn wait(&self, deadline: Instant, watch: Option<BorrowedFd<'_>>) -> io::Result<Waited> {
        let pid = self.pid;
        let Some(fd) = &self.fd else {
            // Kernels before 5.3: look every millisecond.
            loop {
                match sys::has_exited(pid) {
                    Ok(true) => return Ok(Waited::Ended(Wait::Exited)),
                    Ok(false) => {}
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
                if interrupted().is_some() {
                    return Ok(Waited::Ended(Wait::Interrupted));
                }
                if Instant::now() >= deadline {
                    return Ok(Waited::Ended(Wait::TimedOut));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        loop {
            if interrupted().is_some() {
                return Ok(Waited::Ended(Wait::Interrupted));
            }
            let until_deadline = deadline.saturating_duration_since(Instant::now());
            let slice = until_deadline.min(INTERRUPT_CHECK);
            let polled = match watch {
                Some(watch) => sys::poll_two(fd.as_fd(), watch, slice),
                None => sys::poll_readable(fd.as_fd(), slice).map(|exited| (exited, false)),
            };
            match polled {
                Ok((true, _)) => return Ok(Waited::Ended(Wait::Exited)),
                Ok((false, true)) => return Ok(Waited::Watched),
                Ok((false, false)) if until_deadline.is_zero() => return Ok(Waited::Ended(Wait::TimedOut)),
                Ok((false, false)) => {}
                // A signal: loop to look at the interruption flag.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}
