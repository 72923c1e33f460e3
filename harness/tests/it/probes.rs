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
    let dir = tempfile::tempdir().unwrap();
    support::c_library("constructor", dir.path());
    std::fs::write(dir.path().join("v.toml"), with_step_library("libconstructor.so")).unwrap();
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
