//! A fork server: one process per executor library that loads the plugin once and makes a fresh copy of
//! itself for each run, instead of each run starting the harness again (`harness __exec`) and loading the
//! plugin again.
//!
//! `harness __fork_server LIBRARY` opens the library and checks that it still has a single thread: a copy
//! of a process has only the thread that made it, so a plugin that starts a thread when it loads cannot be
//! copied safely, and its runs go through `__exec` (see [`RunPath`]: `environment.json` says which path each
//! executor's runs took, and why). Then, for each request, it makes a copy of itself with
//! `clone(CLONE_PARENT)` ([`sys::fork_sibling`]). The copy is the harness's child, not the server's: the
//! harness waits for it on a pidfd, times it out, kills its process group and reaps it with `wait4` (with
//! its resource usage), exactly as a run it started itself. The copy isolates itself as `__exec`'s
//! process does before it `exec`s (a process group of its own, death with the harness, the run's cgroup,
//! the data limit: [`sys::isolate_self`]), points its standard streams at the run's log, runs the request
//! in the run's folder as `__exec` does ([`super::exec::respond`]), and exits: with `_exit` once its
//! output buffers are written, so the exit handlers the server's libraries registered do not run in each
//! copy (a plugin that needs its own at exit, such as a coverage profile, runs with `--spawn exec`).
//!
//! The server itself has a process group of its own, dies with the harness, is recorded in the scratch
//! trail as runs are ([`super::reap`]), and is spared by the reaping of orphans between runs. Requests are
//! lines of JSON on its stdin, answers lines of JSON on its stdout.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::fd::{AsFd as _, FromRawFd as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::reap::{SCRATCH_VAR, record_started, spare, unspare};
use super::sys::{self, ChildSetup, pid_t};
use crate::plugin::Library;

/// How long the server may take to load the plugin and say whether it can serve.
const START_TIMEOUT: Duration = crate::plugin::PROBE_TIMEOUT;
/// How long the server may take to answer a request with the pid of the run's process: a copy of a
/// process takes well under a millisecond.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server says once it has loaded the plugin.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Hello {
    Ready,
    /// The process has this many threads after loading the plugin.
    Threads(usize),
    Error(String),
}

/// One run for the server to start.
#[derive(Serialize, Deserialize)]
struct Request {
    /// What the run is to do.
    exec: super::exec::ExecRequest,
    /// The run's folder, where its response goes.
    dir: PathBuf,
    /// The file the run's stdout and stderr go to (appended).
    output: PathBuf,
    /// The `cgroup.procs` files of the run's cgroups.
    cgroup_procs: Vec<PathBuf>,
    data_limit: Option<u64>,
}

/// The server's answer to a request.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Started(pid_t),
    Error(String),
}

/// The body of `harness __fork_server LIBRARY`. Starts no thread, ever: see the module documentation.
pub(crate) fn fork_server_main(library: &Path) -> i32 {
    // SAFETY: descriptors 0 and 1 are this process's stdin and stdout, which the harness made pipes, and
    // nothing else in this process uses them.
    let (requests, mut answers) = unsafe { (File::from_raw_fd(0), File::from_raw_fd(1)) };
    let mut say = |line: &dyn Line| answers.write_all(&line.json());
    let library = match Library::open(library) {
        Ok(library) => library,
        Err(e) => {
            let _ = say(&Hello::Error(e.to_string()));
            return 0;
        }
    };
    let threads = threads_of_this_process();
    if threads != 1 {
        let _ = say(&Hello::Threads(threads));
        return 0;
    }
    if say(&Hello::Ready).is_err() {
        return 0;
    }
    let harness = sys::parent_pid();
    let mut requests = BufReader::new(requests);
    let mut line = String::new();
    loop {
        line.clear();
        // The harness closed its end, or is gone: nothing more to serve.
        if !matches!(requests.read_line(&mut line), Ok(1..)) {
            return 0;
        }
        let answer = match serde_json::from_str::<Request>(&line) {
            Err(e) => Answer::Error(format!("malformed request to the fork server: {e}")),
            Ok(request) => match sys::fork_sibling() {
                Ok(None) => run_copy(&library, &request, harness),
                Ok(Some(pid)) => Answer::Started(pid),
                Err(e) => Answer::Error(format!("cannot make the run's process: {e}")),
            },
        };
        if say(&answer).is_err() {
            return 0;
        }
    }
}

