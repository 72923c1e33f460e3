//! Scale-out and recovery: `--shard K/N` (or the Slurm array variables), `harness merge`, and
//! `--resume` after Ctrl-C or `kill -9`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{self, marked, unique_marker, wait_until};

/// (cell, repetition) of every row of a result folder, with duplicates kept.
fn run_ids(dir: &Path) -> Vec<(String, String)> {
    support::read_runs(&dir.join("runs.csv"))
        .into_iter()
        .map(|r| (r["cell"].clone(), r["repetition"].clone()))
        .collect()
}

fn every_step() -> PathBuf {
    support::root().join("harness/tests/fixtures/good/every_step.toml")
}

fn run_shard(out: &Path, file: &Path, args: &[&str], env: &[(&str, &str)]) -> PathBuf {
    let mut command = support::harness();
    command.args(["run", "--quiet", "--out"]).arg(out).arg(file).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let run = command.output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    PathBuf::from(String::from_utf8_lossy(&run.stdout).trim())
}

#[test]
fn shards_split_the_runs_and_merge_back_into_exactly_the_planned_runs() {
    let out = tempfile::tempdir().unwrap();
    let file = every_step();
    let shards: Vec<PathBuf> =
        (0..3).map(|k| run_shard(out.path(), &file, &["--shard", &format!("{k}/3")], &[])).collect();
    let mut seen = BTreeSet::new();
    for shard in &shards {
        for id in run_ids(shard) {
            assert!(seen.insert(id.clone()), "run {id:?} is in two shards");
        }
    }
    // 21 cells x 2 repetitions.
    assert_eq!(seen.len(), 42);

    let merged = out.path().join("merged");
    // Everything a shell glob finds, `latest` included: the folder it points at counts once.
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(out.path().join("every-step")).unwrap().map(|e| e.unwrap().path()).collect();
    found.sort();
    assert_eq!(found.len(), 4);
    let merge = support::harness().arg("merge").args(&found).arg("--out").arg(&merged).output().unwrap();
    assert_eq!(merge.status.code(), Some(0), "{}", String::from_utf8_lossy(&merge.stderr));
    assert!(String::from_utf8_lossy(&merge.stderr).contains("merged 3 shards: 42 of 42 planned runs"));
    let ids = run_ids(&merged);
    assert_eq!(ids.len(), 42);
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), seen);
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.join("environment.json")).unwrap()).unwrap();
    assert_eq!(env["merged_from"].as_array().unwrap().len(), 3);
    // A merged folder is a complete result folder: statistics, charts and reports.
    for file in ["summary.csv", "report.md", "report.html", "charts/run_s.svg"] {
        assert!(merged.join(file).exists(), "the merged folder has no {file}");
    }
    // The merged folder gets its charts and reports like a run's.
    assert!(merged.join("charts/run_s.svg").is_file() && merged.join("report.md").is_file());
}

#[test]
fn merge_reports_missing_and_duplicated_runs() {
    let out = tempfile::tempdir().unwrap();
    let file = every_step();
    let first = run_shard(out.path(), &file, &["--shard", "0/3"], &[]);
    let again = run_shard(out.path(), &file, &["--shard", "0/3"], &[]);
    let merge = support::harness()
        .arg("merge")
        .args([&first, &again])
        .arg("--out")
        .arg(out.path().join("merged"))
        .output()
        .unwrap();
    assert_eq!(merge.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&merge.stderr);
    assert!(stderr.contains("14 of 42 planned runs"), "{stderr}");
    assert!(stderr.contains("missing 28 runs"), "{stderr}");
    assert!(stderr.contains("duplicated 14 runs"), "{stderr}");
}

