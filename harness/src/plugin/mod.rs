//! Executor plugins: finding them, checking them, and calling them.
//!
//! The harness process never loads executor code. It learns what a library holds by running
//! `harness __probe LIB...` ([`probe`]), and runs each measured run in `harness __exec DIR` (see
//! [`crate::run`]); only those child processes call [`Library::open`]. A library, once opened, is never
//! closed: unloading a Rust `cdylib` with thread-locals or live threads is unsound.

mod discovery;
// The plugin's C ABI: the one module besides `sys` with `unsafe` code.
#[allow(unsafe_code)]
mod library;

use std::ffi::OsStr;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness_sdk::abi;
use harness_sdk::model::Model;
use harness_sdk::protocol::{OptionKind, OptionSpec};
use serde::{Deserialize, Serialize};

use crate::sys;

pub(crate) use discovery::Registry;
pub(crate) use discovery::SearchPath;
pub(crate) use library::{CallOutcome, Library};

/// What the harness knows of one executor plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct PluginInfo {
    pub name: String,
    pub version: String,
    pub abi_version: u32,
    pub path: PathBuf,
    pub description: String,
    pub options: Vec<OptionSpec>,
    /// The execution model the plugin declares, for the ideal-time model.
    #[serde(default)]
    pub model: Option<Model>,
    /// Whether it can send the requests of many tasks in flight over one connection (`connect = "shared"`).
    #[serde(default)]
    pub multiplexes: bool,
}

impl PluginInfo {
    pub(crate) fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }
}

/// Why a library cannot be used as a plugin.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("plugin file {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("plugin file {} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{} is not a loadable library: {message}", path.display())]
    NotALibrary { path: PathBuf, message: String },
    #[error("{} is not a harness plugin: it has no `{}` entry point", .0.display(), entry_symbol())]
    NoEntryPoint(PathBuf),
    #[error("{} is not a harness plugin: its descriptor has the wrong magic number", .0.display())]
    BadMagic(PathBuf),
    #[error(
        "{} was built for plugin ABI version {found}, but this harness speaks ABI version {expected}",
        path.display()
    )]
    AbiMismatch { path: PathBuf, found: u32, expected: u32 },
    #[error("{} has a descriptor of {found} bytes where ABI version {} has {expected}", path.display(), abi::ABI_VERSION)]
    SizeMismatch { path: PathBuf, found: u32, expected: u32 },
    #[error("{} failed to describe itself: {message}", path.display())]
    Info { path: PathBuf, message: String },
    #[error("{} declares an invalid option: {message}", path.display())]
    BadOption { path: PathBuf, message: String },
}

fn entry_symbol() -> &'static str {
    std::str::from_utf8(&abi::ENTRY_SYMBOL[..abi::ENTRY_SYMBOL.len() - 1]).expect("ASCII")
}

/// The names an option may not take: the built-in axes, whose values the harness gives every run itself,
/// and the columns the harness writes, since any option may be an axis.
fn reserved_option_names() -> Vec<&'static str> {
    let mut names = vec!["executor", "workload", "workers"];
    names.extend(crate::metrics::reserved_columns());
    names
}

/// Checks what a plugin declares of its options: names it may use, each once, and defaults of their type.
fn check_options(options: &[OptionSpec]) -> Result<(), String> {
    let reserved = reserved_option_names();
    for (i, option) in options.iter().enumerate() {
        let name = &option.name;
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(format!("option {} has the name {name:?}, which a file cannot write as a key", i + 1));
        }
        if reserved.contains(&name.as_str()) || crate::metrics::is_member(name) {
            return Err(format!("option `{name}` has a name the harness reserves (for its own axes and columns)"));
        }
        if options[..i].iter().any(|o| &o.name == name) {
            return Err(format!("option `{name}` is declared twice"));
        }
        if let OptionKind::Choice { choices } = &option.kind {
            if choices.is_empty() {
                return Err(format!("option `{name}` is a choice of no values"));
            }
        }
        if !option.default.is_null() {
            option.check(&option.default).map_err(|expected| {
                format!("the default of option `{name}` is {}, where the option takes {expected}", option.default)
            })?;
        }
    }
    Ok(())
}

