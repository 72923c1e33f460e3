//! One run in one child process, the parent's side: spawn `harness __exec DIR` (see [`super::exec`]), wait
//! for it, and classify how it ended.
//!
//! The parent writes `DIR/request.json`, starts the child in a process group of its own (with
//! `PR_SET_PDEATHSIG`, so it dies with the harness) and in a cgroup of its own when it can (see
//! [`super::cgroup`]), waits for it on a pidfd until the timeout, and reaps it with `wait4` to get its
//! resource usage ([`super::wait`]). The child loads the plugin, runs the request, and writes
//! `DIR/response.json`. Whatever the child does (panic, abort, crash, exit, hang, run out of memory), the
//! parent classifies it, kills whatever the run left (its process group, its cgroup, and orphans
//! reparented to the harness: [`super::reap`]), and carries on. The order of those steps is
//! [`super::life`]'s; this module is the machine's side of them ([`Machine`]). The system calls are in
//! [`crate::sys`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness_sdk::protocol::{RunReport, RunRequest};
use serde::Serialize;

use super::cgroup::{Keeper, Method, RunCgroup};
use super::exec::{ExecRequest, ExecResponse, REQUEST, RESPONSE, Response};
use super::fork_server::ForkServer;
use super::life::{Begun, Lived, System, live};
use super::reap::{SCRATCH_VAR, kill_group, reap_orphans, record_started};
use super::services::ServiceUsage;
use super::wait::{Exit, Wait, Waited};
use crate::fmt::{format_duration, format_size};
use crate::process::{
    LOG_TAIL_BYTES, MAX_ERROR_CHARS, cap_message, describe_exit, last_lines, signal_name, tail_of_file,
};
use crate::sys::{self, Usage};
// Where the runner (`run/mod.rs`) finds them.
pub(super) use super::reap::become_subreaper;
pub(super) use super::signals::{catch_interrupts, interrupted};

/// What a run printed, after what its `prepare` hook printed.
pub(super) const OUTPUT: &str = "output.log";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
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
    pub(crate) fn as_str(self) -> &'static str {
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

/// The peak memory of a run and how it was measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
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
pub(crate) struct Outcome {
    pub status: Status,
    pub error: String,
    /// From spawn to reap, as the parent saw it.
    pub wall: Duration,
    /// Resource usage of the run's process, including the workers it reaped.
    pub usage: Usage,
    pub memory: Memory,
    pub report: Option<RunReport>,
    /// What the run printed, when it printed anything.
    pub output: Option<PathBuf>,
    /// Connections the system dropped from full accept queues while the run ran (runs with `net` steps).
    pub listen_overflows: Option<u64>,
    /// The machine's speed anchor around the run (seconds; the mean of the probes before and after it).
    pub anchor_s: Option<f64>,
    /// What each service the run needed spent during it.
    pub services: Vec<ServiceUsage>,
    /// Increments of the `shared` counter lost by steps with `lock = "none"`.
    pub shared_lost: Option<u64>,
}

impl Outcome {
    /// A run that could not start.
    pub(crate) fn not_started(error: String) -> Self {
        Self {
            status: Status::Failed,
            error,
            wall: Duration::ZERO,
            usage: Usage::default(),
            memory: Memory::default(),
            report: None,
            output: None,
            listen_overflows: None,
            anchor_s: None,
            services: Vec::new(),
            shared_lost: None,
        }
    }
}

/// The limits of one run and where its cgroup goes.
#[derive(Debug)]
pub(super) struct Limits<'a> {
    pub timeout: Duration,
    pub memory: Option<u64>,
    /// Makes the run's cgroup, and removes it once the run is over.
    pub cgroups: &'a mut Keeper,
}

/// Runs `request` with the plugin at `library` in a child process, in scratch folder `dir`: a copy of the
/// library's fork server when there is one that can serve, else `harness __exec`.
pub(super) fn execute(
    library: &Path,
    request: &RunRequest,
    limits: &mut Limits,
    dir: &Path,
    server: Option<&mut ForkServer>,
) -> Outcome {
    spawn_and_wait(library, request, limits, dir, server)
        .unwrap_or_else(|e| Outcome::not_started(format!("cannot start the run: {e}")))
}

