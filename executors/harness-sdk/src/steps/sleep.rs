//! `sleep`: a wait of `nanos` nanoseconds, standing in for a slow remote call. Blocking, a precise wait of
//! the calling thread; without blocking, on the runtime's precise timer. Yields the wait.

use std::time::Duration;

use super::{Cost, Wait, Work};
use crate::units::format_nanos;

/// What a `sleep` step of `nanos` yields.
pub(super) fn value(nanos: u64) -> u64 {
    nanos
}

/// The `sleep` step, blocking the calling thread.
pub(super) fn blocking(nanos: u64) {
    crate::timer::sleep_blocking(Duration::from_nanos(nanos));
}

/// The `sleep` step as a future: the timer's own, not wrapped in another, since every task's future holds
/// it inline.
#[cfg(feature = "tokio")]
pub(super) fn nonblocking(nanos: u64) -> impl Future<Output = ()> {
    crate::timer::sleep_precise(Duration::from_nanos(nanos))
}

/// A wait alone.
pub(super) fn cost(nanos: u64) -> Cost {
    Cost { wait: Some(Wait::Idle { nanos }), work: Work::None }
}

/// It yields the wait asked for, not the wait measured.
pub(super) const DETERMINISTIC: bool = true;

/// `sleep 10ms`.
pub(super) fn write(f: &mut std::fmt::Formatter<'_>, nanos: u64) -> std::fmt::Result {
    write!(f, "sleep {}", format_nanos(nanos))
}