/// One line of `harness __probe` output.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProbeLine {
    Ok(Box<PluginInfo>),
    Error(String),
}

/// The body of `harness __probe LIB...`: prints one JSON line per library.
pub(crate) fn probe_main(paths: &[PathBuf]) -> i32 {
    for path in paths {
        let line = match Library::open(path).and_then(|library| library.info()) {
            Ok(info) => ProbeLine::Ok(Box::new(info)),
            Err(e) => ProbeLine::Error(e.to_string()),
        };
        println!("{}", serde_json::to_string(&line).expect("serializable"));
    }
    0
}

/// How long a probe may take to open a library and read its info; then it is killed.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a probe's output the harness reads.
const PROBE_OUTPUT_BYTES: u64 = 4 << 20;

/// Asks a child process what each library in `paths` holds, in order. A library that takes the probe
/// down (crashes it, or blocks past [`PROBE_TIMEOUT`]) gets the error; the libraries after it are probed
/// again, in a new child.
pub(crate) fn probe(paths: &[PathBuf]) -> Vec<Result<PluginInfo, String>> {
    let mut results = Vec::with_capacity(paths.len());
    while results.len() < paths.len() {
        let rest = &paths[results.len()..];
        match probe_in_child(rest) {
            Ok(done) => results.extend(done),
            Err((done, message)) => {
                results.extend(done);
                results.push(Err(message));
            }
        }
    }
    results
}

/// What a probe child said of each library, in order, as far as it got; when it did not get through them
/// all, also why it stopped, which is about the library after the last it answered for.
type Probed = Vec<Result<PluginInfo, String>>;

fn probe_in_child(paths: &[PathBuf]) -> Result<Probed, (Probed, String)> {
    let mut args = vec![OsStr::new("__probe")];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let ran = run_probe(&args).map_err(|message| (Vec::new(), format!("cannot start the plugin probe: {message}")))?;
    let results: Probed = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .map_while(|line| serde_json::from_str::<ProbeLine>(line).ok())
        .map(|line| match line {
            ProbeLine::Ok(info) => Ok(*info),
            ProbeLine::Error(message) => Err(message),
        })
        .take(paths.len())
        .collect();
    if results.len() == paths.len() {
        return Ok(results);
    }
    let name = paths[results.len()].file_name().unwrap_or(OsStr::new("?")).to_string_lossy().into_owned();
    let message = match ran.status {
        _ if ran.flooded => {
            format!("loading {name} printed more than {} MiB, so the probe was stopped", PROBE_OUTPUT_BYTES >> 20)
        }
        Some(status) => format!(
            "loading {name} crashed the plugin probe ({}){}",
            crate::process::describe_exit(status),
            tail_of(&ran.stderr)
        ),
        None => format!(
            "loading {name} did not end within {}s (its initialisers or its info block), so the probe was killed",
            PROBE_TIMEOUT.as_secs()
        ),
    };
    Err((results, message))
}

/// What a probe child did: how it ended (`None`: killed at [`PROBE_TIMEOUT`]), the start of what it printed,
/// and whether it printed more than [`PROBE_OUTPUT_BYTES`] on either stream.
struct ProbeRun {
    status: Option<std::process::ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    flooded: bool,
}

