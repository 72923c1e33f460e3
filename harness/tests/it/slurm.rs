//! `scripts/slurm/harness-array.sbatch` on a real Slurm cluster: every array task runs its own shard,
//! records its result folder, and an array whose task IDs are not shard numbers is refused.
//!
//! These tests need a cluster (`scripts/slurm/local-cluster.sh` starts one on this machine, and `.ci/run`
//! does so before the tests). Without one, `sinfo` fails and they pass after saying they were skipped.
//! Most tests replace the harness by a stub that records its arguments, to test the script's part (how it
//! turns array tasks into shards); the last one submits a real experiment and merges its shards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support;

/// Whether a Slurm cluster answers with a usable node; says why not once when it does not.
fn cluster() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| {
        let why = match Command::new("sinfo").args(["-h", "-o", "%T"]).output() {
            Err(e) => format!("sinfo: {e}"),
            Ok(o) if !o.status.success() => {
                format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim().replace('\n', " | "))
            }
            Ok(o) => {
                let states = String::from_utf8_lossy(&o.stdout).into_owned();
                if states.lines().any(|s| ["idle", "mix", "alloc"].iter().any(|u| s.starts_with(u))) {
                    return true;
                }
                format!("no usable node: {}", states.trim().replace('\n', ", "))
            }
        };
        eprintln!("skipped: no Slurm cluster ({why}); scripts/slurm/local-cluster.sh starts one");
        false
    })
}

/// A stand-in for the harness: records its arguments in a folder of its own under `--out` and prints
/// that folder last, as the harness does.
const STUB: &str = r#"#!/usr/bin/env bash
set -eu
args=("$@") out= shard=
while [ $# -gt 0 ]; do
    case $1 in --out) out=$2; shift ;; --shard) shard=$2; shift ;; esac
    shift
done
dir=$out/stub/${shard/\//-of-}
mkdir -p "$dir"
printf '%s\n' "${args[@]}" >"$dir/args"
echo "a progress line"
echo "$dir"
"#;

/// A folder with the stub harness and an experiment file, to submit from.
fn submit_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("harness");
    std::fs::write(&stub, STUB).unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("e.toml"), "[experiment]\nname = \"e\"\n").unwrap();
    dir
}

/// Submits the array script from `dir` with `--array=array`, one CPU a task so that a two-core machine
/// runs two at a time, and returns the job id.
fn submit(dir: &Path, array: &str, shards: Option<&str>) -> String {
    let mut command = Command::new("sbatch");
    command
        .args(["--parsable", "--cpus-per-task=1", "--time=5", &format!("--array={array}")])
        .arg(support::root().join("scripts/slurm/harness-array.sbatch"))
        .arg(dir.join("e.toml"))
        .arg("out")
        .current_dir(dir)
        .env("HARNESS", dir.join("harness"))
        .env_remove("HARNESS_SHARDS");
    if let Some(n) = shards {
        command.env("HARNESS_SHARDS", n);
    }
    let output = command.output().expect("sbatch runs");
    assert!(output.status.success(), "sbatch failed: {}", String::from_utf8_lossy(&output.stderr));
    // --parsable prints "jobid" or "jobid;cluster".
    String::from_utf8(output.stdout).unwrap().trim().split(';').next().unwrap().to_owned()
}

/// Waits until no task of `job` is pending or running any more.
fn wait_for(job: &str, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let output = Command::new("squeue").args(["-h", "-o", "%i", "-j", job]).output().expect("squeue runs");
        // squeue fails once the job is gone from the controller's memory: finished too.
        if !output.status.success() || output.stdout.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        assert!(Instant::now() < deadline, "job {job} still queued after 120 s:\n{}", logs(dir));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Slurm output files of the tasks submitted from `dir`, for failure messages.
fn logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "out"))
        .collect();
    files.sort();
    let mut all = String::new();
    for f in files {
        all.push_str(&f.display().to_string());
        all.push_str(":\n");
        all.push_str(&std::fs::read_to_string(&f).unwrap_or_default());
    }
    all
}

/// The arguments the stub was given by the task that recorded `shard-K-of-N.dir`.
fn recorded_args(dir: &Path, k: u32, n: u32) -> Vec<String> {
    let record = dir.join(format!("out/shards/shard-{k}-of-{n}.dir"));
    let folder =
        std::fs::read_to_string(&record).unwrap_or_else(|e| panic!("{}: {e}\n{}", record.display(), logs(dir)));
    let args = std::fs::read_to_string(dir.join(folder.trim()).join("args")).unwrap();
    args.lines().map(str::to_owned).collect()
}

