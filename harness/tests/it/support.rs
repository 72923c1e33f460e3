//! Shared helpers: paths, the harness command, and making sure the plugins are built.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("harness/ is in the workspace").to_owned()
}

/// The experiment files in `experiments/`, sorted.
pub(crate) fn experiment_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The folder of the harness binary under test, where the built-in executors are.
pub(crate) fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_harness")).parent().unwrap().to_owned()
}

/// Builds every workspace member once per test binary: the executor plugins are cdylibs, which
/// `cargo test` does not build.
pub(crate) fn ensure_plugins_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--quiet"]).current_dir(root());
        if bin_dir().ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "cargo build --workspace failed");
    });
}

/// The harness binary, with the plugins built and no plugin path from the environment.
pub(crate) fn harness() -> Command {
    ensure_plugins_built();
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    command.env_remove("HARNESS_PLUGIN_PATH");
    command
}

/// A built test or example plugin in the build folder.
pub(crate) fn built_library(stem: &str) -> PathBuf {
    ensure_plugins_built();
    let path = bin_dir().join(format!("lib{stem}.so"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A temporary folder with `plugins/notalib.so` (text), `plugins/libwrong_abi.so` (a plugin of another
/// ABI version) and `plugins/libno_entry.so` (a library without the entry point), for the bad-input
/// fixtures.
pub(crate) fn sandbox_with_fixture_plugins() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("notalib.so"), "this is not a shared library\n").unwrap();
    std::fs::copy(built_library("plugin_wrong_abi"), plugins.join("libwrong_abi.so")).unwrap();
    std::fs::copy(built_library("plugin_no_entry"), plugins.join("libno_entry.so")).unwrap();
    dir
}

/// The rows of a `runs.csv`, as column name to value.
pub(crate) fn read_runs(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

/// Processes whose environment holds `marker`, as (pid, parent pid, command line).
pub(crate) fn marked(marker: &str) -> Vec<(i32, i32, String)> {
    let needle = format!("HARNESS_TEST_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if !environ.split(|&b| b == 0).any(|var| var == needle.as_bytes()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The state follows the command name, which is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        if fields[0] == "Z" {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push((pid, fields[1].parse().unwrap(), cmdline));
    }
    found
}

/// Whether the process `pid` with command line `cmdline` is a run's process: started as `harness __exec`,
/// or a copy of a fork server, which names itself `harness-run` (its command line is the server's).
pub(crate) fn is_run_process(pid: i32, cmdline: &str) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    cmdline.contains("__exec") || comm.trim_end() == "harness-run"
}

pub(crate) fn unique_marker(test: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{test}-{}-{n}-{:?}", std::process::id(), Instant::now())
}

/// Waits until `done` holds, or fails after a generous deadline: this is about liveness, not speed.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids of the processes alive whose environment holds `HARNESS_TEST_MARKER=marker`.
pub(crate) fn processes_marked(marker: &str) -> Vec<i32> {
    marked(marker).into_iter().map(|(pid, _, _)| pid).collect()
}

/// Runs the experiment file `text` (whose `[experiment] name` is `name`) with `--quiet` into a temporary
/// folder, asserting it exits 0; returns the folder, the result folder, its runs and what was printed on
/// standard error.
pub(crate) fn run_inline(
    name: &str,
    text: &str,
) -> (tempfile::TempDir, PathBuf, Vec<std::collections::HashMap<String, String>>, String) {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let result =
        harness().args(["run", "--quiet", "--out"]).arg(out.path().join("results")).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    let dir = out.path().join("results").join(name).join("latest");
    let rows = read_runs(&dir.join("runs.csv"));
    (out, dir, rows, stderr)
}

/// Writes the experiment file `text` as `NAME.toml` in a new temporary folder; returns both.
pub(crate) fn write_inline(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// Compiles the C program `source` with `flags` (and `-O1`) into `output`.
pub(crate) fn cc(flags: &[String], source: &Path, output: &Path) {
    let status = Command::new("cc").args(flags).args(["-O1", "-o"]).arg(output).arg(source).status().unwrap();
    assert!(status.success(), "cc failed on {}", source.display());
}

/// Builds the C library `harness/tests/plugins/c/NAME.c` into `dir/libNAME.so`; returns its path.
pub(crate) fn c_library(name: &str, dir: &Path) -> PathBuf {
    c_library_as(name, &[], &dir.join(format!("lib{name}.so")))
}

/// Builds the C library `harness/tests/plugins/c/NAME.c` with the macros `defines` (`BUILD=2`) into
/// `library`; returns its path.
pub(crate) fn c_library_as(name: &str, defines: &[&str], library: &Path) -> PathBuf {
    let source = root().join(format!("harness/tests/plugins/c/{name}.c"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1"])
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg("-o")
        .arg(library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success(), "cc failed on {}", source.display());
    library.to_owned()
}

/// Waits for `child` for at most a generous deadline, killing it when it is not done by then: a command
/// that hangs fails its test instead of hanging it.
pub(crate) fn output_within(mut child: std::process::Child, what: &str) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Starts `harness ARGS` with the constructor of a library it probes blocking (`FIXTURE_CONSTRUCTOR=block`,
/// see `plugins/c/constructor.c`), kills it with SIGKILL once the constructor has written `mark`, and waits
/// until nothing the harness started is left.
pub(crate) fn kill_while_a_constructor_blocks(args: &[&std::ffi::OsStr], mark: &Path) {
    let marker = unique_marker(module_path!());
    let mut harness = harness()
        .args(args)
        .env("FIXTURE_CONSTRUCTOR", "block")
        .env("FIXTURE_MARK", mark)
        .env("HARNESS_TEST_MARKER", &marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the probe is in the blocking constructor", || mark.exists());
    harness.kill().unwrap();
    harness.wait().unwrap();
    wait_until("the probe of the killed harness is gone", || marked(&marker).is_empty());
}

/// Starts `harness run --quiet --out OUT FILE` with `marker` in its environment (which every process it
/// starts inherits) and its scratch folders in OUT's parent (those of a harness killed with SIGKILL stay
/// behind); standard output and error are piped.
pub(crate) fn start_marked(marker: &str, file: &Path, out: &Path) -> std::process::Child {
    harness()
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(file)
        .env("HARNESS_TEST_MARKER", marker)
        .env("TMPDIR", out.parent().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}