fn spawn_and_wait(
    library: &Path,
    request: &RunRequest,
    limits: &mut Limits,
    dir: &Path,
    server: Option<&mut ForkServer>,
) -> std::io::Result<Outcome> {
    let token = next_token();
    let request = serde_json::value::to_raw_value(request).expect("serializable");
    let exec = ExecRequest { library: library.to_owned(), request, token };
    let output_path = dir.join(OUTPUT);
    let (timeout, memory) = (limits.timeout, limits.memory);
    let mut machine = Machine {
        exec,
        dir,
        output_path: &output_path,
        scratch: dir.parent().unwrap_or(dir),
        limits,
        server: server.filter(|server| server.broken().is_none()),
        exit: None,
    };
    let Lived { waited_for, status, usage, wall, memory: peak, oom_kills } = live(&mut machine, timeout)?;
    let memory_used = peak.unwrap_or(Memory { peak_bytes: usage.max_rss_bytes, method: Method::Rusage });

    let printed = std::fs::metadata(&output_path).is_ok_and(|m| m.len() > 0);
    let output = printed.then(|| output_path.clone());
    let mut outcome = Outcome {
        status: Status::Ok,
        error: String::new(),
        wall,
        usage,
        memory: memory_used,
        report: None,
        output,
        listen_overflows: None,
        anchor_s: None,
        services: Vec::new(),
        shared_lost: None,
    };
    let response = read_response(&dir.join(RESPONSE), token);
    // However much the run printed, only the end of it is read, once.
    let printed = std::cell::OnceCell::new();
    let printed = || printed.get_or_init(|| tail_of_file(&output_path, LOG_TAIL_BYTES)).clone();
    let ended = Ended { waited_for, status, response, oom_kills };
    classify(&mut outcome, ended, timeout, memory, printed);
    outcome.error = cap_message(std::mem::take(&mut outcome.error), MAX_ERROR_CHARS);
    Ok(outcome)
}

/// The machine's side of a run's life ([`live`]): its processes, its cgroup, the library's fork server.
struct Machine<'a, 'l> {
    exec: ExecRequest,
    dir: &'a Path,
    output_path: &'a Path,
    /// Where the trail of the run's processes goes, named in their environment.
    scratch: &'a Path,
    limits: &'a mut Limits<'l>,
    /// The library's fork server, when it has one that can serve.
    server: Option<&'a mut ForkServer>,
    /// The end of the run's process, once it is started.
    exit: Option<Exit>,
}

impl Machine<'_, '_> {
    /// The spare of the library's fork server, given its order; `None` when there is none or it cannot
    /// serve.
    fn start_spare(&mut self) -> Option<Begun<RunCgroup>> {
        let server = self.server.as_deref_mut()?;
        if !server.ready(self.limits.cgroups, self.limits.memory) {
            return None;
        }
        let at = Instant::now();
        let (started, cgroup) = server.order(self.exec.clone(), self.dir, self.output_path).ok()?;
        record_started(self.scratch, started.pid, started.started);
        Some(Begun { pid: started.pid, at, cgroup })
    }

    /// `harness __exec`, which reads the request from the run's folder.
    fn start_exec(&mut self) -> std::io::Result<Begun<RunCgroup>> {
        let cgroup = self
            .limits
            .cgroups
            .take()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot make the run's cgroup: {e}")))?;
        let setup = RunCgroup::setup_of_run(cgroup.as_ref(), self.limits.memory);
        super::exec::overwrite(&self.dir.join(REQUEST), &serde_json::to_vec(&self.exec).expect("serializable"))?;
        let at = Instant::now();
        let output = File::options().create(true).append(true).open(self.output_path)?;
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("__exec").arg(self.dir).arg(self.exec.token.to_string());
        command.stdin(Stdio::null()).stdout(output.try_clone()?).stderr(output);
        command.env(SCRATCH_VAR, self.scratch);
        sys::isolate_child(&mut command, setup);
        let child = command.spawn()?;
        // `Child` is not waited through std: wait4 reaps it and returns its resource usage.
        let pid = child.id() as sys::pid_t;
        record_started(self.scratch, pid, None);
        Ok(Begun { pid, at, cgroup })
    }
}

impl System for Machine<'_, '_> {
    type Cgroup = RunCgroup;

    fn start(&mut self) -> std::io::Result<Begun<RunCgroup>> {
        let begun = match self.start_spare() {
            Some(begun) => begun,
            None => self.start_exec()?,
        };
        self.exit = Some(Exit::of(begun.pid));
        Ok(begun)
    }

    fn wait(&mut self, deadline: Instant) -> std::io::Result<Waited> {
        // A copy says when it has written its response: its server makes the next run's spare while it exits.
        let watch = self.server.as_deref().and_then(ForkServer::done_fd);
        self.exit.as_ref().expect("started before it is waited for").wait(deadline, watch)
    }

    fn on_done(&mut self) {
        if let Some(server) = self.server.as_deref_mut() {
            server.on_done(self.exec.token, self.limits.cgroups, self.limits.memory);
        }
    }

