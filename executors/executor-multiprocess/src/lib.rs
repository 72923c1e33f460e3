//! The `multiprocess` executor: `workers` OS processes, each with its own memory.
//!
//! The run's process forks the workers before it starts any thread, and talks to each over a Unix socket
//! pair of its own. A closed workload's tasks are claimed by the workers themselves, in batches guided in
//! size (large first, single tasks last), from a counter in one page of memory the processes share
//! (`MAP_SHARED`): the run's process starts them with a futex in that page, each woken worker
//! waking the next ([`Claims::start`]), and is woken once per worker, when it
//! has claimed and run its last batch, not for every batch. An open workload's tasks go out over the
//! sockets one at a time, taken from the SDK's schedule ([`harness_sdk::arrival::Schedule::next`]) when a
//! worker is free, and the worker waits until the task is due. At the end each worker sends its tally
//! ([`Tally::to_bytes`]: checksum, task count, latency histogram). The `shared` counter lives in a file
//! locked with `flock`, a real cross-process mechanism.
//!
//! `run_s` counts, as the executor's own definition has it, from the first task's start (the earliest a
//! worker began, on the monotonic clock every process shares) to the moment the run's process has heard
//! from every worker that it is done.
//!
//! Workers never outlive the run: each asks the kernel for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`), shares the run's process group (which the harness kills on a timeout), and is
//! killed and reaped by [`Pool`]'s `Drop` on every way out of [`Executor::run`].

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness_sdk::Executor;
use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
use harness_sdk::trace;
use harness_sdk::workload::{Collector, Prepared, SharedMode, Tally, WorkerState};

pub struct Multiprocess;

impl Executor for Multiprocess {
    const NAME: &'static str = "multiprocess";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "`workers` forked processes fed batches of tasks over Unix sockets";

    fn options() -> Vec<OptionSpec> {
        vec![OptionSpec::integer(
            "batch",
            1,
            None,
            "tasks a worker claims at once (default: guided, a quarter of the tasks left per worker, between 1 \
             and 4096)",
        )]
    }

    fn model() -> Option<Model> {
        Some(Model { tasks_in_flight: Quantity::Workers, cpu_parallelism: Quantity::Workers, waits: None })
    }

    fn run(request: &RunRequest) -> harness_sdk::Result<RunReport> {
        let workload = Prepared::new(request, SharedMode::File)?;
        let workers = u64::from(request.workers.max(1));
        let batch = request.option_u64("batch");
        let claims = Claims::new(workload.tasks, workers, batch)?;

        let setup = Instant::now();
        let mut pool = Pool::spawn(workers as usize, &workload, &claims)?;
        for worker in &mut pool.workers {
            match worker.read()? {
                Frame::Ready => {}
                other => return Err(other.unexpected(worker.pid)),
            }
        }
        let setup_s = setup.elapsed().as_secs_f64();

        let collector = Collector::new();
        let run = match &workload.schedule {
            None => pool.claim_all(&claims)?,
            Some(schedule) => {
                let start = Instant::now();
                pool.dispatch(schedule.origin_ns(), || schedule.next().map(|task| (task, task + 1)))?;
                collector.merge(&Tally { dropped: schedule.dropped(), ..Tally::default() });
                start.elapsed()
            }
        };

        for worker in &mut pool.workers {
            worker.socket.write_all(&Order::Tally.encode())?;
            match worker.read()? {
                Frame::Tally(part) => collector.merge(&part),
                other => return Err(other.unexpected(worker.pid)),
            }
        }
        pool.join()?;
        let tally = collector.finish()?;
        Ok(harness_sdk::report(setup_s, run, &tally, workload.shared_count()?))
    }
}

harness_sdk::export_executor!(Multiprocess);

/// Tasks sent to a worker of an open workload and not yet done, at most: one, so that each goes to a
/// worker that is free.
const IN_FLIGHT: usize = 1;

/// The size of the next batch when the option `batch` is unset: a quarter of each worker's share of the
/// `left` tasks, between 1 and 4096 (guided self-scheduling). Early batches are large, so workers seldom
/// meet at the counter; the last are single tasks, so the workers end together.
fn guided(left: u64, workers: u64) -> u64 {
    (left / (4 * workers)).clamp(1, 4096)
}

