//! One run in one child process: `harness __exec DIR`.
//!
//! The parent writes `DIR/request.json`, starts the child in a process group of its own (with
//! `PR_SET_PDEATHSIG`, so it dies with the harness) and in a cgroup of its own when it can (see
//! [`super::cgroup`]), waits for it on a pidfd until the timeout, and reaps it with `wait4` to get its
//! resource usage. The child loads the plugin, runs the request, and writes `DIR/response.json`. Whatever
//! the child does (panic, abort, crash, exit, hang, run out of memory), the parent classifies it, kills
//! whatever the run left (its process group, its cgroup, and orphans reparented to the harness), and
//! carries on.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use harness_sdk::protocol::{RunReport, RunRequest};
use serde::{Deserialize, Serialize};

use super::cgroup::{Accounting, Method};
use crate::fmt::{format_duration, format_size};
use crate::plugin::{CallOutcome, Library};
use crate::process::{describe_exit, last_lines, signal_name};

const REQUEST: &str = "request.json";
const RESPONSE: &str = "response.json";
const OUTPUT: &str = "output.log";

#[derive(Serialize, Deserialize)]
struct ExecRequest {
    library: PathBuf,
    request: RunRequest,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
enum ExecResponse {
    Ok { report: RunReport },
    Failed { error: String },
    Panicked { error: String },
}

/// The body of `harness __exec DIR`. Starts no thread before the plugin runs, so executors may fork.
pub fn exec_main(dir: &Path) -> i32 {
    let response = match exec(dir) {
        Ok(response) => response,
        Err(error) => ExecResponse::Failed { error },
    };
    let bytes = serde_json::to_vec(&response).expect("serializable");
    match std::fs::write(dir.join(RESPONSE), bytes) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the run's response: {e}");
            3
        }
    }
}

fn exec(dir: &Path) -> Result<ExecResponse, String> {
    let bytes = std::fs::read(dir.join(REQUEST)).map_err(|e| format!("cannot read the run request: {e}"))?;
    let exec: ExecRequest = serde_json::from_slice(&bytes).map_err(|e| format!("malformed run request: {e}"))?;
    let library = Library::open(&exec.library).map_err(|e| e.to_string())?;
    let request = serde_json::to_vec(&exec.request).expect("serializable");
    Ok(match library.run(&request) {
        CallOutcome::Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(report) => ExecResponse::Ok { report },
            Err(e) => ExecResponse::Failed { error: format!("the executor returned a malformed report: {e}") },
        },
        CallOutcome::Error(error) => ExecResponse::Failed { error },
        CallOutcome::Panic(error) => ExecResponse::Panicked { error: format!("executor panicked: {error}") },
    })
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
    Panicked,
    Crashed,
    Timeout,
    /// Stopped by Ctrl-C or SIGTERM: not a measurement, never written to runs.csv.
    Interrupted,
    OutOfMemory,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Panicked => "panicked",
            Status::Crashed => "crashed",
            Status::Timeout => "timeout",
            Status::Interrupted => "interrupted",
            Status::OutOfMemory => "out_of_memory",
        }
    }
}

/// Resource usage of the run's process, including the workers it reaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub user_cpu_s: f64,
    pub system_cpu_s: f64,
    pub max_rss_bytes: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// The peak memory of a run and how it was measured.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub peak_bytes: u64,
    pub method: Method,
}

impl Default for Memory {
    fn default() -> Self {
        Self { peak_bytes: 0, method: Method::Rusage }
    }
}

/// Everything the parent learned about one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub error: String,
    /// From spawn to reap, as the parent saw it.
    pub wall: Duration,
    pub usage: Usage,
    pub memory: Memory,
    pub report: Option<RunReport>,
    /// What the run printed, when it printed anything.
    pub output: Option<PathBuf>,
    /// Connections the system dropped from full accept queues while the run ran (runs with `net` steps).
    pub listen_overflows: Option<u64>,
}

impl Outcome {
    /// A run that could not start.
    pub fn not_started(error: String) -> Self {
        Self {
            status: Status::Failed,
            error,
            wall: Duration::ZERO,
            usage: Usage::default(),
            memory: Memory::default(),
            report: None,
            output: None,
            listen_overflows: None,
        }
    }
}

