//! Probes of plugins and step libraries (`__probe`, `__probe_steps`): which file a name means, and what a
//! library that misbehaves when loaded can do to the harness: nothing lasting.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;

use crate::support;

/// An experiment of one tiny run whose `[libraries]` names `library` as `steps`.
fn with_step_library(library: &str) -> String {
    format!(
        "[experiment]\nname = \"probed\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{{ compute = \"1KiB\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n\n[libraries]\nsteps = \"{library}\"\n"
    )
}

/// A folder holding `libconstructor.so` and the experiment file `v.toml` of `text`; and that file.
fn beside_a_library(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    support::c_library("constructor", dir.path());
    let file = dir.path().join("v.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

/// Runs `harness ARGS` in `dir` with the constructor of `libconstructor.so` doing `what` and marking `mark`,
/// and `marker` in the environment of every process it starts; fails when it hangs.
fn harness_in(dir: &Path, args: &[&OsStr], what: &str, mark: &Path, marker: &str) -> std::process::Output {
    let child = support::harness()
        .current_dir(dir)
        .args(args)
        .env("FIXTURE_CONSTRUCTOR", what)
        .env("FIXTURE_MARK", mark)
        .env("HARNESS_TEST_MARKER", marker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::output_within(child, &format!("harness {args:?}"))
}

#[test]
fn a_bare_library_name_is_the_file_beside_the_experiment_file_however_the_file_is_given() {
    let (dir, _) = beside_a_library(&with_step_library("libconstructor.so"));
    let marker = support::unique_marker(module_path!());
    for given in ["v.toml", "./v.toml"] {
        let mark = dir.path().join("loaded");
        let out = harness_in(dir.path(), &[OsStr::new("validate"), OsStr::new(given)], "mark", &mark, &marker);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // It is no step library, but it is the one beside the file that was loaded, not one of the system's.
        assert_eq!(out.status.code(), Some(2), "{given}: {stderr}");
        assert!(stderr.contains("step library `steps` cannot be loaded"), "{given}: {stderr}");
        assert!(mark.exists(), "{given}: the library beside the file was not loaded: {stderr}");
        std::fs::remove_file(&mark).unwrap();
    }
}

#[test]
fn a_step_library_that_blocks_floods_or_detaches_when_loaded_is_refused_and_leaves_nothing() {
    let (dir, file) = beside_a_library(&with_step_library("libconstructor.so"));
    for (what, expected) in [
        ("block", "loading it did not end within 10s"),
        ("flood", "loading it printed more than 4 MiB, so the probe was stopped"),
        ("setsid", "step library `steps` cannot be loaded"),
    ] {
        let marker = support::unique_marker(module_path!());
        let mark = dir.path().join(format!("loaded-{what}"));
        let out = harness_in(dir.path(), &[OsStr::new("validate"), file.as_os_str()], what, &mark, &marker);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(expected), "{what}: {stderr}");
        assert!(stderr.len() < 16 * 1024, "{what}: the message is the start of a flood: {} bytes", stderr.len());
        // The detached child of `setsid` kept the probe's output open: it went with the probe.
        assert!(what == "flood" || mark.exists(), "{what}: the constructor ran");
        support::wait_until("nothing the probe started is left", || support::marked(&marker).is_empty());
    }
}

#[test]
fn a_step_library_probe_dies_with_a_harness_killed_while_it_blocks() {
    let (dir, file) = beside_a_library(&with_step_library("libconstructor.so"));
    support::kill_while_a_constructor_blocks(&[OsStr::new("validate"), file.as_os_str()], &dir.path().join("loading"));
}

#[test]
fn an_executor_library_that_detaches_a_process_when_probed_leaves_nothing_behind() {
    let (dir, file) =
        beside_a_library(&with_step_library("libconstructor.so").replace("[libraries]\nsteps", "[plugins]\nmine"));
    let plugins = dir.path().as_os_str();
    let commands: [&[&OsStr]; 2] =
        [&[OsStr::new("list"), OsStr::new("--plugin-dir"), plugins], &[OsStr::new("validate"), file.as_os_str()]];
    for args in commands {
        let marker = support::unique_marker(module_path!());
        let mark = dir.path().join("detached");
        let out = harness_in(dir.path(), args, "setsid", &mark, &marker);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(0) || out.status.code() == Some(2), "{args:?}: {stderr}");
        assert!(mark.exists(), "{args:?}: the detached process was started");
        support::wait_until("nothing the probe started is left", || support::marked(&marker).is_empty());
        std::fs::remove_file(&mark).unwrap();
    }
}