/// What the run's process and its workers share of a closed workload, in one page of memory
/// (`MAP_SHARED`, inherited by `fork`): the next task to claim, and the word the workers wait on until
/// the run starts.
#[repr(C)]
struct Page {
    next: AtomicU64,
    /// 1 once the run has started: a futex the workers sleep on until then.
    go: AtomicU32,
}

/// The next task of a closed workload to claim, in the page the processes share ([`Page`]), with what
/// sizes the batches claimed from it.
struct Claims {
    page: NonNull<Page>,
    tasks: u64,
    workers: u64,
    /// Tasks a batch claims, or `None` for guided batches.
    batch: Option<u64>,
}

impl Claims {
    fn new(tasks: u64, workers: u64, batch: Option<u64>) -> io::Result<Self> {
        // SAFETY: a new anonymous mapping, of no existing memory; the kernel fills it with zeros, which
        // is a valid Page of atomics at 0.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Page>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(page.cast::<Page>()).expect("mmap returned no null pointer");
        Ok(Self { page, tasks, workers, batch })
    }

    fn page(&self) -> &Page {
        // SAFETY: the mapping lives as long as `self`, and is only ever used as a Page of atomics.
        unsafe { self.page.as_ref() }
    }

    /// Starts the run: wakes one of the workers waiting in [`Self::wait_for_start`], which wakes the next as
    /// it starts, and so on. A word on each worker's socket wakes each with the hint that the writer is
    /// about to sleep, and the kernel then queues every worker on the writer's CPU; one futex wake for all
    /// lets it choose the same idle CPU for two of them before the first is queued there. Either way the
    /// second worker waits for the first's CPU, or for the other CPU's next balancing tick (1 to 4 ms); a
    /// worker woken by one that runs is not put on that one's CPU when another is free. On a virtual
    /// machine a free CPU whose host thread is descheduled is not taken, and that wait still happens
    /// sometimes: a trace of the scheduler (`perf record -e sched:sched_switch -e sched:sched_wakeup -a`)
    /// showed the second worker start 1.2 to 5.3 ms after the first in 4 runs of 11 before, 2 and 3 of 11
    /// after.
    fn start(&self) {
        let go = &self.page().go;
        go.store(1, Ordering::Release);
        wake_one(go);
    }

    /// Waits, asleep, until the run's process has started the run ([`Self::start`]), then wakes the next
    /// worker waiting.
    fn wait_for_start(&self) {
        let go = &self.page().go;
        while go.load(Ordering::Acquire) == 0 {
            // SAFETY: a wait on a futex word in memory this process maps, while it holds 0; no timeout. The
            // word is shared between processes, so the wait is not a private one.
            unsafe {
                libc::syscall(libc::SYS_futex, go.as_ptr(), libc::FUTEX_WAIT, 0, std::ptr::null::<libc::timespec>())
            };
        }
        wake_one(go);
    }

    /// Claims the next batch of tasks, `None` once every task is claimed. Lock-free atomics work the same
    /// between processes as between threads on the same memory.
    fn claim(&self) -> Option<(u64, u64)> {
        let next = &self.page().next;
        let mut start = next.load(Ordering::Relaxed);
        loop {
            if start >= self.tasks {
                return None;
            }
            let size = self.batch.unwrap_or_else(|| guided(self.tasks - start, self.workers));
            let end = start.saturating_add(size).min(self.tasks);
            match next.compare_exchange_weak(start, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some((start, end)),
                Err(now) => start = now,
            }
        }
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `new` made, which nothing uses any more.
        unsafe { libc::munmap(self.page.as_ptr().cast(), std::mem::size_of::<Page>()) };
    }
}

