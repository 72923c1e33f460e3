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
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[cfg(feature = "tokio")]
pub mod runtime;

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

/// How long before its deadline a [`sleep_precise`] stops waiting for the timer thread: its runtime's timer
/// task spins (re-polls itself through the event loop) for the last part of the wait instead, because
/// waking a runtime from another thread costs tens of microseconds when the host is busy.
#[cfg(feature = "tokio")]
pub const SPIN: Duration = Duration::from_micros(50);

/// A wait on a tokio runtime that lasts what was asked to within the runtime's poll loop, served by the
/// runtime's own timer ([`runtime`]): the waiting task registers its deadline with it and is woken from
/// inside the runtime once the deadline has passed. Polled outside a tokio runtime, it is a [`sleep`].
#[cfg(feature = "tokio")]
pub fn sleep_precise(duration: Duration) -> runtime::PreciseSleep {
    runtime::PreciseSleep::until(Instant::now() + duration)
}

/// The future of [`sleep`] and [`sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    slot: Option<Arc<Slot>>,
}

/// Where a timer leaves word that a deadline has passed, and the waker of the future waiting for it.
#[derive(Debug)]
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn new(waker: &Waker) -> Arc<Self> {
        Arc::new(Self { fired: AtomicBool::new(false), waker: Mutex::new(Some(waker.clone())) })
    }

    /// Ready once fired; otherwise keeps `cx`'s waker for [`Slot::fire`].
    fn poll(&self, cx: &Context<'_>) -> Poll<()> {
        if self.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: `fire` sets `fired` before it takes the waker.
        if self.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        match &mut *waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Marks the deadline passed and wakes the waiting future, if it still waits.
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Forgets the waiting future (it was dropped): firing the slot later wakes nothing.
    fn cancel(&self) {
        self.waker.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(slot) = &self.slot {
            return slot.poll(cx);
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let slot = Slot::new(cx.waker());
        timer().add(self.deadline, Arc::clone(&slot));
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.cancel();
        }
    }
}

struct Entry<T> {
    deadline: Instant,
    sequence: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.sequence) == (other.deadline, other.sequence)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.sequence).cmp(&(other.deadline, other.sequence))
    }
}

/// Deadlines in the order they fall due, each with what to wake at it (`T`).
///
/// Most deadlines come in the order they fall due (tasks that sleep the same time, one after another):
/// those go to the back of a queue, in constant time; only a deadline earlier than the queue's last goes
/// to a heap. The earliest deadline is at the front of one of the two.
struct Heap<T> {
    queue: VecDeque<Entry<T>>,
    entries: BinaryHeap<Reverse<Entry<T>>>,
    sequence: u64,
}

impl<T> Default for Heap<T> {
    fn default() -> Self {
        Self { queue: VecDeque::new(), entries: BinaryHeap::new(), sequence: 0 }
    }
}

impl<T> Heap<T> {
    /// Adds a deadline; returns whether it is now the earliest.
    fn push(&mut self, deadline: Instant, item: T) -> bool {
        let sequence = self.sequence;
        self.sequence += 1;
        let earliest = self.earliest().is_none_or(|e| deadline < e);
        let entry = Entry { deadline, sequence, item };
        if self.queue.back().is_none_or(|last| deadline >= last.deadline) {
            self.queue.push_back(entry);
        } else {
            self.entries.push(Reverse(entry));
        }
        earliest
    }

    fn earliest(&self) -> Option<Instant> {
        match (self.queue.front(), self.entries.peek()) {
            (Some(q), Some(Reverse(h))) => Some(q.deadline.min(h.deadline)),
            (Some(q), None) => Some(q.deadline),
            (None, Some(Reverse(h))) => Some(h.deadline),
            (None, None) => None,
        }
    }

    /// Moves the items whose deadline is at or before `now` into `due`, earliest first.
    fn pop_due(&mut self, now: Instant, due: &mut Vec<T>) {
        loop {
            let from_queue = match (self.queue.front(), self.entries.peek()) {
                (Some(q), Some(Reverse(h))) => (q.deadline, q.sequence) <= (h.deadline, h.sequence),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            let entry = if from_queue { self.queue.front() } else { self.entries.peek().map(|Reverse(e)| e) };
            if entry.is_none_or(|e| e.deadline > now) {
                return;
            }
            let entry = if from_queue {
                self.queue.pop_front().expect("peeked")
            } else {
                self.entries.pop().expect("peeked").0
            };
            due.push(entry.item);
        }
    }
}

struct Timer {
    heap: Mutex<Heap<Arc<Slot>>>,
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
        let earliest = heap.push(deadline, slot);
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
            heap.pop_due(now, &mut due);
            if !due.is_empty() {
                drop(heap);
                for slot in due.drain(..) {
                    slot.fire();
                }
                heap = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            heap = match heap.earliest() {
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
pub(crate) mod tests {
    use super::*;

    /// Polls `future` to completion on this thread, parking between polls.
    pub(super) fn block_on<F: Future>(future: F) -> F::Output {
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
    fn the_heap_pops_deadlines_in_order_whatever_order_they_came_in() {
        let start = Instant::now();
        let waker = Waker::noop();
        let mut heap = Heap::default();
        // In order, out of order, repeated: the queue takes the first kind, the heap the rest.
        let offsets = [5u64, 6, 6, 9, 2, 7, 1, 12, 9, 3, 15, 0];
        let mut slots = Vec::new();
        for &offset in &offsets {
            let slot = Slot::new(waker);
            heap.push(start + Duration::from_millis(offset), Arc::clone(&slot));
            slots.push((offset, slot));
        }
        assert_eq!(heap.earliest(), Some(start));
        let mut popped = Vec::new();
        for until in [0u64, 4, 6, 9, 20] {
            let mut due = Vec::new();
            heap.pop_due(start + Duration::from_millis(until), &mut due);
            for slot in due {
                let (offset, _) = slots.iter().find(|(_, s)| Arc::ptr_eq(s, &slot)).expect("a pushed slot");
                assert!(*offset <= until, "{offset} ms popped at {until} ms");
                popped.push(*offset);
            }
        }
        let mut sorted = offsets.to_vec();
        sorted.sort_unstable();
        assert_eq!(popped, sorted);
        assert_eq!(heap.earliest(), None);
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
