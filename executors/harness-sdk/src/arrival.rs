//! Open workloads: tasks that arrive at a rate, and the schedule every executor consults.
//!
//! A closed workload has every task ready at the start. An open one ([`Arrival`]) has task `i` *due* at a
//! scheduled time after the run's *origin*: evenly spaced at the rate, or the gaps of a Poisson process
//! drawn from the experiment's seed, so every executor sees the same schedule. An executor never starts a
//! task before it is due; when every worker is busy, due tasks wait (the queue), and with
//! [`Arrival::max_queue`] a task that finds that many due-but-unstarted tasks ahead of it is *dropped*:
//! counted, never run.
//!
//! [`Schedule`] is that schedule and its queue. Executors need no code of their own for it: the SDK's task
//! loops consult it. [`Prepared::run_measured`](crate::workload::Prepared::run_measured) *takes* the task
//! (decides whether it was dropped), waits until it is due with the precise timer, runs it and records
//! both its service time (start to end) and its response time (due to end), and whether it started late.
//! `run_range`, `run_claimed` and the non-blocking `run_measured` go through it; a dispatcher that hands
//! tasks to other processes takes them with [`Schedule::next`] instead and its workers run them with
//! `run_admitted`.
//!
//! The queue is simulated exactly from the moments workers take tasks: between two takes no task starts,
//! so when a worker comes to take one, the arrivals since the last take join the queue (or are dropped) in
//! order against the queue's length, which only takes shorten. Takers are expected to take tasks in index
//! order (claimed from a counter, a range, a spawner's loop); one that takes a task before it is due waits
//! for it, and the task never queues.
//!
//! The origin is the first moment anything asks for it ([`Schedule::origin_ns`]), unless a dispatcher
//! sets it for its worker processes ([`Schedule::start_at`]).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::protocol::{Arrival, Process};
use crate::timer;
use crate::trace;
use crate::workload::lock;

/// A task that starts more than this long after it was due is *late* (1 ms).
pub const LATE_NS: u64 = 1_000_000;

const PENDING: u8 = 0;
const QUEUED: u8 = 1;
const TAKEN: u8 = 2;
const DROPPED: u8 = 3;

/// The due times of an open workload's tasks, and its queue.
#[derive(Debug)]
pub struct Schedule {
    /// When each task is due, in nanoseconds after the origin; never decreasing.
    offsets: Vec<u64>,
    origin: OnceLock<u64>,
    max_queue: Option<u64>,
    queue: Mutex<Queue>,
}

#[derive(Debug)]
struct Queue {
    /// Each task's state: pending, queued, taken or dropped.
    state: Vec<u8>,
    /// Tasks before this one have arrived (joined the queue, been dropped, or were taken before).
    arrived: usize,
    /// Due tasks not yet taken.
    queued: u64,
    /// The first task neither taken nor dropped, for [`Schedule::next`].
    next: usize,
    dropped: u64,
}

impl Schedule {
    /// The schedule of `tasks` tasks arriving as `arrival` says; a Poisson process is drawn from `seed`.
    pub fn new(arrival: &Arrival, tasks: u64, seed: u64) -> Self {
        let tasks = tasks as usize;
        Self {
            offsets: offsets(arrival, tasks, seed),
            origin: OnceLock::new(),
            max_queue: arrival.max_queue,
            queue: Mutex::new(Queue { state: vec![PENDING; tasks], arrived: 0, queued: 0, next: 0, dropped: 0 }),
        }
    }

