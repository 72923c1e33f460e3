//! A fork server: one process per executor library that loads the plugin once and makes a fresh copy of
//! itself for each run, instead of each run starting the harness again (`harness __exec`) and loading the
//! plugin again.
//!
//! `harness __fork_server LIBRARY` opens the library and checks that it still has a single thread: a copy
//! of a process has only the thread that made it, so a plugin that starts a thread when it loads cannot be
//! copied safely, and its runs go through `__exec` (see [`RunPath`]: `environment.json` says which path each
//! executor's runs took, and why). Then, asked to, it makes a copy of itself with `clone(CLONE_PARENT)`
//! ([`sys::fork_sibling`]): the spare. The copy is the harness's child, not the server's: the harness waits
//! for it on a pidfd, times it out, kills its process group and reaps it with `wait4` (with its resource
//! usage), exactly as a run it started itself.
//!
//! The spare isolates itself at once, as `__exec`'s process does before it `exec`s (a process group of its
//! own, death with the harness, the run's cgroup, the data limit: [`sys::isolate_self`]), and waits for its
//! order. Given it, it points its standard streams at the run's log, runs the request in the run's folder
//! as `__exec` does ([`super::exec::respond`]), and exits: with `_exit` once its output buffers are
//! written, so the exit handlers the server's libraries registered do not run in each copy (a plugin that
//! needs its own at exit, such as a coverage profile, runs with `--spawn exec`).
//!
//! The harness asks for the next run's spare as soon as a run's process says it has written its response
//! (an [`Answer::Done`] on the server's stdout, which the harness watches with the run's pidfd), or once
//! it is reaped when it said nothing: the copy and its isolation happen while the run's process exits and
//! the harness records the run, never while a run's work runs; the next run starts with one message to a
//! process that is ready. Its time (`wall_s`) counts from that message.
//!
//! The server itself has a process group of its own, dies with the harness, is recorded in the scratch
//! trail as runs are ([`super::reap`]), and is spared by the reaping of orphans between runs, as spares
//! are. The harness writes frames (a length, then JSON) to the server's stdin: a request for a spare,
//! which the server reads, then the spare's order, which the spare reads from the same pipe while the
//! server waits for it to have done so; nobody reads ahead of their own frame. The server answers in
//! lines of JSON on its stdout.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cgroup::{Keeper, RunCgroup};
use super::libraries::FileVersion;
use super::reap::{SCRATCH_VAR, record_started, spare, start_time, unspare};
use crate::plugin::Library;
use crate::sys::{self, ChildSetup, pid_t};

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

/// What the server reads: make a spare for the next run, isolated so.
#[derive(Serialize, Deserialize)]
struct Prepare {
    /// The `cgroup.procs` files of the run's cgroups.
    cgroup_procs: Vec<PathBuf>,
    data_limit: Option<u64>,
}

/// What a spare reads: the run it is to be.
#[derive(Serialize, Deserialize)]
struct Order {
    /// What the run is to do.
    exec: super::exec::ExecRequest,
    /// The run's folder, where its response goes.
    dir: PathBuf,
    /// The file the run's stdout and stderr go to (appended).
    output: PathBuf,
}

/// What the harness reads on the server's stdout: the server's answer to a [`Prepare`], or a run's word.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    /// The spare's pid and start time ([`start_time`]), for the scratch trail.
    Spare {
        pid: pid_t,
        started: Option<u64>,
    },
    Error(String),
    /// Said by a run's process, not the server: it has written its response and is about to exit, so
    /// the next run's spare can be made now, while it exits.
    Done {
        token: u64,
    },
}

/// The largest frame a reader accepts.
const MAX_FRAME: usize = 64 << 20;

/// `value` as a frame: its JSON's length in four bytes (little-endian), then the JSON.
fn frame(value: &impl Serialize) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("serializable");
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&u32::try_from(json.len()).expect("a frame under 4 GiB").to_le_bytes());
    frame.extend_from_slice(&json);
    frame
}

/// The next frame's JSON, read from `from` without reading past it; `None` at the end of the input.
fn read_frame(mut from: &File) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut length = [0u8; 4];
    match from.read_exact(&mut length) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame of {length} bytes")));
    }
    let mut json = vec![0; length];
    from.read_exact(&mut json)?;
    Ok(Some(json))
}