#[test]
fn merge_refuses_shards_of_different_experiment_files() {
    let out = tempfile::tempdir().unwrap();
    let a = run_shard(out.path(), &every_step(), &["--shard", "0/3"], &[]);
    let b = run_shard(out.path(), &support::root().join("harness/tests/fixtures/good/tiny.toml"), &[], &[]);
    let merge = support::harness().arg("merge").args([&a, &b]).arg("--out").arg(out.path().join("m")).output().unwrap();
    assert_eq!(merge.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&merge.stderr).contains("ran another experiment file"));
    assert!(!out.path().join("m").exists());
}

#[test]
fn slurm_array_variables_choose_the_shard() {
    let out = tempfile::tempdir().unwrap();
    let file = every_step();
    let by_flag = run_shard(&out.path().join("a"), &file, &["--shard", "1/3"], &[]);
    let by_slurm = run_shard(
        &out.path().join("b"),
        &file,
        &[],
        // `--array=1-5:2`: tasks 1, 3 and 5; task 3 is the second.
        &[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ],
    );
    assert_eq!(run_ids(&by_flag), run_ids(&by_slurm));
    let env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(by_slurm.join("environment.json")).unwrap()).unwrap();
    assert_eq!(env["shard"], "1/3");
}

fn slow_experiment(dir: &Path) -> PathBuf {
    let path = dir.join("slow.toml");
    std::fs::write(
        &path,
        "[experiment]\nname = \"slow\"\nrepetitions = 4\nwarmup = 1\n\n[workloads.w]\ntasks = 2\nsteps = [{ sleep = \"150ms\" }]\n\n\
         [matrix]\nexecutor = [\"sync\", \"multiprocess\"]\nworkers = [2]\n",
    )
    .unwrap();
    path
}

/// Starts the slow experiment, waits for `rows` measured rows, then sends `signal` to the harness.
fn interrupt_after(
    rows: usize,
    signal: libc::c_int,
) -> (tempfile::TempDir, PathBuf, PathBuf, std::process::Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = slow_experiment(dir.path());
    let marker = unique_marker(module_path!());
    let child = support::harness()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("HARNESS_TEST_MARKER", &marker)
        // Scratch folders of a harness killed with SIGKILL stay behind: keep them in the test's folder.
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs = dir.path().join("out/slow/latest/runs.csv");
    wait_until("enough rows are written", || runs.exists() && support::read_runs(&runs).len() >= rows);
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(child.id() as i32, signal) };
    let output = child.wait_with_output().unwrap();
    let result = std::fs::canonicalize(dir.path().join("out/slow/latest")).unwrap();
    (dir, file, result, output, marker)
}

fn resume(file: &Path, result: &Path) {
    // The same temporary folder as the interrupted harness, whose scratch folder a kill left there.
    let tmp = result.ancestors().nth(3).unwrap();
    let resumed = support::harness()
        .args(["run", "--quiet", "--resume"])
        .arg(result)
        .arg(file)
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(String::from_utf8_lossy(&resumed.stdout).trim(), result.display().to_string());
    let ids = run_ids(result);
    let unique: BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "a run is there twice: {ids:?}");
    let expected: BTreeSet<_> = (1..=4).flat_map(|r| (1..=2).map(move |c| (c.to_string(), r.to_string()))).collect();
    assert_eq!(unique, expected);
}

#[test]
fn ctrl_c_stops_cleanly_and_resume_completes_the_run() {
    let (_dir, file, result, output, marker) = interrupt_after(2, libc::SIGINT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(run_ids(&result).len() < 8);
    assert_eq!(marked(&marker), [], "Ctrl-C left a process behind");
    resume(&file, &result);
}

#[test]
fn resume_after_kill_9_runs_only_the_missing_runs() {
    let (dir, file, result, _, marker) = interrupt_after(3, libc::SIGKILL);
    wait_until("the killed harness's runs are gone", || marked(&marker).is_empty());
    let scratch = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("harness-"))
            .count()
    };
    assert_eq!(scratch(), 1, "the killed harness left its scratch folder");
    let before = run_ids(&result);
    assert!((3..8).contains(&before.len()), "{before:?}");
    resume(&file, &result);
    let after = run_ids(&result);
    assert_eq!(after[..before.len()], before[..], "the rows measured before the kill are kept as they were");
    assert_eq!(scratch(), 0, "the next harness removes the scratch folder of a dead one");
}