#[test]
fn array_tasks_see_their_id_and_the_task_count() {
    if !cluster() {
        return;
    }
    // What the harness reads when --shard is absent, from plain shell tasks.
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sbatch")
        .args(["--parsable", "--cpus-per-task=1", "--time=5", "--array=0-2", "--output=task-%a.out"])
        .arg("--wrap=echo $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT $SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_MAX")
        .current_dir(dir.path())
        .output()
        .expect("sbatch runs");
    assert!(output.status.success(), "sbatch failed: {}", String::from_utf8_lossy(&output.stderr));
    let job = String::from_utf8(output.stdout).unwrap().trim().split(';').next().unwrap().to_owned();
    wait_for(&job, dir.path());
    for k in 0..3 {
        let seen = std::fs::read_to_string(dir.path().join(format!("task-{k}.out"))).unwrap();
        assert_eq!(seen, format!("{k} 3 0 2\n"));
    }
}

#[test]
fn each_array_task_runs_its_own_shard_and_records_its_folder() {
    if !cluster() {
        return;
    }
    let dir = submit_dir();
    let job = submit(dir.path(), "0-3", None);
    wait_for(&job, dir.path());
    let file = dir.path().join("e.toml").display().to_string();
    for k in 0..4 {
        let shard = format!("{k}/4");
        assert_eq!(
            recorded_args(dir.path(), k, 4),
            ["run", &file, "--out", "out/shards", "--quiet", "--shard", &shard],
            "{}",
            logs(dir.path())
        );
        let log = std::fs::read_to_string(dir.path().join(format!("slurm-harness-{job}_{k}.out"))).unwrap();
        assert!(log.contains(&format!("task {k}: shard {k}/4 of")), "{log}");
        assert!(log.ends_with(&format!("out/shards/stub/{k}-of-4\n")), "the harness's output is in the log: {log}");
    }
}

#[test]
fn an_array_not_numbered_from_zero_is_refused_unless_the_shard_count_is_given() {
    if !cluster() {
        return;
    }
    // 1-4 has 4 tasks but task 4 is no shard of 4: every task refuses and runs nothing.
    let refused = submit_dir();
    let job = submit(refused.path(), "1-4", None);
    // Running shard 2 of 4 again on its own: an array of one task, with the count given.
    let again = submit_dir();
    let job_again = submit(again.path(), "2", Some("4"));
    wait_for(&job, refused.path());
    wait_for(&job_again, again.path());

    assert!(!refused.path().join("out/shards/stub").exists(), "{}", logs(refused.path()));
    for k in 1..=4 {
        let log = std::fs::read_to_string(refused.path().join(format!("slurm-harness-{job}_{k}.out"))).unwrap();
        assert!(log.contains("error: the array is 1-4 step 1 with 4 tasks, not 0-(N-1)"), "{log}");
    }
    let args = recorded_args(again.path(), 2, 4);
    assert_eq!(args[args.len() - 2..], ["--shard", "2/4"], "{}", logs(again.path()));
}

#[test]
fn an_experiment_submitted_as_an_array_of_4_shards_merges_into_exactly_the_planned_runs() {
    if !cluster() {
        return;
    }
    // The real harness this time, from its build folder, so it finds the built-in executors.
    support::ensure_plugins_built();
    let dir = tempfile::tempdir().unwrap();
    let file = support::root().join("harness/tests/fixtures/good/every_step.toml");
    let output = Command::new("sbatch")
        .args(["--parsable", "--cpus-per-task=1", "--time=10", "--array=0-3"])
        .arg(support::root().join("scripts/slurm/harness-array.sbatch"))
        .arg(&file)
        .arg("out")
        .current_dir(dir.path())
        .env("HARNESS", env!("CARGO_BIN_EXE_harness"))
        .env_remove("HARNESS_SHARDS")
        .output()
        .expect("sbatch runs");
    assert!(output.status.success(), "sbatch failed: {}", String::from_utf8_lossy(&output.stderr));
    let job = String::from_utf8(output.stdout).unwrap().trim().split(';').next().unwrap().to_owned();
    wait_for(&job, dir.path());

    let shards: Vec<PathBuf> = (0..4)
        .map(|k| {
            let record = dir.path().join(format!("out/shards/shard-{k}-of-4.dir"));
            let folder = std::fs::read_to_string(&record)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", record.display(), logs(dir.path())));
            dir.path().join(folder.trim())
        })
        .collect();
    let merged = dir.path().join("merged");
    let merge = support::harness().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    let stderr = String::from_utf8_lossy(&merge.stderr);
    assert_eq!(merge.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("merged 4 shards: 42 of 42 planned runs"), "{stderr}");
    let rows = support::read_runs(&merged.join("runs.csv"));
    let ids: std::collections::BTreeSet<(String, String)> =
        rows.iter().map(|r| (r["cell"].clone(), r["repetition"].clone())).collect();
    // 21 cells x 2 repetitions, each exactly once, all measured.
    assert_eq!((rows.len(), ids.len()), (42, 42));
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let environment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.join("environment.json")).unwrap()).unwrap();
    let mut from: Vec<&str> =
        environment["merged_from"].as_array().unwrap().iter().map(|s| s["shard"].as_str().unwrap()).collect();
    from.sort_unstable();
    assert_eq!(from, ["0/4", "1/4", "2/4", "3/4"]);
}
