//! A timer per tokio runtime, so that a batch of deadlines costs one wake from another thread.
//!
//! Waking a tokio task from outside its runtime pushes it on the runtime's shared queue and unparks the
//! runtime's driver: an `eventfd` write, a system call of a few microseconds, for every task. When the
//! process's timer thread woke 200 tasks that slept the same 100 us, those wakes came one after another
//! and the later tasks waited behind them (about 0.8 ms). Here the tasks of a runtime register their
//! deadlines in a heap of that runtime's own, and one task per runtime, the *driver*, serves it:
//!
//! - it waits for the earliest deadline through the timer thread, until [`SPIN`] before it: one wake from
//!   another thread for every batch of deadlines that fall due together;
//! - for the last [`SPIN`], it re-polls itself through the event loop (the other tasks run in between);
//! - once deadlines have passed, it wakes their tasks from inside the runtime, where a wake is a push on
//!   a local queue.
//!
//! The driver is spawned on the runtime by its first [`sleep_precise`](super::sleep_precise) and lives as
//! long as the runtime. The runtime must be running its tasks (a thread in `Runtime::block_on`, or a
//! multi-thread runtime's workers), as for any spawned task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::{Heap, SPIN, Sleep, sleep_until};

/// The future of [`sleep_precise`](super::sleep_precise).
///
/// Registered with its runtime's timer, it leaves there a clone of its task's waker, woken once the
/// deadline has passed; a poll is then ready because the clock says so. No allocation and no lock of its
/// own per wait: a wait is one entry in the runtime's queue of deadlines. A sleep dropped before its
/// deadline leaves its entry there until the deadline (waking a task that is gone does nothing).
#[derive(Debug)]
pub struct PreciseSleep {
    deadline: Instant,
    state: State,
}

#[derive(Debug)]
enum State {
    New,
    /// Registered with the runtime's timer, which wakes this waker at the deadline.
    Local(WakerId),
    /// Polled outside a tokio runtime: the process's timer thread.
    Global(Sleep),
}

/// Which task a waker wakes: its data and vtable pointers, what [`Waker::will_wake`] compares. The timer's
/// clone of the waker keeps that task alive, so the pointers name no other task while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WakerId(usize, usize);

impl WakerId {
    fn of(waker: &Waker) -> Self {
        Self(waker.data() as usize, std::ptr::from_ref(waker.vtable()) as usize)
    }
}

impl PreciseSleep {
    /// A wait until `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self { deadline, state: State::New }
    }
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let State::Global(sleep) = &mut this.state {
            return Pin::new(sleep).poll(cx);
        }
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        let waker = WakerId::of(cx.waker());
        if matches!(this.state, State::Local(registered) if registered == waker) {
            return Poll::Pending;
        }
        // First polled, or polled before its deadline through another waker (a `select!`, say): the
        // timer wakes this one too.
        if let Some(timer) = RuntimeTimer::current() {
            timer.add(this.deadline, cx.waker().clone());
            this.state = State::Local(waker);
            Poll::Pending
        } else {
            let mut sleep = sleep_until(this.deadline);
            let poll = Pin::new(&mut sleep).poll(cx);
            this.state = State::Global(sleep);
            poll
        }
    }
}

/// One runtime's deadlines, and how to reach its driver.
#[derive(Default)]
struct RuntimeTimer {
    state: Mutex<Local>,
}

#[derive(Default)]
struct Local {
    heap: Heap<Waker>,
    /// The driver's waker while it waits: taken and woken by a deadline earlier than `armed`.
    driver: Option<Waker>,
    /// The deadline the driver waits for, `None` when it has none.
    armed: Option<Instant>,
}

/// The timers of the runtimes alive, by runtime id. A timer lives as long as its driver task holds it.
type Registry = Vec<(tokio::runtime::Id, Weak<RuntimeTimer>)>;

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: Mutex<Registry> = Mutex::new(Vec::new());
    &REGISTRY
}

thread_local! {
    /// The timer last used on this thread, so that a sleep does not take the registry's lock.
    static LAST: std::cell::RefCell<Option<(tokio::runtime::Id, Weak<RuntimeTimer>)>> =
        const { std::cell::RefCell::new(None) };
}

impl RuntimeTimer {
    /// The timer of the runtime the caller runs on, its driver spawned the first time; `None` outside a
    /// tokio runtime.
    fn current() -> Option<Arc<Self>> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let id = handle.id();
        let cached = LAST.with_borrow(|last| match last {
            Some((last_id, timer)) if *last_id == id => timer.upgrade(),
            _ => None,
        });
        if let Some(timer) = cached {
            return Some(timer);
        }
        let timer = {
            let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
            registry.retain(|(_, timer)| timer.strong_count() > 0);
            let found = registry.iter().find(|(timer_id, _)| *timer_id == id).and_then(|(_, timer)| timer.upgrade());
            if let Some(timer) = found {
                timer
            } else {
                let timer = Arc::new(Self::default());
                registry.push((id, Arc::downgrade(&timer)));
                // Dropped with the runtime; until then it holds the timer alive.
                drop(handle.spawn(Driver { timer: Arc::clone(&timer), wait: None, due: Vec::new() }));
                timer
            }
        };
        LAST.with_borrow_mut(|last| *last = Some((id, Arc::downgrade(&timer))));
        Some(timer)
    }

    fn add(&self, deadline: Instant, waker: Waker) {
        let mut local = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        local.heap.push(deadline, waker);
        let sooner = local.armed.is_none_or(|armed| deadline < armed);
        let driver = if sooner { local.driver.take() } else { None };
        drop(local);
        if let Some(driver) = driver {
            driver.wake();
        }
    }
}