/// Runs `harness ARGS` as a probe: in a process group of its own, dying with the harness, for at most
/// [`PROBE_TIMEOUT`], its output in files (a process the library started could hold a pipe open for ever)
/// that cannot grow past [`PROBE_OUTPUT_BYTES`]. When it ends, everything it started goes: its process
/// group, and what left the group (`setsid`) but still carries the probe's mark in its environment or holds
/// its output open.
fn run_probe(args: &[&OsStr]) -> Result<ProbeRun, String> {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the harness executable: {e}"))?;
    let (mut stdout, mut stderr) =
        (tempfile::tempfile().map_err(|e| e.to_string())?, tempfile::tempfile().map_err(|e| e.to_string())?);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let since_epoch = std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos();
    let mark = format!("{}-{n}-{since_epoch}", std::process::id());
    let mut command = Command::new(exe);
    command
        .args(args)
        .env(PROBE_VAR, &mark)
        .stdin(std::process::Stdio::null())
        .stdout(stdout.try_clone().map_err(|e| e.to_string())?)
        .stderr(stderr.try_clone().map_err(|e| e.to_string())?);
    command.process_group(0);
    sys::die_with_harness(&mut command);
    // One byte past the bound, to tell a full output from one cut there.
    sys::limit_file_size(&mut command, PROBE_OUTPUT_BYTES + 1);
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => break None,
        }
    };
    // The probe's whole process group: whatever the library started goes with it.
    let _ = sys::kill(-(child.id() as sys::pid_t), libc::SIGKILL);
    if status.is_none() {
        let _ = child.wait();
    }
    kill_escaped(&format!("{PROBE_VAR}={mark}"), [&stdout, &stderr]);
    let read = |file: &mut std::fs::File| {
        let mut bytes = Vec::new();
        let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.take(PROBE_OUTPUT_BYTES + 1).read_to_end(&mut bytes));
        let flooded = bytes.len() as u64 > PROBE_OUTPUT_BYTES;
        bytes.truncate(PROBE_OUTPUT_BYTES as usize);
        (bytes, flooded)
    };
    let ((stdout, out_flooded), (stderr, err_flooded)) = (read(&mut stdout), read(&mut stderr));
    Ok(ProbeRun { status, stdout, stderr, flooded: out_flooded || err_flooded })
}

/// In the environment of a probe and of everything it starts: a mark of that probe.
const PROBE_VAR: &str = "HARNESS_PROBE";

/// Kills the processes a probe started that left its process group: those whose environment holds `var`,
/// and those holding one of `files` (its output) open; again, until none is found, since one may have
/// started another before it was killed.
fn kill_escaped<const N: usize>(var: &str, files: [&std::fs::File; N]) {
    for _ in 0..10 {
        let mut found = sys::pids_with_env(var.as_bytes());
        for file in files {
            found.extend(sys::pids_holding(file));
        }
        if found.is_empty() {
            return;
        }
        for pid in found {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn tail_of(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(": {}", crate::process::last_lines(text, 5)) }
}

/// The body of `harness __probe_steps LIB`: prints the JSON list of the step library's functions, or its
/// error on standard error with exit code 1.
pub(crate) fn probe_steps_main(path: &Path) -> i32 {
    match harness_sdk::steplib::Loaded::open(&path.to_string_lossy()).and_then(harness_sdk::steplib::Loaded::functions)
    {
        Ok(functions) => {
            println!("{}", serde_json::to_string(&functions).expect("serializable"));
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Asks a child process for the functions of the step library at `path`: the harness never loads user code.
/// The probe has the protections of an executor's ([`run_probe`]).
pub(crate) fn probe_steps(path: &Path) -> Result<Vec<String>, String> {
    let ran = run_probe(&[OsStr::new("__probe_steps"), path.as_os_str()])
        .map_err(|e| format!("cannot start the step library probe: {e}"))?;
    if ran.flooded {
        return Err(format!("loading it printed more than {} MiB, so the probe was stopped", PROBE_OUTPUT_BYTES >> 20));
    }
    let Some(status) = ran.status else {
        return Err(format!(
            "loading it did not end within {}s (its initialisers or its list of functions), so the probe was killed",
            PROBE_TIMEOUT.as_secs()
        ));
    };
    if status.success() {
        if let Ok(functions) = serde_json::from_slice(&ran.stdout) {
            return Ok(functions);
        }
    }
    let stderr = String::from_utf8_lossy(&ran.stderr);
    let stderr = stderr.trim();
    if status.code() == Some(1) && !stderr.is_empty() {
        return Err(crate::process::last_lines(stderr, 3));
    }
    Err(format!("loading it crashed the probe ({}){}", crate::process::describe_exit(status), tail_of(&ran.stderr)))
}