    /// How many tasks the schedule has.
    pub fn tasks(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// When task `task` is due, in nanoseconds after the origin.
    pub fn offset_ns(&self, task: u64) -> u64 {
        self.offsets[task as usize]
    }

    /// The origin on the clock of [`trace::now_ns`]: the first time it is asked for, unless
    /// [`Schedule::start_at`] set it.
    pub fn origin_ns(&self) -> u64 {
        *self.origin.get_or_init(trace::now_ns)
    }

    /// Sets the origin, for worker processes whose dispatcher started the schedule; a schedule already
    /// started keeps its origin.
    pub fn start_at(&self, origin_ns: u64) {
        let _ = self.origin.set(origin_ns);
    }

    /// When task `task` is due, on the clock of [`trace::now_ns`].
    pub fn due_ns(&self, task: u64) -> u64 {
        self.origin_ns() + self.offset_ns(task)
    }

    /// Takes task `task` to run it now or when it is due: `false` when it was dropped (the queue was full
    /// when it arrived), and then it must not run.
    pub fn take(&self, task: u64) -> bool {
        let now = trace::now_ns();
        let origin = self.origin_ns();
        let mut queue = lock(&self.queue);
        self.arrive(&mut queue, now.saturating_sub(origin));
        let slot = &mut queue.state[task as usize];
        match *slot {
            DROPPED => false,
            QUEUED => {
                *slot = TAKEN;
                queue.queued -= 1;
                true
            }
            _ => {
                *slot = TAKEN;
                true
            }
        }
    }

    /// For a dispatcher: takes the next task to hand to a free worker, the first due one in the queue or,
    /// when none is, the next to fall due (the worker waits for it); `None` when every task is taken or
    /// dropped.
    pub fn next(&self) -> Option<u64> {
        let now = trace::now_ns();
        let origin = self.origin_ns();
        let mut queue = lock(&self.queue);
        self.arrive(&mut queue, now.saturating_sub(origin));
        while queue.next < queue.state.len() && matches!(queue.state[queue.next], TAKEN | DROPPED) {
            queue.next += 1;
        }
        let task = queue.next;
        if task == queue.state.len() {
            return None;
        }
        if queue.state[task] == QUEUED {
            queue.queued -= 1;
        }
        queue.state[task] = TAKEN;
        queue.next += 1;
        Some(task as u64)
    }

    /// The tasks dropped so far.
    pub fn dropped(&self) -> u64 {
        lock(&self.queue).dropped
    }

    /// The tasks due by `elapsed` (after the origin) join the queue in order, or are dropped when it is full.
    fn arrive(&self, queue: &mut Queue, elapsed: u64) {
        while queue.arrived < self.offsets.len() && self.offsets[queue.arrived] <= elapsed {
            let task = queue.arrived;
            queue.arrived += 1;
            if queue.state[task] != PENDING {
                // Taken before it was due: it starts when due, without queueing.
                continue;
            }
            if self.max_queue.is_some_and(|max| queue.queued >= max) {
                queue.state[task] = DROPPED;
                queue.dropped += 1;
            } else {
                queue.state[task] = QUEUED;
                queue.queued += 1;
            }
        }
    }

    /// Blocks the calling thread until task `task` is due; returns its due time.
    pub fn wait_until_due(&self, task: u64) -> u64 {
        let due = self.due_ns(task);
        loop {
            let now = trace::now_ns();
            if now >= due {
                return due;
            }
            timer::sleep_blocking(Duration::from_nanos(due - now));
        }
    }

    /// Waits, without blocking the runtime's thread, until task `task` is due; returns its due time. The
    /// wait is the process's timer thread ([`timer::sleep`]), not the runtime's spinning timer: a start a
    /// few microseconds late costs nothing, while spinning before every arrival would take a share of the
    /// event loop's core that grows with the rate.
    pub async fn until_due(&self, task: u64) -> u64 {
        let due = self.due_ns(task);
        loop {
            let now = trace::now_ns();
            if now >= due {
                return due;
            }
            timer::sleep(Duration::from_nanos(due - now)).await;
        }
    }
}

/// The due offsets of `tasks` tasks, in nanoseconds.
fn offsets(arrival: &Arrival, tasks: usize, seed: u64) -> Vec<u64> {
    let rate = arrival.rate_per_s.max(f64::MIN_POSITIVE);
    match arrival.process {
        Process::Constant => (0..tasks).map(|i| (i as f64 * 1e9 / rate).round() as u64).collect(),
        Process::Poisson => {
            let mut at = 0.0f64;
            let mut state = seed ^ 0x6f70_656e_5f61_7272;
            (0..tasks)
                .map(|i| {
                    if i > 0 {
                        // A uniform number in (0, 1] from 53 bits of splitmix64.
                        let u = ((splitmix(&mut state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                        at += -u.ln() * 1e9 / rate;
                    }
                    at.round() as u64
                })
                .collect()
        }
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(rate_per_s: f64, process: Process, max_queue: Option<u64>) -> Arrival {
        Arrival { rate_per_s, process, max_queue }
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let schedule = Schedule::new(&arrival(500.0, Process::Constant, None), 4, 1);
        let offsets: Vec<u64> = (0..4).map(|i| schedule.offset_ns(i)).collect();
        assert_eq!(offsets, [0, 2_000_000, 4_000_000, 6_000_000]);
    }

    #[test]
    fn poisson_arrivals_depend_on_the_seed_alone_and_average_the_rate() {
        let a = Schedule::new(&arrival(1000.0, Process::Poisson, None), 20_000, 7);
        let b = Schedule::new(&arrival(1000.0, Process::Poisson, Some(3)), 20_000, 7);
        let c = Schedule::new(&arrival(1000.0, Process::Poisson, None), 20_000, 8);
        assert_eq!(a.offsets, b.offsets);
        assert_ne!(a.offsets, c.offsets);
        assert!(a.offsets.windows(2).all(|w| w[0] <= w[1]));
        // 20,000 gaps of mean 1 ms: the last is due after about 20 s (the standard deviation is 0.14 s).
        let last = a.offset_ns(19_999) as f64 / 1e9;
        assert!((19.0..21.0).contains(&last), "{last}");
    }

    #[test]
    fn a_full_queue_drops_arrivals_and_counts_them() {
        // Every task is due at once (a huge rate) when the first take comes: tasks 0, 1, 2 queue, and 3..9
        // find three due-but-unstarted tasks ahead of them and are dropped.
        let schedule = Schedule::new(&arrival(1e12, Process::Constant, Some(3)), 10, 0);
        schedule.start_at(trace::now_ns());
        std::thread::sleep(Duration::from_millis(1));
        let taken: Vec<bool> = (0..10).map(|i| schedule.take(i)).collect();
        assert_eq!(taken, [true, true, true, false, false, false, false, false, false, false]);
        assert_eq!(schedule.dropped(), 7);
    }

    #[test]
    fn a_dispatcher_takes_queued_tasks_first_and_skips_dropped_ones() {
        let schedule = Schedule::new(&arrival(1e12, Process::Constant, Some(2)), 6, 0);
        schedule.start_at(trace::now_ns());
        std::thread::sleep(Duration::from_millis(1));
        let handed: Vec<u64> = std::iter::from_fn(|| schedule.next()).collect();
        // Task 0 and 1 queue, 2..5 find two ahead and are dropped; then 0 and 1 are handed out.
        assert_eq!(handed, [0, 1]);
        assert_eq!(schedule.dropped(), 4);
    }

    #[test]
    fn a_task_taken_before_it_is_due_is_never_dropped_and_waits() {
        let schedule = Schedule::new(&arrival(200.0, Process::Constant, Some(1)), 3, 0);
        for task in 0..3 {
            assert!(schedule.take(task));
            let due = schedule.wait_until_due(task);
            assert!(trace::now_ns() >= due);
        }
        assert_eq!(schedule.dropped(), 0);
    }
}
