//! No process a run starts outlives it: not after a normal end, a timeout, a crash of the run's process,
//! or `kill -9` of the harness. Every process started here carries a marker in its environment, so the
//! tests can find every descendant, however it was started.

use std::path::Path;
use std::process::{Command, Stdio};

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
        let Some(child) =
            procs.iter().find(|(pid, ppid, cmd)| *ppid == harness as i32 && support::is_run_process(*pid, cmd))
        else {
            return false;
        };
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

#[test]
fn sigterm_stops_the_writing_of_fixture_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("files.toml");
    // 65,536 files of 64 KiB, 4 GiB in all: far more than the harness writes before the signal stops it.
    std::fs::write(
        &file,
        "[experiment]\nname = \"files\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{ read_file = { size = \"64KiB\", files = 65536 } }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let harness = support::start_marked(&unique_marker(module_path!()), &file, &out);
    let files_dir = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with("harness-"))
            .map(|e| e.path().join("files"))
    };
    let count = || files_dir().and_then(|d| std::fs::read_dir(d).ok()).map_or(0, Iterator::count);
    wait_until("fixture files are being written", || count() >= 10);
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(harness.id() as i32, libc::SIGTERM) };
    let pid = harness.id();
    let mut most = 0;
    while std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
    {
        most = most.max(count());
    }
    let output = support::output_within(harness, "the harness after SIGTERM");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(most < 65536, "the harness wrote every fixture file after SIGTERM");
    assert!(files_dir().is_none(), "the scratch folder is removed");
    assert!(stderr.contains("0 measured runs"), "{stderr}");
}

#[test]
fn without_a_cgroup_the_next_harness_kills_what_a_killed_one_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(support::built_library("plugin_faulty"), dir.path().join("libfaulty.so")).unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    // The run forks a process that leaves the run's process group (setsid), then both hang.
    let file = dir.path().join("escape.toml");
    std::fs::write(
        &file,
        format!(
            "[experiment]\nname = \"escape\"\nrepetitions = 1\nwarmup = 0\ntimeout = \"1h\"\n\n[workloads.w]\ntasks = 1\n\
             steps = [{{ compute = \"1KiB\" }}]\n\n[matrix]\nexecutor = [\"faulty\"]\nfault = [\"fork_hang\"]\n\n\
             [plugins]\nfaulty = \"{}\"\n",
            dir.path().join("libfaulty.so").display()
        ),
    )
    .unwrap();
    let marker = unique_marker(module_path!());
    let out = dir.path().join("out");
    let mut harness = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("HARNESS_CGROUP", "off")
        .env("HARNESS_TEST_MARKER", &marker)
        .env("FAULTY_PID_DIR", &pids)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let noted = || std::fs::read_dir(&pids).unwrap().count();
    wait_until("the run and its escapee are up", || noted() == 2);
    harness.kill().unwrap();
    harness.wait().unwrap();
    // The run's child dies with the harness; the process it detached does not.
    wait_until("only the escapee is left", || marked(&marker).len() == 1);
    let escapee = marked(&marker)[0].0;
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(support::processes_marked(&marker), [escapee], "the escapee lives on after the kill");
    // The next harness, in the same temporary folder, with nothing to do with the first.
    let tiny = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let next = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&tiny)
        .env("HARNESS_CGROUP", "off")
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(next.status.code(), Some(0), "{}", String::from_utf8_lossy(&next.stderr));
    wait_until("the escapee is gone", || marked(&marker).is_empty());
    let scratch = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok);
    assert_eq!(scratch.filter(|e| e.file_name().to_string_lossy().starts_with("harness-")).count(), 0);
}

#[test]
fn a_second_ctrl_c_hurries_the_end_but_what_was_measured_is_summarized() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 2, "1h", "2h");
    let out = dir.path().join("out");
    let harness = support::start_marked(&marker, &file, &out);
    wait_for_workers(&marker, harness.id(), 2);
    // Two signals of one kind sent at once may arrive as one (a person's two Ctrl-C do not): the second is
    // SIGTERM, which counts the same.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: signalling a process of this test.
        unsafe { libc::kill(harness.id() as i32, signal) };
    }
    let output = support::output_within(harness, "the harness after two Ctrl-C");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(out.join("lifecycle/latest/summary.csv").exists(), "the summary is written: {stderr}");
    assert!(stderr.contains("interrupted twice, so the charts and reports are not drawn"), "{stderr}");
    assert_eq!(marked(&marker), []);
}

#[test]
fn a_run_has_a_limit_of_processes_where_the_pids_controller_is() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = experiment(dir.path(), 3, "1h", "2h");
    let out = dir.path().join("out");
    let mut harness = support::start_marked(&marker, &file, &out);
    let run_child = wait_for_workers(&marker, harness.id(), 3);
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("lifecycle/latest/environment.json")).unwrap()).unwrap();
    let memberships = std::fs::read_to_string(format!("/proc/{run_child}/cgroup")).unwrap();
    let v1_pids = memberships.lines().find_map(|l| l.split_once(":pids:").map(|(_, path)| path.to_owned()));
    let limit = v1_pids.as_ref().and_then(|p| std::fs::read_to_string(format!("/sys/fs/cgroup/pids{p}/pids.max")).ok());
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(harness.id() as i32, libc::SIGINT) };
    assert_eq!(harness.wait().unwrap().code(), Some(130));
    assert_eq!(marked(&marker), []);
    let Some(path) = v1_pids.filter(|_| environment["peak_memory"]["method"] == "cgroup1") else {
        eprintln!("skipped: no cgroup v1 with a pids hierarchy here ({memberships:?})");
        return;
    };
    assert_eq!(environment["peak_memory"]["pids_limit"], 32768, "{environment}");
    assert_eq!(limit.as_deref().map(str::trim), Some("32768"));
    // The run's child was in a pids cgroup of its own, named after the harness.
    assert!(path.rsplit('/').next().unwrap().starts_with(&format!("harness-{}-", harness.id())), "{path}");
}