/// The task that serves a runtime's timer.
struct Driver {
    timer: Arc<RuntimeTimer>,
    /// The wait on the timer thread for the earliest deadline less [`SPIN`].
    wait: Option<Sleep>,
    /// The wakers of the deadlines passed, kept to reuse the allocation.
    due: Vec<Waker>,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let now = Instant::now();
            let next = {
                let mut local = this.timer.state.lock().unwrap_or_else(PoisonError::into_inner);
                local.heap.pop_due(now, &mut this.due);
                let next = local.heap.earliest();
                local.armed = next;
                match &mut local.driver {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                }
                next
            };
            // From inside the runtime: each wake is a push on a local run queue.
            for waker in this.due.drain(..) {
                waker.wake();
            }
            let Some(next) = next else {
                this.wait = None;
                return Poll::Pending;
            };
            if next.saturating_duration_since(now) <= SPIN {
                // Spin: back of the run queue, polled again once the tasks ahead have run.
                this.wait = None;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // More than SPIN ahead of `now`, so the subtraction cannot underflow.
            let target = next.checked_sub(SPIN).unwrap_or(now);
            if this.wait.as_ref().is_none_or(|wait| wait.deadline != target) {
                this.wait = Some(sleep_until(target));
            }
            let wait = this.wait.as_mut().expect("set above");
            match Pin::new(wait).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => this.wait = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::timer::sleep_precise;

    /// Many tasks sleep at once, with deadlines spread and repeated, some sleeps dropped before their
    /// deadline: every sleep completes, none before its deadline.
    fn many_sleeps(runtime: &tokio::runtime::Runtime) {
        let completed = Arc::new(AtomicU64::new(0));
        runtime.block_on(async {
            let handles: Vec<_> = (0..400u64)
                .map(|i| {
                    let completed = Arc::clone(&completed);
                    tokio::spawn(async move {
                        // 0 us to 2.4 ms, ten tasks on each deadline.
                        let wait = Duration::from_micros((i % 40) * 60);
                        if i % 7 == 0 {
                            // Dropped before its deadline: it must not disturb the others.
                            let abandoned = sleep_precise(Duration::from_secs(3600));
                            let _ = tokio::time::timeout(Duration::from_millis(1), abandoned).await;
                        }
                        let start = Instant::now();
                        sleep_precise(wait).await;
                        assert!(start.elapsed() >= wait, "task {i} woke before its {wait:?}");
                        completed.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            for handle in handles {
                handle.await.expect("no task panics");
            }
        });
        assert_eq!(completed.load(Ordering::Relaxed), 400);
    }

    #[test]
    fn many_concurrent_sleeps_complete_none_early_on_one_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        many_sleeps(&runtime);
    }

    #[test]
    fn many_concurrent_sleeps_complete_none_early_on_many_threads() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(3).enable_all().build().unwrap();
        many_sleeps(&runtime);
    }

    #[test]
    fn each_runtime_gets_a_timer_of_its_own_and_a_new_one_after_it_goes() {
        for _ in 0..3 {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let timers = runtime.block_on(async {
                let first = RuntimeTimer::current().expect("inside a runtime");
                sleep_precise(Duration::from_micros(200)).await;
                let second = RuntimeTimer::current().expect("inside a runtime");
                (Arc::downgrade(&first), Arc::ptr_eq(&first, &second))
            });
            assert!(timers.1, "one timer per runtime");
            drop(runtime);
            // The runtime's driver held it; it goes with the runtime.
            assert_eq!(timers.0.strong_count(), 0);
        }
        assert!(RuntimeTimer::current().is_none(), "no timer outside a runtime");
    }

    #[test]
    fn an_earlier_deadline_added_after_a_later_one_is_not_held_back() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            // The driver arms for the far deadline first, then must re-arm for the near one.
            let far = tokio::spawn(sleep_precise(Duration::from_secs(30)));
            tokio::task::yield_now().await;
            let start = Instant::now();
            tokio::select! {
                biased;
                _ = far => panic!("the far sleep ended first"),
                () = sleep_precise(Duration::from_millis(2)) => {}
            }
            assert!(start.elapsed() >= Duration::from_millis(2));
        });
    }

    #[test]
    fn outside_a_runtime_it_waits_on_the_timer_thread() {
        let start = Instant::now();
        crate::timer::tests::block_on(sleep_precise(Duration::from_micros(300)));
        assert!(start.elapsed() >= Duration::from_micros(300));
    }
}