    fn kill_group(&mut self, pid: sys::pid_t) {
        kill_group(pid);
    }

    fn kill_cgroup(&mut self, cgroup: &RunCgroup) {
        cgroup.kill_all();
    }

    fn wait4(&mut self, pid: sys::pid_t) -> std::io::Result<(ExitStatus, Usage)> {
        sys::wait4(pid)
    }

    fn prepare_spare(&mut self) {
        if let Some(server) = self.server.as_deref_mut() {
            server.prepare(self.limits.cgroups, self.limits.memory);
        }
    }

    fn memory_of(&mut self, cgroup: &RunCgroup) -> (Option<Memory>, u64) {
        (cgroup.peak_bytes().map(|peak_bytes| Memory { peak_bytes, method: cgroup.method() }), cgroup.oom_kills())
    }

    fn give_back(&mut self, cgroup: RunCgroup) {
        self.limits.cgroups.give_back(cgroup);
    }

    fn collect_spare(&mut self) {
        if let Some(server) = self.server.as_deref_mut() {
            server.collect();
        }
    }

    fn reap_orphans(&mut self) {
        reap_orphans();
    }
}

/// The most of a response the harness reads: a report is a few kilobytes; an error message longer than
/// this is the plugin's mistake, and the run failed.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// Names each run of this process apart, for its response ([`super::exec::Response`]).
fn next_token() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    LAST.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// The response of the run `token`, when it wrote one that can be read.
fn read_response(path: &Path, token: u64) -> Option<ExecResponse> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    File::open(path).ok()?.take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_RESPONSE_BYTES {
        return Some(ExecResponse::Failed {
            error: format!("the run's response is longer than {}", format_size(MAX_RESPONSE_BYTES)),
        });
    }
    serde_json::from_slice::<Response>(&bytes).ok().filter(|r| r.token == token).map(|r| r.response)
}

/// Why a report did not parse. JSON has no NaN nor infinity, so a custom metric's number that is not finite
/// arrives as `null`, from an executor that let it through: named, rather than serde's "invalid type: null".
fn malformed(report: &str, e: &serde_json::Error) -> String {
    let not_finite = serde_json::from_str::<serde_json::Value>(report).ok().and_then(|value| {
        let metrics = value.get("metrics")?.as_object()?;
        metrics.iter().find_map(|(name, reported)| {
            let fields = reported.as_object()?;
            let nulls: Vec<&str> = fields.iter().filter(|(_, n)| n.is_null()).map(|(f, _)| f.as_str()).collect();
            (!nulls.is_empty()).then(|| {
                format!(
                    "the executor reported metric `{name}` with numbers that are not finite (NaN or infinite: {})",
                    nulls.join(", ")
                )
            })
        })
    });
    not_finite.unwrap_or_else(|| format!("the executor returned a malformed report: {e}"))
}

/// What the harness saw of a run's end.
struct Ended {
    waited_for: Wait,
    status: ExitStatus,
    response: Option<ExecResponse>,
    oom_kills: u64,
}