/// The limits of one run and where its cgroup goes.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub timeout: Duration,
    pub memory: Option<u64>,
    pub accounting: &'a Accounting,
    /// Numbers the run's cgroup.
    pub index: usize,
}

/// Runs `request` with the plugin at `library` in a child process, in scratch folder `dir`.
pub fn execute(library: &Path, request: &RunRequest, limits: &Limits, dir: &Path) -> Outcome {
    spawn_and_wait(library, request, limits, dir)
        .unwrap_or_else(|e| Outcome::not_started(format!("cannot start the run: {e}")))
}

fn spawn_and_wait(library: &Path, request: &RunRequest, limits: &Limits, dir: &Path) -> std::io::Result<Outcome> {
    let exec = ExecRequest { library: library.to_owned(), request: request.clone() };
    std::fs::write(dir.join(REQUEST), serde_json::to_vec(&exec).expect("serializable"))?;
    let output_path = dir.join(OUTPUT);
    let output = File::create(&output_path)?;
    let cgroup = limits
        .accounting
        .create(limits.index, limits.memory)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot make the run's cgroup: {e}")))?;

    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__exec").arg(dir).stdin(Stdio::null()).stdout(output.try_clone()?).stderr(output);
    let procs = cgroup.as_ref().map(|c| c.procs_path().to_owned());
    let data_limit = if cgroup.is_none() { limits.memory } else { None };
    // SAFETY: only async-signal-safe calls between fork and exec, and no allocation.
    unsafe {
        command.pre_exec(move || {
            // A group of its own, so a timeout can kill the run and every process it started.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Dies with the harness, even on `kill -9`.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Into the run's cgroup before any of the run's code executes, so the peak and the limit
            // cover all of it.
            if let Some(procs) = &procs {
                join_cgroup(procs)?;
            }
            if let Some(limit) = data_limit {
                let limit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_DATA, &raw const limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    // `Child` is not waited through std: wait4 below reaps it and returns its resource usage.
    drop(child);

    let waited_for = wait_for_exit(pid, limits.timeout);
    if !matches!(waited_for, Ok(Wait::Exited)) {
        kill_group(pid);
        if let Some(cgroup) = &cgroup {
            cgroup.kill_all();
        }
    }
    let waited = wait4(pid);
    let wall = start.elapsed();
    // Nothing the run started outlives it, whatever happened.
    kill_group(pid);
    let (memory, oom_kills) = match &cgroup {
        Some(c) => (c.peak_bytes().map(|peak_bytes| Memory { peak_bytes, method: c.method() }), c.oom_kills()),
        None => (None, 0),
    };
    match cgroup {
        Some(cgroup) => {
            if let Err(e) = cgroup.remove(reap_orphans) {
                eprintln!("warning: cannot remove the cgroup of a run, a process of it may be stuck: {e}");
            }
        }
        None => reap_orphans(),
    }
    let waited_for = waited_for?;
    let (status, usage) = waited?;
    let memory = memory.unwrap_or(Memory { peak_bytes: usage.max_rss_bytes, method: Method::Rusage });

    let printed = std::fs::metadata(&output_path).is_ok_and(|m| m.len() > 0);
    let output = printed.then(|| output_path.clone());
    let mut outcome = Outcome {
        status: Status::Ok,
        error: String::new(),
        wall,
        usage,
        memory,
        report: None,
        output,
        listen_overflows: None,
    };
    let response = std::fs::read(dir.join(RESPONSE)).ok().and_then(|b| serde_json::from_slice::<ExecResponse>(&b).ok());
    let printed = || std::fs::read_to_string(&output_path).unwrap_or_default();
    classify(&mut outcome, Ended { waited_for, status, response, oom_kills }, limits, printed);
    Ok(outcome)
}

/// What the harness saw of a run's end.
struct Ended {
    waited_for: Wait,
    status: ExitStatus,
    response: Option<ExecResponse>,
    oom_kills: u64,
}

/// Sets the outcome's status, error and report from how the run ended and what it printed.
fn classify(outcome: &mut Outcome, ended: Ended, limits: &Limits, printed: impl Fn() -> String) {
    match (ended.waited_for, ended.response) {
        (Wait::TimedOut, _) => {
            outcome.status = Status::Timeout;
            outcome.error = format!("run exceeded the timeout of {}", format_duration(limits.timeout));
        }
        (Wait::Interrupted, _) => {
            // Not a measurement: the run gets no row, so that `--resume` runs it again.
            outcome.status = Status::Interrupted;
            outcome.error = format!(
                "the harness was interrupted ({}) during this run and killed it",
                signal_name(interrupted().unwrap_or(0))
            );
        }
        (Wait::Exited, Some(ExecResponse::Ok { report })) => outcome.report = Some(report),
        (Wait::Exited, Some(ExecResponse::Failed { error })) => {
            outcome.status = Status::Failed;
            outcome.error = error;
        }
        (Wait::Exited, Some(ExecResponse::Panicked { error })) => {
            outcome.status = Status::Panicked;
            outcome.error = error;
        }
        (Wait::Exited, None) => {
            outcome.status = Status::Crashed;
            outcome.error = format!("the run {}", describe_exit(ended.status));
            let text = printed();
            let text = text.trim();
            if !text.is_empty() {
                outcome.error = format!("{}: {}", outcome.error, last_lines(text, 3));
            }
        }
    }
    let over_limit = match (ended.oom_kills, limits.memory) {
        (0, Some(limit)) if outcome.memory.method == Method::Rusage && outcome.status != Status::Ok => {
            // RLIMIT_DATA makes an allocation fail; Rust's handler says so and aborts. (The peak RSS says
            // nothing here: it counts mapped files, which the limit does not.)
            let allocation_failed =
                printed().lines().any(|l| l.starts_with("memory allocation of") && l.trim_end().ends_with("failed"));
            allocation_failed.then(|| {
                format!("the run went past its memory limit of {} (enforced as RLIMIT_DATA)", format_size(limit))
            })
        }
        (0, _) => None,
        (n, limit) => {
            let killed = if n == 1 { "1 process".to_owned() } else { format!("{n} processes") };
            Some(match limit {
                Some(limit) => format!(
                    "the run went past its memory limit of {} (peak {:.1}MiB): the kernel's OOM killer ended {killed}",
                    format_size(limit),
                    outcome.memory.peak_bytes as f64 / f64::from(1 << 20)
                ),
                None => format!("the kernel's OOM killer ended {killed} of the run (no memory_limit is set)"),
            })
        }
    };
    if let Some(message) = over_limit {
        outcome.status = Status::OutOfMemory;
        outcome.error = if outcome.error.is_empty() { message } else { format!("{message}; {}", outcome.error) };
        outcome.report = None;
    }
}

/// Writes `0` (this process) to a `cgroup.procs` file. Async-signal-safe: runs between fork and exec.
fn join_cgroup(procs: &std::ffi::CStr) -> std::io::Result<()> {
    // SAFETY: open, write and close on a NUL-terminated path and a static byte.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

/// How often a wait looks at the interruption flag, in case a signal came just before it started waiting.
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// How the wait for a run's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Exited,
    TimedOut,
    /// The harness was asked to stop (see [`catch_interrupts`]).
    Interrupted,
}

/// Waits until `pid` exits, without reaping it, or until `timeout` passes or the harness is interrupted.
fn wait_for_exit(pid: libc::pid_t, timeout: Duration) -> std::io::Result<Wait> {
    let deadline = Instant::now() + timeout;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        // Kernels before 5.3: look every millisecond.
        loop {
            // SAFETY: siginfo is plain data; WNOWAIT leaves the child to be reaped by wait4.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: valid out-pointer; waiting for our own child.
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &raw mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            // SAFETY: si_pid is set by waitid when a child changed state, 0 otherwise.
            if r == 0 && unsafe { info.si_pid() } == pid {
                return Ok(Wait::Exited);
            }
            let error = std::io::Error::last_os_error();
            if r != 0 && error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
            if interrupted().is_some() {
                return Ok(Wait::Interrupted);
            }
            if Instant::now() >= deadline {
                return Ok(Wait::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // SAFETY: the descriptor was just returned by pidfd_open and is owned here.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    loop {
        if interrupted().is_some() {
            return Ok(Wait::Interrupted);
        }
        let until_deadline = deadline.saturating_duration_since(Instant::now());
        let left = until_deadline.min(INTERRUPT_CHECK);
        let mut pollfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let limit =
            libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: libc::c_long::from(left.subsec_nanos()) };
        // SAFETY: one valid pollfd and a valid timespec for the duration of the call.
        let r = unsafe { libc::ppoll(&raw mut pollfd, 1, &raw const limit, std::ptr::null()) };
        match r {
            1.. => return Ok(Wait::Exited),
            0 if until_deadline.is_zero() => return Ok(Wait::TimedOut),
            0 => {}
            // A signal: loop to look at the interruption flag.
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return Err(std::io::Error::last_os_error()),
        }
    }
}

/// The signal that asked the harness to stop, 0 while none has.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_interrupt(signal: libc::c_int) {
    INTERRUPTED.store(signal, Ordering::SeqCst);
}

/// Catches `SIGINT`, `SIGTERM` and `SIGHUP`, so that an interrupted experiment kills its current run's
/// processes and keeps what it measured, instead of dying with them alive. A second signal acts as usual.
///
/// Only the calling thread receives them: they stay blocked in threads it starts until the returned guard
/// is dropped, so a signal always wakes the wait for the run.
pub fn catch_interrupts() -> InterruptGuard {
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    // SAFETY: sigset and sigaction are plain data initialised by the libc calls below; the handler only
    // stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for signal in SIGNALS {
            libc::sigaddset(&raw mut set, signal);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
            libc::sigemptyset(&raw mut action.sa_mask);
            // No SA_RESTART, so the wait wakes with EINTR.
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        InterruptGuard { set }
    }
}

/// Unblocks the interrupting signals in the thread that called [`catch_interrupts`] when dropped.
pub struct InterruptGuard {
    set: libc::sigset_t,
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: unblocking signals of a valid set in this thread.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const self.set, std::ptr::null_mut()) };
    }
}

