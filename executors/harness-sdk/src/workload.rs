//! The workload steps, done the blocking way, and the checksum every executor must agree on.
//!
//! An executor prepares a [`Workload`](crate::protocol::Workload) once per run with [`Prepared::new`], then
//! runs tasks by index. Executors that do not block (the async one) reuse the pieces here that do not wait:
//! [`Prepared::compute`], [`alloc`], [`fold`], and the `net` wire format in [`net`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::latency::Latency;
use crate::protocol::{Connect, RunRequest, Step};

/// Folds one step's value into a task's running checksum.
#[inline]
pub fn fold(acc: u64, value: u64) -> u64 {
    xxh3_64_with_seed(&value.to_le_bytes(), acc)
}

/// The value a step that reads bytes (a file, a response) yields.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxh3_64_with_seed(bytes, 0)
}

/// The starting checksum of task `task`.
#[inline]
pub fn task_seed(task: u64) -> u64 {
    fold(0x9e37_79b9_7f4a_7c15, task)
}

/// `len` bytes of data derived from `seed` (splitmix64), the same on every machine.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The name of fixture file `index` of `size` bytes inside [`Resources::files_dir`](crate::protocol::Resources).
pub fn fixture_file_name(size: u64, index: u32) -> String {
    format!("{size}-{index}.bin")
}

/// The content of a fixture file: seeded by the experiment seed, the size and the index.
pub fn fixture_file_content(seed: u64, size: u64, index: u32) -> Vec<u8> {
    seeded_bytes(fold(fold(seed, size), u64::from(index)), size as usize)
}

/// Allocates and touches `bytes` bytes (one write per page), then frees them; yields a value that depends
/// on every page having been written.
pub fn alloc(bytes: u64) -> u64 {
    const PAGE: usize = 4096;
    let mut buffer = vec![0u8; bytes as usize];
    for (page, chunk) in buffer.chunks_mut(PAGE).enumerate() {
        chunk[0] = page as u8 | 1;
    }
    let buffer = std::hint::black_box(buffer);
    buffer.chunks(PAGE).map(|c| u64::from(c[0])).sum()
}

/// The `net` wire format. A request is a 24-byte header (request length, response length, delay in
/// nanoseconds; little-endian u64) and `request` bytes of [`net::body_byte`]. The answer is an 8-byte
/// header (the response length, little-endian u64) and `response` bytes of [`net::body_byte`]: the
/// header is sent even when `response` is 0, so a round trip always waits for the server's answer.
pub mod net {
    /// Size of the request header.
    pub const HEADER_LEN: usize = 24;

    /// Size of the answer's header.
    pub const ANSWER_HEADER_LEN: usize = 8;

    /// Encodes a request header.
    pub fn header(request: u64, response: u64, delay_nanos: u64) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&request.to_le_bytes());
        h[8..16].copy_from_slice(&response.to_le_bytes());
        h[16..].copy_from_slice(&delay_nanos.to_le_bytes());
        h
    }

    /// Decodes a request header: (request length, response length, delay in nanoseconds).
    pub fn parse_header(h: &[u8; HEADER_LEN]) -> (u64, u64, u64) {
        let word = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        (word(0), word(8), word(16))
    }

    /// A whole request: its header and `request` body bytes.
    pub fn request(request: u64, response: u64, delay_nanos: u64) -> Vec<u8> {
        let mut message = Vec::with_capacity(HEADER_LEN + request as usize);
        message.extend_from_slice(&header(request, response, delay_nanos));
        message.extend((0..request as usize).map(body_byte));
        message
    }

    /// Checks the answer's header against the response length the request asked for.
    pub fn check_answer(h: &[u8; ANSWER_HEADER_LEN], response: u64) -> std::io::Result<()> {
        let got = u64::from_le_bytes(*h);
        if got == response {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the server announced a {got}-byte answer to a request for {response} bytes"),
            ))
        }
    }

    /// Byte `i` of every request and response body.
    #[inline]
    pub fn body_byte(i: usize) -> u8 {
        (i.wrapping_mul(31) ^ (i >> 8)) as u8
    }

    /// Fills `out` with body bytes `offset..offset + out.len()`: a server streams a large answer in
    /// chunks with it.
    pub fn fill_body(offset: u64, out: &mut [u8]) {
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = body_byte(offset as usize + i);
        }
    }

    /// A body of `len` bytes.
    pub fn body(len: u64) -> Vec<u8> {
        (0..len as usize).map(body_byte).collect()
    }
}

