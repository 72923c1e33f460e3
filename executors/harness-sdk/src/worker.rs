//! The index of the worker running a task: what `${worker}` and `HARNESS_WORKER` stand for.
//!
//! Each thread that runs tasks gets the next index of its process the first time it asks, so the threads
//! of a pool are numbered `0..workers` in the order they start working, and a single-threaded executor's
//! one thread is 0. An executor whose workers are processes numbers them itself with [`set_index`] in each
//! worker, since a forked process inherits its parent's count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static INDEX: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The index of the worker the calling thread is.
pub fn index() -> u32 {
    INDEX.with(|cell| {
        cell.get().unwrap_or_else(|| {
            let index = NEXT.fetch_add(1, Ordering::Relaxed);
            cell.set(Some(index));
            index
        })
    })
}

/// Makes the calling thread worker `index`, and numbers threads that ask later from `index + 1`: for a
/// worker process, right after it is forked.
pub fn set_index(index: u32) {
    NEXT.store(index + 1, Ordering::Relaxed);
    INDEX.with(|cell| cell.set(Some(index)));
}