/// A line of the protocol: what the server says.
trait Line {
    fn json(&self) -> Vec<u8>;
}

impl<T: Serialize> Line for T {
    fn json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("serializable");
        bytes.push(b'\n');
        bytes
    }
}

/// The run's process, a copy of the server: isolates itself, runs the request, exits.
fn run_copy(library: &Library, request: &Request, harness: pid_t) -> ! {
    let code = match prepare_copy(request, harness) {
        Ok(()) => super::exec::respond(&request.dir, request.exec.token, Some(&request.exec), Some(library)),
        Err(e) => {
            let error = format!("cannot start the run: {e}");
            super::exec::write_response(&request.dir, request.exec.token, super::exec::ExecResponse::Failed { error })
        }
    };
    // What the run printed through buffers is written out; the exit handlers and destructors of the
    // libraries the server loaded are not run: they are the server's, and running them would touch (and
    // fault in) code of every library for nothing.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    sys::flush_c_streams();
    sys::exit_now(code)
}

fn prepare_copy(request: &Request, harness: pid_t) -> io::Result<()> {
    let cgroup_procs = request
        .cgroup_procs
        .iter()
        .map(|p| CString::new(p.as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    sys::isolate_self(&ChildSetup { cgroup_procs, data_limit: request.data_limit })?;
    // Named apart from its server in `ps -o comm` and `top`; its command line is the server's.
    sys::set_name(c"harness-run");
    // The harness died between the copy and the death signal's setting: nothing is to run.
    if sys::parent_pid() != harness {
        sys::exit_now(1);
    }
    let output = File::options().create(true).append(true).open(&request.output)?;
    sys::dup_onto(output.as_fd(), 1)?;
    sys::dup_onto(output.as_fd(), 2)?;
    let null = File::open("/dev/null")?;
    sys::dup_onto(null.as_fd(), 0)?;
    Ok(())
}

/// How many threads this process has.
fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// What names one version of a file: a replaced or rewritten file differs in one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
}

impl FileVersion {
    fn of(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path)?;
        Ok(Self {
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// The harness's end of a fork server.
pub(super) struct ForkServer {
    pid: pid_t,
    library: PathBuf,
    /// The library's file as the server loaded it.
    loaded: FileVersion,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
    /// Why it can serve no more, once it cannot.
    broken: Option<String>,
}

impl ForkServer {
    /// Starts the fork server of `library`, with the scratch folder `scratch` in its environment and its
    /// own output in `log`. An error says why the library's runs cannot use one.
    pub(super) fn start(library: &Path, scratch: &Path, log: &Path) -> Result<Self, String> {
        let failed = |e: io::Error| format!("cannot start the fork server: {e}");
        let loaded = FileVersion::of(library).map_err(failed)?;
        let exe = std::env::current_exe().map_err(failed)?;
        let log_file = File::create(log).map_err(failed)?;
        let mut command = Command::new(exe);
        command
            .arg("__fork_server")
            .arg(library)
            .env(SCRATCH_VAR, scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file);
        sys::isolate_child(&mut command, ChildSetup { cgroup_procs: Vec::new(), data_limit: None });
        let mut child = command.spawn().map_err(failed)?;
        let pid = child.id() as pid_t;
        spare(pid);
        record_started(scratch, pid);
        let (Some(requests), Some(answers)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both piped")
        };
        // Reaped by `Drop`, with wait4's sibling, not through std.
        drop(child);
        let mut server =
            Self { pid, library: library.to_owned(), loaded, requests, answers: BufReader::new(answers), broken: None };
        let said = server.read_line(START_TIMEOUT).map_err(|e| {
            let printed = crate::process::tail_of_file(log, 4096);
            let printed = printed.trim();
            if printed.is_empty() { e } else { format!("{e}: {}", crate::process::last_lines(printed, 3)) }
        })?;
        match serde_json::from_str::<Hello>(&said) {
            // Replaced while the server loaded it: which version it has is not known.
            Ok(Hello::Ready) if server.library_changed() => {
                Err("the library file changed while the fork server loaded it".to_owned())
            }
            Ok(Hello::Ready) => Ok(server),
            Ok(Hello::Threads(n)) => Err(format!(
                "the plugin has {} when it has loaded, and a copy of a process keeps only one",
                if n == 2 { "started a thread".to_owned() } else { format!("{n} threads") }
            )),
            Ok(Hello::Error(e)) => Err(e),
            Err(e) => Err(format!("the fork server said something else than expected: {e}")),
        }
    }

    /// Has the server start a run in `dir`; returns the pid of the run's process, a child of the harness.
    /// On an error the server is broken ([`ForkServer::broken`]) and nothing was started.
    pub(super) fn spawn(
        &mut self,
        exec: super::exec::ExecRequest,
        dir: &Path,
        output: &Path,
        setup: &ChildSetup,
    ) -> io::Result<pid_t> {
        let request = Request {
            exec,
            dir: dir.to_owned(),
            output: output.to_owned(),
            cgroup_procs: setup
                .cgroup_procs
                .iter()
                .map(|c| PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
                .collect(),
            data_limit: setup.data_limit,
        };
        let result = self.exchange(&request);
        if let Err(e) = &result {
            self.broken = Some(e.to_string());
        }
        result
    }

    /// Sends `request` and reads the server's answer to it.
    fn exchange(&mut self, request: &Request) -> io::Result<pid_t> {
        self.requests.write_all(&request.json())?;
        let said = self.read_line(ANSWER_TIMEOUT).map_err(io::Error::other)?;
        match serde_json::from_str::<Answer>(&said) {
            Ok(Answer::Started(pid)) => Ok(pid),
            Ok(Answer::Error(e)) => Err(io::Error::other(e)),
            Err(e) => Err(io::Error::other(format!("the fork server said something else than expected: {e}"))),
        }
    }

    /// Whether the library's file is no longer the one the server loaded (rebuilt, replaced, removed): a
    /// run must then load the file as it is now.
    pub(super) fn library_changed(&self) -> bool {
        FileVersion::of(&self.library).ok() != Some(self.loaded)
    }

    /// Why the server can serve no more, once it cannot.
    pub(super) fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// The server's next line, waiting at most `timeout` for it.
    fn read_line(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = std::time::Instant::now() + timeout;
        while self.answers.buffer().is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match sys::poll_readable(self.answers.get_ref().as_fd(), left) {
                Ok(true) => break,
                Ok(false) => {
                    return Err(format!(
                        "the fork server did not answer within {}",
                        crate::fmt::format_duration(timeout)
                    ));
                }
                // Ctrl-C or SIGTERM: the answer comes all the same, and the runner looks at the signal next.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot wait for the fork server: {e}")),
            }
        }
        let mut line = String::new();
        loop {
            match self.answers.read_line(&mut line) {
                Ok(0) => return Err("the fork server exited".to_owned()),
                Ok(_) => return Ok(line),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read from the fork server: {e}")),
            }
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        let _ = sys::kill(self.pid, libc::SIGKILL);
        sys::reap(self.pid);
        unspare(self.pid);
    }
}

/// How the runs of one executor library start their process.
pub(super) enum RunPath {
    /// A copy of the library's fork server.
    ForkServer(ForkServer),
    /// `harness __exec`, for the reason given.
    Exec(String),
}

impl RunPath {
    /// What `environment.json` says of it.
    pub(super) fn describe(&self) -> serde_json::Value {
        match self {
            RunPath::ForkServer(_) => serde_json::json!({ "path": "fork_server" }),
            RunPath::Exec(why) => serde_json::json!({ "path": "exec", "why": why }),
        }
    }
}
