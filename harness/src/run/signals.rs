//! Interrupts: Ctrl-C, `SIGTERM` and `SIGHUP` stop an experiment between runs, after the current run's
//! processes are killed, instead of killing the harness with them alive. A second one hurries the end: the
//! summary is still written from what was measured, the charts are left for `harness report`. A third
//! ends the harness at once.

use crate::sys;

/// Catches `SIGINT`, `SIGTERM` and `SIGHUP`, so that an interrupted experiment kills its current run's
/// processes and keeps what it measured, instead of dying with them alive.
///
/// Only the calling thread receives them: they stay blocked in threads it starts until the returned guard
/// is dropped, so a signal always wakes the wait for the run.
pub(super) fn catch_interrupts() -> InterruptGuard {
    InterruptGuard { blocked: sys::catch_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]) }
}

/// Unblocks the interrupting signals in the thread that called [`catch_interrupts`] when dropped.
pub(super) struct InterruptGuard {
    blocked: sys::Blocked,
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        self.blocked.unblock();
    }
}

/// Whether a second signal asked the harness to hurry.
pub(super) fn hurried() -> bool {
    sys::caught_twice()
}

/// The signal that asked the harness to stop, if one did.
pub(super) fn interrupted() -> Option<i32> {
    sys::caught_signal()
}
