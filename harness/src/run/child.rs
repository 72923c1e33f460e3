//! One run in one child process: `harness __exec DIR`.
//!
//! The parent writes `DIR/request.json`, starts the child in a process group of its own (with
//! `PR_SET_PDEATHSIG`, so it dies with the harness), and waits for it with `wait4` to get its resource
//! usage. The child loads the plugin, runs the request, and writes `DIR/response.json`. Whatever the child
//! does (panic, abort, crash, exit, hang), the parent classifies it and carries on.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness_sdk::protocol::{RunReport, RunRequest};
use serde::{Deserialize, Serialize};

use crate::plugin::{CallOutcome, Library};

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

/// Everything the parent learned about one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub error: String,
    /// From spawn to reap, as the parent saw it.
    pub wall: Duration,
    pub usage: Usage,
    pub report: Option<RunReport>,
    /// What the run printed, when it printed anything.
    pub output: Option<PathBuf>,
}

/// Runs `request` with the plugin at `library` in a child process, in scratch folder `dir`.
pub fn execute(library: &Path, request: &RunRequest, timeout: Duration, dir: &Path) -> Outcome {
    match spawn_and_wait(library, request, timeout, dir) {
        Ok(outcome) => outcome,
        Err(e) => Outcome {
            status: Status::Failed,
            error: format!("cannot start the run: {e}"),
            wall: Duration::ZERO,
            usage: Usage::default(),
            report: None,
            output: None,
        },
    }
}

fn spawn_and_wait(library: &Path, request: &RunRequest, timeout: Duration, dir: &Path) -> std::io::Result<Outcome> {
    let exec = ExecRequest { library: library.to_owned(), request: request.clone() };
    std::fs::write(dir.join(REQUEST), serde_json::to_vec(&exec).expect("serializable"))?;
    let output_path = dir.join(OUTPUT);
    let output = File::create(&output_path)?;

    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__exec").arg(dir).stdin(Stdio::null()).stdout(output.try_clone()?).stderr(output);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // A group of its own, so a timeout can kill the run and every process it started.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Dies with the harness, even on `kill -9`.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let start = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    // `Child` is not waited through std: wait4 below reaps it and returns its resource usage.
    drop(child);

    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(wait4(pid));
    });
    // Wait in short slices, so that Ctrl-C stops the run at once.
    let deadline = start + timeout;
    let mut stopped = None;
    let waited = loop {
        let slice = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
        match receiver.recv_timeout(slice) {
            Ok(waited) => break waited,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(std::io::Error::other("lost the run's exit status"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let reason = if super::interrupted() {
                    Status::Interrupted
                } else if Instant::now() >= deadline {
                    Status::Timeout
                } else {
                    continue;
                };
                stopped = Some(reason);
                kill_group(pid);
                break receiver.recv().unwrap_or_else(|_| Err(std::io::Error::other("lost the run's exit status")));
            }
        }
    };
    let wall = start.elapsed();
    // Nothing the run started outlives it, whatever happened.
    kill_group(pid);
    let (status, usage) = waited?;

    let printed = std::fs::metadata(&output_path).is_ok_and(|m| m.len() > 0);
    let output = printed.then(|| output_path.clone());
    let mut outcome = Outcome { status: Status::Ok, error: String::new(), wall, usage, report: None, output };
    let response = std::fs::read(dir.join(RESPONSE)).ok().and_then(|b| serde_json::from_slice::<ExecResponse>(&b).ok());
    match (stopped, response) {
        (Some(Status::Interrupted), _) => {
            outcome.status = Status::Interrupted;
            "interrupted".clone_into(&mut outcome.error);
        }
        (Some(_), _) => {
            outcome.status = Status::Timeout;
            outcome.error =
                format!("run exceeded the timeout of {}", crate::experiment::units::format_duration(timeout));
        }
        (None, Some(ExecResponse::Ok { report })) => outcome.report = Some(report),
        (None, Some(ExecResponse::Failed { error })) => {
            outcome.status = Status::Failed;
            outcome.error = error;
        }
        (None, Some(ExecResponse::Panicked { error })) => {
            outcome.status = Status::Panicked;
            outcome.error = error;
        }
        (None, None) => {
            outcome.status = Status::Crashed;
            outcome.error = format!("the run {}", describe_exit(status));
            if let Ok(text) = std::fs::read_to_string(&output_path) {
                let text = text.trim();
                if !text.is_empty() {
                    outcome.error = format!("{}: {}", outcome.error, last_lines(text, 3));
                }
            }
        }
    }
    Ok(outcome)
}

fn kill_group(pid: libc::pid_t) {
    // SAFETY: signalling the process group the child created; ESRCH when it is gone is fine.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
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

/// "exited with code 3", "was killed by signal 11 (SIGSEGV)".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(signal) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        None => "ended in an unknown way".to_owned(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// The last `n` lines of `text`, joined with " | ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