#[test]
fn resume_refuses_a_changed_experiment_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let result = run_shard(dir.path(), &file, &[], &[]);
    let changed = dir.path().join("tiny.toml");
    std::fs::write(&changed, std::fs::read_to_string(&file).unwrap().replace("tasks = 3", "tasks = 4")).unwrap();
    let resumed = support::harness().args(["run", "--resume"]).arg(&result).arg(&changed).output().unwrap();
    assert_eq!(resumed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("changed since"));
}

#[test]
fn resume_refuses_a_folder_whose_columns_this_harness_would_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let result = run_shard(dir.path(), &file, &[], &[]);
    // As a harness of another version would have written it: a column fewer.
    let runs = result.join("runs.csv");
    let text = std::fs::read_to_string(&runs).unwrap();
    let older = text.replacen(",anchor_s,", ",", 1);
    assert_ne!(older, text);
    std::fs::write(&runs, &older).unwrap();
    let resumed = support::harness().args(["run", "--resume"]).arg(&result).arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("has other columns than this harness writes"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), older, "nothing was appended");
}

#[test]
fn resume_refuses_a_shard_of_a_whole_result() {
    let dir = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/tiny.toml");
    let result = run_shard(dir.path(), &file, &[], &[]);
    let resumed =
        support::harness().args(["run", "--resume"]).arg(&result).arg(&file).args(["--shard", "0/2"]).output().unwrap();
    assert_eq!(resumed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("holds every shard"));
}

#[test]
fn a_second_harness_on_a_folder_being_resumed_is_refused_and_the_runs_are_exact() {
    let (_dir, file, result, _, _) = interrupt_after(2, libc::SIGINT);
    let tmp = result.ancestors().nth(3).unwrap().to_owned();
    let resume = || {
        support::harness()
            .args(["run", "--quiet", "--resume"])
            .arg(&result)
            .arg(&file)
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = resume();
    let holder = format!("\"pid\":{}", first.id());
    let lock = result.join("harness.lock");
    wait_until("the first harness holds the lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|text| text.contains(&holder))
    });
    let second = resume().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is in use by another harness"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}, started ", first.id())), "{stderr}");
    assert!(stderr.contains("--resume"), "the holder's command is named: {stderr}");
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let ids = run_ids(&result);
    let expected: BTreeSet<_> = (1..=4).flat_map(|r| (1..=2).map(move |c| (c.to_string(), r.to_string()))).collect();
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn resume_drops_a_cut_last_row_in_place_and_keeps_every_byte_before_it() {
    let (_dir, file, result, _, _) = interrupt_after(2, libc::SIGINT);
    let runs = result.join("runs.csv");
    let before = std::fs::read(&runs).unwrap();
    // What `kill -9` leaves when it strikes while a row is written.
    let mut damaged = before.clone();
    damaged.extend_from_slice(b"sync,2,1,4,o");
    std::fs::write(&runs, &damaged).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&runs).unwrap());
    resume(&file, &result);
    let after = std::fs::read(&runs).unwrap();
    assert_eq!(after[..before.len()], before[..], "the whole rows before the cut one are kept as they were");
    assert!(!String::from_utf8_lossy(&after).contains(",o\n"), "the cut row is gone");
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&runs).unwrap()), inode, "the same file");
}

