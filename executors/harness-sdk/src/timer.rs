//! Waits that last what was asked, to within a few microseconds.
//!
//! Two sources of error make a wait longer than asked, and both are larger than the waits experiments
//! often ask for:
//!
//! - Linux adds a thread's *timer slack* (50 µs by default) to every timed sleep, so that wake-ups can be
//!   grouped. [`sleep_blocking`] sets the calling thread's slack to 1 ns once, then sleeps.
//! - Event-loop timers have a coarse wheel: tokio rounds every sleep up to its next millisecond tick, so a
//!   100 µs wait takes 1 to 2 ms. [`sleep`] is a future served by one timer thread per process, which
//!   keeps the deadlines in a heap, sleeps on a condition variable until the earliest one (with a slack of
//!   1 ns) and wakes the waiting tasks. It needs no runtime, so the async executor and the harness's
//!   loopback server share it.
//!
//! What remains is the cost of waking a thread (a few microseconds on an idle machine, more when the host
//! takes the CPU away); `docs/measurement.md` ("Precision of waits") gives the measured precision of every
//! wait in every executor.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Sets the calling thread's timer slack to 1 ns, once per thread.
pub fn precise_slack() {
    thread_local! {
        static SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    SET.with(|set| {
        if !set.get() {
            // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes only this thread's slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
            set.set(true);
        }
    });
}

/// Blocks the calling thread for `duration`, with a timer slack of 1 ns.
pub fn sleep_blocking(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    precise_slack();
    std::thread::sleep(duration);
}

/// A future that completes once `duration` has passed, woken by the process's timer thread.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep { deadline: Instant::now() + duration, slot: None }
}

/// A future that completes at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, slot: None }
}

/// How long before its deadline [`sleep_precise`] stops waiting for the timer thread and yields to the
/// event loop until the deadline instead.
#[cfg(feature = "tokio")]
pub const SPIN: Duration = Duration::from_micros(50);

/// A wait on a tokio runtime that lasts what was asked to within the runtime's poll loop: the timer thread
/// wakes the task [`SPIN`] before its deadline (waking a task from another thread costs tens of
/// microseconds), and the task yields to the event loop (`tokio::task::yield_now`), letting other tasks
/// run, until the deadline has passed. A wait of at most [`SPIN`] never involves the timer thread.
#[cfg(feature = "tokio")]
pub async fn sleep_precise(duration: Duration) {
    let start = Instant::now();
    let deadline = start + duration;
    if let Some(timed) = duration.checked_sub(SPIN).filter(|d| !d.is_zero()) {
        sleep_until(start + timed).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    slot: Option<Arc<Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(slot) = &self.slot {
            if slot.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            let mut waker = slot.waker.lock().unwrap_or_else(PoisonError::into_inner);
            // Checked again under the lock: the timer thread sets `fired` before it takes the waker.
            if slot.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            match &mut *waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let slot = Arc::new(Slot { fired: AtomicBool::new(false), waker: Mutex::new(Some(cx.waker().clone())) });
        timer().add(self.deadline, Arc::clone(&slot));
        self.slot = Some(slot);
        Poll::Pending
    }
}

struct Entry {
    deadline: Instant,
    sequence: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.sequence) == (other.deadline, other.sequence)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.sequence).cmp(&(other.deadline, other.sequence))
    }
}

#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    sequence: u64,
}

struct Timer {
    heap: Mutex<Heap>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer { heap: Mutex::default(), changed: Condvar::new() }));
        std::thread::Builder::new()
            .name("precise-timer".into())
            .spawn(move || timer.serve())
            .expect("starting the timer thread");
        timer
    })
}

impl Timer {
    fn add(&self, deadline: Instant, slot: Arc<Slot>) {
        let mut heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let sequence = heap.sequence;
        heap.sequence += 1;
        let earliest = heap.entries.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        heap.entries.push(Reverse(Entry { deadline, sequence, slot }));
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// The timer thread: wakes every slot whose deadline has passed, then sleeps until the next one.
    fn serve(&self) {
        precise_slack();
        let mut due = Vec::new();
        let mut heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while heap.entries.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
                let Reverse(entry) = heap.entries.pop().expect("peeked");
                due.push(entry.slot);
            }
            if !due.is_empty() {
                drop(heap);
                for slot in due.drain(..) {
                    slot.fired.store(true, Ordering::Release);
                    let waker = slot.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            heap = match heap.entries.peek().map(|Reverse(e)| e.deadline) {
                None => self.changed.wait(heap).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    self.changed
                        .wait_timeout(heap, deadline.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `future` to completion on this thread, parking between polls.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    #[test]
    fn a_sleep_never_ends_before_its_deadline() {
        for micros in [0, 1, 10, 100, 1000] {
            let start = Instant::now();
            block_on(sleep(Duration::from_micros(micros)));
            assert!(start.elapsed() >= Duration::from_micros(micros), "{micros} us");
        }
    }

    #[test]
    fn many_sleeps_all_complete_in_deadline_order() {
        let start = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..50u64)
            .rev()
            .map(|i| {
                let order = Arc::clone(&order);
                std::thread::spawn(move || {
                    block_on(sleep_until(start + Duration::from_millis(2 * i)));
                    order.lock().unwrap().push(i);
                    assert!(start.elapsed() >= Duration::from_millis(2 * i));
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 50);
    }
}