/// Where the `shared` counter lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedMode {
    /// In this process's memory, under a mutex: for executors whose tasks share an address space.
    Memory,
    /// In [`Resources::shared_file`](crate::protocol::Resources), under an exclusive `flock`: for
    /// executors whose tasks run in separate processes.
    File,
}

/// A workload ready to run: seeded data generated, resources located.
#[derive(Debug)]
pub struct Prepared {
    pub seed: u64,
    pub steps: Vec<Step>,
    pub tasks: u64,
    data: Vec<u8>,
    files_dir: Option<PathBuf>,
    net_addr: Option<String>,
    shared_mode: SharedMode,
    shared_file: Option<PathBuf>,
    shared_memory: Mutex<u64>,
}

/// State one worker keeps between tasks: its reused connection and its handle on the shared counter.
#[derive(Debug, Default)]
pub struct WorkerState {
    connection: Option<TcpStream>,
    shared_file: Option<File>,
    scratch: Vec<u8>,
}

/// What a worker (or a whole run) accumulated: the checksum sum, the task count and the latencies.
#[derive(Debug, Default)]
pub struct Tally {
    pub checksum: u64,
    pub tasks: u64,
    pub latency: Latency,
}

impl Tally {
    /// Adds a task's checksum and latency.
    #[inline]
    pub fn record(&mut self, checksum: u64, latency: Duration) {
        self.checksum = self.checksum.wrapping_add(checksum);
        self.tasks += 1;
        self.latency.record(latency);
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.checksum = self.checksum.wrapping_add(other.checksum);
        self.tasks += other.tasks;
        self.latency.merge(&other.latency);
    }
}

impl Prepared {
    /// Prepares `request`'s workload; fails when a step needs a resource the harness did not provide.
    pub fn new(request: &RunRequest, shared_mode: SharedMode) -> io::Result<Self> {
        let steps = request.workload.steps.clone();
        let compute_bytes = steps
            .iter()
            .filter_map(|s| match s {
                Step::Compute { bytes } => Some(*bytes),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let needs = |pred: fn(&Step) -> bool| steps.iter().any(pred);
        let resources = &request.resources;
        if needs(|s| matches!(s, Step::ReadFile { .. })) && resources.files_dir.is_none() {
            return Err(missing("read_file", "files_dir"));
        }
        if needs(|s| matches!(s, Step::Net { .. })) && resources.net_addr.is_none() {
            return Err(missing("net", "net_addr"));
        }
        let uses_shared = needs(|s| matches!(s, Step::Shared { .. }));
        if uses_shared && shared_mode == SharedMode::File && resources.shared_file.is_none() {
            return Err(missing("shared", "shared_file"));
        }
        Ok(Self {
            seed: request.seed,
            tasks: request.workload.tasks,
            data: seeded_bytes(request.seed, compute_bytes as usize),
            steps,
            files_dir: resources.files_dir.clone(),
            net_addr: resources.net_addr.clone(),
            shared_mode,
            shared_file: resources.shared_file.clone(),
            shared_memory: Mutex::new(0),
        })
    }

    /// Whether any step uses the shared counter.
    pub fn uses_shared(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Shared { .. }))
    }