/// Wakes one process waiting on the futex `word`, if any.
fn wake_one(word: &AtomicU32) {
    // SAFETY: a wake on a futex word in memory this process maps; no memory is read or written by it.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

struct Worker {
    pid: libc::pid_t,
    socket: UnixStream,
}

impl Worker {
    /// Sends the worker `order`; returns whether it was sent.
    fn order(&mut self, order: &Order) -> io::Result<bool> {
        match self.socket.write_all(&order.encode()) {
            Ok(()) => Ok(true),
            // A worker whose task failed says why and exits, maybe while an order was on its way to it: its
            // answer, read next, is the run's error, not this write's.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The worker's next frame; when it cannot be read, what became of the worker.
    fn read(&mut self) -> io::Result<Frame> {
        read_frame(&mut self.socket).map_err(|e| self.died(&e))
    }

    /// The error of a socket whose worker may have died: how it ended, as the harness says it of a run (its
    /// exit code, or the signal that killed it), when it has.
    fn died(&self, error: &io::Error) -> io::Error {
        use std::os::unix::process::ExitStatusExt as _;
        let mut status = 0;
        // A worker whose socket closed is gone or going: wait for it a little, never for ever.
        for _ in 0..100 {
            // SAFETY: waiting, without blocking, for our own child.
            match unsafe { libc::waitpid(self.pid, &raw mut status, libc::WNOHANG) } {
                0 => std::thread::sleep(std::time::Duration::from_millis(10)),
                pid if pid == self.pid => {
                    let ended = std::process::ExitStatus::from_raw(status);
                    let how = match (ended.code(), ended.signal()) {
                        (Some(code), _) => format!("exited with code {code}"),
                        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
                        _ => format!("ended ({ended})"),
                    };
                    return io::Error::other(format!("worker process {} {how}", self.pid));
                }
                _ => break,
            }
        }
        io::Error::new(error.kind(), format!("worker process {}: {error}", self.pid))
    }
}

/// The name of a signal, as `kill -l` gives it.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// The worker processes of one run. Dropping it kills and reaps any still alive.
struct Pool {
    workers: Vec<Worker>,
}

impl Pool {
    fn spawn(count: usize, workload: &Prepared, claims: &Claims) -> io::Result<Self> {
        let mut pool = Pool { workers: Vec::with_capacity(count) };
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        for index in 0..count {
            let (ours, theirs) = UnixStream::pair()?;
            // SAFETY: the run's process has started no threads when it forks (the harness guarantees
            // it, and this executor starts none), so the child may keep running Rust code.
            match unsafe { libc::fork() } {
                -1 => return Err(io::Error::last_os_error()),
                0 => {
                    // In the worker: drop every descriptor meant for the parent or for other workers, so
                    // that each worker's death shows as end-of-file on its own socket.
                    for sibling in &pool.workers {
                        // SAFETY: closing inherited descriptors this process never uses.
                        unsafe { libc::close(sibling.socket.as_raw_fd()) };
                    }
                    // SAFETY: as above.
                    unsafe { libc::close(ours.as_raw_fd()) };
                    // `${worker}` is this process's number.
                    harness_sdk::worker::set_index(index as u32);
                    worker_main(parent, workload, claims, theirs);
                }
                pid => {
                    drop(theirs);
                    pool.workers.push(Worker { pid, socket: ours });
                }
            }
        }
        Ok(pool)
    }

    /// Has every worker claim and run the tasks of a closed workload until none is left; returns the run
    /// time, from the first task's start in any worker to the last worker's word that it is done.
    fn claim_all(&mut self, claims: &Claims) -> harness_sdk::Result<Duration> {
        claims.start();
        let busy = self.workers.len();
        let mut first = u64::MAX;
        self.answers(busy, |_, started| {
            first = first.min(started.unwrap_or(u64::MAX));
            Ok(false)
        })?;
        let end = trace::now_ns();
        Ok(if first == u64::MAX { Duration::ZERO } else { trace::service_time(first, end) })
    }

    /// Hands out the tasks of an open workload, as ranges `next` yields, until every one is done: one to
    /// each worker at a time, so that each goes to a worker that is free. `origin` is the schedule's origin
    /// ([`harness_sdk::arrival::Schedule::origin_ns`]).
    fn dispatch(&mut self, origin: u64, mut next: impl FnMut() -> Option<(u64, u64)>) -> harness_sdk::Result<()> {
        let mut send = |worker: &mut Worker| -> io::Result<bool> {
            let Some((start, end)) = next() else { return Ok(false) };
            worker.order(&Order::Range { start, end, origin })
        };
        let mut busy = 0usize;
        for _ in 0..IN_FLIGHT {
            for worker in &mut self.workers {
                busy += usize::from(send(worker)?);
            }
        }
        self.answers(busy, |worker, _| send(worker))
    }

    /// Reads the workers' answers until `busy` orders are done: `on_done` is given the worker that said so,
    /// and the start of its first task when it says that, and returns whether it gave the worker another
    /// order. A worker's error is the run's.
    fn answers(
        &mut self,
        mut busy: usize,
        mut on_done: impl FnMut(&mut Worker, Option<u64>) -> io::Result<bool>,
    ) -> harness_sdk::Result<()> {
        let mut fds: Vec<libc::pollfd> = self
            .workers
            .iter()
            .map(|w| libc::pollfd { fd: w.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        while busy > 0 {
            // SAFETY: fds is a valid array of pollfd for the duration of the call.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error.into());
            }
            for (pollfd, worker) in fds.iter_mut().zip(&mut self.workers) {
                if pollfd.revents == 0 {
                    continue;
                }
                pollfd.revents = 0;
                let started = match worker.read()? {
                    Frame::Done(started) => started,
                    other => return Err(other.unexpected(worker.pid)),
                };
                busy = busy - 1 + usize::from(on_done(worker, started)?);
            }
        }
        Ok(())
    }

    /// Waits for every worker to exit after it sent its tally.
    fn join(mut self) -> io::Result<()> {
        for worker in std::mem::take(&mut self.workers) {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            if unsafe { libc::waitpid(worker.pid, &raw mut status, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for worker in &self.workers {
            // SAFETY: signalling and reaping our own children.
            unsafe {
                libc::kill(worker.pid, libc::SIGKILL);
                libc::waitpid(worker.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// The body of a worker process. Never returns.
fn worker_main(parent: libc::pid_t, workload: &Prepared, claims: &Claims, mut socket: UnixStream) -> ! {
    // SAFETY: prctl and getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(workload, claims, &mut socket)));
    let code = match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            let _ = write_frame(&mut socket, FRAME_ERROR, error.to_string().as_bytes());
            1
        }
        Err(_) => {
            let _ = write_frame(&mut socket, FRAME_ERROR, b"worker panicked");
            101
        }
    };
    // SAFETY: leave without running the parent's exit handlers or destructors.
    unsafe { libc::_exit(code) }
}

fn serve(workload: &Prepared, claims: &Claims, socket: &mut UnixStream) -> io::Result<()> {
    let mut worker = WorkerState::default();
    let mut tally = Tally::default();
    write_frame(socket, FRAME_READY, &[])?;
    if workload.schedule.is_none() {
        // A closed workload: claim batches from the shared counter once the run starts, until none is left.
        claims.wait_for_start();
        // When this worker's first task started, on the clock all processes share.
        let mut first: Option<u64> = None;
        loop {
            let now = if first.is_none() { trace::now_ns() } else { 0 };
            let Some((start, end)) = claims.claim() else { break };
            first.get_or_insert(now);
            workload.run_range(start..end, &mut worker, &mut tally)?;
        }
        let started = first.map(u64::to_le_bytes);
        write_frame(socket, FRAME_DONE, started.as_ref().map_or(&[][..], |bytes| &bytes[..]))?;
    }
    loop {
        let mut order = [0u8; ORDER_BYTES];
        socket.read_exact(&mut order)?;
        match Order::decode(&order)? {
            Order::Tally => return write_frame(socket, FRAME_TALLY, &tally.to_bytes()),
            // The parent took these tasks from its schedule: they run when due on the parent's clock.
            Order::Range { start, end, origin } => {
                if let Some(schedule) = &workload.schedule {
                    schedule.start_at(origin);
                    for task in start..end {
                        workload.run_admitted(task, &mut worker, &mut tally)?;
                    }
                } else {
                    workload.run_range(start..end, &mut worker, &mut tally)?;
                }
                write_frame(socket, FRAME_DONE, &[])?;
            }
        }
    }
}

/// What the run's process tells a worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Run tasks `start..end`, of an open workload whose schedule started at `origin`.
    Range { start: u64, end: u64, origin: u64 },
    /// Send the tally.
    Tally,
}

/// An order is four little-endian words: its kind, then the range's start, end and origin (zeros for the
/// other kinds).
const ORDER_BYTES: usize = 32;

impl Order {
    fn encode(&self) -> [u8; ORDER_BYTES] {
        let words = match *self {
            Order::Range { start, end, origin } => [1, start, end, origin],
            Order::Tally => [2, 0, 0, 0],
        };
        let mut bytes = [0u8; ORDER_BYTES];
        for (i, word) in words.into_iter().enumerate() {
            bytes[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    fn decode(bytes: &[u8; ORDER_BYTES]) -> io::Result<Self> {
        let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        match word(0) {
            1 => Ok(Order::Range { start: word(1), end: word(2), origin: word(3) }),
            2 => Ok(Order::Tally),
            kind => Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown order kind {kind}"))),
        }
    }
}

const FRAME_READY: u8 = 0;
const FRAME_DONE: u8 = 1;
const FRAME_TALLY: u8 = 2;
const FRAME_ERROR: u8 = 3;

enum Frame {
    Ready,
    /// Done with an order; after a claim, when the worker's first task started, if it ran any.
    Done(Option<u64>),
    Tally(Box<Tally>),
    Error(String),
}

impl Frame {
    fn unexpected(self, pid: libc::pid_t) -> harness_sdk::Error {
        match self {
            Frame::Error(message) => format!("worker process {pid}: {message}").into(),
            _ => format!("worker process {pid} sent a frame out of order").into(),
        }
    }
}

/// A frame is a kind byte, a little-endian u32 length and the payload.
fn write_frame(socket: &mut UnixStream, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(kind);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    socket.write_all(&frame)
}

fn read_frame(socket: &mut UnixStream) -> io::Result<Frame> {
    let mut head = [0u8; 5];
    socket.read_exact(&mut head).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(e.kind(), "a worker process exited unexpectedly")
        } else {
            e
        }
    })?;
    let len = u32::from_le_bytes(head[1..].try_into().expect("4 bytes")) as usize;
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload)?;
    Ok(match head[0] {
        FRAME_READY => Frame::Ready,
        FRAME_DONE => Frame::Done(payload.as_slice().try_into().ok().map(u64::from_le_bytes)),
        FRAME_TALLY => Frame::Tally(Box::new(Tally::from_bytes(&payload)?)),
        FRAME_ERROR => Frame::Error(String::from_utf8_lossy(&payload).into_owned()),
        kind => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame kind {kind}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::{Claims, Order};

    /// Guided batches claimed from the counter shrink as the tasks run out, end in single tasks, and hand
    /// out every task once; a fixed batch is that size but the last.
    #[test]
    fn claimed_batches_shrink_to_single_tasks_and_cover_every_task() {
        for (tasks, workers, batch) in
            [(256u64, 2u64, None), (1_000_000, 2, None), (7, 4, None), (1, 1, None), (10, 3, Some(4))]
        {
            let claims = Claims::new(tasks, workers, batch).unwrap();
            let (mut next, mut sizes) = (0u64, Vec::new());
            while let Some((start, end)) = claims.claim() {
                assert_eq!(start, next);
                sizes.push(end - start);
                next = end;
            }
            assert_eq!(next, tasks);
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{tasks} tasks: {sizes:?}");
            assert!(sizes.iter().all(|&s| (1..=4096).contains(&s)));
            match batch {
                None => assert_eq!(sizes.last(), Some(&1)),
                Some(batch) => assert!(sizes[..sizes.len() - 1].iter().all(|&s| s == batch), "{sizes:?}"),
            }
        }
    }

    /// Two processes claiming from one counter take every task once between them: not shared, each would
    /// take all of them.
    #[test]
    fn a_forked_process_claims_from_the_same_counter() {
        use std::io::{Read as _, Write as _};
        let claims = Claims::new(10_000, 2, Some(1)).unwrap();
        let (mut ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let count = || std::iter::from_fn(|| claims.claim()).count() as u64;
        // SAFETY: the child only claims, writes its count and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let _ = theirs.write_all(&count().to_le_bytes());
            // SAFETY: leaving the forked test process without running the test harness's code.
            unsafe { libc::_exit(0) }
        }
        let mine = count();
        let mut bytes = [0u8; 8];
        ours.read_exact(&mut bytes).unwrap();
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        assert_eq!(mine + u64::from_le_bytes(bytes), 10_000);
    }

    #[test]
    fn orders_read_back_as_written() {
        for order in [Order::Tally, Order::Range { start: 3, end: 9, origin: 1 << 40 }] {
            assert_eq!(Order::decode(&order.encode()).unwrap(), order);
        }
        let mut unknown = Order::Tally.encode();
        unknown[0] = 7;
        assert!(Order::decode(&unknown).is_err());
    }
}