#[test]
fn a_large_fixture_file_and_a_large_response_never_sit_in_the_harness_s_memory() {
    const SIZE: u64 = 64 << 20;
    let (dir, file) = support::write_inline(
        "big",
        &format!(
            "[experiment]\nname = \"big\"\nrepetitions = 1\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
             steps = [{{ read_file = {{ size = {SIZE} }} }}, {{ net = {{ request = {SIZE}, response = {SIZE} }} }}]\n\n\
             [matrix]\nexecutor = [\"sync\"]\n"
        ),
    );
    let mut harness = support::harness()
        .args(["run", "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The most memory the harness process itself (not its runs) ever held, as the kernel counts it.
    let status = format!("/proc/{}/status", harness.id());
    let mut high_water_kib = 0u64;
    while harness.try_wait().unwrap().is_none() {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().strip_suffix("kB"));
        high_water_kib = high_water_kib.max(hwm.and_then(|v| v.trim().parse().ok()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(harness.wait().unwrap().success());
    let rows = support::read_runs(&dir.path().join("out/big/latest/runs.csv"));
    assert_eq!(rows[0]["status"], "ok", "{:?}", rows[0]);
    assert!(high_water_kib > 0, "the harness's memory was read");
    // Streamed, the harness holds a piece of each at a time; built whole, either alone would be 64 MiB.
    assert!(high_water_kib * 1024 < SIZE * 3 / 4, "the harness held {high_water_kib} KiB at once");
}

#[test]
fn ctrl_c_during_setup_is_an_interruption_that_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let (started, done) = (dir.path().join("started"), dir.path().join("done"));
    let file = dir.path().join("setup.toml");
    std::fs::write(
        &file,
        format!(
            "[experiment]\nname = \"setup\"\nrepetitions = 2\nwarmup = 0\n\
             setup = \"if [ ! -e {done} ]; then touch {started}; sleep 60; fi\"\n\n\
             [workloads.w]\ntasks = 1\nsteps = [{{ sleep = \"1ms\" }}]\n\n[matrix]\nexecutor = [\"sync\"]\n",
            done = done.display(),
            started = started.display()
        ),
    )
    .unwrap();
    let child = support::harness()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the setup has started", || started.exists());
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT: 0 measured runs are in") && stderr.contains("--resume"),
        "{stderr}"
    );
    let result = std::fs::canonicalize(dir.path().join("out/setup/latest")).unwrap();
    assert!(run_ids(&result).is_empty());
    std::fs::write(&done, "").unwrap();
    let resumed = support::harness()
        .args(["run", "--quiet", "--resume"])
        .arg(&result)
        .arg(&file)
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(run_ids(&result).len(), 2);
}

/// A finished result folder of an experiment whose two runs fail, in a temporary folder.
fn failed_folder() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fails.toml");
    std::fs::write(
        &file,
        "[experiment]\nname = \"fails\"\nrepetitions = 2\nwarmup = 0\n\n[workloads.w]\ntasks = 1\n\
         steps = [{ exec = \"exit 3\" }]\n\n[matrix]\nexecutor = [\"sync\"]\n",
    )
    .unwrap();
    let output = support::harness().args(["run", "--quiet", "--out"]).arg(dir.path()).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let result = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (dir, file, result)
}

fn resumed(file: &Path, result: &Path) -> std::process::Output {
    support::harness().args(["run", "--quiet", "--resume"]).arg(result).arg(file).output().unwrap()
}

#[test]
fn resume_of_a_finished_folder_whose_runs_failed_exits_as_the_run_did() {
    let (_dir, file, result) = failed_folder();
    let output = resumed(&file, &result);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 runs of"));
}

#[test]
fn resume_refuses_a_runs_csv_with_a_run_twice_or_behind_a_link() {
    let (dir, file, result) = failed_folder();
    let runs = result.join("runs.csv");
    let text = std::fs::read_to_string(&runs).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    std::fs::write(&runs, format!("{text}{last}\n")).unwrap();
    let output = resumed(&file, &result);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has a row of a run it already has, the first of cell 1, repetition 2"), "{stderr}");

    // A runs.csv that is a link out of the folder is refused, and what it points to is left as it was.
    std::fs::write(&runs, &text).unwrap();
    let outside = dir.path().join("outside.csv");
    std::fs::rename(&runs, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &runs).unwrap();
    let output = resumed(&file, &result);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("runs.csv is a symbolic link"));
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), text);
}