/// Sets the outcome's status, error and report from how the run ended and what it printed, for a run with
/// `timeout` and the memory limit `memory`.
fn classify(outcome: &mut Outcome, ended: Ended, timeout: Duration, memory: Option<u64>, printed: impl Fn() -> String) {
    match (ended.waited_for, ended.response) {
        (Wait::TimedOut, _) => {
            outcome.status = Status::Timeout;
            outcome.error = format!("run exceeded the timeout of {}", format_duration(timeout));
        }
        (Wait::Interrupted, _) => {
            // Not a measurement: the run gets no row, so that `--resume` runs it again.
            outcome.status = Status::Interrupted;
            outcome.error = format!(
                "the harness was interrupted ({}) during this run and killed it",
                signal_name(interrupted().unwrap_or(0))
            );
        }
        (Wait::Exited, Some(ExecResponse::Ok { report })) => match serde_json::from_str::<RunReport>(report.get()) {
            Ok(report) => outcome.report = Some(report),
            Err(e) => {
                outcome.status = Status::Failed;
                outcome.error = malformed(report.get(), &e);
            }
        },
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
    let over_limit = match (ended.oom_kills, memory) {
        // An allocation that failed is one cause, out of memory, whichever way the limit is enforced and
        // whether the limit or the machine refused it: Rust's handler says so and aborts. (The peak RSS says
        // nothing here: it counts mapped files, which the limit does not.)
        (0, limit) if outcome.status != Status::Ok => failed_allocation(&printed()).map(|size| {
            let asked = format!(" (an allocation of {} failed)", format_size(size));
            match limit {
                Some(limit) if outcome.memory.method == Method::Rusage => format!(
                    "the run went past its memory limit of {} (enforced as RLIMIT_DATA){asked}",
                    format_size(limit)
                ),
                Some(limit) if size > limit => {
                    format!("the run asked for more than its memory limit of {}{asked}", format_size(limit))
                }
                Some(limit) => format!(
                    "the machine could not give the run the memory it asked for, within its limit of {}{asked}",
                    format_size(limit)
                ),
                None => format!(
                    "the machine could not give the run the memory it asked for (no memory_limit is set){asked}"
                ),
            }
        }),
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

/// The size of the allocation that failed, when `printed` shows one (Rust's "memory allocation of N bytes
/// failed").
fn failed_allocation(printed: &str) -> Option<u64> {
    printed.lines().find_map(|line| {
        line.trim_end().strip_prefix("memory allocation of ")?.strip_suffix(" bytes failed")?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// The outcome `classify` makes of a run that ended as `waited_for` says, with `status`, `response`,
    /// `oom_kills`, its peak measured by `method`, the memory limit `memory`, and `printed` as its output.
    fn classified(
        waited_for: Wait,
        status: i32,
        response: Option<ExecResponse>,
        (oom_kills, method, memory): (u64, Method, Option<u64>),
        printed: &str,
    ) -> Outcome {
        let mut outcome = Outcome::not_started(String::new());
        outcome.status = Status::Ok;
        outcome.memory = Memory { peak_bytes: 3 << 20, method };
        let ended = Ended { waited_for, status: ExitStatus::from_raw(status), response, oom_kills };
        classify(&mut outcome, ended, TIMEOUT, memory, || printed.to_owned());
        outcome
    }

    fn report(report: &RunReport) -> ExecResponse {
        ExecResponse::Ok { report: serde_json::value::to_raw_value(report).unwrap() }
    }

    const NO_OOM: (u64, Method, Option<u64>) = (0, Method::Cgroup2, None);

    #[test]
    fn a_run_that_answered_has_its_report_or_its_error() {
        let ok = classified(Wait::Exited, 0, Some(report(&RunReport { tasks: 7, ..RunReport::default() })), NO_OOM, "");
        assert_eq!((ok.status, ok.error.as_str()), (Status::Ok, ""));
        assert_eq!(ok.report.map(|r| r.tasks), Some(7));

        let malformed = serde_json::value::to_raw_value(&serde_json::json!({ "tasks": "many" })).unwrap();
        let bad = classified(Wait::Exited, 0, Some(ExecResponse::Ok { report: malformed }), NO_OOM, "");
        assert_eq!(bad.status, Status::Failed);
        assert!(bad.error.starts_with("the executor returned a malformed report"), "{}", bad.error);
        assert!(bad.report.is_none());

        // What JSON makes of a metric's NaN, from an executor that let it through: named, not "null".
        let mut report = serde_json::to_value(RunReport { tasks: 7, ..RunReport::default() }).unwrap();
        report["metrics"] = serde_json::json!({ "ratio": { "count": 1, "sum": null, "min": null, "max": null, "last": null, "last_task": 3 } });
        let not_finite = serde_json::value::to_raw_value(&report).unwrap();
        let bad = classified(Wait::Exited, 0, Some(ExecResponse::Ok { report: not_finite }), NO_OOM, "");
        assert_eq!(bad.status, Status::Failed);
        assert_eq!(
            bad.error,
            "the executor reported metric `ratio` with numbers that are not finite (NaN or infinite: last, max, min, sum)"
        );

        let failed = classified(Wait::Exited, 1 << 8, Some(ExecResponse::Failed { error: "no".into() }), NO_OOM, "");
        assert_eq!((failed.status, failed.error.as_str()), (Status::Failed, "no"));
        let panicked =
            classified(Wait::Exited, 1 << 8, Some(ExecResponse::Panicked { error: "boom".into() }), NO_OOM, "");
        assert_eq!((panicked.status, panicked.error.as_str()), (Status::Panicked, "boom"));
    }

    /// Whatever the run wrote, a timeout is a timeout; a run that wrote nothing crashed, and says how with
    /// the last lines it printed.
    #[test]
    fn a_run_that_did_not_answer_timed_out_or_crashed() {
        let late = classified(Wait::TimedOut, libc::SIGKILL, Some(report(&RunReport::default())), NO_OOM, "");
        assert_eq!(late.status, Status::Timeout);
        assert_eq!(late.error, format!("run exceeded the timeout of {}", format_duration(TIMEOUT)));
        assert!(late.report.is_none());

        let printed = "one\ntwo\nthree\nfour\n";
        let crashed = classified(Wait::Exited, libc::SIGSEGV, None, NO_OOM, printed);
        assert_eq!(crashed.status, Status::Crashed);
        let how = describe_exit(ExitStatus::from_raw(libc::SIGSEGV));
        assert_eq!(crashed.error, format!("the run {how}: {}", last_lines("one\ntwo\nthree\nfour", 3)));
        let silent = classified(Wait::Exited, libc::SIGSEGV, None, NO_OOM, "  \n");
        assert_eq!(silent.error, format!("the run {how}"));
    }

    /// The kernel's OOM killer in the run's cgroup makes any end an out-of-memory one, its message first.
    #[test]
    fn oom_kills_in_the_cgroup_end_the_run_out_of_memory() {
        let limit = Some(64 << 20);
        let killed = classified(Wait::Exited, libc::SIGKILL, None, (2, Method::Cgroup2, limit), "");
        assert_eq!(killed.status, Status::OutOfMemory);
        assert!(
            killed.error.starts_with("the run went past its memory limit of 64MiB (peak 3.0MiB)"),
            "{}",
            killed.error
        );
        assert!(killed.error.contains("ended 2 processes; the run "), "{}", killed.error);

        let answered = classified(Wait::Exited, 0, Some(report(&RunReport::default())), (1, Method::Cgroup1, None), "");
        assert_eq!(answered.status, Status::OutOfMemory);
        assert_eq!(answered.error, "the kernel's OOM killer ended 1 process of the run (no memory_limit is set)");
        assert!(answered.report.is_none(), "a run the OOM killer touched has no report");
    }

    /// Without a cgroup the limit is `RLIMIT_DATA`: a failed run whose allocation failed went past it; one
    /// that ended well did not, whatever it printed.
    #[test]
    fn a_failed_allocation_under_the_data_limit_is_out_of_memory() {
        let rusage = (0, Method::Rusage, Some(1 << 30));
        let printed = "working\nmemory allocation of 4096 bytes failed\n";
        let aborted = classified(Wait::Exited, libc::SIGABRT, None, rusage, printed);
        assert_eq!(aborted.status, Status::OutOfMemory);
        assert!(
            aborted.error.starts_with(
                "the run went past its memory limit of 1GiB (enforced as RLIMIT_DATA) (an allocation of 4KiB failed); \
                 the run "
            ),
            "{}",
            aborted.error
        );
        let ok = classified(Wait::Exited, 0, Some(report(&RunReport::default())), rusage, printed);
        assert_eq!(ok.status, Status::Ok);
        let other = classified(Wait::Exited, libc::SIGABRT, None, rusage, "working\n");
        assert_eq!(other.status, Status::Crashed);
    }

    /// Under a cgroup, an allocation the machine refuses (more than it has) is out of memory too, as it is
    /// under `RLIMIT_DATA`: one status for one cause.
    #[test]
    fn a_failed_allocation_is_out_of_memory_however_the_limit_is_enforced() {
        let printed = "memory allocation of 68719476736 bytes failed\n";
        let limited = classified(Wait::Exited, libc::SIGABRT, None, (0, Method::Cgroup1, Some(1 << 30)), printed);
        assert_eq!(limited.status, Status::OutOfMemory);
        assert!(
            limited.error.starts_with(
                "the run asked for more than its memory limit of 1GiB (an allocation of 64GiB failed); the run "
            ),
            "{}",
            limited.error
        );
        let unlimited = classified(Wait::Exited, libc::SIGABRT, None, NO_OOM, printed);
        assert_eq!(unlimited.status, Status::OutOfMemory);
        assert!(unlimited.error.contains("(no memory_limit is set)"), "{}", unlimited.error);
        assert_eq!(failed_allocation("memory allocation of 12 bytes failed"), Some(12));
        assert_eq!(failed_allocation("the memory allocation of 12 bytes failed"), None);
    }

    /// Only the response of this run counts: another token's, or a file that is not one, is none.
    #[test]
    fn the_response_is_read_only_when_it_is_this_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESPONSE);
        assert!(read_response(&path, 1).is_none());
        let response = Response { token: 5, response: ExecResponse::Failed { error: "no".into() } };
        std::fs::write(&path, serde_json::to_vec(&response).unwrap()).unwrap();
        assert!(matches!(read_response(&path, 5), Some(ExecResponse::Failed { error }) if error == "no"));
        assert!(read_response(&path, 4).is_none());
        std::fs::write(&path, b"{\"token\": 5").unwrap();
        assert!(read_response(&path, 5).is_none());
    }
}