/// The body of `harness __fork_server LIBRARY`. Starts no thread, ever: see the module documentation.
pub(crate) fn fork_server_main(library: &Path) -> i32 {
    // Pipes the harness made, which nothing else in this process uses.
    let (requests, mut answers) = sys::standard_streams();
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
    loop {
        // The harness closed its end, or is gone: nothing more to serve.
        let Ok(Some(json)) = read_frame(&requests) else { return 0 };
        let answer =
            match serde_json::from_slice::<Prepare>(&json).map_err(|e| e.to_string()).and_then(|p| setup_of(&p)) {
                Err(e) => Answer::Error(format!("malformed request to the fork server: {e}")),
                Ok(prepare) => match sys::pipe() {
                    Err(e) => Answer::Error(format!("cannot make the run's process: {e}")),
                    Ok((taken, took)) => match sys::fork_sibling() {
                        Ok(None) => {
                            drop(taken);
                            be_spare(&library, &prepare, &requests, took, harness)
                        }
                        Ok(Some(pid)) => {
                            drop(took);
                            if say(&Answer::Spare { pid, started: start_time(pid) }).is_err() {
                                return 0;
                            }
                            // The next frame is the spare's order: the server reads again once the spare has.
                            wait_until_taken(taken);
                            continue;
                        }
                        Err(e) => Answer::Error(format!("cannot make the run's process: {e}")),
                    },
                },
            };
        if say(&answer).is_err() {
            return 0;
        }
    }
}

