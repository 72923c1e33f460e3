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
    let failed = |message: String| (Vec::new(), message);
    let exe = std::env::current_exe().map_err(|e| failed(format!("cannot find the harness executable: {e}")))?;
    // Files, not pipes: a process the library started could hold a pipe open for ever.
    let (stdout, stderr) = (tempfile::tempfile(), tempfile::tempfile());
    let (mut stdout, mut stderr) =
        stdout.and_then(|o| Ok((o, stderr?))).map_err(|e| failed(format!("cannot start the plugin probe: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("__probe")
        .args(paths.iter().map(|p| p.as_os_str()))
        .stdin(std::process::Stdio::null())
        .stdout(stdout.try_clone().map_err(|e| failed(e.to_string()))?)
        .stderr(stderr.try_clone().map_err(|e| failed(e.to_string()))?);
    // A process group of its own, and death with the harness.
    command.process_group(0);
    sys::die_with_harness(&mut command);
    let mut child = command.spawn().map_err(|e| failed(format!("cannot start the plugin probe: {e}")))?;
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
    let read = |file: &mut std::fs::File| {
        let mut bytes = Vec::new();
        let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.take(PROBE_OUTPUT_BYTES).read_to_end(&mut bytes));
        bytes
    };
    let out = read(&mut stdout);
    let results: Probed = String::from_utf8_lossy(&out)
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
    let message = match status {
        Some(status) => format!(
            "loading {name} crashed the plugin probe ({}){}",
            crate::process::describe_exit(status),
            tail_of(&read(&mut stderr))
        ),
        None => format!(
            "loading {name} did not end within {}s (its initialisers or its info block), so the probe was killed",
            PROBE_TIMEOUT.as_secs()
        ),
    };
    Err((results, message))
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
pub(crate) fn probe_steps(path: &Path) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the harness executable: {e}"))?;
    let output = Command::new(exe)
        .arg("__probe_steps")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot start the step library probe: {e}"))?;
    if output.status.success() {
        if let Ok(functions) = serde_json::from_slice(&output.stdout) {
            return Ok(functions);
        }
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    if output.status.code() == Some(1) && !stderr.is_empty() {
        return Err(crate::process::last_lines(stderr, 3));
    }
    Err(format!(
        "loading it crashed the probe ({}){}",
        crate::process::describe_exit(output.status),
        tail_of(&output.stderr)
    ))
}
