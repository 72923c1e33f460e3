//! The `multiprocess` executor: `workers` OS processes, each with its own memory.
//!
//! The run's process forks the workers before it starts any thread. Tasks go out to them as batches of
//! task indices over a Unix socket pair per worker, two batches ahead, guided in size (large first, single
//! tasks last), and each worker answers with a frame when a batch is done. An open workload's tasks go out
//! one at a time, taken from the SDK's schedule ([`harness_sdk::arrival::Schedule::next`]) when a worker is
//! free, and the worker waits until the task is due; at the end each worker sends its tally ([`Tally::to_bytes`]: checksum, task count, latency
//! histogram). The `shared` counter lives in a file locked with `flock`, a real cross-process mechanism.
//!
//! Workers never outlive the run: each asks the kernel for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`), shares the run's process group (which the harness kills on a timeout), and is
//! killed and reaped by [`Pool`]'s `Drop` on every way out of [`Executor::run`].

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use harness_sdk::Executor;
use harness_sdk::model::{Model, Quantity};
use harness_sdk::protocol::{OptionSpec, RunReport, RunRequest};
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
            "tasks sent to a worker at once (default: guided, a quarter of the tasks left per worker, between 1 \
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

        let setup = Instant::now();
        let mut pool = Pool::spawn(workers as usize, &workload)?;
        for worker in &mut pool.workers {
            match worker.read()? {
                Frame::Ready => {}
                other => return Err(other.unexpected(worker.pid)),
            }
        }
        let setup_s = setup.elapsed().as_secs_f64();

        let start = Instant::now();
        let collector = Collector::new();
        match &workload.schedule {
            None => {
                let (tasks, mut next) = (workload.tasks, 0);
                pool.dispatch(0, IN_FLIGHT, || {
                    if next >= tasks {
                        return None;
                    }
                    let size = batch.unwrap_or_else(|| guided(tasks - next, workers));
                    let range = (next, (next + size).min(tasks));
                    next = range.1;
                    Some(range)
                })?;
            }
            Some(schedule) => {
                pool.dispatch(schedule.origin_ns(), 1, || schedule.next().map(|task| (task, task + 1)))?;
                collector.merge(&Tally { dropped: schedule.dropped(), ..Tally::default() });
            }
        }
        let run = start.elapsed();

        for worker in &mut pool.workers {
            worker.socket.write_all(&encode_range(0, 0, 0))?;
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

/// Batches sent to a worker and not yet done, at most.
const IN_FLIGHT: usize = 2;

/// The size of the next batch when the option `batch` is unset: a quarter of each worker's share of the
/// `left` tasks, between 1 and 4096 (guided self-scheduling). Early batches are large, so few frames cross
/// the sockets; the last are single tasks, so the workers end together.
fn guided(left: u64, workers: u64) -> u64 {
    (left / (4 * workers)).clamp(1, 4096)
}

struct Worker {
    pid: libc::pid_t,
    socket: UnixStream,
}

impl Worker {
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
    fn spawn(count: usize, workload: &Prepared) -> io::Result<Self> {
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
                    worker_main(parent, workload, theirs);
                }
                pid => {
                    drop(theirs);
                    pool.workers.push(Worker { pid, socket: ours });
                }
            }
        }
        Ok(pool)
    }

    /// Hands out the ranges of tasks `next` yields until every one is done: `in_flight` to each worker at
    /// once, so that a worker starts the next as soon as it ends one instead of waiting for this process to
    /// be scheduled and answer (one, for an open workload, whose tasks go to workers that are free). `origin`
    /// is the schedule's origin for an open workload ([`harness_sdk::arrival::Schedule::origin_ns`]), 0 for
    /// a closed one.
    fn dispatch(
        &mut self,
        origin: u64,
        in_flight: usize,
        mut next: impl FnMut() -> Option<(u64, u64)>,
    ) -> harness_sdk::Result<()> {
        let mut send = |worker: &mut Worker| -> io::Result<bool> {
            let Some((start, end)) = next() else { return Ok(false) };
            match worker.socket.write_all(&encode_range(start, end, origin)) {
                Ok(()) => Ok(true),
                // A worker whose task failed says why and exits, maybe while a batch more was on its way to
                // it: its answer, read next, is the run's error, not this write's.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
                Err(e) => Err(e),
            }
        };
        let mut busy = 0usize;
        for _ in 0..in_flight {
            for worker in &mut self.workers {
                busy += usize::from(send(worker)?);
            }
        }
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
                match worker.read()? {
                    Frame::Done => busy -= 1,
                    other => return Err(other.unexpected(worker.pid)),
                }
                busy += usize::from(send(worker)?);
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
fn worker_main(parent: libc::pid_t, workload: &Prepared, mut socket: UnixStream) -> ! {
    // SAFETY: prctl and getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(workload, &mut socket)));
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

fn serve(workload: &Prepared, socket: &mut UnixStream) -> io::Result<()> {
    let mut worker = WorkerState::default();
    let mut tally = Tally::default();
    write_frame(socket, FRAME_READY, &[])?;
    loop {
        let mut range = [0u8; 24];
        socket.read_exact(&mut range)?;
        let word = |i: usize| u64::from_le_bytes(range[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        let (start, end, origin) = (word(0), word(1), word(2));
        if start == end {
            return write_frame(socket, FRAME_TALLY, &tally.to_bytes());
        }
        match &workload.schedule {
            None => workload.run_range(start..end, &mut worker, &mut tally)?,
            // The parent took these tasks from its schedule: they run when due on the parent's clock.
            Some(schedule) => {
                schedule.start_at(origin);
                for task in start..end {
                    workload.run_admitted(task, &mut worker, &mut tally)?;
                }
            }
        }
        write_frame(socket, FRAME_DONE, &[])?;
    }
}

const FRAME_READY: u8 = 0;
const FRAME_DONE: u8 = 1;
const FRAME_TALLY: u8 = 2;
const FRAME_ERROR: u8 = 3;

enum Frame {
    Ready,
    Done,
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

/// Tasks `start..end` (none: send the tally), and the schedule's origin for an open workload.
fn encode_range(start: u64, end: u64, origin: u64) -> [u8; 24] {
    let mut bytes = [0u8; 24];
    for (i, word) in [start, end, origin].into_iter().enumerate() {
        bytes[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
    }
    bytes
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
        FRAME_DONE => Frame::Done,
        FRAME_TALLY => Frame::Tally(Box::new(Tally::from_bytes(&payload)?)),
        FRAME_ERROR => Frame::Error(String::from_utf8_lossy(&payload).into_owned()),
        kind => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame kind {kind}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::guided;

    /// Guided batches shrink as the tasks run out, end in single tasks, and hand out every task once.
    #[test]
    fn guided_batches_shrink_to_single_tasks_and_cover_every_task() {
        for (tasks, workers) in [(256u64, 2u64), (1_000_000, 2), (7, 4), (1, 1)] {
            let (mut next, mut sizes) = (0u64, Vec::new());
            while next < tasks {
                let size = guided(tasks - next, workers).min(tasks - next);
                sizes.push(size);
                next += size;
            }
            assert_eq!(sizes.iter().sum::<u64>(), tasks);
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{tasks} tasks: {sizes:?}");
            assert_eq!(sizes.last(), Some(&1));
            assert!(sizes.iter().all(|&s| (1..=4096).contains(&s)));
        }
    }
}