/// Waits until the spare has read its order (it writes a byte) or is gone (the pipe's end).
fn wait_until_taken(mut taken: File) {
    use std::io::Read as _;
    let mut byte = [0u8; 1];
    while let Err(e) = taken.read(&mut byte) {
        if e.kind() != io::ErrorKind::Interrupted {
            return;
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

/// A spare, a copy of the server: isolates itself, waits for its order, runs it, exits.
fn be_spare(library: &Library, prepare: &ChildSetup, requests: &File, took: File, harness: pid_t) -> ! {
    let isolated = isolate_spare(prepare, harness);
    // The clock's page, which every run reads, is mapped now rather than on the run's time.
    let _ = std::time::Instant::now();
    let Ok(Some(json)) = read_frame(requests) else {
        // No order will come: the harness ended, or gave the spare up.
        sys::exit_now(0)
    };
    let _ = (&took).write_all(&[1]);
    drop(took);
    let order = match serde_json::from_slice::<Order>(&json) {
        Ok(order) => order,
        Err(e) => {
            eprintln!("malformed order to a spare of the fork server: {e}");
            sys::exit_now(2)
        }
    };
    // Named apart from its server in `ps -o comm` and `top`; its command line is the server's.
    sys::set_name(c"harness-run");
    let token = order.exec.token;
    // The server's answers, where this process says when it is done.
    let answers = sys::dup_cloexec(1);
    let code = match isolated.and_then(|()| redirect_output(&order.output)) {
        Ok(()) => super::exec::respond(&order.dir, token, Some(&order.exec), Some(library)),
        Err(e) => {
            let error = format!("cannot start the run: {e}");
            super::exec::write_response(&order.dir, token, super::exec::ExecResponse::Failed { error })
        }
    };

    // What the run printed through buffers is written out; the exit handlers and destructors of the
    // libraries the server loaded are not run: they are the server's, and running them would touch (and
    // fault in) code of every library for nothing.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    sys::flush_c_streams();
    if let Ok(mut answers) = answers {
        let _ = answers.write_all(&Answer::Done { token }.json());
    }
    sys::exit_now(code)
}

/// The isolation a [`Prepare`] asks for, ready for the copy to apply without allocating.
fn setup_of(prepare: &Prepare) -> Result<ChildSetup, String> {
    let cgroup_procs = prepare
        .cgroup_procs
        .iter()
        .map(|p| CString::new(p.as_os_str().as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(ChildSetup { cgroup_procs, data_limit: prepare.data_limit })
}

fn isolate_spare(setup: &ChildSetup, harness: pid_t) -> io::Result<()> {
    let isolated = sys::isolate_self(setup);
    sys::set_name(c"harness-spare");
    // The harness died between the copy and the death signal's setting: nothing is to run.
    if sys::parent_pid() != harness {
        sys::exit_now(1);
    }
    isolated
}

/// Points stdout and stderr at the run's log, and stdin at nothing.
fn redirect_output(output: &Path) -> io::Result<()> {
    let output = File::options().create(true).append(true).open(output)?;
    sys::dup_onto(output.as_fd(), 1)?;
    sys::dup_onto(output.as_fd(), 2)?;
    let null = File::open("/dev/null")?;
    sys::dup_onto(null.as_fd(), 0)?;
    Ok(())
}

/// A path from its C string.
fn path_of(path: &CString) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(path.as_bytes()))
}

/// How many threads this process has.
fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
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
    /// The spare for the next run, and the cgroup it joined.
    spare: Spare,
    /// The `cgroup.procs` of the cgroups the server joined, and its copies are born in.
    joined: Vec<CString>,
}

/// Where the next run's spare is.
enum Spare {
    None,
    /// Asked for; the server's answer, with its pid, is still to be read.
    Asked(Option<RunCgroup>),
    /// Waiting for its order.
    Ready(Started, Option<RunCgroup>),
}

/// A process the server made: its pid and start time ([`start_time`]).
#[derive(Clone, Copy)]
pub(super) struct Started {
    pub pid: pid_t,
    pub started: Option<u64>,
}

impl ForkServer {
    /// Starts the fork server of `library`, with the scratch folder `scratch` in its environment and its
    /// own output in `log`. An error says why the library's runs cannot use one.
    pub(super) fn start(library: &Path, scratch: &Path, log: &Path, join: Vec<CString>) -> Result<Self, String> {
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
        sys::isolate_child(&mut command, ChildSetup { cgroup_procs: join.clone(), data_limit: None });
        let mut child = command.spawn().map_err(failed)?;
        let pid = child.id() as pid_t;
        spare(pid);
        record_started(scratch, pid, None);
        let (Some(requests), Some(answers)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both piped")
        };
        // Reaped by `Drop`, with wait4's sibling, not through std.
        drop(child);
        let mut server = Self {
            pid,
            library: library.to_owned(),
            loaded,
            requests,
            answers: BufReader::new(answers),
            broken: None,
            spare: Spare::None,
            joined: join,
        };
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

    /// Asks the server for the next run's spare, in a cgroup taken from `cgroups` (or, without cgroups,
    /// with the data limit `memory`), unless it has one or cannot serve. Returns at once: the server's
    /// answer is read by [`ForkServer::collect`], before anything reaps the harness's orphans.
    pub(super) fn prepare(&mut self, cgroups: &mut Keeper, memory: Option<u64>) {
        if !matches!(self.spare, Spare::None) || self.broken.is_some() {
            return;
        }
        let cgroup = match cgroups.take() {
            Ok(cgroup) => cgroup,
            Err(e) => return self.break_with(format!("cannot make the run's cgroup: {e}")),
        };
        let setup = RunCgroup::setup_of_run(cgroup.as_ref(), memory);
        let prepare = Prepare {
            // What the server joined, its copies are in already.
            cgroup_procs: setup.cgroup_procs.iter().filter(|procs| !self.joined.contains(procs)).map(path_of).collect(),
            data_limit: setup.data_limit,
        };
        match self.requests.write_all(&frame(&prepare)) {
            Ok(()) => self.spare = Spare::Asked(cgroup),
            Err(e) => self.break_with(format!("cannot write to the fork server: {e}")),
        }
    }

    /// Reads the server's answer to [`ForkServer::prepare`], if it is still to be read: from then on the
    /// spare's pid is known, and spared by the reaping of orphans.
    pub(super) fn collect(&mut self) {
        let cgroup = match std::mem::replace(&mut self.spare, Spare::None) {
            Spare::Asked(cgroup) => cgroup,
            other => return self.spare = other,
        };
        let answer = loop {
            let answer = self.next_answer();
            // A run's word that it was done, not read while it ran.
            if !matches!(answer, Ok(Answer::Done { .. })) {
                break answer;
            }
        };
        match answer {
            Ok(Answer::Spare { pid, started }) => {
                spare(pid);
                self.spare = Spare::Ready(Started { pid, started }, cgroup);
            }
            Ok(Answer::Error(e)) | Err(e) => self.break_with(e),
            Ok(Answer::Done { .. }) => unreachable!("skipped"),
        }
    }

    /// Whether a run can be ordered from the server now: a spare is waiting, asked for now if need be.
    pub(super) fn ready(&mut self, cgroups: &mut Keeper, memory: Option<u64>) -> bool {
        self.prepare(cgroups, memory);
        self.collect();
        matches!(self.spare, Spare::Ready(..))
    }

    /// Has the spare become the run `exec` in `dir`, its output appended to `output`; returns the pid of the
    /// run's process, a child of the harness, and its cgroup. Without a spare ([`ForkServer::ready`]), or
    /// on an error, the server is broken ([`ForkServer::broken`]) and nothing was started.
    pub(super) fn order(
        &mut self,
        exec: super::exec::ExecRequest,
        dir: &Path,
        output: &Path,
    ) -> io::Result<(Started, Option<RunCgroup>)> {
        let Spare::Ready(started, cgroup) = std::mem::replace(&mut self.spare, Spare::None) else {
            let why = self.broken.clone().unwrap_or_else(|| "no spare to run".to_owned());
            return Err(io::Error::other(why));
        };
        let order = Order { exec, dir: dir.to_owned(), output: output.to_owned() };
        match self.requests.write_all(&frame(&order)) {
            Ok(()) => {
                // The run's process from now on: the runner reaps it, and what it leaves is an orphan.
                unspare(started.pid);
                Ok((started, cgroup))
            }
            Err(e) => {
                self.spare = Spare::Ready(started, cgroup);
                self.break_with(format!("cannot write to the fork server: {e}"));
                Err(e)
            }
        }
    }

    /// The descriptor on which a run of this server says it is done ([`ForkServer::on_done`]), while no
    /// answer of the server's own is due.
    pub(super) fn done_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        (matches!(self.spare, Spare::None) && self.answers.buffer().is_empty() && self.broken.is_none())
            .then(|| self.answers.get_ref().as_fd())
    }

    /// Reads what a run said while it ran ([`ForkServer::done_fd`] was readable): when it is run `token`
    /// saying it is done, asks for the next run's spare at once, as [`ForkServer::prepare`] does.
    pub(super) fn on_done(&mut self, token: u64, cgroups: &mut Keeper, memory: Option<u64>) {
        match self.next_answer() {
            Ok(Answer::Done { token: done }) if done == token => self.prepare(cgroups, memory),
            Ok(Answer::Done { .. }) => {}
            Ok(_) => self.break_with("the fork server answered what it was not asked".to_owned()),
            Err(e) => self.break_with(e),
        }
    }

    /// The next line on the server's stdout, read.
    fn next_answer(&mut self) -> Result<Answer, String> {
        let said = self.read_line(ANSWER_TIMEOUT)?;
        serde_json::from_str(&said).map_err(|e| format!("the fork server said something else than expected: {e}"))
    }

    /// Marks the server as serving no more, for `why`, and ends its spare.
    fn break_with(&mut self, why: String) {
        self.broken.get_or_insert(why);
        self.end_spare();
    }

    /// Kills and reaps the spare, and removes its cgroup.
    fn end_spare(&mut self) {
        match std::mem::replace(&mut self.spare, Spare::None) {
            Spare::None => {}
            // Its pid is not known: it ends when the pipe closes, and is reaped as an orphan.
            Spare::Asked(cgroup) => drop(cgroup),
            Spare::Ready(Started { pid, .. }, cgroup) => {
                let _ = sys::kill(-pid, libc::SIGKILL);
                let _ = sys::kill(pid, libc::SIGKILL);
                sys::reap(pid);
                unspare(pid);
                drop(cgroup);
            }
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
        self.collect();
        self.end_spare();
        let _ = sys::kill(self.pid, libc::SIGKILL);
        sys::reap(self.pid);
        unspare(self.pid);
    }
}

/// How the runs of one executor library start their process.
pub(super) enum RunPath {
    /// A copy of the library's fork server.
    ForkServer(Box<ForkServer>),
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

#[cfg(test)]
mod tests {
    use std::io::{Seek as _, Write as _};

    use super::*;

    /// A file holding `bytes`, read from its start.
    fn file_of(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file.rewind().unwrap();
        file
    }

    #[test]
    fn frames_are_read_one_at_a_time_and_the_end_is_none() {
        let prepare =
            Prepare { cgroup_procs: vec![PathBuf::from("/sys/fs/cgroup/run-1/cgroup.procs")], data_limit: Some(7) };
        let mut bytes = frame(&prepare);
        bytes.extend(frame(&prepare));
        let file = file_of(&bytes);
        for _ in 0..2 {
            let read: Prepare = serde_json::from_slice(&read_frame(&file).unwrap().unwrap()).unwrap();
            assert_eq!((read.cgroup_procs, read.data_limit), (prepare.cgroup_procs.clone(), Some(7)));
        }
        assert!(read_frame(&file).unwrap().is_none());
    }

    #[test]
    fn a_frame_too_long_or_cut_short_is_an_error() {
        let too_long = u32::try_from(MAX_FRAME + 1).unwrap().to_le_bytes();
        assert_eq!(read_frame(&file_of(&too_long)).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut cut = frame(&Hello::Ready);
        cut.pop();
        assert_eq!(read_frame(&file_of(&cut)).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn answers_are_lines_of_json_the_harness_reads_back() {
        let line = Answer::Spare { pid: 12, started: Some(34) }.json();
        assert_eq!(line, b"{\"spare\":{\"pid\":12,\"started\":34}}\n");
        let done: Answer = serde_json::from_slice(&Answer::Done { token: 5 }.json()).unwrap();
        assert!(matches!(done, Answer::Done { token: 5 }));
        assert_eq!(Hello::Threads(2).json(), b"{\"threads\":2}\n");
    }

    #[test]
    fn environment_json_says_which_way_runs_start() {
        assert_eq!(RunPath::Exec("the plugin starts a thread".to_owned()).describe()["path"], "exec");
        assert_eq!(RunPath::Exec("why".to_owned()).describe()["why"], "why");
    }
}