/// A run's cgroup may have served an earlier run: the peak memory of a run is still its own, not the most
/// an earlier run used, and what an earlier run left charged to the cgroup (the page cache of a file it
/// read) does not add up from run to run.
#[test]
fn a_run_reports_its_own_peak_memory_after_runs_that_used_more() {
    let (_dir, dir, rows, stderr) = support::run_inline(
        "peaks",
        r#"[experiment]
name = "peaks"
repetitions = 4
warmup = 0

[workloads.big]
tasks = 1
steps = [{ alloc = "64MiB" }]

[workloads.cached]
tasks = 1
steps = [{ read_file = { size = "8MiB" } }]

[workloads.empty]
tasks = 0
steps = []

[workloads.empty_too]
tasks = 0
steps = []

[matrix]
executor = ["sync"]
workload = ["big", "empty", "cached", "empty_too"]
"#,
    );
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("environment.json")).unwrap()).unwrap();
    if !environment["peak_memory"]["method"].as_str().unwrap().starts_with("cgroup") {
        eprintln!("skipped: no cgroup here ({stderr})");
        return;
    }
    assert_eq!(rows.len(), 16, "{rows:#?}");
    for row in &rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        let peak: u64 = row["peak_memory_bytes"].parse().unwrap();
        match row["workload"].as_str() {
            "big" => assert!(peak >= 64 << 20, "{row:?}"),
            // An empty run's process faults in far less than 4 MiB; 64 MiB would be the run before's.
            "empty" | "empty_too" => assert!(peak < 4 << 20, "{row:?}"),
            _ => assert!(peak < 48 << 20, "{row:?}"),
        }
    }
}

/// Processes that hooks start and leave running (detached with `setsid`, or forked twice) are gone when the
/// experiment ends, whichever hook started them.
#[test]
fn nothing_a_hook_starts_outlives_the_experiment() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hooks.toml");
    // Each hook leaves a detached sleep and a twice-forked one behind, and notes that it did.
    let leave = |what: &str| format!("setsid sleep 301 & (sleep 302 &) ; touch {what}-done");
    std::fs::write(
        &file,
        format!(
            "[experiment]\nname = \"hooks_leave\"\nrepetitions = 1\nwarmup = 0\nsetup = {:?}\ncleanup = {:?}\n\n\
             [workloads.w]\ntasks = 1\nprepare = {:?}\nconclude = {:?}\nsteps = [{{ sleep = \"1ms\" }}]\n\n\
             [matrix]\nexecutor = [\"sync\"]\n",
            leave("setup"),
            leave("cleanup"),
            leave("prepare"),
            leave("conclude")
        ),
    )
    .unwrap();
    let out = support::harness()
        .current_dir(dir.path())
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("HARNESS_TEST_MARKER", &marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for what in ["setup", "prepare", "conclude", "cleanup"] {
        assert!(dir.path().join(format!("{what}-done")).exists(), "{what} did not run");
    }
    assert_eq!(marked(&marker), [], "hooks' processes outlived the experiment");
}

/// A harness killed with `kill -9` during `setup`: the hook's process group dies with it (the watchdog), and
/// the process the hook detached from its group (`setsid`), which nothing can tie to the harness, the next
/// harness kills, as it does a run's.
#[test]
fn a_hooks_group_dies_with_a_killed_harness_and_the_next_harness_kills_what_it_detached() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("setup.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"setup_hangs\"\nrepetitions = 1\nwarmup = 0\n\
         setup = \"setsid sleep 303 & sleep 304 & touch started; wait\"\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut harness = support::harness()
        .current_dir(dir.path())
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .env("HARNESS_TEST_MARKER", &marker)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The hook's shell and its two sleeps.
    wait_until("the setup's processes are up", || dir.path().join("started").exists() && marked(&marker).len() >= 4);
    harness.kill().unwrap();
    harness.wait().unwrap();
    // The shell dies with the harness, and the sleep in its group; the one it detached does not.
    wait_until("the hook's group is gone", || {
        marked(&marker).iter().map(|(_, _, cmd)| cmd.trim_end()).collect::<Vec<_>>() == ["sleep 303"]
    });
    let tiny = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let next = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&tiny)
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(next.status.code(), Some(0), "{}", String::from_utf8_lossy(&next.stderr));
    wait_until("the hook's processes are gone", || marked(&marker).is_empty());
}

/// Three Ctrl-C during a `cleanup` that hangs end the harness at once, and the cleanup with it.
#[test]
fn a_third_interrupt_during_a_hanging_cleanup_ends_the_cleanup_too() {
    let marker = unique_marker(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cleanup.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"cleanup_hangs\"\nrepetitions = 1\nwarmup = 0\ntimeout = \"1h\"\n\
         cleanup = \"sleep 305 & touch cleaning; wait\"\n\n\
         [workloads.w]\ntasks = 1\nsteps = [{ sleep = \"1ms\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    )
    .unwrap();
    let harness = support::harness()
        .current_dir(dir.path())
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("HARNESS_TEST_MARKER", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the cleanup hangs", || dir.path().join("cleaning").exists() && marked(&marker).len() >= 3);
    for _ in 0..3 {
        // SAFETY: signalling a process of this test.
        unsafe { libc::kill(harness.id() as i32, libc::SIGINT) };
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = support::output_within(harness, "the harness after three interrupts");
    assert_ne!(output.status.code(), Some(0));
    wait_until("the cleanup's processes are gone", || marked(&marker).is_empty());
}
