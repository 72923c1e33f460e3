//! How a run's process starts: a copy of the executor's fork server, or `harness __exec` (`--spawn exec`,
//! or a plugin that starts a thread when it loads). Both paths measure the same work the same way, and
//! `environment.json` says which one each executor's runs took.

use std::path::Path;

use crate::support;

/// A CPU workload and an empty one under every built-in executor.
const EXPERIMENT: &str = r#"[experiment]
name = "spawn"
repetitions = 2
warmup = 0

[workloads.cpu]
tasks = 16
steps = [{ compute = "256KiB" }]

[workloads.empty]
tasks = 0
steps = []

[matrix]
executor = ["sync", "threaded", "async", "multiprocess"]
workload = ["cpu", "empty"]
workers = [2]
"#;

fn run_processes(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let environment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("environment.json")).unwrap()).unwrap();
    environment["run_process"].as_object().expect("environment.json has run_process").clone()
}

/// The checksum of each cell (executor, workload), checking both repetitions agree.
fn checksums(
    rows: &[std::collections::HashMap<String, String>],
) -> std::collections::BTreeMap<(String, String), String> {
    let mut sums = std::collections::BTreeMap::new();
    for row in rows {
        assert_eq!(row["status"], "ok", "{row:?}");
        let key = (row["executor"].clone(), row["workload"].clone());
        let previous = sums.insert(key, row["checksum"].clone());
        assert!(previous.is_none_or(|p| p == row["checksum"]), "{row:?}");
    }
    sums
}

#[test]
fn runs_are_copies_of_a_fork_server_and_measure_what_exec_measures() {
    let (_out, dir, rows, _) = support::run_inline("spawn", EXPERIMENT);
    let paths = run_processes(&dir);
    for executor in ["sync", "threaded", "async", "multiprocess"] {
        assert_eq!(paths[executor]["path"], "fork_server", "{paths:?}");
    }
    // The run's process is reaped by the harness with wait4, which gives its CPU time: hashing 4 MiB
    // takes some.
    for row in rows.iter().filter(|r| r["workload"] == "cpu") {
        let cpu: f64 = row["user_cpu_s"].parse::<f64>().unwrap() + row["system_cpu_s"].parse::<f64>().unwrap();
        assert!(cpu > 0.0, "{row:?}");
        assert!(row["peak_memory_bytes"].parse::<u64>().unwrap() > 0, "{row:?}");
    }

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("spawn.toml");
    std::fs::write(&file, EXPERIMENT).unwrap();
    let result = support::harness()
        .args(["run", "--quiet", "--spawn", "exec", "--out"])
        .arg(out.path().join("results"))
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(0), "{}", String::from_utf8_lossy(&result.stderr));
    let exec_dir = out.path().join("results/spawn/latest");
    let exec_paths = run_processes(&exec_dir);
    for executor in ["sync", "threaded", "async", "multiprocess"] {
        assert_eq!(exec_paths[executor]["path"], "exec", "{exec_paths:?}");
        assert_eq!(exec_paths[executor]["why"], "--spawn exec", "{exec_paths:?}");
    }
    // The same work on both paths.
    assert_eq!(checksums(&rows), checksums(&support::read_runs(&exec_dir.join("runs.csv"))));
}

#[test]
fn a_plugin_that_starts_a_thread_when_it_loads_takes_the_exec_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(support::built_library("plugin_faulty"), dir.path().join("libfaulty.so")).unwrap();
    let text = format!(
        "[experiment]\nname = \"threaded_load\"\nrepetitions = 2\nwarmup = 0\n\n\
         [workloads.w]\ntasks = 4\nsteps = [{{ compute = \"1KiB\" }}]\n\n\
         [matrix]\nexecutor = [\"faulty\", \"sync\"]\n\n[plugins]\nfaulty = \"{}\"\n",
        dir.path().join("libfaulty.so").display()
    );
    std::fs::write(dir.path().join("threaded_load.toml"), text).unwrap();
    let run = |load_thread: bool| {
        let mut command = support::harness();
        command.current_dir(dir.path()).args(["run", "--quiet", "--out", "results", "threaded_load.toml"]);
        if load_thread {
            command.env("FAULTY_LOAD_THREAD", "1");
        } else {
            command.env_remove("FAULTY_LOAD_THREAD");
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let result = dir.path().join("results/threaded_load/latest");
        let rows = support::read_runs(&result.join("runs.csv"));
        assert!(rows.len() == 4 && rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
        run_processes(&result)
    };

    let paths = run(true);
    assert_eq!(paths["faulty"]["path"], "exec", "{paths:?}");
    let why = paths["faulty"]["why"].as_str().unwrap();
    assert!(why.contains("started a thread"), "{why}");
    // Another executor of the same experiment keeps its fork server.
    assert_eq!(paths["sync"]["path"], "fork_server", "{paths:?}");

    let paths = run(false);
    assert_eq!(paths["faulty"]["path"], "fork_server", "{paths:?}");
}
