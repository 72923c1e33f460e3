//! No process a run starts outlives it: not after a normal end, a timeout, a crash of the run's process,
//! or `kill -9` of the harness. Every process started here carries a marker in its environment, so the
//! tests can find every descendant, however it was started.

use std::path::Path;
use std::process::Command;

use crate::support::{self, marked, unique_marker, wait_until};

fn experiment(dir: &Path, workers: u32, sleep: &str, timeout: &str) -> std::path::PathBuf {
    let path = dir.join("exp.toml");
    std::fs::write(
        &path,
        format!(
            "[experiment]\nname = \"lifecycle\"\nrepetitions = 2\nwarmup = 0\ntimeout = \"{timeout}\"\n\n\
             [workloads.w]\ntasks = {}\nsteps = [{{ sleep = \"{sleep}\" }}]\n\n\
             [matrix]\nexecutor = [\"multiprocess\"]\nworkers = [{workers}]\n",
            workers * 2
        ),
    )
    .unwrap();
    path
}

/// Waits until the harness has a run child with `workers` worker processes; returns the run child's pid.
fn wait_for_workers(marker: &str, harness: u32, workers: usize) -> i32 {
    let mut run_child = 0;
    wait_until("the workers are up", || {
        let procs = marked(marker);
        let Some(child) = procs.iter().find(|(_, ppid, _)| *ppid == harness as i32) else { return false };
        run_child = child.0;
        procs.iter().filter(|(_, ppid, _)| *ppid == child.0).count() == workers
    });
    run_child
}

fn statuses(out: &Path) -> Vec<String> {
    support::read_runs(&out.join("lifecycle/latest/runs.csv")).into_iter().map(|r| r["status"].clone()).collect()
}

#[test]
fn no_worker_is_left_after_a_normal_end() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 4, "10ms", "60s");
    let out = support::start_marked(&marker, &file, &dir.path().join("out")).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(statuses(&dir.path().join("out")), ["ok", "ok"]);
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_timeout_kills_the_workers_too() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 3, "1h", "1s");
    let out = support::start_marked(&marker, &file, &dir.path().join("out")).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(statuses(&dir.path().join("out")), ["timeout", "timeout"]);
    assert_eq!(marked(&marker), []);
}

#[test]
fn workers_die_with_a_crashed_run_and_the_experiment_goes_on() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 3, "2s", "60s");
    let harness = support::start_marked(&marker, &file, &dir.path().join("out"));
    let run_child = wait_for_workers(&marker, harness.id(), 3);
    // SIGABRT rather than SIGSEGV: std's stack-overflow handler makes a SIGSEGV sent by kill(2) a no-op
    // the first time, since it expects a real fault to fault again.
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(run_child, libc::SIGABRT) };
    let out = harness.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(statuses(&dir.path().join("out")), ["crashed", "ok"]);
    let rows = support::read_runs(&dir.path().join("out/lifecycle/latest/runs.csv"));
    assert!(rows[0]["error"].contains("SIGABRT"), "{:?}", rows[0]);
    wait_until("the workers of the crashed run are gone", || marked(&marker).is_empty());
}

#[test]
fn nothing_survives_kill_9_of_the_harness() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 4, "1h", "2h");
    let mut harness = support::start_marked(&marker, &file, &dir.path().join("out"));
    wait_for_workers(&marker, harness.id(), 4);
    harness.kill().unwrap();
    harness.wait().unwrap();
    wait_until("every process of the killed harness is gone", || marked(&marker).is_empty());
}

#[test]
fn the_marker_finds_processes() {
    // Guards the tests above against passing because `marked` finds nothing at all.
    let marker = unique_marker(module_path!());
    let mut child = Command::new("sleep").arg("30").env("HARNESS_TEST_MARKER", &marker).spawn().unwrap();
    wait_until("the marked process is seen", || marked(&marker).len() == 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(marked(&marker), []);
}