/// The signal that asked the harness to stop, if one did.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

fn kill_group(pid: libc::pid_t) {
    // SAFETY: signalling the process group the child created; ESRCH when it is gone is fine.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

/// Makes the harness the reaper of every process its runs leave behind: a run's process that outlives its
/// parent (one that left the run's process group, say) becomes a child of the harness instead of init,
/// where [`reap_orphans`] finds it.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
}

/// Kills and reaps every child of the harness. Called between runs, when the run's own child has been
/// reaped: anything left is a process of that run that outlived its parent.
pub fn reap_orphans() {
    loop {
        let children = children_of_this_process();
        if children.is_empty() {
            return;
        }
        for pid in children {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

fn children_of_this_process() -> Vec<libc::pid_t> {
    let parse = |text: &str| text.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<libc::pid_t>>();
    let mut children = Vec::new();
    if let Ok(threads) = std::fs::read_dir("/proc/self/task") {
        for thread in threads.flatten() {
            match std::fs::read_to_string(thread.path().join("children")) {
                Ok(text) => children.extend(parse(&text)),
                // Kernels without CONFIG_PROC_CHILDREN: find them by their parent.
                Err(_) => return children_by_scan(),
            }
        }
    }
    children
}

fn children_by_scan() -> Vec<libc::pid_t> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command name may hold spaces and parentheses; the fields after its last `)` do not.
            let fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
            fields.split_whitespace().nth(1) == Some(me.as_str())
        })
        .collect()
}

fn wait4(pid: libc::pid_t) -> std::io::Result<(ExitStatus, Usage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut rusage) };
        if r == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let usage = Usage {
        user_cpu_s: seconds(rusage.ru_utime),
        system_cpu_s: seconds(rusage.ru_stime),
        max_rss_bytes: (rusage.ru_maxrss as u64) * 1024,
        voluntary_switches: rusage.ru_nvcsw as u64,
        involuntary_switches: rusage.ru_nivcsw as u64,
    };
    Ok((ExitStatus::from_raw(status), usage))
}