    /// The value of the shared counter now, `None` when no step uses it.
    pub fn shared_count(&self) -> io::Result<Option<u64>> {
        if !self.uses_shared() {
            return Ok(None);
        }
        match self.shared_mode {
            SharedMode::Memory => {
                Ok(Some(*self.shared_memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)))
            }
            SharedMode::File => {
                let path = self.shared_file.as_deref().expect("checked in new");
                read_counter(&File::open(path)?).map(Some)
            }
        }
    }

    /// Hashes `bytes` bytes of this run's seeded data, keyed by the task.
    #[inline]
    pub fn compute(&self, task: u64, bytes: u64) -> u64 {
        xxh3_64_with_seed(&self.data[..bytes as usize], self.seed ^ task)
    }

    /// The path of the fixture file task `task` reads in a `read_file` step.
    pub fn fixture_path(&self, task: u64, size: u64, files: u32) -> PathBuf {
        let index = (task % u64::from(files.max(1))) as u32;
        self.files_dir.as_deref().unwrap_or(Path::new(".")).join(fixture_file_name(size, index))
    }

    /// The loopback server's address.
    pub fn net_addr(&self) -> &str {
        self.net_addr.as_deref().unwrap_or_default()
    }

    /// Runs task `task` start to end, blocking the calling thread; returns its checksum.
    pub fn run_task(&self, task: u64, worker: &mut WorkerState) -> io::Result<u64> {
        let mut acc = task_seed(task);
        for step in &self.steps {
            let value = match *step {
                Step::Compute { bytes } => self.compute(task, bytes),
                Step::Sleep { nanos } => {
                    crate::timer::sleep_blocking(Duration::from_nanos(nanos));
                    nanos
                }
                Step::ReadFile { size, files } => {
                    let path = self.fixture_path(task, size, files);
                    let bytes = std::fs::read(&path)
                        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
                    hash_bytes(&bytes)
                }
                Step::Net { request, response, delay_nanos, connect } => {
                    self.net_round_trip(worker, request, response, delay_nanos, connect)?
                }
                Step::Shared { hold_nanos } => {
                    self.shared_increment(worker, hold_nanos)?;
                    1
                }
                Step::Alloc { bytes } => alloc(bytes),
            };
            acc = fold(acc, value);
        }
        Ok(acc)
    }

    /// Runs tasks `range` one after another on this thread, adding each to `tally`.
    pub fn run_range(
        &self,
        range: std::ops::Range<u64>,
        worker: &mut WorkerState,
        tally: &mut Tally,
    ) -> io::Result<()> {
        // One clock read per task: a task's end is the next one's start on this thread.
        let mut last = Instant::now();
        for task in range {
            let checksum = self.run_task(task, worker)?;
            let now = Instant::now();
            tally.record(checksum, now - last);
            last = now;
        }
        Ok(())
    }

    fn net_round_trip(
        &self,
        worker: &mut WorkerState,
        request: u64,
        response: u64,
        delay_nanos: u64,
        connect: Connect,
    ) -> io::Result<u64> {
        let mut stream = match worker.connection.take() {
            Some(stream) if connect == Connect::Reuse => stream,
            _ => {
                let stream = TcpStream::connect(self.net_addr())
                    .map_err(|e| io::Error::new(e.kind(), format!("connecting to {}: {e}", self.net_addr())))?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        stream.write_all(&net::request(request, response, delay_nanos))?;
        let mut answer = [0u8; net::ANSWER_HEADER_LEN];
        stream.read_exact(&mut answer)?;
        net::check_answer(&answer, response)?;
        worker.scratch.resize(response as usize, 0);
        stream.read_exact(&mut worker.scratch)?;
        let value = hash_bytes(&worker.scratch);
        if connect == Connect::Reuse {
            worker.connection = Some(stream);
        }
        Ok(value)
    }

    fn shared_increment(&self, worker: &mut WorkerState, hold_nanos: u64) -> io::Result<()> {
        let hold = Duration::from_nanos(hold_nanos);
        match self.shared_mode {
            SharedMode::Memory => {
                let mut count = self.shared_memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Read, wait, write: a missing lock would lose increments, which the harness detects.
                let seen = *count;
                crate::timer::sleep_blocking(hold);
                *count = seen + 1;
            }
            SharedMode::File => {
                if worker.shared_file.is_none() {
                    let path = self.shared_file.as_deref().expect("checked in new");
                    worker.shared_file = Some(File::options().read(true).write(true).open(path)?);
                }
                let file = worker.shared_file.as_ref().expect("opened above");
                let _lock = FileLock::exclusive(file)?;
                let seen = read_counter(file)?;
                crate::timer::sleep_blocking(hold);
                write_counter(file, seen + 1)?;
            }
        }
        Ok(())
    }
}

fn missing(step: &str, resource: &str) -> io::Error {
    io::Error::other(format!("the workload has a `{step}` step but the harness provided no {resource}"))
}

fn read_counter(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(u64::from_le_bytes(bytes))
}

fn write_counter(file: &File, value: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(&value.to_le_bytes(), 0)
}

/// An exclusive `flock` held until dropped.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn exclusive(file: &'a File) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a valid, open descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
